package order_test

import (
	"strings"
	"testing"

	"wedge/order"
	"wedge/sync/wire"
)

func interceptMsg(hseq uint64) wire.OrderMsg {
	return wire.OrderMsg{Type: wire.TypeIntercept, OrderID: "V1", Reason: "buyer changed mind", HSeq: hseq}
}

var supervisor = order.Source{Station: "console", Operator: "OP-SUP", Trigger: wire.TriggerManual, At: t0}

func resolve(o order.Order, action string) order.Decision {
	return order.Resolve(o, order.Resolution{Action: action, Operator: "OP-SUP", Note: "checked the parcel", At: t0}, supervisor)
}

// An intercept before 已揽收 stops the parcel at print and at handover (even a manual
// confirmation) with reason intercepted, which sends it to the exception shelf.
func TestInterceptStopsTheParcel(t *testing.T) {
	pending := take(t, order.Order{}, vMsg(1, vName, vPhone, vAddr)).Outcome.Order
	d := take(t, pending, interceptMsg(9))
	o := d.Outcome.Order
	if !d.Store || d.Entry.Kind != wire.KindIntercept || d.Entry.InterceptID != 9 || d.Entry.Intercept != wire.InterceptRequested ||
		!strings.Contains(d.Entry.Detail, "buyer changed mind") || d.Entry.Code != "hseq:9" {
		t.Fatalf("intercept decision %+v", d)
	}
	if !o.Intercepted() || !o.Intercept.Open() || o.Intercept.ID != 9 || o.State != order.PendingAllocation {
		t.Fatalf("intercepted order %+v", o)
	}
	out := order.Apply(o, order.Request{Action: order.ActPrint, At: t0})
	if out.Result != order.Rejected || out.Reason != order.ReasonIntercepted || !strings.Contains(out.Message().ZH, "异常件架") {
		t.Fatalf("print: %+v", out)
	}
	printed := order.Apply(pending, order.Request{Action: order.ActPrint, At: t0}).Order
	p := take(t, printed, interceptMsg(9)).Outcome.Order
	for _, req := range []order.Request{
		{Action: order.ActPickup, Waybill: vWaybill, At: t0},
		{Action: order.ActPickup, Manual: true, Operator: "OP-SUP", Note: "ship it", At: t0},
		{Action: order.ActPrint, Waybill: vWaybill, At: t0},
	} {
		if out := order.Apply(p, req); out.Result != order.Rejected || out.Reason != order.ReasonIntercepted {
			t.Fatalf("%+v on an intercepted printed order: %+v", req, out)
		}
	}
	// The order system may still cancel it; the intercept then reads cancelled.
	c := order.Apply(p, order.Request{Action: order.ActCancel, At: t0})
	if c.Result != order.Accepted || c.Order.Intercept.Status != wire.InterceptCancelled || c.Order.Intercepted() {
		t.Fatalf("cancel of an intercepted order: %+v", c.Order)
	}
}

// The same intercept again (a replay) or an older one changes nothing; a newer one replaces a
// resolved one; an unknown order is refused.
func TestInterceptIdempotent(t *testing.T) {
	o := take(t, order.Order{}, vMsg(1, vName, vPhone, vAddr)).Outcome.Order
	o = take(t, o, interceptMsg(9)).Outcome.Order
	for _, h := range []uint64{9, 3} {
		if d := take(t, o, interceptMsg(h)); d.Store || d.Journaled() {
			t.Fatalf("intercept %d over 9: %+v", h, d)
		}
	}
	r := resolve(o, order.ResolveRelease).Outcome.Order
	d := take(t, r, interceptMsg(12))
	if !d.Outcome.Order.Intercepted() || d.Outcome.Order.Intercept.ID != 12 {
		t.Fatalf("a new intercept after a release: %+v", d.Outcome.Order.Intercept)
	}
	if d := order.DecideMsg(order.Order{}, false, interceptMsg(4), order.MsgEnv{At: t0}); d.Entry.Kind != wire.KindReject || d.Entry.Reason != string(order.ReasonUnknownOrder) {
		t.Fatalf("unknown order: %+v", d)
	}
}

// After 已揽收 an intercept is recorded as after_pickup: nothing to stop, the supervisor contacts
// the carrier and acknowledges it.
func TestInterceptAfterPickup(t *testing.T) {
	o := printedV1(t)
	o = order.Apply(o, order.Request{Action: order.ActPickup, Waybill: vWaybill, At: t0}).Order
	d := take(t, o, interceptMsg(9))
	i := d.Outcome.Order
	if d.Entry.Intercept != wire.InterceptAfterPickup || i.Intercepted() || !i.Intercept.Open() || !strings.Contains(d.Entry.Detail, "contact the carrier") {
		t.Fatalf("after pickup: %+v", d)
	}
	if m := i.InterceptMessage(); m.ZH != "拦截请求在揽收之后：请联系快递拦截" || !strings.Contains(m.EN, "contact the carrier") {
		t.Fatalf("message %+v", m)
	}
	for _, a := range []string{order.ResolveRelease, order.ResolveCancel, order.ResolveReturnToStock} {
		if d := resolve(i, a); d.Outcome.Result != order.Rejected || d.Store {
			t.Fatalf("%s after pickup: %+v", a, d)
		}
	}
	a := resolve(i, order.ResolveAcknowledge)
	if !a.Store || a.Entry.Kind != wire.KindIntercept || a.Outcome.Order.Intercept.Status != wire.InterceptAcknowledged || a.Outcome.Order.Intercept.Open() {
		t.Fatalf("acknowledge: %+v", a)
	}
	// A request merged from a sibling into an order picked up here reads after_pickup too.
	n, ok := order.MergeIntercept(o, 9, wire.InterceptRequested, t0)
	if !ok || n.Intercept.Status != wire.InterceptAfterPickup {
		t.Fatalf("merged request after pickup: %+v", n.Intercept)
	}
}

// A supervisor resolves an open intercept with a reason: release (the parcel goes on), cancel,
// return to stock (已取消 with reason returned_to_stock); journaled as manual with operator and
// note; refused without them, without an intercept, or with an unknown action.
func TestResolveIntercept(t *testing.T) {
	o := take(t, order.Order{}, vMsg(1, vName, vPhone, vAddr)).Outcome.Order
	o = take(t, o, interceptMsg(9)).Outcome.Order

	rel := resolve(o, order.ResolveRelease)
	e := rel.Entry
	if !rel.Store || e.Kind != wire.KindIntercept || e.Trigger != wire.TriggerManual || e.Operator != "OP-SUP" || e.InterceptID != 9 ||
		e.Intercept != wire.InterceptReleased || !strings.Contains(e.Detail, "checked the parcel") || rel.Outcome.Order.State != order.PendingAllocation {
		t.Fatalf("release: %+v", rel)
	}
	if r := rel.Outcome.Order; r.Intercepted() || r.Intercept.By != "OP-SUP" || r.Intercept.Note != "checked the parcel" {
		t.Fatalf("released order %+v", r.Intercept)
	}
	if out := order.Apply(rel.Outcome.Order, order.Request{Action: order.ActPrint, At: t0}); out.Result != order.Accepted {
		t.Fatalf("print after release: %+v", out)
	}

	can := resolve(o, order.ResolveCancel)
	if can.Entry.Kind != wire.KindStep || can.Entry.To != string(order.Cancelled) || can.Entry.Intercept != wire.InterceptCancelled ||
		can.Outcome.Order.State != order.Cancelled || can.Entry.Reason != "" {
		t.Fatalf("cancel: %+v", can)
	}
	ret := resolve(o, order.ResolveReturnToStock)
	if ret.Entry.Kind != wire.KindStep || ret.Entry.To != string(order.Cancelled) || ret.Entry.Reason != "returned_to_stock" ||
		ret.Outcome.Order.Intercept.Status != wire.InterceptReturnedToStock || ret.Entry.InterceptID != 9 {
		t.Fatalf("return to stock: %+v", ret)
	}

	for _, c := range []struct {
		o      order.Order
		r      order.Resolution
		reason order.Reason
	}{
		{o, order.Resolution{Action: order.ResolveRelease, Operator: "OP-SUP"}, order.ReasonManualIncomplete},
		{o, order.Resolution{Action: order.ResolveRelease, Note: "x"}, order.ReasonManualIncomplete},
		{rel.Outcome.Order, order.Resolution{Action: order.ResolveRelease, Operator: "OP-SUP", Note: "again"}, order.ReasonNoIntercept},
		{o, order.Resolution{Action: order.ResolveAcknowledge, Operator: "OP-SUP", Note: "x"}, order.ReasonWrongState},
		{o, order.Resolution{Action: "teleport", Operator: "OP-SUP", Note: "x"}, order.ReasonUnsupported},
	} {
		d := order.Resolve(c.o, c.r, supervisor)
		if d.Store || d.Outcome.Reason != c.reason || d.Entry.Kind != wire.KindReject {
			t.Errorf("%+v: %+v", c.r, d)
		}
	}
}

// Intercepts merge the same way on every PC whatever the order of arrival: a higher id wins, a
// resolution outranks the request, a cancel outranks a release.
func TestMergeInterceptConverges(t *testing.T) {
	base := take(t, order.Order{}, vMsg(1, vName, vPhone, vAddr)).Outcome.Order
	marks := []struct {
		id     uint64
		status string
	}{{9, wire.InterceptRequested}, {9, wire.InterceptReleased}, {9, wire.InterceptCancelled}, {12, wire.InterceptRequested}, {7, wire.InterceptReleased}}
	perms := [][]int{{0, 1, 2, 3, 4}, {4, 3, 2, 1, 0}, {2, 0, 4, 1, 3}, {3, 1, 0, 4, 2}}
	var want order.Intercept
	for i, p := range perms {
		o := base
		for _, k := range p {
			o, _ = order.MergeIntercept(o, marks[k].id, marks[k].status, t0)
		}
		got := order.Intercept{ID: o.Intercept.ID, Status: o.Intercept.Status}
		if i == 0 {
			want = got
			if want.ID != 12 || want.Status != wire.InterceptRequested {
				t.Fatalf("merged %+v", want)
			}
		} else if got != want {
			t.Fatalf("order %v merged to %+v, order %v to %+v", p, got, perms[0], want)
		}
	}
	a, _ := order.MergeIntercept(base, 9, wire.InterceptReleased, t0)
	a, _ = order.MergeIntercept(a, 9, wire.InterceptCancelled, t0)
	b, _ := order.MergeIntercept(base, 9, wire.InterceptCancelled, t0)
	b, _ = order.MergeIntercept(b, 9, wire.InterceptReleased, t0)
	if a.Intercept.Status != wire.InterceptCancelled || b.Intercept.Status != wire.InterceptCancelled {
		t.Fatalf("release vs cancel: %s %s", a.Intercept.Status, b.Intercept.Status)
	}
	if _, ok := order.MergeIntercept(base, 3, "stopped", t0); ok {
		t.Fatal("an unknown status merged")
	}
}

// A sibling's resolution reaches this PC as a state message: the intercept is merged and the
// parcel may go on here too.
func TestStateMessageMergesIntercept(t *testing.T) {
	o := take(t, order.Order{}, vMsg(1, vName, vPhone, vAddr)).Outcome.Order
	o = take(t, o, interceptMsg(9)).Outcome.Order
	st := wire.OrderMsg{Type: wire.TypeState, OrderID: "V1", State: string(order.PendingAllocation), InterceptID: 9, Intercept: wire.InterceptReleased, HSeq: 10}
	d := take(t, o, st)
	if !d.Store || d.Entry.Kind != wire.KindMerge || d.Entry.Intercept != wire.InterceptReleased || d.Outcome.Order.Intercepted() ||
		!strings.Contains(d.Entry.Detail, "intercept released") {
		t.Fatalf("%+v", d)
	}
	if d := take(t, d.Outcome.Order, st); d.Store || d.Journaled() {
		t.Fatalf("repeat: %+v", d)
	}
	// A state message about an order not known here brings its intercept along.
	d = order.DecideMsg(order.Order{}, false, wire.OrderMsg{Type: wire.TypeState, OrderID: "V9", State: string(order.WaybillPrinted),
		Waybill: vWaybill, InterceptID: 4, Intercept: wire.InterceptRequested}, order.MsgEnv{At: t0})
	if !d.Outcome.Order.Intercepted() {
		t.Fatalf("unknown order's intercept: %+v", d.Outcome.Order)
	}
}
