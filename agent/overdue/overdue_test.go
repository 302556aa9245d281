package overdue

import (
	"slices"
	"strings"
	"testing"
	"time"

	"wedge/agent/breaker"
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

// Held by the breaker for 45 minutes, then 20 minutes in 待分仓: overdue (the held time counts),
// while the breaker's average wait is the 20 minutes in 待分仓 only (the held time must not make it
// reopen as soon as it released its orders). An order of an old journal (no QueuedSince) keeps the
// rule of its time: measured from entering 待分仓.
func TestOverdueCountsHeldTime(t *testing.T) {
	t0 := time.Date(2026, 11, 11, 9, 0, 0, 0, time.UTC)
	held := order.Order{ID: "held45", Payment: order.PaymentFull}.Receive(order.Held, t0)
	released := order.Apply(held, order.Request{Action: order.ActRelease, At: t0.Add(45 * time.Minute)}).Order
	fresh := order.Order{ID: "fresh"}.Receive(order.PendingAllocation, t0.Add(45*time.Minute))
	old := order.Order{ID: "old", State: order.PendingAllocation, StateSince: t0.Add(45 * time.Minute), PendingSince: t0.Add(45 * time.Minute), ReceivedAt: t0}
	now := t0.Add(65 * time.Minute)
	orders := []order.Order{released, fresh, old}
	if got := Scan(orders, now, 0); !slices.Equal(got, []string{"held45"}) {
		t.Fatalf("Scan = %v, want [held45]", got)
	}
	if st := breaker.Backlog(orders, now); st.AvgWait != 20*time.Minute || st.OldestWait != 20*time.Minute {
		t.Errorf("breaker wait %v (oldest %v), want 20m: held time must not count", st.AvgWait, st.OldestWait)
	}
	d := Mark(released, now)
	if !strings.Contains(d.Entry.Detail, "queued 1h5m0s") || !strings.Contains(d.Entry.Detail, "held 45m0s, then 20m0s") {
		t.Errorf("detail %q", d.Entry.Detail)
	}
}
