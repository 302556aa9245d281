package overdue

import (
	"slices"
	"testing"
	"time"

	"wedge/order"
	"wedge/sync/wire"
)

func TestScanExactlyOnce(t *testing.T) {
	t0 := time.Date(2026, 11, 11, 1, 0, 0, 0, time.UTC)
	orders := []order.Order{
		{ID: "new", State: order.PendingAllocation, PendingSince: t0.Add(-10 * time.Minute)},
		{ID: "exactly30", State: order.PendingAllocation, PendingSince: t0.Add(-30 * time.Minute)},
		{ID: "old", State: order.PendingAllocation, PendingSince: t0.Add(-2 * time.Hour)},
		{ID: "mid", State: order.PendingAllocation, PendingSince: t0.Add(-31 * time.Minute)},
		{ID: "flagged", State: order.PendingAllocation, PendingSince: t0.Add(-3 * time.Hour), Overdue: true},
		{ID: "printed", State: order.WaybillPrinted, PendingSince: t0.Add(-3 * time.Hour)},
		{ID: "held", State: order.Held, ReceivedAt: t0.Add(-3 * time.Hour)},
		{ID: "nosince", State: order.PendingAllocation},
	}
	got := Scan(orders, t0, 0)
	if want := []string{"old", "mid"}; !slices.Equal(got, want) {
		t.Fatalf("Scan = %v, want %v", got, want)
	}
	// The agent marks them; the next scan yields nothing for them.
	for i, o := range orders {
		if slices.Contains(got, o.ID) {
			d := Mark(o, t0)
			n, e := d.Outcome.Order, d.Entry
			if !d.Store || !n.Overdue || n.State != o.State || e.Kind != wire.KindOverdue || e.OrderID != o.ID || e.Trigger != wire.TriggerSystem || e.At == "" {
				t.Fatalf("Mark = %+v %+v", n, e)
			}
			orders[i] = n
		}
	}
	if again := Scan(orders, t0.Add(time.Minute), 0); !slices.Equal(again, []string{"exactly30"}) {
		t.Fatalf("second scan = %v", again)
	}
	if got := Scan(orders, t0, time.Hour); len(got) != 0 {
		t.Fatalf("custom limit: %v", got)
	}
}
