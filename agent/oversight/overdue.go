package oversight

import (
	"context"
	"log/slog"
	"time"

	"wedge/agent/journal"
	"wedge/agent/metrics"
	"wedge/agent/overdue"
	"wedge/internal/logging"
	"wedge/order"
)

// overdueMarker journals the overdue policy (agent/overdue): one overdue entry per order in 待分仓
// first queued (暂停进入 or 待分仓) longer than after ago, with the order's Overdue flag in the same
// transaction.
type overdueMarker struct {
	store *journal.Store
	after time.Duration
	m     *metrics.Metrics
	log   *slog.Logger
}

// mark flags the orders of pending that are due an overdue alert at now and returns how many it
// journaled. The due orders are re-read in the transaction, so a concurrent step or a second
// observation never marks one twice.
func (om *overdueMarker) mark(ctx context.Context, pending []order.Order, now time.Time) int {
	ids := overdue.Scan(pending, now, om.after)
	if len(ids) == 0 {
		return 0
	}
	n := 0
	err := om.store.Do(ctx, func(tx *journal.Tx) error {
		n = 0
		for _, id := range ids {
			o, ok := tx.Order(id)
			if !ok || o.State != order.PendingAllocation || o.Overdue {
				continue
			}
			tx.Commit(overdue.Mark(o, now))
			n++
		}
		return nil
	})
	if err != nil {
		om.log.Error("overdue alerts not journaled", logging.Err(err))
		return 0
	}
	om.m.Overdue(n)
	if n > 0 {
		om.log.Warn("orders overdue in pending_allocation", "orders", n, "after", om.after)
	}
	return n
}
