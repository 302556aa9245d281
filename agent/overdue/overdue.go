// Package overdue is the overdue policy, pure: an order in 待分仓 pending_allocation that was first
// queued longer ago than the limit (30 minutes by default) gets exactly one overdue alert. The
// clock starts at the order's first entry into 暂停进入 held or 待分仓 (order.Order.OverdueSince):
// time held by the breaker counts, a presale's time in 待付尾款 does not. The breaker's average
// wait is measured differently, from the last entry into 待分仓 (order.Order.Waited). The order's
// Overdue flag, set by the agent in the same transaction as the wire.KindOverdue journal entry,
// prevents repeats.
package overdue

import (
	"fmt"
	"sort"
	"time"

	"wedge/order"
	"wedge/sync/wire"
)

// DefaultAfter is the default overdue_after.
const DefaultAfter = 30 * time.Minute

// Scan returns the ids of the orders that are due an overdue alert at now: in 待分仓, not yet
// flagged, and queued (OverdueSince) strictly longer than after ago (0 = DefaultAfter). Oldest
// first.
func Scan(orders []order.Order, now time.Time, after time.Duration) []string {
	if after <= 0 {
		after = DefaultAfter
	}
	type due struct {
		id    string
		since time.Time
	}
	var d []due
	for _, o := range orders {
		if o.State != order.PendingAllocation || o.Overdue {
			continue
		}
		since := o.OverdueSince()
		if since.IsZero() || now.Sub(since) <= after {
			continue
		}
		d = append(d, due{o.ID, since})
	}
	sort.SliceStable(d, func(i, j int) bool {
		if !d[i].since.Equal(d[j].since) {
			return d[i].since.Before(d[j].since)
		}
		return d[i].id < d[j].id
	})
	ids := make([]string, len(d))
	for i, x := range d {
		ids[i] = x.id
	}
	return ids
}

// Mark is the decision to flag o overdue at now: the order to store (Overdue set, its state
// unchanged) and the wire.KindOverdue entry to journal with it, in one transaction (Tx.Commit).
func Mark(o order.Order, now time.Time) order.Decision {
	queued := o.Queued(now).Round(time.Second)
	detail := fmt.Sprintf("超时未分仓 overdue: queued %s", queued)
	if w := o.Waited(now).Round(time.Second); w != queued {
		detail += fmt.Sprintf(" (held %s, then %s in %s)", queued-w, w, o.State.Label())
	} else {
		detail += " in " + o.State.Label()
	}
	n := o
	n.Overdue = true
	return order.Decision{
		Outcome: order.Outcome{Result: order.Accepted, From: o.State, To: o.State, Order: n},
		Store:   true,
		Entry: wire.Entry{Kind: wire.KindOverdue, OrderID: o.ID, From: string(o.State), To: string(o.State),
			Trigger: wire.TriggerSystem, Reason: "overdue", At: wire.Time(now),
			Detail: detail},
	}
}
