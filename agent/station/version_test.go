package station_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"wedge/agent/journal"
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

// The exception queue lists the orders with an open intercept, including those intercepted after
// pickup, and follows the journal: a resolution takes an order off, a new intercept puts one on.
// Resolve journals the supervisor's decision (manual, operator, note) or refuses it.
func TestExceptionQueueAndResolve(t *testing.T) {
	r := newRig(t)
	late := pending("6003")
	late.State, late.Waybill = order.PickedUp, wbSF2
	late.Intercept = order.Intercept{ID: 4, Status: wire.InterceptAfterPickup, At: t0.Add(-time.Hour)}
	r.put(intercepted(pending("6001")), pending("6002"), late)
	q := station.NewExceptionQueue(r.store)
	ids := func() []string {
		t.Helper()
		os, err := q.List(r.ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, o := range os {
			out = append(out, o.ID)
		}
		return out
	}
	if got := ids(); !slices.Equal(got, []string{"6003", "6001"}) {
		t.Fatalf("queue %v", got)
	}
	// A new intercept arrives through intake (an intercept entry).
	err := r.store.Do(r.ctx, func(tx *journal.Tx) error {
		o, _ := tx.Order("6002")
		tx.Commit(order.DecideMsg(o, true, wire.OrderMsg{Type: wire.TypeIntercept, OrderID: "6002", HSeq: 11}, order.MsgEnv{At: t0.Add(time.Minute)}))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(); !slices.Equal(got, []string{"6003", "6001", "6002"}) {
		t.Fatalf("queue after a new intercept %v", got)
	}

	res := station.Resolve(r.ctx, r.store, station.ResolveRequest{Code: "6001", Action: order.ResolveReturnToStock, Operator: "OP-boss", Note: "buyer cancelled", Device: "console"}, r.clk)
	e := mustEntry(t, res, wire.KindStep, "returned_to_stock")
	if !res.Good() || e.To != string(order.Cancelled) || e.Trigger != wire.TriggerManual || e.Operator != "OP-boss" || !strings.Contains(res.Message.ZH, "退回库存") {
		t.Fatalf("return to stock: %+v", res)
	}
	res = station.Resolve(r.ctx, r.store, station.ResolveRequest{Code: "6002", Action: order.ResolveRelease, Operator: "OP-boss"}, r.clk)
	mustEntry(t, res, wire.KindReject, order.ReasonManualIncomplete)
	res = station.Resolve(r.ctx, r.store, station.ResolveRequest{Code: "6002", Action: order.ResolveRelease, Operator: "OP-boss", Note: "order system withdrew it"}, r.clk)
	if e := mustEntry(t, res, wire.KindIntercept, ""); e.Intercept != wire.InterceptReleased {
		t.Fatalf("release %+v", e)
	}
	res = station.Resolve(r.ctx, r.store, station.ResolveRequest{Code: wbSF2, Action: order.ResolveAcknowledge, Operator: "OP-boss", Note: "SF hotline called"}, r.clk)
	mustEntry(t, res, wire.KindIntercept, "")
	if got := ids(); len(got) != 0 {
		t.Fatalf("queue after the resolutions %v", got)
	}
	if res := station.Resolve(r.ctx, r.store, station.ResolveRequest{Code: "nope", Action: order.ResolveRelease, Operator: "x", Note: "y"}, r.clk); !errors.Is(res.Err, station.ErrNotFound) {
		t.Fatalf("unknown code: %+v", res)
	}
	// A fresh queue (a restart) builds from the orders.
	if os, _ := station.NewExceptionQueue(r.store).List(r.ctx); len(os) != 0 {
		t.Fatalf("fresh queue %+v", os)
	}
}
