package station_test

import (
	"strings"
	"testing"

	"wedge/agent/station"
	"wedge/order"
	"wedge/sync/wire"
)

// outdated is order id printed with waybill wbSF at data version 1, whose address changed in
// version 2.
func outdated(id string) order.Order {
	o := pending(id)
	o.State, o.Waybill, o.AssignedWaybill = order.WaybillPrinted, wbSF, wbSF
	o.Version, o.AddressVersion, o.LabelVersion, o.LabelOutdated = 2, 2, 1, true
	o.RecipientAddress = "广东省深圳市福田区华强北路1号"
	return o
}

func intercepted(o order.Order) order.Order {
	o.Intercept = order.Intercept{ID: 9, Status: wire.InterceptRequested, Reason: "buyer asked", At: t0}
	return o
}

// The handover refuses a parcel whose label is outdated (label_outdated) and one that is
// intercepted (intercepted, exception shelf), with their messages, and journals both.
func TestHandoverRefusesOutdatedAndIntercepted(t *testing.T) {
	r := newRig(t)
	h := r.station("dock-1", station.RoleHandover)
	r.put(outdated("5001"))
	res := scan(h, "scan-d1", wbSF)
	e := mustEntry(t, res, wire.KindReject, order.ReasonLabelOutdated)
	if res.Good() || !strings.Contains(res.Message.ZH, "面单已过期") || !strings.Contains(e.Detail, "version 1") || r.order("5001").State != order.WaybillPrinted {
		t.Fatalf("outdated: %+v", res)
	}
	// Another agent's reprint at version 2 merged here: the parcel goes.
	o, _ := order.MergeLabel(r.order("5001"), 2)
	r.put(o)
	if res := scan(h, "scan-d1", wbSF); !res.Good() || res.Outcome.To != order.PickedUp {
		t.Fatalf("after the reprint: %+v", res)
	}

	i := intercepted(outdated("5002"))
	i.Waybill, i.AssignedWaybill = wbSF2, wbSF2
	r.put(i)
	res = scan(h, "scan-d1", wbSF2)
	mustEntry(t, res, wire.KindReject, order.ReasonIntercepted)
	if !strings.Contains(res.Message.ZH, "异常件架") || !strings.Contains(res.Message.EN, "exception shelf") {
		t.Fatalf("intercepted: %+v", res.Message)
	}
}

// A supervisor's manual confirmation hands over a parcel with an outdated label; the entry keeps
// both what was overridden and the note. An intercepted order is not confirmed by hand.
func TestConfirmOutdatedLabel(t *testing.T) {
	r := newRig(t)
	r.put(outdated("5101"), intercepted(pending("5102")))
	res := station.Confirm(r.ctx, r.store, station.ManualRequest{Code: "5101", Operator: "OP-boss", Note: "new address written on the label"}, r.clk)
	e := mustEntry(t, res, wire.KindStep, "")
	if e.To != string(order.PickedUp) || e.Trigger != wire.TriggerManual || !strings.Contains(e.Detail, "supervisor") || !strings.Contains(e.Detail, "new address written") {
		t.Fatalf("manual pickup: %+v", e)
	}
	res = station.Confirm(r.ctx, r.store, station.ManualRequest{Code: "5102", Operator: "OP-boss", Note: "print it anyway"}, r.clk)
	mustEntry(t, res, wire.KindReject, order.ReasonIntercepted)
}

// A print station without a printer: the scan of an order whose label is outdated asks for the
// new label and pairs; the new label's barcode journals a reprint at the order's version and the
// order is current again. An intercepted order is refused and not paired.
func TestPairingReprintOfOutdatedLabel(t *testing.T) {
	r := newRig(t)
	r.put(outdated("5201"), intercepted(pending("5202")))
	p := r.station("print-1", station.RolePrint)
	res := scan(p, "scan-p1", "5201")
	mustEntry(t, res, wire.KindNote, "")
	if !res.Good() || !strings.Contains(res.Message.ZH, "面单已过期") {
		t.Fatalf("order scan: %+v", res)
	}
	res = scan(p, "scan-p1", wbSF)
	e := mustEntry(t, res, wire.KindReprint, "")
	if e.LabelVersion != 2 || !strings.Contains(e.Detail, "replaced") || !strings.Contains(res.Message.ZH, "已按新信息补打") {
		t.Fatalf("new label: %+v", res)
	}
	if o := r.order("5201"); o.LabelOutdated || o.LabelVersion != 2 {
		t.Fatalf("order after the new label %+v", o)
	}
	res = scan(p, "scan-p1", "5202")
	mustEntry(t, res, wire.KindReject, order.ReasonIntercepted)
	mustEntry(t, scan(p, "scan-p1", wbSF2), wire.KindReject, order.ReasonNoOrderScanned)
}
