package order

import (
	"testing"
	"time"
)

// The overdue clock starts at the first entry into 暂停进入 or 待分仓 and is not reset by the
// release; the breaker's wait starts at the last entry into 待分仓; a presale's time in 待付尾款
// counts for neither.
func TestQueuedSince(t *testing.T) {
	t0 := time.Date(2026, 11, 11, 9, 0, 0, 0, time.UTC)
	held := Order{ID: "H", Payment: PaymentFull}.Receive(Held, t0)
	out := Apply(held, Request{Action: ActRelease, At: t0.Add(45 * time.Minute)})
	if out.Result != Accepted {
		t.Fatal(out)
	}
	now := t0.Add(65 * time.Minute)
	o := out.Order
	if !o.QueuedSince.Equal(t0) || o.Queued(now) != 65*time.Minute || o.Waited(now) != 20*time.Minute {
		t.Errorf("held then released: queued since %v (%v), waited %v", o.QueuedSince, o.Queued(now), o.Waited(now))
	}

	presale := Order{ID: "P", Payment: PaymentDeposit}.Receive(AwaitingBalance, t0)
	if !presale.QueuedSince.IsZero() {
		t.Fatalf("awaiting balance is not queued: %v", presale.QueuedSince)
	}
	paid := Apply(presale, Request{Action: ActBalancePaid, Hold: true, At: t0.Add(3 * time.Hour)}).Order
	paid = Apply(paid, Request{Action: ActRelease, At: t0.Add(3*time.Hour + 10*time.Minute)}).Order
	if got := paid.Queued(t0.Add(3*time.Hour + 15*time.Minute)); got != 15*time.Minute {
		t.Errorf("presale queued %v, want 15m (its time in 待付尾款 not counted)", got)
	}
	if got := paid.Waited(t0.Add(3*time.Hour + 15*time.Minute)); got != 5*time.Minute {
		t.Errorf("presale waited %v, want 5m", got)
	}

	// A record written before QueuedSince existed: the overdue clock falls back to PendingSince.
	old := Order{ID: "O", State: PendingAllocation, StateSince: t0, PendingSince: t0.Add(time.Minute), ReceivedAt: t0}
	if !old.OverdueSince().Equal(old.PendingSince) || old.Queued(t0.Add(31*time.Minute)) != 30*time.Minute {
		t.Errorf("fallback: %v", old.OverdueSince())
	}
	if future := old.Queued(t0.Add(-time.Hour)); future != 0 {
		t.Errorf("negative queued time %v", future)
	}
}
