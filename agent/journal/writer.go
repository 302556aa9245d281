package journal

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"

	"wedge/internal/logging"
	"wedge/order"
	"wedge/order/waybill"
	"wedge/sync/wire"
)

// call is one queued Do.
type call struct {
	ctx   context.Context
	fn    func(*Tx) error
	state atomic.Int32 // callQueued → callTaken (by the writer) or callGone (ctx ended first)
	done  chan error   // buffer 1
}

const (
	callQueued int32 = iota
	callTaken
	callGone
)

// Do runs fn on the single writer goroutine, grouped with the calls that queued up meanwhile into
// one bbolt transaction, and returns after that transaction committed. fn sees the writes of the
// calls before it in the same batch. If fn returns an error (or its writes are invalid, or it
// panics) its writes are discarded and Do returns that error; the others are unaffected. If the
// commit fails, Do returns an error wrapping ErrCommit and nothing of the batch was recorded.
//
// If ctx ends while the call is still queued, fn is not run and Do returns ctx.Err(); once fn ran,
// Do waits for the commit regardless of ctx, so its answer is always the truth. fn must not call
// Do (it would wait for itself) and must not keep tx.
func (s *Store) Do(ctx context.Context, fn func(tx *Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c := &call{ctx: ctx, fn: fn, done: make(chan error, 1)}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.pending = append(s.pending, c)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	select {
	case err := <-c.done:
		return err
	case <-ctx.Done():
		if c.state.CompareAndSwap(callQueued, callGone) {
			return ctx.Err()
		}
		return <-c.done // fn ran or is running: the commit decides
	}
}

// Heartbeat returns once the writer goroutine has taken a call from its queue and answered it (an
// empty call: it writes nothing). A writer stuck in a batch never answers: Heartbeat then returns
// ctx's error. The watchdog (agent/watchdog) withholds systemd's pings while it does.
func (s *Store) Heartbeat(ctx context.Context) error {
	return s.Do(ctx, func(*Tx) error { return nil })
}

// writer is the owner goroutine: it drains the queue batch by batch until Close. Idle with an
// ack only in memory, it commits the ack after AckDelay (see ack.go); Close writes it last.
func (s *Store) writer() {
	defer close(s.done)
	// A fault reading a damaged page of the mapped file panics (recovered in apply) instead of
	// killing the process.
	debug.SetPanicOnFault(true)
	at := &ackTimer{clk: s.clk, delay: s.ackDelay}
	defer at.stop()
	for {
		batch := s.take()
		if len(batch) > 0 {
			s.run(batch)
			continue
		}
		select {
		case <-s.wake:
		case <-at.idle(s.ackUnsaved()):
			at.fired()
			s.saveIdleAck()
		case <-s.quit:
			// Close set closed before quit: nothing new can queue, so one more look drains it.
			for batch := s.take(); len(batch) > 0; batch = s.take() {
				s.run(batch)
			}
			s.saveAck()
			return
		}
	}
}

// take removes up to maxBatch live calls from the queue, marking them taken.
func (s *Store) take() []*call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var batch []*call
	i := 0
	for ; i < len(s.pending) && len(batch) < s.maxBatch; i++ {
		c := s.pending[i]
		s.pending[i] = nil
		if c.state.CompareAndSwap(callQueued, callTaken) {
			batch = append(batch, c)
		}
	}
	s.pending = s.pending[i:]
	if len(s.pending) == 0 {
		s.pending = nil // let the backing array go
	}
	return batch
}

// run executes one batch in one bbolt transaction and answers every caller.
func (s *Store) run(batch []*call) {
	s.calls.Add(uint64(len(batch)))
	results := make([]error, len(batch))
	tx, err := s.apply(batch, results)
	if err != nil {
		s.fail(batch, results, fmt.Errorf("%w: %w", ErrCommit, err))
		return
	}
	if tx.dirty {
		s.lastHash = tx.lastHash
		s.lastSeq.Store(tx.lastSeq)
		if tx.acked > 0 {
			s.ackSaved.Store(tx.acked)
		}
		s.commits.Add(1)
		// Signal before answering, so that a caller that returned from Do finds the signal.
		select {
		case s.committed <- struct{}{}:
		default:
		}
	}
	for i, c := range batch {
		c.done <- results[i]
	}
}

// apply runs the batch's functions against one bbolt transaction and commits it. A batch that
// wrote nothing (only reads, or only failed functions) is rolled back: there is nothing to sync.
// bbolt panics (or faults) on some damaged pages; that fails the batch with an error wrapping
// ErrDamaged (and ErrCorrupt) instead of killing the process (see Store.Damaged).
func (s *Store) apply(batch []*call, results []error) (_ *Tx, err error) {
	btx, err := s.db.Begin(true)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if r := recover(); r != nil {
			btx.Rollback() // ErrTxClosed if the commit got that far: nothing else to undo
			err = &damageError{path: s.path, what: []string{fmt.Sprintf("bbolt panicked: %v", r)}, panicked: true}
			s.markDamaged(err)
		}
	}()
	// The write index and the order cache are the writer goroutine's, reused batch after batch
	// (a map that grows from empty every batch costs more than its contents); the cache is
	// emptied, since it is valid for one bbolt transaction only.
	if s.wmap == nil {
		s.wmap, s.ocache = map[uint64]int{}, map[string]*cachedOrder{}
	}
	clear(s.ocache)
	s.oslots.reset()
	s.slabs.reset() // the previous batch committed or rolled back: bbolt holds none of its values now
	tx := &Tx{s: s, btx: btx, lastSeq: s.lastSeq.Load(), lastHash: s.lastHash, acked: s.ackedSeq.Load(), w: s.wmap, orders: s.ocache, ops: s.ops[:0]}
	defer func() { s.ops = tx.ops[:0] }()
	if err := tx.runAll(batch, results); err != nil {
		btx.Rollback()
		return nil, err
	}
	if !tx.dirty {
		return tx, btx.Rollback()
	}
	// The batch commits anyway: it carries an ack held in memory (the meta page is rewritten for
	// last_seq in any case).
	if tx.acked, err = s.stageAck(btx); err != nil {
		btx.Rollback()
		return nil, err
	}
	if hook := s.failCommit.Load(); hook != nil {
		if err := (*hook)(); err != nil {
			btx.Rollback()
			return nil, err
		}
	}
	return tx, btx.Commit()
}

// runAll runs each call's function, keeping the writes of those that succeed, then records the
// new journal position in meta.
func (tx *Tx) runAll(batch []*call, results []error) error {
	for i, c := range batch {
		if results[i] = tx.exec(c.fn); results[i] == nil {
			if err := tx.flush(); err != nil {
				return err
			}
		}
	}
	if tx.lastSeq == tx.s.lastSeq.Load() {
		return nil
	}
	if err := tx.btx.Bucket(bMeta).Put([]byte(kLastSeq), be64(tx.lastSeq)); err != nil {
		return err
	}
	return tx.btx.Bucket(bMeta).Put([]byte(kLastHash), []byte(tx.lastHash))
}

// fail answers a batch whose transaction did not commit: callers whose fn succeeded get err,
// callers whose fn failed keep their own error (nothing of theirs was written either way). The
// in-memory position is reloaded from the db, which is what the next batch builds on.
func (s *Store) fail(batch []*call, results []error, err error) {
	s.failed.Add(1)
	s.log.Error("journal commit failed", logging.Err(err), "calls", len(batch))
	if lerr := s.load(); lerr != nil {
		s.log.Error("journal reload after a failed commit", logging.Err(lerr))
	}
	for i, c := range batch {
		if results[i] == nil {
			results[i] = err
		}
		c.done <- results[i]
	}
}

// Tx is the view of the store inside a Do function: it reads through the writes of the calls
// before it in the batch and buffers its own until the function returns nil. It is valid only
// inside that function, on the goroutine that runs it.
type Tx struct {
	s   *Store
	btx *bolt.Tx
	// The batch's position, advanced when a function succeeds.
	lastSeq  uint64
	lastHash string
	acked    uint64 // the acked seq in memory when the batch began; once it commits, the one it writes (0: none; see Store.stageAck)
	// The running function's own state, discarded if it fails: its writes in the order made
	// (flush applies them in that order, so appended entries go to bbolt in seq order and land at
	// the end of their page instead of shifting it), and where each bucket+key is in ops.
	ops    []wop
	w      map[uint64]int // wkey(bucket, key) → index in ops of the newest write with that hash (see wop.next)
	slab   []byte         // arena for the values and keys of ops (see alloc)
	fnSeq  uint64
	fnHash string
	err    error // first invalid write
	active bool
	dirty  bool // something was written: the batch must commit
	// orders caches the orders decoded in this transaction (see cachedOrder); decodes counts the
	// decodes it did not spare.
	orders  map[string]*cachedOrder
	decodes int
	bk      txBuckets // the transaction's buckets and reused cursors (stepkeys.go)
}

// cachedOrder is an order decoded from raw, the stored bytes it was read from. A later read that
// gets the very same bytes (the same backing array: nothing rewrote the order since) reuses it
// instead of decoding again; a write stores a fresh copy of new bytes (Tx.put), so the next read
// sees other bytes and decodes them once. A function whose writes are dropped falls back to the
// older bytes the same way. The cache lives as long as the Tx, one batch.
//
// stored says raw is what bbolt holds for the id in this transaction (read from it, or written to
// it by flush): while no write of the running function is pending for the id, a read then needs
// no bbolt lookup at all. bbolt's orders change only through flush, which keeps this true (see
// flush).
type cachedOrder struct {
	raw    []byte
	o      order.Order
	stored bool
}

// sameBytes reports whether a and b are the same stored value (not merely equal bytes).
func sameBytes(a, b []byte) bool {
	return len(a) == len(b) && len(a) > 0 && &a[0] == &b[0]
}

// decodeOrder decodes the order stored as raw under id, once per stored value and transaction.
// The caller gets its own copy of the cached order's slices.
func (tx *Tx) decodeOrder(id string, raw []byte, stored bool) (order.Order, bool, error) {
	o, ok, err := tx.decodeShared(id, raw, stored)
	if ok {
		o = cloneOrder(o)
	}
	return o, ok, err
}

// decodeShared is decodeOrder without the copy: the order shares its SKUs with the cache, so the
// caller must not change them (PutOrder only reads the previous order's keys and state).
func (tx *Tx) decodeShared(id string, raw []byte, stored bool) (order.Order, bool, error) {
	if raw == nil {
		return order.Order{}, false, nil
	}
	if c, ok := tx.orders[id]; ok && sameBytes(c.raw, raw) {
		return c.o, true, nil
	}
	tx.decodes++
	o, ok, err := decodeOrder(raw)
	if err != nil || !ok {
		return o, ok, err
	}
	if tx.orders == nil {
		tx.orders = map[string]*cachedOrder{}
	}
	c := tx.orders[id] // a decode of older bytes: its slot is reused
	if c == nil {
		c = tx.s.oslots.next()
		tx.orders[id] = c
	}
	*c = cachedOrder{raw: raw, o: o, stored: stored}
	return o, true, nil
}

// readOrder is the order stored under id as this function sees it: its own pending write, else
// the cached decode of what bbolt holds, else bbolt's value decoded.
func (tx *Tx) readOrder(id string) (order.Order, bool, error) {
	o, ok, err := tx.readShared(id)
	if ok {
		o = cloneOrder(o)
	}
	return o, ok, err
}

// readShared is readOrder without the copy of the order's SKUs (see decodeShared).
func (tx *Tx) readShared(id string) (order.Order, bool, error) {
	if raw, ok := tx.pending(bOrders, []byte(id)); ok {
		return tx.decodeShared(id, raw, false)
	}
	if c, ok := tx.orders[id]; ok && c.stored {
		return c.o, true, nil
	}
	return tx.decodeShared(id, tx.lookup(bOrders, []byte(id)), true)
}

// cloneOrder copies the order's only reference-typed field, so no caller can change the cache.
func cloneOrder(o order.Order) order.Order {
	o.SKUs = slices.Clone(o.SKUs)
	return o
}

// exec runs fn with a fresh write buffer, turning a panic into ErrPanic. If fn succeeds, the
// batch position advances to the function's; otherwise the function's writes are dropped.
func (tx *Tx) exec(fn func(*Tx) error) (err error) {
	if tx.w == nil {
		tx.w = map[uint64]int{}
	}
	clear(tx.w)
	tx.ops = tx.ops[:0]
	tx.err = nil
	tx.fnSeq, tx.fnHash = tx.lastSeq, tx.lastHash
	tx.active = true
	defer func() {
		tx.active = false
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrPanic, r)
			tx.s.log.Error("journal write refused", logging.Err(err))
		}
		if err == nil {
			err = tx.err
		}
		if err != nil {
			clear(tx.w)
			clear(tx.ops)
			tx.ops = tx.ops[:0]
			return
		}
		tx.lastSeq, tx.lastHash = tx.fnSeq, tx.fnHash
	}()
	return fn(tx)
}

// wop is one buffered write of a function.
type wop struct {
	bucket []byte // one of the bucket names (package variables)
	key    []byte
	val    []byte // nil for a delete
	next   int    // the previous op whose bucket and key hash the same (wkey), -1 if none
}

// flush writes a successful function's writes into the bbolt transaction, in the order made.
func (tx *Tx) flush() error {
	var b *bolt.Bucket
	var bname []byte
	for _, op := range tx.ops {
		tx.dirty = true
		if b == nil || !bytes.Equal(bname, op.bucket) {
			bname, b = op.bucket, tx.bucket(op.bucket)
			if bytes.Equal(bname, bEntries) {
				b.FillPercent = 1 // append-only
			}
		}
		var err error
		if op.val == nil {
			err = b.Delete(op.key)
		} else {
			err = b.Put(op.key, op.val)
		}
		if err != nil {
			return fmt.Errorf("bucket %s key %q: %w", op.bucket, op.key, err)
		}
		if bytes.Equal(op.bucket, bOrders) {
			// bbolt now holds op.val (the very slice): a cached decode of it is stored; any other
			// cached decode of this order is out of date.
			if c, ok := tx.orders[string(op.key)]; ok {
				if sameBytes(c.raw, op.val) {
					c.stored = true
				} else {
					delete(tx.orders, string(op.key))
				}
			}
		}
	}
	clear(tx.w)
	clear(tx.ops) // let the values go with the batch
	tx.ops = tx.ops[:0]
	return nil
}

// slabSize is the size of the arena chunks values and keys are copied into: one allocation for
// many small values instead of one each (they live until the batch's commit).
const slabSize = 32 << 10

// alloc returns n bytes of the arena (length 0, capacity n): the caller appends into it.
func (tx *Tx) alloc(n int) []byte {
	if n == 0 {
		return []byte{} // not nil: nil is a delete
	}
	if n > slabSize/4 {
		return make([]byte, 0, n)
	}
	if len(tx.slab) < n {
		tx.slab = tx.s.slabs.chunk()
	}
	b := tx.slab[:0:n]
	tx.slab = tx.slab[n:]
	return b
}

// write buffers a write (v nil: delete). v must not change afterwards.
func (tx *Tx) write(bucket, key, v []byte) {
	tx.writeHashed(wkey(bucket, key), bucket, key, v)
}

// writeHashed is write with h = wkey(bucket, key) already computed (tests force collisions).
func (tx *Tx) writeHashed(h uint64, bucket, key, v []byte) {
	if i := tx.find(h, bucket, key); i >= 0 {
		tx.ops[i].val = v
		return
	}
	next, ok := tx.w[h]
	if !ok {
		next = -1
	}
	tx.w[h] = len(tx.ops)
	tx.ops = append(tx.ops, wop{bucket: bucket, key: append(tx.alloc(len(key)), key...), val: v, next: next})
}

// put buffers a copy of v under key.
func (tx *Tx) put(bucket, key, v []byte) {
	tx.write(bucket, key, append(tx.alloc(len(v)), v...))
}

func (tx *Tx) del(bucket, key []byte) { tx.write(bucket, key, nil) }

// get reads through the function's own writes, then the batch (already in the bbolt tx).
func (tx *Tx) get(bucket, key []byte) []byte {
	if v, ok := tx.pending(bucket, key); ok {
		return v
	}
	return tx.lookup(bucket, key)
}

// pending returns the running function's own write of key (ok false when it wrote none; v nil
// for a delete).
func (tx *Tx) pending(bucket, key []byte) (v []byte, ok bool) {
	if len(tx.ops) == 0 {
		return nil, false
	}
	if i := tx.find(wkey(bucket, key), bucket, key); i >= 0 {
		return tx.ops[i].val, true
	}
	return nil, false
}

func (tx *Tx) invalid(format string, args ...any) {
	if tx.err == nil {
		tx.err = fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
	}
}

func (tx *Tx) usable(what string) bool {
	if tx == nil || !tx.active {
		if tx != nil {
			tx.s.log.Error("journal: call on a Tx outside its Do function ignored", "call", what)
		}
		return false
	}
	return true
}

// Order returns the order with id as this function sees it.
func (tx *Tx) Order(id string) (order.Order, bool) {
	if !tx.usable("Order") || id == "" {
		return order.Order{}, false
	}
	id = jsonString(id)
	o, ok, err := tx.readOrder(id)
	if err != nil {
		tx.invalid("read order %q: %v", id, err)
		return order.Order{}, false
	}
	return o, ok
}

// OrderByWaybill returns the order the waybill is bound to (its printed label).
func (tx *Tx) OrderByWaybill(wb string) (order.Order, bool) {
	if !tx.usable("OrderByWaybill") {
		return order.Order{}, false
	}
	wb = jsonString(waybill.Normalize(wb))
	if wb == "" {
		return order.Order{}, false
	}
	id := tx.get(bIdxWaybill, []byte(wb))
	if id == nil {
		return order.Order{}, false
	}
	return tx.Order(string(id))
}

// OrderByAssignedWaybill returns the order the hub assigned the waybill to, printed or not (an
// order's AssignedWaybill, normalized with waybill.Normalize). It is not the bound waybill of a
// printed label: for a parcel's label use OrderByWaybill.
func (tx *Tx) OrderByAssignedWaybill(wb string) (order.Order, bool) {
	if !tx.usable("OrderByAssignedWaybill") {
		return order.Order{}, false
	}
	wb = jsonString(waybill.Normalize(wb))
	if wb == "" {
		return order.Order{}, false
	}
	id := tx.get(bIdxAssign, []byte(wb))
	if id == nil {
		return order.Order{}, false
	}
	o, ok := tx.Order(string(id))
	if !ok || waybill.Normalize(o.AssignedWaybill) != wb {
		// A stale key (written by a wedge that did not keep this index): no answer beats a wrong one.
		return order.Order{}, false
	}
	return o, true
}

// OrderByChannelNo returns the order with that channel order no.
func (tx *Tx) OrderByChannelNo(no string) (order.Order, bool) {
	if !tx.usable("OrderByChannelNo") {
		return order.Order{}, false
	}
	no = jsonString(strings.TrimSpace(no))
	if no == "" {
		return order.Order{}, false
	}
	id := tx.get(bIdxChannel, []byte(no))
	if id == nil {
		return order.Order{}, false
	}
	return tx.Order(string(id))
}

// Commit records a decision of the order domain: it stores the order when d.Store and appends
// d.Entry when there is one, and returns d with the entry as sealed (journal id, seq, hashes). It is
// the one way stations, printing, intake and oversight commit a change of an order.
func (tx *Tx) Commit(d order.Decision) order.Decision {
	if d.Store {
		tx.PutOrder(d.Outcome.Order)
	}
	if d.Journaled() {
		d.Entry = tx.Append(d.Entry)
	}
	return d
}

// PutOrder stores o, keeping the waybill (bound and assigned) and channel-no indexes and the
// per-state counts. An
// order without id or with an unknown state is refused: the function's Do returns ErrInvalid.
func (tx *Tx) PutOrder(o order.Order) {
	if !tx.usable("PutOrder") {
		return
	}
	if o.ID == "" || strings.ContainsRune(o.ID, 0) {
		tx.invalid("order id %q", o.ID)
		return
	}
	if !o.State.Valid() {
		tx.invalid("order %s: state %q", o.ID, o.State)
		return
	}
	// Keys come from the order as it reads back (see jsonString): invalid UTF-8 as U+FFFD, as
	// JSON records and binary records both keep it (normOrder).
	if err := normOrder(&o); err != nil {
		tx.invalid("order %s: %v", o.ID, err)
		return
	}
	// The previous order, read without copying it (only its keys and state are used below).
	old, had, err := tx.readShared(o.ID)
	if err != nil {
		tx.invalid("read order %q: %v", o.ID, err)
		return
	}
	id := append(tx.alloc(len(o.ID)), o.ID...) // in the arena: the index values below keep it
	// Each index is written only where it changes: a key already naming this order is left alone
	// (bbolt's write of a key costs far more than the read that spares it).
	index := func(bucket []byte, oldKey, newKey string) {
		if had && oldKey != "" && oldKey != newKey && string(tx.get(bucket, []byte(oldKey))) == o.ID {
			tx.del(bucket, []byte(oldKey))
		}
		if newKey != "" && !(had && oldKey == newKey && string(tx.get(bucket, []byte(newKey))) == o.ID) {
			tx.write(bucket, []byte(newKey), id)
		}
	}
	// Waybill index: the bound waybill.
	index(bIdxWaybill, waybill.Normalize(old.Waybill), waybill.Normalize(o.Waybill))
	// Assigned-waybill index: the waybill the hub assigned (changed or withdrawn by a reassignment).
	index(bIdxAssign, waybill.Normalize(old.AssignedWaybill), waybill.Normalize(o.AssignedWaybill))
	index(bIdxChannel, strings.TrimSpace(old.ChannelOrderNo), strings.TrimSpace(o.ChannelOrderNo))
	if !had || old.State != o.State {
		if had {
			tx.addCount(old.State, -1)
		}
		tx.addCount(o.State, +1)
	}
	tx.s.scratch = appendOrderRecord(tx.s.scratch[:0], &o)
	tx.write(bOrders, id, append(tx.alloc(len(tx.s.scratch)), tx.s.scratch...))
}

func (tx *Tx) addCount(st order.State, d int) {
	n, err := u64(tx.get(bCounts, []byte(st)))
	if err != nil {
		tx.invalid("count of %s: %v", st, err)
		return
	}
	if d < 0 && n == 0 {
		tx.s.log.Warn("journal count would go below zero: kept at 0", "state", st)
		return
	}
	tx.put(bCounts, []byte(st), be64(uint64(int64(n)+int64(d))))
}

// Append seals e as the next journal entry and stores it: it fills JournalID, Seq, At (the
// store's clock, if empty), PrevHash and Hash, and returns the sealed entry.
func (tx *Tx) Append(e wire.Entry) wire.Entry {
	if !tx.usable("Append") {
		return e
	}
	e.JournalID = tx.s.journalID
	e.Seq = tx.fnSeq + 1
	if e.At == "" {
		e.At = wire.Time(tx.s.clk.Now())
	}
	// The entry is sealed as it reads back: encoding/json writes invalid UTF-8 (say, GBK bytes
	// from a scanner) as \ufffd escapes, which decode to U+FFFD, so an entry sealed with the raw
	// bytes would fail its own hash once read back (by the hub, or Verify). normEntry makes those
	// replacements first; then the hash covers the canonical JSON (wire.Entry.Canonical, written
	// written by AppendCanonical) and the stored record is the binary one.
	normEntry(&e)
	tx.seal(&e, tx.fnHash)
	tx.store(&e)
	tx.fnSeq, tx.fnHash = e.Seq, e.Hash
	return e
}

// seal sets e's PrevHash and Hash as wire.Entry.Seal does, without reflection: SHA-256 over the
// previous hash and the canonical JSON (wire.Entry.AppendCanonical writes json.Marshal's bytes).
func (tx *Tx) seal(e *wire.Entry, prevHash string) {
	e.PrevHash = prevHash
	buf := append(tx.s.scratch[:0], prevHash...)
	buf = e.AppendCanonical(buf)
	tx.s.scratch = buf
	sum := sha256.Sum256(buf)
	var h [2 * sha256.Size]byte
	hex.Encode(h[:], sum[:])
	e.Hash = string(h[:])
}

// store buffers e's binary record and its history key.
func (tx *Tx) store(e *wire.Entry) {
	key := binary.BigEndian.AppendUint64(tx.alloc(8), e.Seq)
	tx.s.scratch = appendEntryRecord(tx.s.scratch[:0], e)
	tx.writeNew(bEntries, key, append(tx.alloc(len(tx.s.scratch)), tx.s.scratch...))
	if e.OrderID != "" {
		hk := tx.alloc(len(e.OrderID) + 9)
		hk = append(append(append(hk, e.OrderID...), 0), key...)
		tx.writeNew(bIdxHistory, hk, []byte{})
	}
}

// Meta returns the agent state stored under key (nil if none).
func (tx *Tx) Meta(key string) []byte {
	if !tx.usable("Meta") || key == "" {
		return nil
	}
	v := tx.get(bMeta, []byte(appPrefix+key))
	if v == nil {
		return nil
	}
	return append([]byte(nil), v...)
}

// SetMeta stores small agent state under key (e.g. the downlink hseq); nil v deletes it.
func (tx *Tx) SetMeta(key string, v []byte) {
	if !tx.usable("SetMeta") {
		return
	}
	if key == "" {
		tx.invalid("empty meta key")
		return
	}
	if v == nil {
		tx.del(bMeta, []byte(appPrefix+key))
		return
	}
	tx.put(bMeta, []byte(appPrefix+key), v)
}

// LastSeq is the seq of the last entry this function sees (its own appends included).
func (tx *Tx) LastSeq() uint64 {
	if !tx.usable("LastSeq") {
		return 0
	}
	return tx.fnSeq
}
