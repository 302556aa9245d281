package oversight

import (
	"log/slog"
	"sync"
	"time"

	"wedge/agent/latency"
	"wedge/agent/metrics"
	"wedge/sync/wire"
)

// intakeWatch feeds the intake latency watch (agent/latency) from the journal: every new order's
// intake entry gives its payment time (the order message's paid_at) and its arrival (the entry's
// time: when intake committed it). The histogram and the unmeasured counts go to the metrics as
// orders arrive; the window's median, the alert and the distribution at each observation.
type intakeWatch struct {
	m   *metrics.Metrics
	log *slog.Logger

	mu sync.Mutex
	w  *latency.Watch
}

// add takes the arrival of a new order from entry e (any other entry is ignored: a skeleton's
// data, an update or an assigned waybill is not an arrival).
func (iw *intakeWatch) add(e wire.Entry) {
	if e.Kind != wire.KindIntake || e.Order == nil || e.From != "" {
		return
	}
	arrived, err := wire.ParseTime(e.At)
	if err != nil || arrived.IsZero() {
		return
	}
	paid, err := wire.ParseTime(e.Order.PaidAt)
	if err != nil {
		paid = time.Time{} // unreadable counts as absent
	}
	iw.mu.Lock()
	k, d := iw.w.Add(arrived, paid)
	iw.mu.Unlock()
	iw.m.IntakeLatency(k, d)
}

// observe measures the window at now; raised is true when the alert rises at this observation.
func (iw *intakeWatch) observe(now time.Time) (latency.Stats, bool) {
	iw.mu.Lock()
	s, raised := iw.w.Observe(now)
	iw.mu.Unlock()
	iw.m.SetIntakeLatency(s.Median, s.Alert)
	if raised {
		iw.log.Warn("intake latency over the limit: orders reach this PC late after payment",
			"median", s.Median, "limit", s.Limit, "orders", s.Count, "window", s.Window)
	}
	return s, raised
}
