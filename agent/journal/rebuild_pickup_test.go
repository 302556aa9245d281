package journal

import (
	"context"
	"path/filepath"
	"testing"

	"wedge/internal/clock"
	"wedge/order"
	"wedge/sync/wire"
)

// A rebuilt journal keeps the handed_over mark of a handover recorded under carrier_first_scan, so
// the courier's first scan is still journaled by this PC afterwards.
func TestRebuildKeepsHandoverMark(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wedge.db")
	s, err := Open(path, &Options{Site: "sz01", Agent: "pack02", Clock: clock.NewFake(t0)})
	if err != nil {
		t.Fatal(err)
	}
	const wb = "SF1234567890123"
	err = s.Do(context.Background(), func(tx *Tx) error {
		out := order.Merge(order.Order{ID: "H1"}, order.WaybillPrinted, wb, t0)
		tx.Commit(order.Decision{Outcome: out, Store: true, Entry: wire.Entry{Kind: wire.KindMerge, OrderID: "H1", To: "waybill_printed",
			Waybill: wb, Trigger: wire.TriggerHub, At: wire.Time(t0)}})
		o, _ := tx.Order("H1")
		src := order.Source{Station: "dock-1", Trigger: wire.TriggerScan, Code: wb, At: t0}
		tx.Commit(order.Decide(o, order.Request{Action: order.ActPickup, Waybill: wb, Pickup: order.PickupCarrierFirstScan, At: t0}, src))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	want := readContents(t, path)
	if o := want.orders["H1"]; !o.HandedOver() {
		t.Fatalf("fixture: %+v", o)
	}
	dst := filepath.Join(t.TempDir(), "rebuilt.db")
	if _, err := Rebuild(dst, &Options{Site: "sz01", Agent: "pack02", Clock: clock.NewFake(t0)},
		Restore{JournalID: want.id, Entries: seqOf(want.entries)}); err != nil {
		t.Fatal(err)
	}
	if o := readContents(t, dst).orders["H1"]; !o.HandedOver() || !o.HandedOverAt.Equal(t0) {
		t.Fatalf("rebuilt order lost the handover mark: %+v", o)
	}
}
