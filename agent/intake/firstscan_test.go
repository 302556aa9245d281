package intake_test

import (
	"time"

	"testing"

	"wedge/agent/journal"
	"wedge/agent/pickup"
	"wedge/order"
	"wedge/sync/wire"
)

// handover journals a handover scan of waybill wb for order id under the policy in force, as a
// handover station does.
func (r *rig) handover(id, wb string) order.Decision {
	r.t.Helper()
	var d order.Decision
	err := r.store.Do(r.ctx, func(tx *journal.Tx) error {
		o, _ := tx.Order(id)
		src := order.Source{Station: "handover-1", Device: "sc-9", Operator: "w7", Trigger: wire.TriggerScan, Code: wb, At: r.clk.Now()}
		d = tx.Commit(order.Decide(o, order.Request{Action: order.ActPickup, Waybill: wb, Pickup: pickup.Policy(tx), At: r.clk.Now()}, src))
		return nil
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return d
}

// Under carrier_first_scan a handed-over order stays 已打单 until the hub relays the courier's first
// scan; then this agent (which journaled the handover) journals the step with trigger carrier. An
// order handed over elsewhere journals nothing here, and a repeat changes nothing.
func TestFirstScanUnderCarrierPolicy(t *testing.T) {
	r := newRig(t)
	r.apply(`{"type":"state","order_id":"A1","state":"waybill_printed","waybill":"SF1234567890123"}`)
	r.apply(`{"type":"state","order_id":"B1","state":"waybill_printed","waybill":"SF1234567890456"}`)
	if err := pickup.Command(r.ctx, r.store, []byte(`{"type":"pickup_policy","id":"c-1","by":"ops","reason":"以快递首扫为准","pickup":"carrier_first_scan"}`), r.clk.Now()); err != nil {
		t.Fatal(err)
	}
	d := r.handover("A1", "SF1234567890123")
	if d.Outcome.Result != order.Recorded || d.Entry.Kind != wire.KindNote || d.Entry.Reason != order.NoteHandedOver || d.Entry.Device != "sc-9" {
		t.Fatalf("handover: %+v", d)
	}
	if o, _ := r.order("A1"); o.State != order.WaybillPrinted || o.HandedOverAt.IsZero() {
		t.Fatalf("after the handover: %+v", o)
	}
	es := r.applyAuthenticated(`{"type":"first_scan","hseq":3,"order_id":"A1","carrier":"sf","waybill":"SF1234567890123","at":"2026-01-22T17:00:00+08:00"}`)
	if len(es) != 1 || es[0].Kind != wire.KindStep || es[0].Trigger != wire.TriggerCarrier || es[0].To != string(order.PickedUp) || es[0].Code != "hseq:3" {
		t.Fatalf("first scan entries: %+v", es)
	}
	if o, _ := r.order("A1"); o.State != order.PickedUp || !o.PickedUpAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("after the first scan: %+v", o)
	}
	if es := r.applyAuthenticated(`{"type":"first_scan","hseq":4,"order_id":"A1","carrier":"sf","waybill":"SF1234567890123","at":"2026-01-22T17:00:00+08:00"}`); len(es) != 0 {
		t.Fatalf("repeat first scan wrote %+v", es)
	}
	// B1 was not handed over here: the PC that did journals the step; this one merges it later.
	if es := r.applyAuthenticated(`{"type":"first_scan","hseq":5,"order_id":"B1","carrier":"sf","waybill":"SF1234567890456","at":"2026-01-22T17:05:00+08:00"}`); len(es) != 0 {
		t.Fatalf("first scan of an order handed over elsewhere wrote %+v", es)
	}
	if o, _ := r.order("B1"); o.State != order.WaybillPrinted {
		t.Fatalf("B1 moved: %+v", o)
	}
	// A first scan without its time is refused as malformed (journaled), never applied.
	es = r.applyAuthenticated(`{"type":"first_scan","hseq":6,"order_id":"B1","waybill":"SF1234567890456"}`)
	if len(es) != 1 || es[0].Kind != wire.KindReject || es[0].Reason != string(order.ReasonMalformed) {
		t.Fatalf("first scan without at: %+v", es)
	}
}

// The policy command is journaled with who, when, why and its id, survives in the journal meta, and
// a bad one is journaled as refused without changing the policy.
func TestPickupPolicyCommandJournaled(t *testing.T) {
	r := newRig(t)
	before := r.store.LastSeq()
	if err := pickup.Command(r.ctx, r.store, []byte(`{"type":"pickup_policy","id":"c-2","by":"ops-zhang","reason":"试点","pickup":"carrier_first_scan"}`), r.clk.Now()); err != nil {
		t.Fatal(err)
	}
	err := pickup.Command(r.ctx, r.store, []byte(`{"type":"pickup_policy","id":"c-3","by":"x","pickup":"whenever"}`), r.clk.Now())
	if err == nil {
		t.Fatal("bad policy accepted")
	}
	es, _ := r.store.Entries(before, 10, 1<<20)
	if len(es) != 2 || es[0].Kind != wire.KindNote || es[0].Reason != "settings" || es[0].Operator != "hub:ops-zhang" || es[0].Code != "c-2" ||
		es[0].Trigger != wire.TriggerHub || es[1].Reason != "command_refused" {
		t.Fatalf("entries %+v", es)
	}
	if p, err := pickup.Current(r.ctx, r.store); err != nil || p != order.PickupCarrierFirstScan {
		t.Fatalf("policy %q %v", p, err)
	}
}
