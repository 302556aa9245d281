// Package metrics is the agent's Prometheus registry: scans, rejections by reason, steps, backlog
// per state, average wait, breaker state, held orders, unsynced entries, sync lag, devices up and
// the intake latency (paid_at → intake at this PC: histogram, window median, alert, unmeasured),
// with setters the agent calls and a Handler for GET /metrics. It uses its own registry (plus the
// Go and process collectors), never the global one, so tests and several agents in one process do
// not collide.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"wedge/agent/latency"
	"wedge/order"
)

// Metrics holds the collectors. Its methods are safe for concurrent use; a nil *Metrics is a
// no-op, so components can take an optional one.
type Metrics struct {
	reg        *prometheus.Registry
	scans      *prometheus.CounterVec
	rejections *prometheus.CounterVec
	steps      *prometheus.CounterVec
	backlog    *prometheus.GaugeVec
	avgWait    prometheus.Gauge
	oldestWait prometheus.Gauge
	breaker    prometheus.Gauge
	held       prometheus.Gauge
	unsynced   prometheus.Gauge
	syncLag    prometheus.Gauge
	connected  prometheus.Gauge
	devicesUp  *prometheus.GaugeVec
	overdue    prometheus.Counter
	latency    prometheus.Histogram
	unmeasured *prometheus.CounterVec
	latMedian  prometheus.Gauge
	latAlert   prometheus.Gauge
}

// Reasons an arriving order's latency is not measured (wedge_intake_latency_unmeasured_total).
const (
	UnmeasuredNoPaidAt = "no_paid_at"
	UnmeasuredFuture   = "paid_at_in_future"
)

// New registers every metric in a fresh registry.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		scans: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wedge_scans_total",
			Help: "Scanner reads handled, by station and result (accepted, already_done, rejected)."}, []string{"station", "result"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wedge_rejections_total",
			Help: "Rejected attempts by reason code."}, []string{"reason"}),
		steps: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wedge_steps_total",
			Help: "Order state changes by from, to and trigger (scan, print, manual, hub, system)."}, []string{"from", "to", "trigger"}),
		backlog: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "wedge_orders",
			Help: "Orders per state (pending_allocation is the backlog)."}, []string{"state"}),
		avgWait: prometheus.NewGauge(prometheus.GaugeOpts{Name: "wedge_backlog_avg_wait_seconds",
			Help: "Average wait of the orders in pending_allocation."}),
		oldestWait: prometheus.NewGauge(prometheus.GaugeOpts{Name: "wedge_backlog_oldest_wait_seconds",
			Help: "Wait of the oldest order in pending_allocation."}),
		breaker: prometheus.NewGauge(prometheus.GaugeOpts{Name: "wedge_breaker_open",
			Help: "1 while the backlog breaker is open (intake paused)."}),
		held: prometheus.NewGauge(prometheus.GaugeOpts{Name: "wedge_held_orders",
			Help: "Orders held while the breaker is open."}),
		unsynced: prometheus.NewGauge(prometheus.GaugeOpts{Name: "wedge_unsynced_entries",
			Help: "Journal entries not yet acknowledged by the hub."}),
		syncLag: prometheus.NewGauge(prometheus.GaugeOpts{Name: "wedge_sync_lag_seconds",
			Help: "Age of the oldest unacknowledged journal entry (0 when all are synced)."}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{Name: "wedge_broker_connected",
			Help: "1 while the MQTT connection to the broker is up."}),
		devicesUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "wedge_device_up",
			Help: "1 when the device is connected and healthy, by device name and kind."}, []string{"device", "kind"}),
		overdue: prometheus.NewCounter(prometheus.CounterOpts{Name: "wedge_overdue_alerts_total",
			Help: "Overdue alerts raised (orders in pending_allocation past overdue_after)."}),
	}
	m.latency = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "wedge_intake_latency_seconds",
		Help: "Time from an order's payment (paid_at) to its intake at this PC.", Buckets: latencyBuckets()})
	m.unmeasured = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wedge_intake_latency_unmeasured_total",
		Help: "Orders whose intake latency was not measured: no paid_at, or paid_at after the arrival (clock skew)."}, []string{"reason"})
	m.latMedian = prometheus.NewGauge(prometheus.GaugeOpts{Name: "wedge_intake_latency_median_seconds",
		Help: "Median intake latency of the orders that arrived in the last 10 minutes (0 when none)."})
	m.latAlert = prometheus.NewGauge(prometheus.GaugeOpts{Name: "wedge_intake_latency_alert",
		Help: "1 while the intake latency alert is raised (the 10-minute median over intake.latency_alert)."})
	m.reg.MustRegister(m.scans, m.rejections, m.steps, m.backlog, m.avgWait, m.oldestWait, m.breaker, m.held,
		m.unsynced, m.syncLag, m.connected, m.devicesUp, m.overdue, m.latency, m.unmeasured, m.latMedian, m.latAlert,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, s := range order.States {
		m.backlog.WithLabelValues(string(s)).Set(0)
	}
	for _, r := range []string{UnmeasuredNoPaidAt, UnmeasuredFuture} {
		m.unmeasured.WithLabelValues(r)
	}
	return m
}

// latencyBuckets are latency.Buckets in seconds.
func latencyBuckets() []float64 {
	b := make([]float64, len(latency.Buckets))
	for i, d := range latency.Buckets {
		b[i] = d.Seconds()
	}
	return b
}

// Registry exposes the registry (tests, extra collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Scan counts one handled read; a rejected one is also counted under its reason.
func (m *Metrics) Scan(station string, r order.Result, reason order.Reason) {
	if m == nil {
		return
	}
	m.scans.WithLabelValues(station, r.String()).Inc()
	if r == order.Rejected {
		m.Reject(reason)
	}
}

// Reject counts a rejection that did not come from a scan (intake, manual).
func (m *Metrics) Reject(reason order.Reason) {
	if m == nil {
		return
	}
	if reason == "" {
		reason = order.ReasonUnsupported
	}
	m.rejections.WithLabelValues(string(reason)).Inc()
}

// Step counts one state change.
func (m *Metrics) Step(from, to order.State, trigger string) {
	if m == nil {
		return
	}
	m.steps.WithLabelValues(string(from), string(to), trigger).Inc()
}

// SetCounts sets the per-state gauges (states missing from counts are 0) and the held gauge.
func (m *Metrics) SetCounts(counts map[order.State]int) {
	if m == nil {
		return
	}
	for _, s := range order.States {
		m.backlog.WithLabelValues(string(s)).Set(float64(counts[s]))
	}
	m.held.Set(float64(counts[order.Held]))
}

// SetWait sets the backlog's average and oldest wait.
func (m *Metrics) SetWait(avg, oldest time.Duration) {
	if m == nil {
		return
	}
	m.avgWait.Set(avg.Seconds())
	m.oldestWait.Set(oldest.Seconds())
}

// SetBreaker sets the breaker gauge.
func (m *Metrics) SetBreaker(open bool) {
	if m == nil {
		return
	}
	m.breaker.Set(b2f(open))
}

// SetHeld sets the held-orders gauge (SetCounts also does).
func (m *Metrics) SetHeld(n int) {
	if m == nil {
		return
	}
	m.held.Set(float64(n))
}

// SetSync sets unsynced entries, the sync lag and the broker connection.
func (m *Metrics) SetSync(unsynced uint64, lag time.Duration, connected bool) {
	if m == nil {
		return
	}
	m.unsynced.Set(float64(unsynced))
	m.syncLag.Set(max(lag, 0).Seconds())
	m.connected.Set(b2f(connected))
}

// SetDevice sets whether a device is up.
func (m *Metrics) SetDevice(name, kind string, up bool) {
	if m == nil {
		return
	}
	m.devicesUp.WithLabelValues(name, kind).Set(b2f(up))
}

// RemoveDevice drops a device that is no longer configured.
func (m *Metrics) RemoveDevice(name, kind string) {
	if m == nil {
		return
	}
	m.devicesUp.DeleteLabelValues(name, kind)
}

// IntakeLatency records one arriving order: its latency when k is latency.Measured, else it is
// counted as unmeasured with its reason.
func (m *Metrics) IntakeLatency(k latency.Kind, d time.Duration) {
	if m == nil {
		return
	}
	switch k {
	case latency.Measured:
		m.latency.Observe(d.Seconds())
	case latency.NoPaidAt:
		m.unmeasured.WithLabelValues(UnmeasuredNoPaidAt).Inc()
	case latency.Future:
		m.unmeasured.WithLabelValues(UnmeasuredFuture).Inc()
	}
}

// SetIntakeLatency sets the window's median and whether the latency alert is raised.
func (m *Metrics) SetIntakeLatency(median time.Duration, alert bool) {
	if m == nil {
		return
	}
	m.latMedian.Set(median.Seconds())
	m.latAlert.Set(b2f(alert))
}

// Overdue counts overdue alerts.
func (m *Metrics) Overdue(n int) {
	if m == nil {
		return
	}
	m.overdue.Add(float64(n))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
