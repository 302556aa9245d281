package hubstoretest

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"wedge/sync/hub"
)

// central checks the central queries' index (hub.CentralTx): lookups by each key kind, key
// replacement, the state lists with filters and cursors, holds, rejections, evidence by order, the
// backfill walks, and that it rolls back with its transaction.
func central(t *testing.T, open func(t *testing.T) hub.Store) {
	ctx := context.Background()
	update := func(t *testing.T, s hub.Store, fn func(hub.Tx) error) {
		t.Helper()
		if err := s.Update(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	view := func(t *testing.T, s hub.Store, fn func(hub.Tx) error) {
		t.Helper()
		if err := s.View(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	trace := func(t *testing.T, s hub.Store, kind, key string, limit int) string {
		t.Helper()
		var got []string
		view(t, s, func(tx hub.Tx) error {
			var err error
			got, err = tx.TraceOrders(kind, key, limit)
			return err
		})
		return strings.Join(got, ",")
	}

	t.Run("TraceByEachKey", func(t *testing.T) {
		s := open(t)
		o1 := hub.OrderIndex{OrderID: "O1", Site: "sz01", Agent: "a1", State: "pending_allocation", Since: "2026-01-22T08:00:00.000Z",
			ChannelOrderNo: "C1", Waybill: "W1", AssignedWaybill: "AW1", Fingerprint: "FP1"}
		update(t, s, func(tx hub.Tx) error { return tx.IndexOrder(o1) })
		for _, c := range [][2]string{{hub.TraceChannelOrderNo, "C1"}, {hub.TraceWaybill, "W1"}, {hub.TraceWaybill, "AW1"}, {hub.TraceFingerprint, "FP1"}} {
			if got := trace(t, s, c[0], c[1], 10); got != "O1" {
				t.Errorf("%s %s = %q, want O1", c[0], c[1], got)
			}
		}
		if got := trace(t, s, hub.TraceWaybill, "C1", 10); got != "" {
			t.Errorf("a channel order no found as a waybill: %q", got)
		}
		// New keys replace the old ones; a key shared by two orders finds both, sorted, up to limit.
		o1.ChannelOrderNo, o1.Waybill, o1.AssignedWaybill, o1.Fingerprint = "C2", "W2", "W2", ""
		update(t, s, func(tx hub.Tx) error {
			if err := tx.IndexOrder(o1); err != nil {
				return err
			}
			return tx.IndexOrder(hub.OrderIndex{OrderID: "O0", Site: "gz02", State: "held", ChannelOrderNo: "C2"})
		})
		for _, c := range [][3]string{{hub.TraceChannelOrderNo, "C1", ""}, {hub.TraceWaybill, "W1", ""}, {hub.TraceWaybill, "AW1", ""},
			{hub.TraceFingerprint, "FP1", ""}, {hub.TraceWaybill, "W2", "O1"}, {hub.TraceChannelOrderNo, "C2", "O0,O1"}} {
			if got := trace(t, s, c[0], c[1], 10); got != c[2] {
				t.Errorf("after reindexing: %s %s = %q, want %q", c[0], c[1], got, c[2])
			}
		}
		if got := trace(t, s, hub.TraceChannelOrderNo, "C2", 1); got != "O0" {
			t.Errorf("limit 1 = %q", got)
		}
		view(t, s, func(tx hub.Tx) error {
			ix, err := tx.OrderIndexOf("O1")
			if err != nil || ix == nil || !reflect.DeepEqual(*ix, o1) {
				t.Errorf("OrderIndexOf = %+v, %v; want %+v", ix, err, o1)
			}
			if ix, err := tx.OrderIndexOf("O9"); ix != nil || err != nil {
				t.Errorf("missing row = %+v, %v", ix, err)
			}
			if err := tx.IndexOrder(o1); err == nil {
				t.Error("IndexOrder in a View succeeded")
			}
			return nil
		})
	})

	t.Run("OrdersInState", func(t *testing.T) {
		s := open(t)
		at := func(m int) string { return fmt.Sprintf("2026-01-22T08:%02d:00.000Z", m) }
		update(t, s, func(tx hub.Tx) error {
			for i, r := range []struct{ id, site, agent, state string }{
				{"P1", "sz01", "a1", "pending_allocation"}, {"P2", "sz01", "a2", "pending_allocation"}, {"P3", "gz02", "b1", "pending_allocation"},
				{"P4", "sz01", "a1", "pending_allocation"}, {"H1", "sz01", "a1", "held"},
			} {
				since := at(10 - i) // P1 08:10, P2 08:09, P3 08:08
				if r.id == "P4" {
					since = at(9) // as P2: the order id decides
				}
				if err := tx.IndexOrder(hub.OrderIndex{OrderID: r.id, Site: r.site, Agent: r.agent, State: r.state, Since: since}); err != nil {
					return err
				}
			}
			return nil
		})
		list := func(f hub.ListFilter, limit int) string {
			var got []string
			view(t, s, func(tx hub.Tx) error {
				return tx.OrdersInState("pending_allocation", f, func(ix hub.OrderIndex) (bool, error) {
					got = append(got, ix.OrderID)
					return len(got) < limit, nil
				})
			})
			return strings.Join(got, ",")
		}
		for _, c := range []struct {
			f     hub.ListFilter
			limit int
			want  string
		}{
			{hub.ListFilter{}, 10, "P3,P2,P4,P1"},
			{hub.ListFilter{Site: "sz01"}, 10, "P2,P4,P1"},
			{hub.ListFilter{Agent: "a1"}, 10, "P4,P1"},
			{hub.ListFilter{Since: at(9)}, 10, "P2,P4,P1"},
			{hub.ListFilter{Until: at(9)}, 10, "P3"},
			{hub.ListFilter{AfterAt: at(9), AfterID: "P2", HasAfter: true}, 10, "P4,P1"},
			{hub.ListFilter{}, 2, "P3,P2"},
		} {
			if got := list(c.f, c.limit); got != c.want {
				t.Errorf("OrdersInState(%+v) = %q, want %q", c.f, got, c.want)
			}
		}
		// A state change moves the order out of its old list.
		update(t, s, func(tx hub.Tx) error {
			return tx.IndexOrder(hub.OrderIndex{OrderID: "P2", Site: "sz01", State: "waybill_printed"})
		})
		if got := list(hub.ListFilter{}, 10); got != "P3,P4,P1" {
			t.Errorf("after P2 printed: %q", got)
		}
	})

	t.Run("Holds", func(t *testing.T) {
		s := open(t)
		update(t, s, func(tx hub.Tx) error {
			for _, h := range []hub.Hold{hold("O1", "sz01", "a1", "t3"), hold("O1", "sz01", "a1", "t9"), hold("O1", "sz01", "a2", "t1"), hold("O2", "gz02", "b1", "t2"), hold("O3", "sz01", "a1", "t4")} {
				if err := tx.PutHold(h); err != nil {
					return err
				}
			}
			return tx.DeleteHold("O3", "sz01", "a1")
		})
		list := func(f hub.ListFilter) string {
			var got []string
			view(t, s, func(tx hub.Tx) error {
				return tx.Holds(f, func(h hub.Hold) (bool, error) {
					got = append(got, h.OrderID+"/"+h.Agent+"@"+h.At)
					return true, nil
				})
			})
			return strings.Join(got, ",")
		}
		for _, c := range []struct {
			f    hub.ListFilter
			want string
		}{
			{hub.ListFilter{}, "O1/a2@t1,O2/b1@t2,O1/a1@t3"}, // a repeated hold keeps its first time; O3 was released
			{hub.ListFilter{Site: "sz01"}, "O1/a2@t1,O1/a1@t3"},
			{hub.ListFilter{Agent: "a1"}, "O1/a1@t3"},
			{hub.ListFilter{Since: "t2", Until: "t3"}, "O2/b1@t2"},
			{hub.ListFilter{AfterAt: "t1", AfterID: "O1", AfterKey: hub.EntryKey{Site: "sz01", Agent: "a2"}, HasAfter: true}, "O2/b1@t2,O1/a1@t3"},
		} {
			if got := list(c.f); got != c.want {
				t.Errorf("Holds(%+v) = %q, want %q", c.f, got, c.want)
			}
		}
	})

	t.Run("Rejections", func(t *testing.T) {
		s := open(t)
		k := func(site, agent string, seq uint64) hub.EntryKey {
			return hub.EntryKey{Site: site, Agent: agent, Journal: "j1", Seq: seq}
		}
		update(t, s, func(tx hub.Tx) error {
			for _, r := range []hub.Rejection{

				rej("t2", k("sz01", "a1", 7), "O1", "wrong_state"), rej("t1", k("sz01", "a1", 3), "", "unknown_code"),
				rej("t2", k("gz02", "b1", 2), "O2", "unknown_order"), rej("t2", k("sz01", "a1", 7), "O1", "wrong_state"),
				rej("t3", k("sz01", "a1", 300), "O3", "wrong_state"),
			} {
				if err := tx.AddRejection(r); err != nil {
					return err
				}
			}
			return nil
		})
		list := func(f hub.ListFilter) string {
			var got []string
			view(t, s, func(tx hub.Tx) error {
				return tx.Rejections(f, func(r hub.Rejection) (bool, error) {
					got = append(got, fmt.Sprintf("%s/%s/%d:%s:%s", r.At, r.Key.Site, r.Key.Seq, r.OrderID, r.Reason))
					return true, nil
				})
			})
			return strings.Join(got, ",")
		}
		for _, c := range []struct {
			f    hub.ListFilter
			want string
		}{
			{hub.ListFilter{}, "t1/sz01/3::unknown_code,t2/gz02/2:O2:unknown_order,t2/sz01/7:O1:wrong_state,t3/sz01/300:O3:wrong_state"},
			{hub.ListFilter{Reason: "wrong_state", Site: "sz01"}, "t2/sz01/7:O1:wrong_state,t3/sz01/300:O3:wrong_state"},
			{hub.ListFilter{Agent: "b1"}, "t2/gz02/2:O2:unknown_order"},
			{hub.ListFilter{Since: "t2", Until: "t3"}, "t2/gz02/2:O2:unknown_order,t2/sz01/7:O1:wrong_state"},
			{hub.ListFilter{AfterAt: "t2", AfterKey: k("gz02", "b1", 2), HasAfter: true}, "t2/sz01/7:O1:wrong_state,t3/sz01/300:O3:wrong_state"},
		} {
			if got := list(c.f); got != c.want {
				t.Errorf("Rejections(%+v) = %q, want %q", c.f, got, c.want)
			}
		}
	})

	t.Run("EvidenceAndWalks", func(t *testing.T) {
		s := open(t)
		update(t, s, func(tx hub.Tx) error {
			for _, c := range [][2]string{{"O1", "e1"}, {"O10", "x"}, {"O1", "e2"}} {
				if err := tx.AddOrderEvidence(c[0], []byte(c[1])); err != nil {
					return err
				}
			}
			for _, id := range []string{"B", "A", "C"} {
				if err := tx.PutOrder(id, []byte("{}")); err != nil {
					return err
				}
			}
			for _, k := range []hub.EntryKey{ekey("s", "a", "j", 2), ekey("s", "a", "j", 1), ekey("s", "a", "j2", 1), ekey("r", "z", "j", 9)} {
				if _, err := tx.PutEntry(k, []byte("e")); err != nil {
					return err
				}
			}
			return nil
		})
		view(t, s, func(tx hub.Tx) error {
			ev, err := tx.OrderEvidence("O1")
			if err != nil || len(ev) != 2 || string(ev[0]) != "e1" || string(ev[1]) != "e2" {
				t.Errorf("evidence of O1 = %q, %v", ev, err)
			}
			ids, err := tx.OrderIDs("", 2)
			if err != nil || strings.Join(ids, ",") != "A,B" {
				t.Errorf("OrderIDs = %v, %v", ids, err)
			}
			if ids, _ = tx.OrderIDs("B", 2); strings.Join(ids, ",") != "C" {
				t.Errorf("OrderIDs after B = %v", ids)
			}
			keys, err := tx.EntryKeys(hub.EntryKey{}, 3)
			if err != nil || fmt.Sprint(keys) != "[{r z j 9} {s a j 1} {s a j 2}]" {
				t.Errorf("EntryKeys = %v, %v", keys, err)
			}
			if keys, _ = tx.EntryKeys(ekey("s", "a", "j", 2), 3); fmt.Sprint(keys) != "[{s a j2 1}]" {
				t.Errorf("EntryKeys after s/a/j/2 = %v", keys)
			}
			return nil
		})
	})

	t.Run("RollsBack", func(t *testing.T) {
		s := open(t)
		err := s.Update(ctx, func(tx hub.Tx) error {
			if err := tx.IndexOrder(hub.OrderIndex{OrderID: "O1", Site: "s", State: "held", Waybill: "W1"}); err != nil {
				return err
			}
			if err := tx.PutHold(hub.Hold{OrderID: "O1", Site: "s", Agent: "a", At: "t"}); err != nil {
				return err
			}
			if err := tx.AddRejection(hub.Rejection{At: "t", Key: ekey("s", "a", "j", 1), Reason: "x"}); err != nil {
				return err
			}
			return errRollback
		})
		if err != errRollback {
			t.Fatal(err)
		}
		if got := trace(t, s, hub.TraceWaybill, "W1", 10); got != "" {
			t.Errorf("a rolled-back index row is found: %q", got)
		}
		view(t, s, func(tx hub.Tx) error {
			n := 0
			count := func() (bool, error) { n++; return true, nil }
			_ = tx.Holds(hub.ListFilter{}, func(hub.Hold) (bool, error) { return count() })
			_ = tx.Rejections(hub.ListFilter{}, func(hub.Rejection) (bool, error) { return count() })
			if n != 0 {
				t.Errorf("%d rolled-back rows listed", n)
			}
			return nil
		})
	})
}

func hold(orderID, site, agent, at string) hub.Hold {
	return hub.Hold{OrderID: orderID, Site: site, Agent: agent, At: at}
}

func rej(at string, k hub.EntryKey, orderID, reason string) hub.Rejection {
	return hub.Rejection{At: at, Key: k, OrderID: orderID, Reason: reason}
}

func ekey(site, agent, journal string, seq uint64) hub.EntryKey {
	return hub.EntryKey{Site: site, Agent: agent, Journal: journal, Seq: seq}
}
