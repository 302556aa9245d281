package central_test

import (
	"testing"
	"time"

	"wedge/order"
	"wedge/sync/hub/central"
	"wedge/sync/wire"
)

// 伪完成 over the fixture at 2026-12-02T00:30Z with a 12 h limit: A (handed over 03:00Z) and B
// (07:00Z) have no first scan: open; C's first scan came in time; E was handed over 13:00Z, not
// due yet. G (carrier_first_scan: a handed_over note) was first scanned after its due time: resolved.
// The merge entry of C is not a handover; a 6 h limit for S2 makes E due.
func TestFalseCompletions(t *testing.T) {
	orders := fixture()
	orders[0].Waybill, orders[1].Waybill = "SF1", "ZT2"
	orders[0].History[0].Device, orders[0].History[0].Station, orders[0].History[0].Operator = "scanner-7", "dock-1", "王五"
	orders[2].FirstScanAt = at("2026-12-01T05:00:00Z")
	orders = append(orders, central.Order{ID: "G", Site: "S1", State: order.PickedUp, Waybill: "SF9",
		FirstScanAt: at("2026-12-01T20:00:00Z"),
		History:     []central.Entry{{Site: "S1", Agent: "pc1", Kind: wire.KindNote, Reason: order.NoteHandedOver, At: at("2026-12-01T02:00:00Z")}}})
	now := at("2026-12-02T00:30:00Z")
	got := central.FalseCompletions(orders, nil, now)
	if len(got) != 3 || got[0].OrderID != "G" || got[1].OrderID != "A" || got[2].OrderID != "B" {
		t.Fatalf("FalseCompletions = %+v; want G (resolved), A and B", got)
	}
	if g := got[0]; !g.Resolved || !g.Due.Equal(at("2026-12-01T14:00:00Z")) || g.FirstScanAt.IsZero() {
		t.Errorf("G = %+v; want resolved by its late first scan, due 12 h after its handed_over note", g)
	}
	a := got[1]
	if a.Resolved || a.Waybill != "SF1" || a.Carrier != "sf" || a.Agent != "pc1" || a.Device != "scanner-7" || a.Station != "dock-1" ||
		a.Operator != "王五" || !a.HandedOverAt.Equal(at("2026-12-01T03:00:00Z")) || !a.Due.Equal(at("2026-12-01T15:00:00Z")) {
		t.Errorf("A = %+v", a)
	}
	six := func(site string) time.Duration {
		if site == "S2" {
			return 6 * time.Hour
		}
		return 0
	}
	if got := central.FalseCompletions(orders, six, now); len(got) != 4 || got[3].OrderID != "E" {
		t.Errorf("with 6 h for S2: %+v; want E too", got)
	}
	// One minute before A's due time, A is not listed yet.
	if got := central.FalseCompletions(orders, nil, at("2026-12-01T14:59:00Z")); len(got) != 1 || got[0].OrderID != "G" {
		t.Errorf("at 14:59Z: %+v; want only G", got)
	}
}
