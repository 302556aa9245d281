package pgstore

import (
	"context"
	"errors"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"wedge/sync/hub"
)

// Round trips of an Update. The hub runs a whole group of batches in one transaction and calls
// the Tx about twenty times per entry; one statement per call, each waiting for its answer (15.8
// round trips per entry), made PostgreSQL ingest fifty to a hundred times slower than a batched
// INSERT. So an Update's transaction
//
//   - queues its writes (statements whose answer the caller does not need) and sends them in one
//     pipeline (pgx.Batch) together with the next statement that needs an answer, or at commit;
//   - keeps what it read or wrote of the rows the ingest path uses (entries, pending entries,
//     journals, orders, their central rows, agents) and answers again from that copy: every write
//     to those tables in the transaction goes through the methods that keep the copy;
//   - reads ahead, on Prefetch, a batch's journal (locked), agent, entries and pending entries in
//     one round trip, and locks all the orders the batch names at the first Order of one of them;
//   - advances a site's hseq counter in memory once it holds the counter's row (the first NextHSeq
//     of the transaction locks it) and writes the last value with the next round trip;
//   - gathers the rows of its most frequent writes into one multi-row statement per table and
//     round trip (multirow.go).
//
// Statements run in the order the methods were called, except the gathered rows (sent after the
// queued statements, see rowBuffers) and a batch's orders (locked together, in id order), and
// every read sees the transaction's own writes. A queued write that fails fails the transaction:
// the error is returned by the call that sent it (a later read, or the commit) and by every call
// after it, and Update rolls back. Nothing is committed that was not written.

// maxQueued bounds the writes queued before they are sent on their own.
const maxQueued = 1000

// errEntryRace is a queued entry insert that found the key taken: another transaction stored the
// entry after this one read it as missing. The transaction fails; the hub retries its items.
var errEntryRace = errors.New("pgstore: entry stored by another transaction after this one read it as missing")

// conn is what the transaction's methods run statements on: the pgx.Tx, except that every
// statement first sends the writes queued before it, in the same round trip where it can. A
// method added later that uses t.tx therefore sees the transaction's own writes.
type conn struct{ t *pgTx }

// Exec sends the queue and sql in one round trip.
func (c conn) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	var tag pgconn.CommandTag
	err := c.t.send(func(b *pgx.Batch) {
		b.Queue(sql, args...).Exec(func(ct pgconn.CommandTag) error { tag = ct; return nil })
	})
	return tag, err
}

// QueryRow sends the queue and sql in one round trip when the row is scanned.
func (c conn) QueryRow(_ context.Context, sql string, args ...any) pgx.Row {
	return queuedRow{t: c.t, sql: sql, args: args}
}

// Query sends the queue first, then runs sql streaming its rows.
func (c conn) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := c.t.flush(); err != nil {
		return nil, err
	}
	return c.t.raw.Query(ctx, sql, args...)
}

// CopyFrom sends the queue first, then copies.
func (c conn) CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error) {
	if err := c.t.flush(); err != nil {
		return 0, err
	}
	return c.t.raw.CopyFrom(ctx, table, cols, src)
}

type queuedRow struct {
	t    *pgTx
	sql  string
	args []any
}

func (r queuedRow) Scan(dest ...any) error {
	var scanErr error
	err := r.t.send(func(b *pgx.Batch) {
		b.Queue(r.sql, r.args...).QueryRow(func(row pgx.Row) error {
			scanErr = row.Scan(dest...)
			if errors.Is(scanErr, pgx.ErrNoRows) {
				return nil // an answer, not a failure of the transaction
			}
			return scanErr
		})
	})
	if err != nil {
		return err
	}
	return scanErr
}

// queue adds a write to the queue; it is sent with the next round trip.
func (t *pgTx) queue(sql string, args ...any) *pgx.QueuedQuery {
	if t.q == nil {
		t.q = &pgx.Batch{}
	}
	return t.q.Queue(sql, args...)
}

// exec queues a write whose answer nobody needs.
func (t *pgTx) exec(sql string, args ...any) error {
	if !t.writable {
		return errReadOnly
	}
	if t.err != nil {
		return t.err
	}
	t.queue(sql, args...)
	if t.queued()+t.rows.len() >= maxQueued {
		return t.flush()
	}
	return nil
}

func (t *pgTx) queued() int {
	if t.q == nil {
		return 0
	}
	return t.q.Len()
}

// flush sends the queued writes.
func (t *pgTx) flush() error { return t.send(nil) }

// send sends the queued writes, the hseq counters advanced in memory, and what add queues, in one
// round trip. Any failure is kept: the transaction is lost, and every later call returns it.
func (t *pgTx) send(add func(*pgx.Batch)) error {
	if t.err != nil {
		return t.err
	}
	b := t.q
	t.q = nil
	if b == nil {
		b = &pgx.Batch{}
	}
	t.rows.emit(b)
	if t.c != nil {
		t.c.writeHSeqs(b)
	}
	if add != nil {
		add(b)
	}
	if b.Len() == 0 {
		return nil
	}
	if err := t.raw.SendBatch(t.ctx, b).Close(); err != nil {
		t.err = err
		return err
	}
	return nil
}

// cache is what an Update has read or written of the rows the ingest path uses. A key present in
// a map is known: a nil document means no row (or a row locked while missing).
type cache struct {
	entries  map[hub.EntryKey][]byte
	pending  map[hub.EntryKey][]byte
	journals map[[3]string][]byte // read locked (Journal) or written
	agents   map[[2]string][]byte
	orders   map[string][]byte // read locked (Order) or written
	index    map[string][]byte // hub_cx_orders documents
	toLock   []string          // orders the last prefetch named, not locked yet
	// hseq is the last hseq given out per site whose counter row this transaction holds; dirty
	// ones are written with the next round trip.
	hseq  map[string]uint64
	dirty map[string]bool
}

func newCache() *cache {
	return &cache{entries: map[hub.EntryKey][]byte{}, pending: map[hub.EntryKey][]byte{}, journals: map[[3]string][]byte{},
		agents: map[[2]string][]byte{}, orders: map[string][]byte{}, index: map[string][]byte{},
		hseq: map[string]uint64{}, dirty: map[string]bool{}}
}

// writeHSeqs queues the counters advanced in memory, in site order (the rows are this
// transaction's already; the order only keeps the statements reproducible).
func (c *cache) writeHSeqs(b *pgx.Batch) {
	if len(c.dirty) == 0 {
		return
	}
	sites := make([]string, 0, len(c.dirty))
	for s := range c.dirty {
		sites = append(sites, s)
	}
	slices.Sort(sites)
	for _, s := range sites {
		b.Queue(`UPDATE hub_downlink_seq SET last=$2 WHERE site=$1`, s, int64(c.hseq[s]))
	}
	clear(c.dirty)
}

// Prefetch reads a batch's journal (locking its row, as Journal does), its agent, and its entries
// and pending entries at the batch's seqs, the one before the first and the one after the last,
// in one round trip with the queued writes; the orders it names are locked together at the first
// Order of one of them (lockOrders). A View ignores it.
func (t *pgTx) Prefetch(p hub.Prefetch) error {
	if t.c == nil || !t.writable {
		return nil
	}
	c := t.c
	c.toLock = c.toLock[:0]
	for _, id := range p.Orders {
		if _, ok := c.orders[id]; !ok {
			c.toLock = append(c.toLock, id)
		}
	}
	if len(p.Seqs) == 0 {
		return nil
	}
	jk := [3]string{p.Site, p.Agent, p.Journal}
	ak := [2]string{p.Site, p.Agent}
	seqs := make([]int64, 0, len(p.Seqs)+2)
	lo, hi := p.Seqs[0], p.Seqs[0]
	for _, s := range p.Seqs {
		seqs = append(seqs, int64(s))
		lo, hi = min(lo, s), max(hi, s)
	}
	if lo > 1 {
		seqs = append(seqs, int64(lo-1))
	}
	seqs = append(seqs, int64(hi+1))
	fetch, fetched := t.fetchSeqs(p.Site, p.Agent, p.Journal)
	var journal, agent []byte
	_, haveJournal := c.journals[jk]
	_, haveAgent := c.agents[ak]
	err := t.send(func(b *pgx.Batch) {
		if !haveJournal {
			b.Queue(`INSERT INTO hub_journals (site, agent, journal) VALUES ($1,$2,$3) ON CONFLICT DO NOTHING`, p.Site, p.Agent, p.Journal)
			b.Queue(`SELECT doc FROM hub_journals WHERE site=$1 AND agent=$2 AND journal=$3 FOR UPDATE`, p.Site, p.Agent, p.Journal).
				QueryRow(func(r pgx.Row) error { return r.Scan(&journal) })
		}
		if !haveAgent {
			b.Queue(`SELECT doc FROM hub_agents WHERE site=$1 AND agent=$2`, p.Site, p.Agent).QueryRow(func(r pgx.Row) error {
				if err := r.Scan(&agent); !errors.Is(err, pgx.ErrNoRows) {
					return err
				}
				return nil
			})
		}
		fetch(b, `seq = ANY($4)`, p.Site, p.Agent, p.Journal, seqs)
	})
	if err != nil {
		return err
	}
	if !haveJournal {
		c.journals[jk] = journal
	}
	if !haveAgent {
		c.agents[ak] = agent
	}
	fetched(seqs)
	return nil
}

// readAheadN is how many seqs from a missed one readAhead reads: an entry applied from the pending
// ones makes the hub look at its successor, and the ack at the one after the last stored.
const readAheadN = 64

// readAhead reads the entries and pending entries of a journal at seqs from k's on (readAheadN),
// in one round trip with the queued writes: reads that no prefetch covered (a gap filled, the
// entries that waited behind it applied and acked) cost one round trip per readAheadN seqs.
func (t *pgTx) readAhead(k hub.EntryKey) error {
	fetch, fetched := t.fetchSeqs(k.Site, k.Agent, k.Journal)
	err := t.send(func(b *pgx.Batch) {
		fetch(b, `seq >= $4 AND seq < $4 + `+strconv.Itoa(readAheadN), k.Site, k.Agent, k.Journal, int64(k.Seq))
	})
	if err != nil {
		return err
	}
	seqs := make([]int64, readAheadN)
	for i := range seqs {
		seqs[i] = int64(k.Seq) + int64(i)
	}
	fetched(seqs)
	return nil
}

// fetchSeqs returns fetch, which queues the reads of a journal's entries and pending entries
// where cond ($4 and on), and fetched, which keeps what they returned at seqs (a seq without a row
// is known missing) unless the transaction knew it already.
func (t *pgTx) fetchSeqs(site, agent, journal string) (fetch func(b *pgx.Batch, cond string, args ...any), fetched func(seqs []int64)) {
	key := func(seq int64) hub.EntryKey {
		return hub.EntryKey{Site: site, Agent: agent, Journal: journal, Seq: uint64(seq)}
	}
	entries, pending := map[hub.EntryKey][]byte{}, map[hub.EntryKey][]byte{}
	collect := func(into map[hub.EntryKey][]byte) func(pgx.Rows) error {
		return func(rows pgx.Rows) error {
			for rows.Next() {
				var seq int64
				var d []byte
				if err := rows.Scan(&seq, &d); err != nil {
					return err
				}
				into[key(seq)] = d
			}
			return rows.Err()
		}
	}
	fetch = func(b *pgx.Batch, cond string, args ...any) {
		b.Queue(`SELECT seq, doc FROM hub_entries WHERE site=$1 AND agent=$2 AND journal=$3 AND `+cond, args...).Query(collect(entries))
		b.Queue(`SELECT seq, doc FROM hub_pending WHERE site=$1 AND agent=$2 AND journal=$3 AND `+cond, args...).Query(collect(pending))
	}
	fetched = func(seqs []int64) {
		c := t.c
		for _, s := range seqs {
			k := key(s)
			if _, ok := c.entries[k]; !ok {
				c.entries[k] = entries[k]
			}
			if _, ok := c.pending[k]; !ok {
				c.pending[k] = pending[k]
			}
		}
	}
	return fetch, fetched
}

// lockOrders locks the orders ids (creating empty rows for missing ones, as Order does), in id
// order, and reads them and their central rows, in one round trip with the queued writes.
func (t *pgTx) lockOrders(ids []string) error {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	docs, index := map[string][]byte{}, map[string][]byte{}
	keyed := func(into map[string][]byte) func(pgx.Rows) error {
		return func(rows pgx.Rows) error {
			for rows.Next() {
				var id string
				var d []byte
				if err := rows.Scan(&id, &d); err != nil {
					return err
				}
				into[id] = d
			}
			return rows.Err()
		}
	}
	err := t.send(func(b *pgx.Batch) {
		b.Queue(`INSERT INTO hub_orders (id) SELECT id FROM unnest($1::text[]) AS u(id) ORDER BY id ON CONFLICT DO NOTHING`, ids)
		b.Queue(`SELECT id, doc FROM hub_orders WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids).Query(keyed(docs))
		b.Queue(`SELECT order_id, doc FROM hub_cx_orders WHERE order_id = ANY($1)`, ids).Query(keyed(index))
	})
	if err != nil {
		return err
	}
	c := t.c
	for _, id := range ids {
		if _, ok := c.orders[id]; !ok {
			c.orders[id] = docs[id]
		}
		if _, ok := c.index[id]; !ok {
			c.index[id] = index[id]
		}
	}
	c.toLock = slices.DeleteFunc(c.toLock, func(id string) bool { _, ok := c.orders[id]; return ok })
	return nil
}

// putEntryQueued gathers the insert of an entry this transaction knows is missing; the insert
// checks it still was (errEntryRace otherwise, which fails the transaction).
func (t *pgTx) putEntryQueued(k hub.EntryKey, doc []byte) error {
	t.c.entries[k] = doc
	return t.gather(func(r *rowBuffers) { r.entries = append(r.entries, entryRow{k, doc}) })
}
