package journal

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"os"
	"reflect"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"wedge/internal/clock"
	"wedge/order"
	"wedge/order/waybill"
	"wedge/sync/wire"
)

// This file is the recovery path for a damaged journal: Salvage reads what it can from the
// damaged file, Rebuild writes a new file from a complete chain (the hub's copy, then the salvaged
// local tail) with the entries' original seq and hash.

// Salvaged is what Salvage could read from a journal file.
type Salvaged struct {
	JournalID   string // from meta, else from the entries; "" when neither reads
	Site, Agent string // from meta; "" when unreadable
	LastSeq     uint64 // meta's last_seq (0 when unreadable)
	AckedSeq    uint64 // meta's acked_seq (0 when unreadable)
	// AppMeta is the agent's own state (Tx.SetMeta keys), to carry over to a rebuilt journal.
	AppMeta map[string][]byte
	// Entries are the entries after the seq Salvage was asked for that read back, gapless from
	// there and in seq order: they stop at the first one missing or unreadable.
	Entries []wire.Entry
	// Damage says what could not be read (Chinese then English); empty for a sound file.
	Damage []string
}

// Salvage reads the journal file at path without bbolt (see Verify), skipping what is damaged:
// meta's identity and position, the agent's own meta state, and the entries with seq > after. It
// fails only when the file cannot be opened; a file without any readable meta page gives an
// empty Salvaged with its Damage. The file must not be in use by a running agent.
func Salvage(path string, after uint64) (Salvaged, error) {
	out := Salvaged{AppMeta: map[string][]byte{}}
	f, err := os.Open(path)
	if err != nil {
		return out, fmt.Errorf("journal: salvage: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return out, fmt.Errorf("journal: salvage: %w", err)
	}
	bf, problems, err := openBoltFile(f, st.Size())
	if err != nil {
		out.Damage = []string{err.Error()}
		return out, nil
	}
	w := newWalker(bf)
	for _, p := range problems {
		w.report("%s", p)
	}
	buckets := w.rootBuckets()
	if b, ok := buckets[string(bMeta)]; ok {
		w.bucket(string(bMeta), b, func(k, v []byte, sub bool) {
			switch key := string(k); {
			case sub:
			case key == kJournalID && printable(string(v)):
				out.JournalID = string(v)
			case key == kSite && printable(string(v)):
				out.Site = string(v)
			case key == kAgent && printable(string(v)):
				out.Agent = string(v)
			case key == kLastSeq && len(v) == 8:
				out.LastSeq = binary.BigEndian.Uint64(v)
			case key == kAckedSeq && len(v) == 8:
				out.AckedSeq = binary.BigEndian.Uint64(v)
			case strings.HasPrefix(key, appPrefix) && len(key) > len(appPrefix):
				out.AppMeta[key[len(appPrefix):]] = append([]byte(nil), v...)
			}
		})
	}
	found := map[uint64]wire.Entry{}
	if b, ok := buckets[string(bEntries)]; ok {
		w.bucket(string(bEntries), b, func(k, v []byte, sub bool) {
			if sub || len(k) != 8 {
				return
			}
			seq := binary.BigEndian.Uint64(k)
			if seq <= after && out.JournalID != "" {
				return
			}
			e, err := decodeEntryRecord(v)
			if err != nil || e.Seq != seq {
				w.report("记录 %d 无法读取 entry %d does not read back", seq, seq)
				return
			}
			if out.JournalID == "" {
				out.JournalID = e.JournalID // meta unreadable: the entries say whose they are
			}
			if seq > after && e.JournalID == out.JournalID {
				found[seq] = e
			}
		})
	}
	for seq := after + 1; ; seq++ {
		e, ok := found[seq]
		if !ok {
			break
		}
		out.Entries = append(out.Entries, e)
	}
	out.Damage = w.damage
	if w.more > 0 {
		out.Damage = append(out.Damage, fmt.Sprintf("……另有 %d 处 and %d more", w.more, w.more))
	}
	return out, nil
}

// Restore is what Rebuild writes.
type Restore struct {
	// JournalID is the journal's id, kept from the damaged file. Required.
	JournalID string
	// Entries yields the whole journal from seq 1 on, as sealed: each entry of JournalID and
	// linked to the one before (wire.VerifyLink). Rebuild fails on the first error it yields.
	Entries iter.Seq2[wire.Entry, error]
	// AckedSeq is how far the hub has acknowledged the journal (at most the last entry's seq).
	AckedSeq uint64
}

// rebuildBatch is how many entries go into one transaction of Rebuild.
const rebuildBatch = 1000

// Rebuild writes a new journal file at path, which must not exist: identity from opts and
// r.JournalID, every entry of r.Entries stored with its original seq and hash (each checked with
// wire.VerifyLink first), the orders replayed from the entries (see replayOrder) and acked_seq.
// The agent's own meta state (Tx.SetMeta) is the caller's to restore. It returns the last seq written. The file is complete and synced when
// Rebuild returns nil; on an error it is removed. Move it into place with a rename.
func Rebuild(path string, opts *Options, r Restore) (last uint64, err error) {
	if opts == nil || strings.TrimSpace(opts.Site) == "" || strings.TrimSpace(opts.Agent) == "" {
		return 0, fmt.Errorf("%w: site and agent are required", ErrOptions)
	}
	if !printable(r.JournalID) || r.Entries == nil {
		return 0, fmt.Errorf("%w: rebuild needs a journal id and entries (journal id %q)", ErrOptions, r.JournalID)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("%w: rebuild: %s already exists", ErrOptions, path)
	}
	defer func() {
		if err != nil {
			os.Remove(path)
		}
	}()
	clk := clock.Or(opts.Clock)
	if err := createIdentity(path, opts, r.JournalID, clk.Now()); err != nil {
		return 0, err
	}
	// The writes are synced once at the end: the file is not in use until Rebuild returns.
	o := *opts
	o.NoSync, o.FailCommit, o.LockTimeout = true, nil, 0
	s, err := Open(path, &o)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	ctx := context.Background()
	batch := make([]wire.Entry, 0, rebuildBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := s.Do(ctx, func(tx *Tx) error {
			for _, e := range batch {
				tx.restore(e)
				if tx.err != nil {
					return tx.err
				}
			}
			return nil
		})
		batch = batch[:0]
		return err
	}
	for e, err := range r.Entries {
		if err != nil {
			return 0, err
		}
		if batch = append(batch, e); len(batch) == rebuildBatch {
			if err := flush(); err != nil {
				return 0, err
			}
		}
	}
	if err := flush(); err != nil {
		return 0, err
	}
	last = s.LastSeq()
	if r.AckedSeq > last {
		return 0, fmt.Errorf("%w: acked seq %d is beyond the last entry %d", ErrInvalid, r.AckedSeq, last)
	}
	if err := s.Ack(ctx, r.AckedSeq); err != nil {
		return 0, err
	}
	// Close writes the acked seq (Ack holds it in memory until a commit); then the file is synced
	// once, with it.
	if err := s.Close(); err != nil {
		return 0, err
	}
	if s.SavedAckedSeq() != r.AckedSeq {
		return 0, fmt.Errorf("%w: rebuild: the acked seq %d was not written", ErrCommit, r.AckedSeq)
	}
	if err := syncFile(path); err != nil {
		return 0, fmt.Errorf("journal: rebuild: sync: %w", err)
	}
	return last, nil
}

// syncFile fsyncs the file at path.
func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// createIdentity makes the journal file with its buckets and an identity whose id is given (Open
// would make a random one).
func createIdentity(path string, opts *Options, journalID string, now time.Time) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: DefaultLockTimeout})
	if err != nil {
		return fmt.Errorf("journal: rebuild: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bMeta)
		for k, v := range map[string]string{
			kJournalID: journalID, kSite: opts.Site, kAgent: opts.Agent, kCreatedAt: wire.Time(now), kFormat: formatV2,
		} {
			if err := meta.Put([]byte(k), []byte(v)); err != nil {
				return err
			}
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("journal: rebuild: %w", err)
	}
	return nil
}

// restore stores e as the next entry exactly as sealed (Append seals anew) and replays its effect
// on its order. An entry of another journal, or one that does not link to the entry before, is
// refused (ErrInvalid).
func (tx *Tx) restore(e wire.Entry) {
	if !tx.usable("restore") {
		return
	}
	if e.JournalID != tx.s.journalID {
		tx.invalid("entry %d belongs to journal %q, not %q", e.Seq, e.JournalID, tx.s.journalID)
		return
	}
	var prev *wire.Entry
	if tx.fnSeq > 0 {
		prev = &wire.Entry{Seq: tx.fnSeq, Hash: tx.fnHash}
	}
	if err := wire.VerifyLink(prev, e); err != nil {
		tx.invalid("%w", err)
		return
	}
	// VerifyLink checked the hash over e's canonical JSON, which holds only valid UTF-8 strings
	// once read back: an entry with others (not from JSON) is refused rather than stored as
	// something else than what was checked.
	n := e
	if normEntry(&n); !reflect.DeepEqual(n, e) {
		tx.invalid("entry %d: text is not UTF-8", e.Seq)
		return
	}
	tx.store(&e)
	tx.fnSeq, tx.fnHash = e.Seq, e.Hash
	replayOrder(tx, e)
}

// replayOrder re-creates the order change an entry records: an intake creates the order (or fills
// in its data, or assigns its waybill), an update applies the newer version of its data, a step or
// merge moves it to the entry's to-state with the waybill and times that go with it, an overdue
// entry marks it, a handed_over note sets the handover mark, a carrier event's note the latest carrier event; every change also restores the label version and the intercept the entry leaves
// (order.RestoreMarks), so the outdated label and the intercept flag come back. The entries carry
// what the agent decided, so nothing is decided again here (no breaker, no contract check). What
// entries do not carry is lost: times are the entries' times.
func replayOrder(tx *Tx, e wire.Entry) {
	id := e.OrderID
	if id == "" || strings.ContainsRune(id, 0) {
		return
	}
	at, _ := wire.ParseTime(e.At)
	o, known := tx.Order(id)
	switch e.Kind {
	case wire.KindIntake:
		var ok bool
		if o, ok = replayIntake(o, known, e, at); !ok {
			return
		}
	case wire.KindUpdate:
		if !known || e.Order == nil {
			return
		}
		// The update's fields are re-derived from its message by the rule that decided it.
		if d := order.DecideMsg(o, true, *e.Order, order.MsgEnv{At: at}); d.Store && d.Entry.Kind == wire.KindUpdate {
			o = d.Outcome.Order
		}
	case wire.KindStep, wire.KindMerge:
		to, err := order.ParseState(e.To)
		if err != nil {
			return
		}
		o = replayState(o, known, id, to, e, at)
	case wire.KindIntercept, wire.KindReprint:
		if !known {
			return
		}
	case wire.KindOverdue:
		if !known {
			return
		}
		o.Overdue = true
	case wire.KindNote:
		// A carrier event relayed by the hub: the latest one is the order's (the console shows it).
		if ev, ok := order.ParseCarrierNote(e); ok {
			n, changed := o.WithCarrierEvent(ev)
			if !known || !changed {
				return
			}
			o = n
			break
		}
		// The handed_over mark of a handover under carrier_first_scan: without it, no PC would
		// journal the courier's first scan after a rebuild.
		if !known || e.Reason != order.NoteHandedOver || o.State != order.WaybillPrinted || !o.HandedOverAt.IsZero() {
			return
		}
		o.HandedOverAt = at
	default:
		return
	}
	tx.PutOrder(order.RestoreMarks(o, e))
}

// replayIntake is o after intake entry e: a new order from the entry's message, the data for a
// minimal record made from another agent's state, or an assigned waybill; ok is false when there
// is nothing to store (data for an order not known).
func replayIntake(o order.Order, known bool, e wire.Entry, at time.Time) (order.Order, bool) {
	switch {
	case e.Order != nil && !known:
		o = orderOf(e.OrderID, *e.Order)
		to, err := order.ParseState(e.To)
		if err != nil {
			to = order.InitialState(o.Payment, false)
		}
		o = o.Receive(to, at)
	case !known:
		return o, false
	case e.Order != nil && o.Channel == "" && o.ChannelOrderNo == "" && o.BuyerID == "":
		// A minimal record made from another agent's state: the data arrived (see intake), filled
		// in by the rule that did it.
		if d := order.DecideMsg(o, true, *e.Order, order.MsgEnv{At: at}); d.Store {
			o = d.Outcome.Order
		}
	}
	if e.Waybill != "" {
		o.AssignedWaybill = waybill.Normalize(e.Waybill)
	}
	if e.Carrier != "" {
		o.Carrier = e.Carrier
	}
	return o, true
}

// replayState is o after a step or merge entry e to state to.
func replayState(o order.Order, known bool, id string, to order.State, e wire.Entry, at time.Time) order.Order {
	if !known {
		// First heard of through this entry: a minimal record before the backlog, moved to the
		// entry's state as intake's merge moved it.
		o = order.Order{ID: id, State: order.AwaitingBalance, StateSince: at, ReceivedAt: at}
		if to == order.Held {
			o.State = to
		}
	}
	if o.State != to {
		o = o.Enter(to, at)
		switch to {
		case order.WaybillPrinted:
			o.PrintedAt = at
		case order.PickedUp:
			if o.PrintedAt.IsZero() {
				o.PrintedAt = at
			}
			o.PickedUpAt = at
		}
	}
	if wb := waybill.Normalize(e.Waybill); wb != "" && (to == order.WaybillPrinted || to == order.PickedUp) && (o.Waybill == "" || to == order.WaybillPrinted) {
		o.Waybill = wb
	}
	if e.Carrier != "" && o.Carrier == "" {
		o.Carrier = e.Carrier
	}
	return o
}

// orderOf is an order's data from its intake message, normalised as intake stores it
// (order.FromMsg: the recipient's fields and the data version included).
func orderOf(id string, m wire.OrderMsg) order.Order {
	o := order.FromMsg(m)
	o.ID = id
	return o
}
