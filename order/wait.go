package order

import "time"

// WaitingSince is when o entered 待分仓: PendingSince, else StateSince, else ReceivedAt (records
// written before PendingSince existed). The backlog's average wait measures from here: time held
// by the breaker is not in it, or the breaker would reopen as soon as it releases its held orders.
func (o Order) WaitingSince() time.Time {
	switch {
	case !o.PendingSince.IsZero():
		return o.PendingSince
	case !o.StateSince.IsZero():
		return o.StateSince
	}
	return o.ReceivedAt
}

// Waited is how long o has waited in 待分仓 at now (never negative).
func (o Order) Waited(now time.Time) time.Duration {
	return max(now.Sub(o.WaitingSince()), 0)
}

// OverdueSince is when o's overdue clock started: its first entry into 暂停进入 or 待分仓
// (QueuedSince; time held by the breaker counts, time in 待付尾款 does not), else, for records
// written before QueuedSince existed, WaitingSince.
func (o Order) OverdueSince() time.Time {
	if !o.QueuedSince.IsZero() {
		return o.QueuedSince
	}
	return o.WaitingSince()
}

// Queued is how long o has been queued for allocation at now, held time included (never
// negative): what the overdue rule compares with its limit.
func (o Order) Queued(now time.Time) time.Duration {
	return max(now.Sub(o.OverdueSince()), 0)
}

// Enter returns o moved to state s at time at: the one place that sets StateSince and, on entering
// 待分仓, PendingSince, and on the first entry into 暂停进入 or 待分仓, QueuedSince.
func (o Order) Enter(s State, at time.Time) Order { return enter(o, s, at) }
