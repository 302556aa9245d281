package journal

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"wedge/order"
	"wedge/sync/wire"
)

// TestConcurrentUseAndClose runs writers, an uplink-like reader that acks what it read, and
// lookups at once, then closes the store under load: every Do answers nil or ErrClosed, and every
// nil is on disk.
func TestConcurrentUseAndClose(t *testing.T) {
	s, path := newStore(t)
	ctx := context.Background()
	stop := make(chan struct{})
	var (
		mu      sync.Mutex
		written = map[string]uint64{} // order id → seq of acknowledged writes
		wg      sync.WaitGroup
	)
	for g := range 6 {
		wg.Go(func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("S%d-%d", g, i)
				var seq uint64
				err := s.Do(ctx, func(tx *Tx) error {
					if i%5 == 4 {
						tx.PutOrder(order.Order{ID: id, State: order.PendingAllocation})
						return errors.New("refused") // discarded, must not appear
					}
					tx.PutOrder(order.Order{ID: id, ChannelOrderNo: "CH-" + id, State: order.PendingAllocation})
					seq = tx.Append(wire.Entry{Kind: wire.KindIntake, OrderID: id}).Seq
					return nil
				})
				switch {
				case errors.Is(err, ErrClosed):
					return
				case err != nil && i%5 == 4:
				case err != nil:
					t.Errorf("%s: %v", id, err)
					return
				default:
					mu.Lock()
					written[id] = seq
					mu.Unlock()
				}
			}
		})
	}
	wg.Go(func() { // the uplink: read windows, ack them
		var after uint64
		for {
			select {
			case <-stop:
				return
			case <-s.Committed():
			}
			es, err := s.Entries(after, 50, 4096)
			if errors.Is(err, ErrClosed) {
				return
			}
			if err != nil {
				t.Error(err)
				return
			}
			for _, e := range es {
				if e.Seq != after+1 {
					t.Errorf("window gap: %d after %d", e.Seq, after)
					return
				}
				after = e.Seq
			}
			if err := s.Ack(ctx, after); err != nil {
				if !errors.Is(err, ErrClosed) {
					t.Error(err)
				}
				return
			}
		}
	})
	wg.Go(func() { // lookups and counts
		for {
			select {
			case <-stop:
				return
			default:
			}
			s.FindOrder("CH-S0-1")
			s.Counts()
			s.History("S1-1")
		}
	})
	for s.LastSeq() < 300 {
		<-s.Committed()
		// Let the uplink see the signal too: it is coalesced, either of us may take it.
		select {
		case s.committed <- struct{}{}:
		default:
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()

	s2 := open(t, path, nil)
	if s2.AckedSeq() > s2.LastSeq() {
		t.Errorf("acked %d beyond last %d", s2.AckedSeq(), s2.LastSeq())
	}
	if uint64(len(written)) != s2.LastSeq() {
		t.Errorf("%d acknowledged writes, %d entries", len(written), s2.LastSeq())
	}
	for id, seq := range written {
		h, err := s2.History(id)
		if err != nil || len(h) != 1 || h[0].Seq != seq {
			t.Fatalf("history of %s: %v %v, want seq %d", id, h, err, seq)
		}
		if o, ok, _ := s2.FindOrder("CH-" + id); !ok || o.ID != id {
			t.Fatalf("order %s not found by channel no", id)
		}
	}
	n := 0
	s2.ForEachOrder(order.PendingAllocation, func(order.Order) bool { n++; return true })
	if n != len(written) || s2.Counts()[order.PendingAllocation] != n {
		t.Errorf("%d orders, count %d, %d acknowledged", n, s2.Counts()[order.PendingAllocation], len(written))
	}
	s2.Close()
	mustVerify(t, path)
}

// FuzzAppend: whatever bytes end up in an entry (scanner garbage, hub input), the stored entry
// verifies, reads back equal to what Append returned, and the chain stays whole.
func FuzzAppend(f *testing.F) {
	f.Add("O1", "SF1234567890123", "\xd6\xd0\xce\xc4", "note", "")
	f.Add("", "", "", "", "2026-01-01T00:00:00.000Z")
	f.Add("a\x00b", "<&>", "\u2028\x7f", "\ufffd\xff", "not a time")
	f.Add(`\ufffd`, `x\ufffd`, `\\ufffd`, "\ufffd", `\u0000`) // the escape's text, not the escape
	f.Fuzz(func(t *testing.T, orderID, wb, code, detail, at string) {
		s, path := newStore(t)
		var got wire.Entry
		err := s.Do(context.Background(), func(tx *Tx) error {
			tx.Append(wire.Entry{Kind: wire.KindNote})
			got = tx.Append(wire.Entry{Kind: wire.KindReject, OrderID: orderID, Waybill: wb, Code: code, Detail: detail, At: at,
				Order: &wire.OrderMsg{Type: "order", OrderID: orderID, SKUs: []string{code, detail}}})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		es, err := s.Entries(1, 1, 0)
		if err != nil || len(es) != 1 {
			t.Fatalf("%v %v", es, err)
		}
		if es[0].Hash != got.Hash || string(mustJSON(t, es[0])) != string(mustJSON(t, got)) {
			t.Errorf("stored %+v\nreturned %+v", es[0], got)
		}
		if orderID != "" {
			if h, err := s.History(orderID); err != nil || len(h) != 1 || h[0].Seq != 2 {
				t.Errorf("history of %q: %v %v", orderID, h, err)
			}
		}
		// Orders keyed by such strings are found again, and rewriting one does not duplicate it.
		if orderID != "" && !strings.ContainsRune(orderID, 0) {
			put := func(st order.State) {
				if err := s.Do(context.Background(), func(tx *Tx) error {
					o, ok := tx.Order(orderID)
					if !ok {
						o = order.Order{ID: orderID, ChannelOrderNo: code, Waybill: wb}
					}
					o.State = st
					tx.PutOrder(o)
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			put(order.PendingAllocation)
			put(order.WaybillPrinted)
			if c := s.Counts(); c[order.WaybillPrinted] != 1 || c[order.PendingAllocation] != 0 {
				t.Errorf("counts %v", c)
			}
			for _, k := range []string{orderID, code, wb} {
				if strings.TrimSpace(k) == "" {
					continue
				}
				if o, ok, err := s.FindOrder(k); !ok || err != nil || o.State != order.WaybillPrinted {
					t.Errorf("FindOrder(%q) = %+v %v %v", k, o, ok, err)
				}
			}
		}
		s.Close()
		mustVerify(t, path)
	})
}
