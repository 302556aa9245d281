package order

import "time"

// WaitingSince is when o entered 待分仓: PendingSince, else StateSince, else ReceivedAt (records
// written before PendingSince existed). The backlog's average wait and the overdue rule measure
// from here.
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

// Enter returns o moved to state s at time at: the one place that sets StateSince and, on entering
// 待分仓, PendingSince.
func (o Order) Enter(s State, at time.Time) Order { return enter(o, s, at) }
