package journal

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"wedge/internal/clock"
	"wedge/order"
	"wedge/sync/wire"
)

// versionsJournal writes a journal through the order domain's own decisions, as the agent does:
// orders updated after print (the label outdated), reprinted, intercepted and resolved, held by the
// breaker and released, and one first heard of through another agent's state. It returns the
// journal's path.
func versionsJournal(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "wedge.db")
	clk := clock.NewFake(t0)
	s, err := Open(path, &Options{Site: "sz01", Agent: "pack02", Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hseq := uint64(0)
	msg := func(m wire.OrderMsg, held bool) {
		t.Helper()
		hseq++
		m.HSeq = hseq
		err := s.Do(context.Background(), func(tx *Tx) error {
			o, known := tx.Order(m.ID())
			d := tx.Commit(order.DecideMsg(o, known, m, order.MsgEnv{At: clk.Now(), Held: held}))
			if !d.Store {
				t.Errorf("message %+v stored nothing: %+v", m, d.Outcome)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Minute)
	}
	step := func(id string, decide func(o order.Order, src order.Source) order.Decision) {
		t.Helper()
		err := s.Do(context.Background(), func(tx *Tx) error {
			o, _ := tx.Order(id)
			d := tx.Commit(decide(o, order.Source{Station: "print-1", Operator: "王五", Trigger: wire.TriggerManual, At: clk.Now()}))
			if d.Outcome.Result != order.Accepted {
				t.Errorf("%s: %+v", id, d.Outcome)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Minute)
	}
	data := func(id string, v uint64, addr string) wire.OrderMsg {
		return wire.OrderMsg{Type: wire.TypeOrder, OrderID: id, Version: v, Channel: "tmall", ChannelOrderNo: "TM" + id,
			BuyerID: "b-" + id, SKUs: []string{"SKU-1"}, Carrier: "sf", OrderedAt: wire.Time(t0), PaidAt: wire.Time(t0),
			RecipientName: "张三", RecipientPhone: "13812345678", RecipientAddress: addr}
	}
	print := func(id, wb string) {
		step(id, func(o order.Order, src order.Source) order.Decision {
			return order.Decide(o, order.Request{Action: order.ActPrint, Waybill: wb, At: src.At}, src)
		})
	}
	const a1, a2 = "广东省深圳市南山区科苑路8号", "广东省深圳市福田区华强北路1号"

	// Outdated: printed at version 1, the address changed in version 2, then intercepted.
	msg(data("V1", 1, a1), false)
	print("V1", "SF1385628716739")
	msg(data("V1", 2, a2), false)
	msg(wire.OrderMsg{Type: wire.TypeIntercept, OrderID: "V1", Reason: "买家要求拦截 buyer asked"}, false)

	// Reprinted: outdated, then its label printed again from version 3.
	msg(data("V2", 1, a1), false)
	print("V2", "SF1234567890123")
	msg(data("V2", 3, a2), false)
	step("V2", func(o order.Order, src order.Source) order.Decision {
		return order.Reprinted(o, o.Waybill, o.Version, "reprint confirmed", src)
	})

	// An intercept a supervisor released, and one cancelled to stock.
	for _, c := range []struct{ id, action string }{{"V3", order.ResolveRelease}, {"V4", order.ResolveReturnToStock}} {
		msg(data(c.id, 1, a1), false)
		msg(wire.OrderMsg{Type: wire.TypeIntercept, OrderID: c.id, Reason: "地址错误"}, false)
		step(c.id, func(o order.Order, src order.Source) order.Decision {
			return order.Resolve(o, order.Resolution{Action: c.action, Operator: "王五", Note: "客户来电 customer called", At: src.At}, src)
		})
	}

	// Held by the breaker, released 46 minutes later: queued since its arrival.
	msg(data("H1", 1, a1), true)
	clk.Advance(45 * time.Minute)
	step("H1", func(o order.Order, src order.Source) order.Decision {
		return order.Decide(o, order.Request{Action: order.ActRelease, At: src.At}, src)
	})

	// First heard of through another agent's printed state with its label version, then its data.
	msg(wire.OrderMsg{Type: wire.TypeState, OrderID: "S1", State: string(order.WaybillPrinted), Waybill: "SF1385628716739", LabelVersion: 1}, false)
	msg(data("S1", 2, a2), false)
	return path
}

// TestRebuildReplaysVersionsAndIntercepts: a journal rebuilt from its entries (as `wedge journal
// recover` rebuilds it from the hub's copy) holds the latest order data of each update, the
// outdated-label flag, the label version of a reprint, the intercept with its reason or its
// resolution, and the time an order was first queued, field for field as the agent stored them.
func TestRebuildReplaysVersionsAndIntercepts(t *testing.T) {
	want := readContents(t, versionsJournal(t))
	dst := filepath.Join(t.TempDir(), "rebuilt.db")
	if _, err := Rebuild(dst, &Options{Site: "sz01", Agent: "pack02", Clock: clock.NewFake(t0)},
		Restore{JournalID: want.id, Entries: seqOf(want.entries)}); err != nil {
		t.Fatal(err)
	}
	got := readContents(t, dst)
	for id, w := range want.orders {
		if g := got.orders[id]; !reflect.DeepEqual(g, w) {
			t.Errorf("order %s:\n got %+v\nwant %+v", id, g, w)
		}
	}
	if len(got.orders) != len(want.orders) || !reflect.DeepEqual(got.counts, want.counts) {
		t.Errorf("%d orders, counts %v; want %d, %v", len(got.orders), got.counts, len(want.orders), want.counts)
	}
	// What the cases are about, spelled out.
	v1, v2, v3, v4, h1, s1 := got.orders["V1"], got.orders["V2"], got.orders["V3"], got.orders["V4"], got.orders["H1"], got.orders["S1"]
	switch {
	case v1.Version != 2 || v1.RecipientAddress != "广东省深圳市福田区华强北路1号" || !v1.LabelOutdated || v1.LabelVersion != 1:
		t.Errorf("V1 update / outdated label: %+v", v1)
	case !v1.Intercepted() || v1.Intercept.Reason != "买家要求拦截 buyer asked":
		t.Errorf("V1 intercept: %+v", v1.Intercept)
	case v2.LabelOutdated || v2.LabelVersion != 3:
		t.Errorf("V2 reprint: %+v", v2)
	case v3.Intercept.Status != wire.InterceptReleased || v3.Intercept.By != "王五" || v3.Intercept.Note != "客户来电 customer called" || v3.Intercepted():
		t.Errorf("V3 released: %+v", v3.Intercept)
	case v4.State != order.Cancelled || v4.Intercept.Status != wire.InterceptReturnedToStock:
		t.Errorf("V4 returned to stock: %+v", v4)
	case h1.State != order.PendingAllocation || !h1.QueuedSince.Equal(t0.Add(14*time.Minute)) || h1.PendingSince.Sub(h1.QueuedSince) != 46*time.Minute:
		t.Errorf("H1 queued %v pending %v", h1.QueuedSince, h1.PendingSince)
	case s1.Version != 2 || s1.LabelVersion != 1 || !s1.LabelOutdated || s1.RecipientName != "张三":
		t.Errorf("S1 skeleton filled: %+v", s1)
	}
}
