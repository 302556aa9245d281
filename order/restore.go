package order

import (
	"strings"
	"time"

	"wedge/sync/wire"
)

// Restoring an order from its journal entries (the journal's rebuild from the hub's copy): an
// entry records what the agent decided, so its effect is re-created without deciding again. The
// state, the data and the times are the journal's business (agent/journal replays them); what an
// entry leaves on the order beside them, the label version and the intercept, is restored here, in
// the package that writes those entries, so the two cannot drift apart.

// The details of intercept entries that carry what the entry's fields do not: the order system's
// reason (a request) and the supervisor's note (a resolution).
const (
	interceptReasonSep    = "; reason: "
	interceptResolvedHead = "intercept resolved ("
)

// RestoreMarks returns o with the marks entry e leaves on its order applied: the label version
// (print steps, reprints, updates, merges carry the highest they know) and the intercept as e
// leaves it (e.InterceptID and e.Intercept, with the request's reason, or the resolver and note of
// a supervisor's resolution, read back from the entry). What follows from the rest of the order is
// recomputed (the outdated label; a request for an order picked up reads after_pickup), so call it
// after the entry's state change.
func RestoreMarks(o Order, e wire.Entry) Order {
	o.LabelVersion = max(o.LabelVersion, e.LabelVersion)
	if wire.ValidIntercept(e.Intercept) {
		at, _ := wire.ParseTime(e.At)
		o.Intercept = restoreIntercept(o.Intercept, e, at)
	}
	return o.refresh()
}

// restoreIntercept is cur as entry e (at time at) leaves it.
func restoreIntercept(cur Intercept, e wire.Entry, at time.Time) Intercept {
	if e.InterceptID != cur.ID || cur.Status == "" {
		cur = Intercept{ID: e.InterceptID, At: at}
	}
	cur.Status = e.Intercept
	if e.Kind == wire.KindIntercept && e.Trigger == wire.TriggerHub {
		if _, reason, ok := strings.Cut(e.Detail, interceptReasonSep); ok {
			cur.Reason = reason
		}
		return cur
	}
	if interceptRank(cur.Status) > 1 && cur.ResolvedAt.IsZero() {
		cur.ResolvedAt = at
	}
	if e.Trigger == wire.TriggerManual && strings.HasPrefix(e.Detail, interceptResolvedHead) {
		cur.By = e.Operator
		if _, note, ok := strings.Cut(e.Detail, "): "); ok {
			cur.Note = note
		}
	}
	return cur
}
