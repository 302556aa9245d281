package oversight_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"wedge/agent/breaker"
	"wedge/agent/console"
	"wedge/agent/oversight"
	"wedge/order"
	"wedge/sync/wire"
)

// The console's Source: the board shows overdue orders, search finds an order with its history,
// a manual confirmation is journaled as trigger manual with the supervisor's name, acknowledged
// popups are journaled.
func TestSource(t *testing.T) {
	r := newRig(t, oversight.Options{OverdueAfter: 30 * time.Minute})
	p := `{"type":"order","order_id":"W1","channel":"tmall","channel_order_no":"4000000000001","buyer_id":"b","ordered_at":"2026-11-11T00:00:00Z","paid_at":"2026-11-11T00:01:00Z","skus":["S1"],"carrier":"sf","waybill":"SF1385628716739"}`
	if err := r.in.Apply(context.Background(), []byte(p)); err != nil {
		t.Fatal(err)
	}
	r.clk.Advance(31 * time.Minute)
	r.ov.Check(context.Background())
	src := oversight.SourceOf(r.ov)
	snap := src.Snapshot()
	if snap.Counts[order.PendingAllocation] != 1 || len(snap.Overdue) != 1 || snap.Overdue[0].ID != "W1" || !snap.Overdue[0].Overdue || snap.Backlog.Overdue != 1 {
		t.Fatalf("snapshot %+v", snap)
	}
	snap.Counts[order.PendingAllocation] = 99 // the console owns what it gets
	if src.Snapshot().Counts[order.PendingAllocation] != 1 {
		t.Fatal("Snapshot shares its map")
	}
	if _, err := src.Search(context.Background(), "nope"); !errors.Is(err, console.ErrNotFound) {
		t.Fatalf("search unknown: %v", err)
	}
	v, err := src.Search(context.Background(), "4000000000001")
	if err != nil || v.Order.ID != "W1" || v.Next != order.ActPrint || len(v.History) != 2 {
		t.Fatalf("search: %+v %v", v, err)
	}
	res, err := src.Confirm(context.Background(), console.ConfirmRequest{OrderID: "W1", Operator: "李四", Note: "扫描枪坏了", By: "wang"})
	if err != nil || !res.OK || res.To != order.WaybillPrinted {
		t.Fatalf("confirm: %+v %v", res, err)
	}
	h, _ := r.store.History("W1")
	last := h[len(h)-1]
	if last.Kind != wire.KindStep || last.Trigger != wire.TriggerManual || last.Operator != "李四" || last.Detail != "扫描枪坏了 (confirmed by wang)" {
		t.Fatalf("confirm entry %+v", last)
	}
	if _, err := src.Confirm(context.Background(), console.ConfirmRequest{OrderID: "nope", Operator: "x", Note: "y", By: "wang"}); !errors.Is(err, console.ErrNotFound) {
		t.Fatalf("confirm unknown: %v", err)
	}
	acker := src.(console.AlertAcker)
	if err := acker.AckAlert(context.Background(), console.Alert{ID: "a1", Kind: console.AlertBreaker, AckedBy: "wang"}); err != nil {
		t.Fatal(err)
	}
	if notes := r.entries(wire.KindNote); len(notes) != 1 || notes[0].Operator != "wang" || notes[0].Code != "a1" {
		t.Fatalf("ack notes %+v", notes)
	}
	// 31 minutes of wait opened the breaker (max_avg_wait 8m); a reset closes it, a second is refused.
	if !snap.Breaker.Open || snap.Breaker.Why != breaker.WhyAvgWait {
		t.Fatalf("breaker %+v", snap.Breaker)
	}
	if err := src.ResetBreaker(context.Background(), "wang", "人手已到"); err != nil {
		t.Fatal(err)
	}
	if err := src.ResetBreaker(context.Background(), "wang", "again"); !errors.Is(err, breaker.ErrNotOpen) {
		t.Fatalf("second reset: %v", err)
	}
}
