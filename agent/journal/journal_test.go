package journal

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/goleak"

	"wedge/internal/clock"
	"wedge/order"
	"wedge/sync/wire"
)

func TestMain(m *testing.M) {
	for env, child := range children { // a re-executed test binary playing a child process
		if path := os.Getenv(env); path != "" {
			child(path) // never returns
		}
	}
	goleak.VerifyTestMain(m)
}

// children maps an environment variable to the child-process body it selects.
var children = map[string]func(path string){}

var t0 = time.Date(2026, 11, 11, 0, 0, 0, 0, time.UTC)

func testOpts() *Options {
	return &Options{Site: "sz01", Agent: "pack02", Clock: clock.NewFake(t0)}
}

func open(t testing.TB, path string, opts *Options) *Store {
	t.Helper()
	if opts == nil {
		opts = testOpts()
	}
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newStore(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "wedge.db")
	return open(t, path, nil), path
}

// appendNote appends one note entry for order id (no order needed) and returns it.
func appendNote(t testing.TB, s *Store, id, detail string) wire.Entry {
	t.Helper()
	var e wire.Entry
	err := s.Do(context.Background(), func(tx *Tx) error {
		e = tx.Append(wire.Entry{Kind: wire.KindNote, OrderID: id, Detail: detail, Trigger: wire.TriggerSystem})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// gate blocks the writer inside a Do until release is called, so that the calls queued meanwhile
// form the next batch. It returns once the writer is inside the gate.
func gate(t *testing.T, s *Store) (release func(), gateErr <-chan error) {
	t.Helper()
	in, out := make(chan struct{}), make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- s.Do(context.Background(), func(*Tx) error {
			close(in)
			<-out
			return nil
		})
	}()
	<-in
	var once sync.Once
	release = func() { once.Do(func() { close(out) }) }
	t.Cleanup(release)
	return release, errc
}

// waitPending waits until n calls are queued behind the gate.
func waitPending(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		got := len(s.pending)
		s.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d calls queued", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func mustVerify(t *testing.T, path string) Report {
	t.Helper()
	rep, err := Verify(path)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("verify: %s", rep)
	}
	return rep
}

func TestOpenOptions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wedge.db")
	for _, o := range []*Options{nil, {}, {Site: "sz01"}, {Agent: "a"}, {Site: "s", Agent: "a", MaxBatch: -1}} {
		if _, err := Open(path, o); !errors.Is(err, ErrOptions) {
			t.Errorf("Open(%+v) = %v, want ErrOptions", o, err)
		}
	}
	if _, err := Open(filepath.Join(t.TempDir(), "no", "such", "dir", "wedge.db"), testOpts()); err == nil {
		t.Error("Open in a missing directory succeeded")
	}
}

func TestIdentityAndRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wedge.db")
	s, err := Open(path, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	id := s.JournalID()
	if len(id) != 16 || strings.Trim(id, "0123456789abcdef") != "" {
		t.Errorf("journal id %q, want 16 hex chars", id)
	}
	var last wire.Entry
	for i := range 5 {
		last = appendNote(t, s, "O1", fmt.Sprint(i))
	}
	if err := s.Ack(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil { // idempotent
		t.Fatal(err)
	}

	// Someone else's data.
	_, err = Open(path, &Options{Site: "sz01", Agent: "pack03"})
	if !errors.Is(err, ErrIdentity) || !strings.Contains(err.Error(), "sz01/pack02") || !strings.Contains(err.Error(), "sz01/pack03") {
		t.Errorf("other agent: %v, want ErrIdentity naming both", err)
	}
	_, err = Open(path, &Options{Site: "bj01", Agent: "pack02"})
	if !errors.Is(err, ErrIdentity) {
		t.Errorf("other site: %v, want ErrIdentity", err)
	}

	// A journal written by a future wedge is not guessed at.
	raw(t, path, func(_, meta *bolt.Bucket) error { return meta.Put([]byte(kFormat), []byte("3")) })
	if _, err := Open(path, testOpts()); !errors.Is(err, ErrNewerFormat) || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "downgrade is refused") {
		t.Errorf("format 3: %v", err)
	}
	raw(t, path, func(_, meta *bolt.Bucket) error { return meta.Put([]byte(kFormat), []byte(formatV2)) })

	s2 := open(t, path, nil)
	if s2.JournalID() != id {
		t.Errorf("journal id changed across restart: %s → %s", id, s2.JournalID())
	}
	if s2.LastSeq() != 5 || s2.AckedSeq() != 3 {
		t.Errorf("after restart last %d acked %d, want 5 and 3", s2.LastSeq(), s2.AckedSeq())
	}
	e := appendNote(t, s2, "O1", "after restart")
	if e.Seq != 6 || e.PrevHash != last.Hash || e.JournalID != id {
		t.Errorf("entry after restart: seq %d prev %s journal %s; want 6, %s, %s", e.Seq, e.PrevHash, e.JournalID, last.Hash, id)
	}
	s2.Close()
	mustVerify(t, path)
}

func TestLocked(t *testing.T) {
	s, path := newStore(t)
	appendNote(t, s, "O1", "x")
	o := testOpts()
	o.LockTimeout = 50 * time.Millisecond
	if _, err := Open(path, o); !errors.Is(err, ErrLocked) {
		t.Errorf("second Open: %v, want ErrLocked", err)
	}
	if _, err := Verify(path); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "running agent") {
		t.Errorf("Verify of an open journal: %v, want ErrLocked", err)
	}
}

func TestGroupCommit(t *testing.T) {
	s, path := newStore(t)
	release, gerr := gate(t, s)
	const n = 200
	seqs := make([]uint64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.Do(context.Background(), func(tx *Tx) error {
				seqs[i] = tx.Append(wire.Entry{Kind: wire.KindNote, OrderID: fmt.Sprintf("O%03d", i)}).Seq
				return nil
			})
		})
	}
	waitPending(t, s, n)
	release()
	wg.Wait()
	if err := <-gerr; err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
		if seqs[i] < 1 || seqs[i] > n || seen[seqs[i]] {
			t.Fatalf("call %d got seq %d (duplicate or out of range)", i, seqs[i])
		}
		seen[seqs[i]] = true
		h, err := s.History(fmt.Sprintf("O%03d", i))
		if err != nil || len(h) != 1 || h[0].Seq != seqs[i] {
			t.Fatalf("history of call %d: %v %v, want its seq %d", i, h, err, seqs[i])
		}
	}
	st := s.Stats()
	if st.Calls != n+1 || st.Commits != 1 {
		t.Errorf("stats %+v: want %d calls in 1 commit (the gate only reads, then one batch)", st, n+1)
	}
	if s.LastSeq() != n {
		t.Errorf("last seq %d, want %d", s.LastSeq(), n)
	}
	s.Close()
	mustVerify(t, path)
}

func TestGroupCommitFreeRunning(t *testing.T) {
	// Without a gate: callers arriving while a commit is fsyncing go into the next one.
	s, path := newStore(t)
	const n = 200
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if err := s.Do(context.Background(), func(tx *Tx) error {
				tx.Append(wire.Entry{Kind: wire.KindNote})
				return nil
			}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if st := s.Stats(); st.Calls != n || st.Commits >= n {
		t.Errorf("stats %+v: %d calls should need fewer commits", st, n)
	}
	t.Logf("stats %+v", s.Stats())
	s.Close()
	if rep := mustVerify(t, path); rep.Entries != n {
		t.Errorf("verify walked %d entries, want %d", rep.Entries, n)
	}
}

func TestMaxBatch(t *testing.T) {
	o := testOpts()
	o.MaxBatch = 7
	s := open(t, filepath.Join(t.TempDir(), "wedge.db"), o)
	release, _ := gate(t, s)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if err := s.Do(context.Background(), func(tx *Tx) error { tx.Append(wire.Entry{Kind: wire.KindNote}); return nil }); err != nil {
				t.Error(err)
			}
		})
	}
	waitPending(t, s, 20)
	release()
	wg.Wait()
	if st := s.Stats(); st.Commits != 3 { // 7 + 7 + 6 (the gate wrote nothing)
		t.Errorf("stats %+v, want 4 commits with MaxBatch 7", st)
	}
}

func TestBatchIsolationAndOverlay(t *testing.T) {
	s, path := newStore(t)
	release, _ := gate(t, s)
	ctx := context.Background()
	type res struct {
		err error
		e   wire.Entry
	}
	boom := errors.New("boom")
	results := make([]chan res, 4)
	for i := range results {
		results[i] = make(chan res, 1)
	}
	fns := []func(tx *Tx) (wire.Entry, error){
		// A: creates an order, binds a waybill, appends.
		func(tx *Tx) (wire.Entry, error) {
			tx.PutOrder(order.Order{ID: "A1", ChannelOrderNo: "TB-1", State: order.PendingAllocation})
			if o, ok := tx.Order("A1"); !ok || o.ChannelOrderNo != "TB-1" {
				return wire.Entry{}, fmt.Errorf("A does not see its own write: %v %v", o, ok)
			}
			tx.SetMeta("hseq", []byte{1})
			return tx.Append(wire.Entry{Kind: wire.KindIntake, OrderID: "A1"}), nil
		},
		// B: sees A, writes a lot, then fails: all of it must vanish.
		func(tx *Tx) (wire.Entry, error) {
			o, ok := tx.OrderByChannelNo("TB-1")
			if !ok {
				return wire.Entry{}, fmt.Errorf("B does not see A's order")
			}
			o.State, o.Waybill = order.WaybillPrinted, "sf1234567890123"
			tx.PutOrder(o)
			tx.PutOrder(order.Order{ID: "B1", State: order.PendingAllocation})
			tx.SetMeta("hseq", []byte{2})
			tx.Append(wire.Entry{Kind: wire.KindStep, OrderID: "A1"})
			return wire.Entry{}, boom
		},
		// C: sees A but nothing of B, and continues the chain right after A.
		func(tx *Tx) (wire.Entry, error) {
			o, ok := tx.Order("A1")
			if !ok || o.State != order.PendingAllocation || o.Waybill != "" {
				return wire.Entry{}, fmt.Errorf("C sees %+v %v, want A's version", o, ok)
			}
			if _, ok := tx.Order("B1"); ok {
				return wire.Entry{}, fmt.Errorf("C sees B's discarded order")
			}
			if _, ok := tx.OrderByWaybill("SF1234567890123"); ok {
				return wire.Entry{}, fmt.Errorf("C sees B's discarded waybill")
			}
			if m := tx.Meta("hseq"); len(m) != 1 || m[0] != 1 {
				return wire.Entry{}, fmt.Errorf("C sees meta %v, want A's [1]", m)
			}
			o.State, o.Waybill = order.WaybillPrinted, "SF1234567890123"
			tx.PutOrder(o)
			return tx.Append(wire.Entry{Kind: wire.KindStep, OrderID: "A1", From: "pending_allocation", To: "waybill_printed"}), nil
		},
		// D: panics after writing.
		func(tx *Tx) (wire.Entry, error) {
			tx.PutOrder(order.Order{ID: "D1", State: order.PendingAllocation})
			tx.Append(wire.Entry{Kind: wire.KindNote})
			var m map[string]int
			m["x"]++ // nil map: panics
			return wire.Entry{}, nil
		},
	}
	for i, fn := range fns {
		go func() {
			var e wire.Entry
			err := s.Do(ctx, func(tx *Tx) error {
				var err error
				e, err = fn(tx)
				return err
			})
			results[i] <- res{err, e}
		}()
		waitPending(t, s, i+1) // keep the queue order A, B, C, D
	}
	release()
	a, b, c, d := <-results[0], <-results[1], <-results[2], <-results[3]
	if a.err != nil || c.err != nil {
		t.Fatalf("A: %v, C: %v", a.err, c.err)
	}
	if !errors.Is(b.err, boom) {
		t.Errorf("B: %v, want its own error", b.err)
	}
	if !errors.Is(d.err, ErrPanic) {
		t.Errorf("D: %v, want ErrPanic", d.err)
	}
	if a.e.Seq != 1 || c.e.Seq != 2 || c.e.PrevHash != a.e.Hash {
		t.Errorf("seqs A %d C %d (prev %s, A hash %s): want 1, 2 chained", a.e.Seq, c.e.Seq, c.e.PrevHash, a.e.Hash)
	}
	if st := s.Stats(); st.Commits != 1 {
		t.Errorf("stats %+v: A–D should have shared one commit", st)
	}
	if _, ok, _ := s.Order("B1"); ok {
		t.Error("B's order was stored")
	}
	if _, ok, _ := s.Order("D1"); ok {
		t.Error("D's order was stored")
	}
	if o, ok, err := s.FindOrder("sf1234567890123"); err != nil || !ok || o.ID != "A1" || o.State != order.WaybillPrinted {
		t.Errorf("FindOrder by waybill: %+v %v %v", o, ok, err)
	}
	if s.LastSeq() != 2 {
		t.Errorf("last seq %d, want 2", s.LastSeq())
	}
	var hseq []byte
	if err := s.Do(ctx, func(tx *Tx) error { hseq = tx.Meta("hseq"); return nil }); err != nil || len(hseq) != 1 || hseq[0] != 1 {
		t.Errorf("meta hseq %v %v, want [1]", hseq, err)
	}
	s.Close()
	mustVerify(t, path)
}

func TestInvalidWrites(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	for name, fn := range map[string]func(tx *Tx){
		"empty id":      func(tx *Tx) { tx.PutOrder(order.Order{State: order.PendingAllocation}) },
		"nul in id":     func(tx *Tx) { tx.PutOrder(order.Order{ID: "a\x00b", State: order.PendingAllocation}) },
		"unknown state": func(tx *Tx) { tx.PutOrder(order.Order{ID: "X", State: "lost"}) },
		"no state":      func(tx *Tx) { tx.PutOrder(order.Order{ID: "X"}) },
		"empty meta":    func(tx *Tx) { tx.SetMeta("", []byte("x")) },
	} {
		err := s.Do(ctx, func(tx *Tx) error {
			tx.Append(wire.Entry{Kind: wire.KindNote, OrderID: "X"})
			fn(tx)
			return nil
		})
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if s.LastSeq() != 0 {
		t.Errorf("invalid calls appended: last seq %d", s.LastSeq())
	}
	if _, ok, _ := s.Order("X"); ok {
		t.Error("an invalid order was stored")
	}
}

func TestTxOutsideDo(t *testing.T) {
	s, _ := newStore(t)
	var kept *Tx
	if err := s.Do(context.Background(), func(tx *Tx) error { kept = tx; return nil }); err != nil {
		t.Fatal(err)
	}
	// Misuse must neither crash nor write.
	kept.PutOrder(order.Order{ID: "late", State: order.PendingAllocation})
	kept.Append(wire.Entry{Kind: wire.KindNote})
	kept.SetMeta("k", []byte("v"))
	if _, ok := kept.Order("late"); ok {
		t.Error("read through a stale Tx")
	}
	appendNote(t, s, "", "next")
	if _, ok, _ := s.Order("late"); ok || s.LastSeq() != 1 {
		t.Errorf("a stale Tx wrote: last seq %d", s.LastSeq())
	}
}

func TestOrdersIndexesCounts(t *testing.T) {
	s, path := newStore(t)
	ctx := context.Background()
	put := func(o order.Order) {
		t.Helper()
		if err := s.Do(ctx, func(tx *Tx) error {
			tx.PutOrder(o)
			tx.Append(wire.Entry{Kind: wire.KindStep, OrderID: o.ID, To: string(o.State)})
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	put(order.Order{ID: "O1", ChannelOrderNo: "TB-1", State: order.PendingAllocation})
	put(order.Order{ID: "O2", ChannelOrderNo: "JD-2", State: order.PendingAllocation})
	put(order.Order{ID: "O3", State: order.AwaitingBalance})
	put(order.Order{ID: "O1", ChannelOrderNo: "TB-1", State: order.WaybillPrinted, Waybill: "SF1000000000001"})
	put(order.Order{ID: "O1", ChannelOrderNo: "TB-1b", State: order.WaybillPrinted, Waybill: "SF1000000000002"}) // rebound
	put(order.Order{ID: "O2", ChannelOrderNo: "JD-2", State: order.PickedUp, Waybill: "YT2000000000001"})

	want := map[order.State]int{order.PendingAllocation: 0, order.WaybillPrinted: 1, order.PickedUp: 1, order.AwaitingBalance: 1}
	got := s.Counts()
	for st, n := range want {
		if got[st] != n {
			t.Errorf("count %s = %d, want %d (all %v)", st, got[st], n, got)
		}
	}
	for code, id := range map[string]string{"O1": "O1", " sf1000000000002 ": "O1", "TB-1b": "O1", "YT2000000000001": "O2", "JD-2": "O2"} {
		if o, ok, err := s.FindOrder(code); err != nil || !ok || o.ID != id {
			t.Errorf("FindOrder(%q) = %s %v %v, want %s", code, o.ID, ok, err, id)
		}
	}
	for _, code := range []string{"SF1000000000001", "TB-1", "nope", "", "O1\x00"} {
		if o, ok, err := s.FindOrder(code); ok || err != nil {
			t.Errorf("FindOrder(%q) found %s (%v): stale index", code, o.ID, err)
		}
	}
	var printed []string
	if err := s.ForEachOrder(order.WaybillPrinted, func(o order.Order) bool { printed = append(printed, o.ID); return true }); err != nil || len(printed) != 1 || printed[0] != "O1" {
		t.Errorf("ForEachOrder(printed) = %v %v", printed, err)
	}
	n := 0
	if err := s.ForEachOrder("", func(order.Order) bool { n++; return n < 2 }); err != nil || n != 2 {
		t.Errorf("ForEachOrder(all) stopping after 2 visited %d (%v)", n, err)
	}
	h, err := s.History("O1")
	if err != nil || len(h) != 3 || h[0].Seq != 1 || h[1].Seq != 4 || h[2].Seq != 5 {
		t.Errorf("History(O1) = %v %v, want seqs 1 4 5", h, err)
	}
	if err := s.Do(ctx, func(tx *Tx) error {
		tx.Append(wire.Entry{Kind: wire.KindReject, OrderID: "O1\x00x"}) // bad input journaled as is
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if h, err := s.History("O1"); err != nil || len(h) != 3 {
		t.Errorf("History(O1) = %v %v: picked up the entry of order \"O1\\x00x\"", h, err)
	}
	if h, err := s.History("O1\x00x"); err != nil || len(h) != 1 || h[0].Seq != 7 {
		t.Errorf("History(O1\\x00x) = %v %v", h, err)
	}
	if h, err := s.History("O"); err != nil || len(h) != 0 {
		t.Errorf("History(O) (a prefix of other ids) = %v %v", h, err)
	}
	s.Close()
	// Counts survive a restart.
	s2 := open(t, path, nil)
	if got := s2.Counts(); got[order.PickedUp] != 1 || got[order.WaybillPrinted] != 1 {
		t.Errorf("counts after restart %v", got)
	}
}

func TestEntriesWindow(t *testing.T) {
	s, _ := newStore(t)
	for i := range 50 {
		appendNote(t, s, "O", strings.Repeat("x", i))
	}
	all, err := s.Entries(0, 1000, 1<<20)
	if err != nil || len(all) != 50 {
		t.Fatalf("all entries: %d %v", len(all), err)
	}
	for i, e := range all {
		if e.Seq != uint64(i+1) || e.JournalID != s.JournalID() || e.At != wire.Time(t0) {
			t.Fatalf("entry %d: %+v", i, e)
		}
	}
	if es, _ := s.Entries(10, 5, 1<<20); len(es) != 5 || es[0].Seq != 11 || es[4].Seq != 15 {
		t.Errorf("Entries(10, 5) = %d entries from %d", len(es), es[0].Seq)
	}
	if es, _ := s.Entries(50, 5, 1<<20); len(es) != 0 {
		t.Errorf("Entries after the end = %d entries", len(es))
	}
	if es, _ := s.Entries(math.MaxUint64, 5, 1<<20); len(es) != 0 {
		t.Errorf("Entries after MaxUint64 = %d entries", len(es))
	}
	if es, _ := s.Entries(1000, 5, 1<<20); len(es) != 0 {
		t.Errorf("Entries far after the end = %d entries", len(es))
	}
	// maxBytes: never more than asked, but always at least one.
	if es, _ := s.Entries(0, 100, 1); len(es) != 1 || es[0].Seq != 1 {
		t.Errorf("Entries with a tiny maxBytes = %d, want exactly one", len(es))
	}
	size := func(es []wire.Entry) (n int) {
		for _, e := range es {
			n += len(mustJSON(t, e))
		}
		return n
	}
	limit := size(all[20:30])
	es, _ := s.Entries(20, 100, limit)
	if len(es) != 10 || size(es) > limit {
		t.Errorf("Entries(20, max %d bytes) = %d entries (%d bytes), want 10", limit, len(es), size(es))
	}
	es, _ = s.Entries(20, 100, limit-1)
	if len(es) != 9 {
		t.Errorf("Entries(20, max %d bytes) = %d entries, want 9", limit-1, len(es))
	}
	if es, _ := s.Entries(0, 0, 0); len(es) != 50 {
		t.Errorf("Entries with defaults = %d", len(es))
	}
}

func TestAck(t *testing.T) {
	s, path := newStore(t)
	ctx := context.Background()
	for range 10 {
		appendNote(t, s, "", "")
	}
	steps := []struct{ ack, want uint64 }{{4, 4}, {2, 4}, {4, 4}, {9, 9}, {500, 10}, {0, 10}}
	for _, st := range steps {
		if err := s.Ack(ctx, st.ack); err != nil {
			t.Fatal(err)
		}
		if s.AckedSeq() != st.want {
			t.Errorf("Ack(%d): acked %d, want %d", st.ack, s.AckedSeq(), st.want)
		}
	}
	// An ack covers only what is committed: an append still queued is not.
	release, _ := gate(t, s)
	errc := make(chan error, 1)
	go func() {
		errc <- s.Do(ctx, func(tx *Tx) error { tx.Append(wire.Entry{Kind: wire.KindNote}); return nil })
	}()
	waitPending(t, s, 1)
	if err := s.Ack(ctx, 11); err != nil {
		t.Fatal(err)
	}
	if s.AckedSeq() != 10 {
		t.Errorf("ack of a queued append: acked %d, want 10", s.AckedSeq())
	}
	release()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(ctx, 11); err != nil {
		t.Fatal(err)
	}
	if s.AckedSeq() != 11 {
		t.Errorf("acked %d, want 11", s.AckedSeq())
	}
	s.Close() // writes the acked seq
	if err := s.Ack(ctx, 11); !errors.Is(err, ErrClosed) {
		t.Errorf("Ack after Close: %v", err)
	}
	s2 := open(t, path, nil)
	if s2.AckedSeq() != 11 || s2.LastSeq() != 11 {
		t.Errorf("after restart acked %d last %d, want 11 11", s2.AckedSeq(), s2.LastSeq())
	}
}

func TestCommitFailure(t *testing.T) {
	s, path := newStore(t)
	ctx := context.Background()
	before := appendNote(t, s, "O1", "before")
	select { // drain the signal of the commit above
	case <-s.Committed():
	default:
		t.Fatal("no Committed signal after a commit")
	}
	acked := s.AckedSeq()

	release, gerr := gate(t, s)
	fail := func() error { return syscall.ENOSPC }
	s.failCommit.Store(&fail)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			errs[i] = s.Do(ctx, func(tx *Tx) error {
				tx.PutOrder(order.Order{ID: fmt.Sprint("F", i), State: order.PendingAllocation})
				tx.Append(wire.Entry{Kind: wire.KindIntake, OrderID: fmt.Sprint("F", i)})
				return nil
			})
		})
	}
	waitPending(t, s, len(errs))
	release()
	wg.Wait()
	// The gate's own batch only read: it needed no commit, so the fault did not touch it.
	if err := <-gerr; err != nil {
		t.Errorf("gate: %v", err)
	}
	for i, err := range errs {
		if !errors.Is(err, ErrCommit) || !errors.Is(err, syscall.ENOSPC) {
			t.Errorf("call %d: %v, want ErrCommit wrapping ENOSPC", i, err)
		}
	}
	if s.LastSeq() != before.Seq || s.AckedSeq() != acked {
		t.Errorf("after a failed commit last %d acked %d, want %d %d", s.LastSeq(), s.AckedSeq(), before.Seq, acked)
	}
	select {
	case <-s.Committed():
		t.Error("Committed signalled for a failed commit")
	default:
	}
	if st := s.Stats(); st.Failed == 0 {
		t.Errorf("stats %+v: no failed commit counted", st)
	}
	for i := range 4 {
		if _, ok, _ := s.Order(fmt.Sprint("F", i)); ok {
			t.Errorf("order F%d of a failed commit was stored", i)
		}
	}
	// The disk has room again: the chain continues without a gap.
	s.failCommit.Store(nil)
	after := appendNote(t, s, "O1", "after")
	if after.Seq != before.Seq+1 || after.PrevHash != before.Hash {
		t.Errorf("after the failure: seq %d prev %s, want %d %s", after.Seq, after.PrevHash, before.Seq+1, before.Hash)
	}
	s.Close()
	mustVerify(t, path)
}

func TestContextWhileQueued(t *testing.T) {
	s, _ := newStore(t)
	release, _ := gate(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{}, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- s.Do(ctx, func(tx *Tx) error { ran <- struct{}{}; tx.Append(wire.Entry{Kind: wire.KindNote}); return nil })
	}()
	waitPending(t, s, 1)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled while queued: %v", err)
	}
	release()
	appendNote(t, s, "", "after") // a full round trip through the writer
	select {
	case <-ran:
		t.Error("the cancelled call's fn ran")
	default:
	}
	if s.LastSeq() != 1 {
		t.Errorf("last seq %d, want 1 (only the later note)", s.LastSeq())
	}
	// A context already done never queues.
	if err := s.Do(ctx, func(*Tx) error { t.Error("ran"); return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("Do with a done ctx: %v", err)
	}
}

func TestContextAfterRun(t *testing.T) {
	// Once fn ran, Do waits for the commit even when ctx ends meanwhile: its answer is the truth.
	s, _ := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	var e wire.Entry
	err := s.Do(ctx, func(tx *Tx) error {
		e = tx.Append(wire.Entry{Kind: wire.KindNote})
		cancel()
		return nil
	})
	if err != nil {
		t.Errorf("Do whose ctx ended after fn ran: %v, want the commit's answer (nil)", err)
	}
	if es, _ := s.Entries(0, 10, 0); len(es) != 1 || es[0].Hash != e.Hash {
		t.Errorf("entries %v", es)
	}
}

func TestCloseDrains(t *testing.T) {
	s, path := newStore(t)
	release, _ := gate(t, s)
	const n = 10
	errc := make(chan error, n)
	for range n {
		go func() {
			errc <- s.Do(context.Background(), func(tx *Tx) error { tx.Append(wire.Entry{Kind: wire.KindNote}); return nil })
		}()
	}
	waitPending(t, s, n)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	for { // wait until Close stopped accepting
		s.mu.Lock()
		c := s.closed
		s.mu.Unlock()
		if c {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := s.Do(context.Background(), func(*Tx) error { t.Error("ran after Close"); return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Do after Close: %v", err)
	}
	release()
	for range n {
		if err := <-errc; err != nil {
			t.Errorf("queued call: %v", err)
		}
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if rep := mustVerify(t, path); rep.Entries != n {
		t.Errorf("%d entries after Close, want %d", rep.Entries, n)
	}
}

func TestCommittedSignal(t *testing.T) {
	s, _ := newStore(t)
	for range 3 {
		appendNote(t, s, "", "")
	}
	select { // coalesced: one signal for three commits
	case <-s.Committed():
	default:
		t.Fatal("no signal")
	}
	select {
	case <-s.Committed():
		t.Error("signal not coalesced")
	default:
	}
}

func TestClockStampsAt(t *testing.T) {
	clk := clock.NewFake(t0)
	s := open(t, filepath.Join(t.TempDir(), "wedge.db"), &Options{Site: "s", Agent: "a", Clock: clk})
	clk.Advance(90 * time.Second)
	e := appendNote(t, s, "", "")
	if e.At != wire.Time(t0.Add(90*time.Second)) {
		t.Errorf("At %s", e.At)
	}
	var kept wire.Entry
	if err := s.Do(context.Background(), func(tx *Tx) error {
		kept = tx.Append(wire.Entry{Kind: wire.KindNote, At: "2026-01-01T00:00:00.000Z"})
		return nil
	}); err != nil || kept.At != "2026-01-01T00:00:00.000Z" {
		t.Errorf("a given At was replaced: %s %v", kept.At, err)
	}
}

func TestInvalidUTF8(t *testing.T) {
	// Scanners in GBK mode send bytes that are not UTF-8; such an entry must still verify.
	s, path := newStore(t)
	var e wire.Entry
	if err := s.Do(context.Background(), func(tx *Tx) error {
		e = tx.Append(wire.Entry{Kind: wire.KindReject, Code: "\xd6\xd0\xce\xc4", Detail: "bad \xff",
			Order: &wire.OrderMsg{Type: "order", Recipient: "\xfe"}})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := wire.VerifyLink(nil, e); err != nil {
		t.Errorf("returned entry: %v", err)
	}
	es, err := s.Entries(0, 1, 0)
	if err != nil || len(es) != 1 || es[0].Hash != e.Hash || es[0].Code != e.Code {
		t.Fatalf("stored %+v %v, returned %+v", es, err, e)
	}
	if err := wire.VerifyLink(nil, es[0]); err != nil {
		t.Errorf("stored entry: %v", err)
	}
	appendNote(t, s, "", "next")
	s.Close()
	mustVerify(t, path)
}

func TestReadOnlyBatchNeedsNoCommit(t *testing.T) {
	s, _ := newStore(t)
	appendNote(t, s, "O1", "x")
	<-s.Committed()
	before := s.Stats()
	for range 3 {
		if err := s.Do(context.Background(), func(tx *Tx) error { tx.Order("O1"); tx.Meta("k"); return nil }); err != nil {
			t.Fatal(err)
		}
		if err := s.Do(context.Background(), func(tx *Tx) error { tx.Append(wire.Entry{}); return errors.New("no") }); err == nil {
			t.Fatal("error lost")
		}
	}
	if st := s.Stats(); st.Commits != before.Commits || st.Calls != before.Calls+6 {
		t.Errorf("stats %+v → %+v: reads and failed calls need no commit", before, st)
	}
	select {
	case <-s.Committed():
		t.Error("Committed signalled without a commit")
	default:
	}
}

func TestPanicInsideCommitFailsTheBatch(t *testing.T) {
	// Stands in for bbolt panicking on a corrupted page while committing.
	s, path := newStore(t)
	before := appendNote(t, s, "O1", "before")
	boom := func() error { panic("invalid page type") }
	s.failCommit.Store(&boom)
	err := s.Do(context.Background(), func(tx *Tx) error { tx.Append(wire.Entry{Kind: wire.KindNote}); return nil })
	if !errors.Is(err, ErrCommit) || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "invalid page type") {
		t.Errorf("panicking commit: %v, want ErrCommit and ErrCorrupt", err)
	}
	s.failCommit.Store(nil)
	if after := appendNote(t, s, "O1", "after"); after.Seq != before.Seq+1 || after.PrevHash != before.Hash {
		t.Errorf("after: %d %s", after.Seq, after.PrevHash)
	}
	s.Close()
	mustVerify(t, path)
}

func TestReadsAfterClose(t *testing.T) {
	s, _ := newStore(t)
	appendNote(t, s, "O1", "x")
	s.Close()
	if _, _, err := s.Order("O1"); !errors.Is(err, ErrClosed) {
		t.Error("Order after Close: no error")
	}
	if _, _, err := s.FindOrder("O1"); err == nil {
		t.Error("FindOrder after Close: no error")
	}
	if _, err := s.Entries(0, 1, 0); !errors.Is(err, ErrClosed) {
		t.Error("Entries after Close: no error")
	}
	if _, err := s.History("O1"); err == nil {
		t.Error("History after Close: no error")
	}
	if err := s.ForEachOrder("", func(order.Order) bool { return true }); !errors.Is(err, ErrClosed) {
		t.Error("ForEachOrder after Close: no error")
	}
	if c := s.Counts(); len(c) != 0 {
		t.Errorf("Counts after Close: %v", c)
	}
	if s.LastSeq() != 1 {
		t.Errorf("LastSeq after Close: %d", s.LastSeq())
	}
}

// TestOrderDecodedOncePerTransaction: an order read twice in one transaction is decoded once, a
// write replaces what later reads see (decoded once more), a function whose writes are dropped
// leaves the next one reading the older order, and no reader can change another's copy.
func TestOrderDecodedOncePerTransaction(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	put := order.Order{ID: "C1", State: order.PendingAllocation, SKUs: []string{"S1"}, ChannelOrderNo: "TB-9"}
	if err := s.Do(ctx, func(tx *Tx) error { tx.PutOrder(put); return nil }); err != nil {
		t.Fatal(err)
	}
	release, _ := gate(t, s)
	boom := errors.New("boom")
	steps := []func(tx *Tx) error{
		func(tx *Tx) error {
			o, _ := tx.Order("C1")
			o.SKUs[0] = "changed by a reader"
			o2, _ := tx.OrderByChannelNo("TB-9")
			if tx.decodes != 1 || o2.SKUs[0] != "S1" {
				return fmt.Errorf("decodes %d, SKUs %v: want 1 decode and the stored SKUs", tx.decodes, o2.SKUs)
			}
			o2.State, o2.Waybill = order.WaybillPrinted, "SF1234567890123"
			tx.PutOrder(o2) // the old order for the indexes comes from the cache
			if tx.decodes != 1 {
				return fmt.Errorf("PutOrder decoded: %d decodes", tx.decodes)
			}
			if o3, _ := tx.Order("C1"); o3.State != order.WaybillPrinted || tx.decodes != 2 {
				return fmt.Errorf("after the write: %s, %d decodes", o3.State, tx.decodes)
			}
			return boom // dropped: the next function must see the stored order again
		},
		func(tx *Tx) error {
			o, ok := tx.Order("C1")
			if !ok || o.State != order.PendingAllocation || o.Waybill != "" {
				return fmt.Errorf("sees %+v after a dropped write", o)
			}
			if _, ok := tx.OrderByWaybill("SF1234567890123"); ok {
				return fmt.Errorf("sees the dropped waybill")
			}
			return nil
		},
	}
	errs := make([]chan error, len(steps))
	for i, fn := range steps { // queued in this order behind the gate: one batch
		errs[i] = make(chan error, 1)
		go func() { errs[i] <- s.Do(ctx, fn) }()
		waitPending(t, s, i+1)
	}
	release()
	if err := <-errs[0]; !errors.Is(err, boom) {
		t.Fatalf("first function: %v, want boom", err)
	}
	if err := <-errs[1]; err != nil {
		t.Fatal(err)
	}
}
