package order_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"wedge/order"
	"wedge/sync/wire"
)

var t0 = time.Date(2026, 11, 11, 0, 0, 0, 0, time.UTC)

// The same order sent with "SF" and " sf ", SKUs in another order and padded fields normalises to one
// record.
func TestFromMsgNormalises(t *testing.T) {
	a := wire.OrderMsg{Type: wire.TypeOrder, OrderID: "A1", Channel: "JD", ChannelOrderNo: " JD20261111000001 ", BuyerID: "b1",
		OrderedAt: "2026-11-11T00:00:00Z", SKUs: []string{"S2", " S1"}, Carrier: "SF", Waybill: " sf1234567890123"}
	b := a
	b.Channel, b.Carrier, b.SKUs, b.Waybill = " jd", " sf ", []string{"S1", "S2 "}, "SF1234567890123"
	oa, ob := order.FromMsg(a), order.FromMsg(b)
	if !reflect.DeepEqual(oa, ob) {
		t.Fatalf("different normalised orders:\n%+v\n%+v", oa, ob)
	}
	if oa.Channel != "jd" || oa.Carrier != "sf" || oa.ChannelOrderNo != "JD20261111000001" || !reflect.DeepEqual(oa.SKUs, []string{"S1", "S2"}) ||
		oa.AssignedWaybill != "SF1234567890123" || oa.Payment != order.PaymentFull || !oa.OrderedAt.Equal(t0) {
		t.Fatalf("normalised %+v", oa)
	}
	// Without an id the fingerprint is the id, the same for both.
	a.OrderID, b.OrderID = "", ""
	if ia, ib := order.FromMsg(a).ID, order.FromMsg(b).ID; ia == "" || ia != ib {
		t.Fatalf("fingerprints %q %q", ia, ib)
	}
}

// Balance paid while the breaker is open is a transition to 暂停进入, not a field write; otherwise
// 待分仓 with PendingSince set.
func TestBalancePaidWhileHeld(t *testing.T) {
	o := order.Order{ID: "P1", State: order.AwaitingBalance, Payment: order.PaymentDeposit}
	m := wire.OrderMsg{Type: wire.TypeBalancePaid, OrderID: "P1", HSeq: 7}
	d := order.DecideMsg(o, true, m, order.MsgEnv{At: t0, Held: true})
	if d.Outcome.To != order.Held || d.Outcome.Order.State != order.Held || !d.Outcome.Order.PendingSince.IsZero() || !d.Store ||
		d.Entry.Kind != wire.KindStep || d.Entry.To != string(order.Held) || d.Entry.Code != "hseq:7" {
		t.Fatalf("held: %+v", d)
	}
	d = order.DecideMsg(o, true, m, order.MsgEnv{At: t0})
	if d.Outcome.To != order.PendingAllocation || !d.Outcome.Order.PendingSince.Equal(t0) || d.Outcome.Order.Payment != order.PaymentFull {
		t.Fatalf("not held: %+v", d)
	}
	// A repeat is nothing to journal.
	if d2 := order.DecideMsg(d.Outcome.Order, true, m, order.MsgEnv{At: t0}); d2.Journaled() || d2.Store {
		t.Fatalf("repeat: %+v", d2)
	}
	// Unknown order: a reject entry.
	if d3 := order.DecideMsg(order.Order{}, false, m, order.MsgEnv{At: t0}); d3.Entry.Kind != wire.KindReject || d3.Entry.Reason != string(order.ReasonUnknownOrder) || d3.Store {
		t.Fatalf("unknown: %+v", d3)
	}
}

func TestNewOrderStates(t *testing.T) {
	m := wire.OrderMsg{Type: wire.TypeOrder, OrderID: "N1", Channel: "tmall", ChannelOrderNo: "TM1", BuyerID: "b", OrderedAt: "2026-11-11T00:00:00Z"}
	for _, c := range []struct {
		payment string
		held    bool
		want    order.State
	}{{"", false, order.PendingAllocation}, {"full", true, order.Held}, {"deposit", true, order.AwaitingBalance}} {
		m.Payment = c.payment
		d := order.DecideMsg(order.Order{}, false, m, order.MsgEnv{At: t0, Held: c.held})
		o := d.Outcome.Order
		if o.State != c.want || d.Entry.Kind != wire.KindIntake || d.Entry.Order == nil || !o.ReceivedAt.Equal(t0) ||
			(c.want == order.PendingAllocation) != !o.PendingSince.IsZero() {
			t.Fatalf("%+v: %+v", c, d)
		}
	}
	// The same channel order number under another id is a conflict; a contract failure is refused.
	d := order.DecideMsg(order.Order{}, false, m, order.MsgEnv{At: t0, ChannelNoOwnerID: "OTHER"})
	if d.Entry.Reason != string(order.ReasonConflict) || d.Store {
		t.Fatalf("conflict: %+v", d)
	}
	d = order.DecideMsg(order.Order{}, false, m, order.MsgEnv{At: t0, Contract: func(string, string) error { return errTest }})
	if d.Entry.Reason != string(order.ReasonContract) || !strings.Contains(d.Entry.Detail, "bad no") {
		t.Fatalf("contract: %+v", d)
	}
}

type testErr string

func (e testErr) Error() string { return string(e) }

const errTest = testErr("bad no")

// Decide is Apply plus the entry rules: step, reject with reason, note for a repeat; the source's
// station, device, operator, trigger and code are in the entry.
func TestDecideEntries(t *testing.T) {
	o := order.Order{ID: "D1", State: order.PendingAllocation, Carrier: "sf", AssignedWaybill: "SF1234567890123"}
	src := order.Source{Station: "pack01", Device: "scan1", Operator: "OP-1", Trigger: wire.TriggerScan, Code: "D1", At: t0}
	d := order.Decide(o, order.Request{Action: order.ActPrint, At: t0}, src)
	e := d.Entry
	if !d.Store || e.Kind != wire.KindStep || e.From != string(order.PendingAllocation) || e.To != string(order.WaybillPrinted) ||
		e.Waybill != "SF1234567890123" || e.Station != "pack01" || e.Device != "scan1" || e.Operator != "OP-1" || e.Code != "D1" || e.At != wire.Time(t0) {
		t.Fatalf("step: %+v", d)
	}
	d2 := order.Decide(d.Outcome.Order, order.Request{Action: order.ActPrint, At: t0}, src)
	if d2.Store || d2.Entry.Kind != wire.KindNote {
		t.Fatalf("repeat: %+v", d2)
	}
	d3 := order.Decide(o, order.Request{Action: order.ActPickup, Waybill: "SF1234567890123", At: t0}, src)
	if d3.Store || d3.Entry.Kind != wire.KindReject || d3.Entry.Reason != string(order.ReasonNotPrinted) {
		t.Fatalf("reject: %+v", d3)
	}
}

func TestWaitingSince(t *testing.T) {
	o := order.Order{ReceivedAt: t0}
	if !o.WaitingSince().Equal(t0) || o.Waited(t0.Add(time.Minute)) != time.Minute || o.Waited(t0.Add(-time.Minute)) != 0 {
		t.Fatalf("received only: %v", o.WaitingSince())
	}
	o = o.Enter(order.PendingAllocation, t0.Add(time.Hour))
	if !o.WaitingSince().Equal(t0.Add(time.Hour)) || !o.StateSince.Equal(t0.Add(time.Hour)) {
		t.Fatalf("entered: %+v", o)
	}
}

func TestExcerpt(t *testing.T) {
	if got := order.Excerpt("ab\xffcd", 10); got != "ab\uFFFDcd" {
		t.Fatalf("invalid utf-8: %q", got)
	}
	if got := order.Excerpt(strings.Repeat("单", 10), 7); got != "单单…" {
		t.Fatalf("cut: %q", got)
	}
}
