package hub_test

import (
	"net/http"
	"testing"

	"wedge/sync/apitoken"
	"wedge/sync/hub/central"
	"wedge/sync/wire"
)

// The hub measures the pickup at the carrier's first scan of the order's waybill when tracking
// has one (O-C1: handed over 03:00Z, on time; first scanned by the courier 06:00Z, late), and at
// the handover scan otherwise (O-C2), and says which.
func TestKPIPickupFromCarrierFirstScan(t *testing.T) {
	e := trackingEnv(t)
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	wb1, wb2 := "SF1234567890123", "SF1234567890124"
	var entries []wire.Entry
	for _, o := range []struct{ id, wb, paid, handover string }{
		{"O-C1", wb1, "2026-01-22T01:00:00", "2026-01-22T03:00:00"},
		{"O-C2", wb2, "2026-01-22T01:00:00", "2026-01-22T06:00:00"},
	} {
		entries = append(entries,
			wire.Entry{Kind: wire.KindIntake, OrderID: o.id, To: "pending_allocation", Trigger: wire.TriggerHub, Order: paidOrder(o.id, o.paid), At: wt(o.paid)},
			wire.Entry{Kind: wire.KindStep, OrderID: o.id, From: "pending_allocation", To: "waybill_printed", Waybill: o.wb, Carrier: "sf", Trigger: wire.TriggerPrint, At: wt(o.paid)},
			wire.Entry{Kind: wire.KindStep, OrderID: o.id, From: "waybill_printed", To: "picked_up", Waybill: o.wb, Trigger: wire.TriggerScan, Station: "handover-1", At: wt(o.handover)})
	}
	a.send("jp", chain("jp", entries...)...)
	a.waitAck(1)
	tok := newToken(t, e.hub, "kd-bridge", apitoken.TrackingWrite)
	if code, b := do(t, e.hub, http.MethodPost, "/v1/tracking", tok,
		[]byte(`{"carrier":"sf","waybill":"`+wb1+`","event":"first_scan","at":"2026-01-22T06:00:00Z"}`)); code != http.StatusOK {
		t.Fatalf("POST /v1/tracking = %d %s", code, b)
	}
	var late []central.LateOrder
	getJSON(t, e.hub, "/v1/kpi/late?site=sz01", http.StatusOK, &late)
	if len(late) != 2 {
		t.Fatalf("late = %+v, want O-C1 (carrier scan) and O-C2 (handover)", late)
	}
	for _, l := range late {
		want := map[string][2]string{"O-C1": {wt("2026-01-22T06:00:00"), central.SourceCarrierFirstScan},
			"O-C2": {wt("2026-01-22T06:00:00"), central.SourceHandoverScan}}[l.OrderID]
		if l.PickedAt != want[0] || l.PickupSource != want[1] || l.Hours != 5 || l.Agent != "pack01" {
			t.Errorf("late %s = %+v, want picked at %s from %s", l.OrderID, l, want[0], want[1])
		}
	}
	var kpi central.KPIReport
	getJSON(t, e.hub, "/v1/kpi?by=site", http.StatusOK, &kpi)
	if kpi.Total.Late != 2 || kpi.PickupSources != (central.PickupSources{CarrierFirstScan: 1, HandoverScan: 1}) {
		t.Fatalf("kpi = %+v", kpi)
	}
}
