// Package latency is the intake latency watch, as pure policy over the times it is given: how late
// orders reach this PC, measured from the order's payment (paid_at, the order system's clock) to
// its intake here (the intake entry's time, the agent's clock, when intake committed the order).
// A payment-to-warehouse push that slowly falls behind (23 minutes on average before a festival,
// with nobody warned) is seen here first.
//
// A Watch keeps the latencies of the orders that arrived in the last Window (default 10 min) and
// reports their median and a small distribution (Buckets, the bounds of the Prometheus histogram).
// Orders without a paid_at, or paid "after" they arrived (the order system's clock ahead of this
// PC's), are counted apart and never enter the median or the histogram, so clock skew cannot
// drag it down. The alert rises when the window's median passes the limit (default 10 min) and
// is re-armed when the median falls back to at most ReArm (80%) of the limit or the window is
// empty, so a median hovering at the limit does not flap.
package latency

import (
	"slices"
	"time"
)

// Defaults.
const (
	DefaultWindow = 10 * time.Minute
	DefaultLimit  = 10 * time.Minute
	// ReArm is the share of the limit the median must fall back to before a new alert can rise.
	ReArm = 0.8
	// MaxSamples bounds the window's memory (the oldest samples go first); at 47,000 orders in 10
	// minutes the median is still over all of them.
	MaxSamples = 200_000
)

// Buckets are the upper bounds of the latency histogram, suited to minutes (23 min is the field
// notes' average push delay). The distribution has one more count: above the last bound.
var Buckets = []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute,
	10 * time.Minute, 15 * time.Minute, 23 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour}

// Kind is what Add made of an order.
type Kind int

// The kinds.
const (
	Measured Kind = iota // a latency (paid_at at or before arrival)
	NoPaidAt             // the order carries no paid_at
	Future               // paid_at after the arrival: clock skew, not measured
)

// Options configure a Watch; zero fields mean the defaults.
type Options struct {
	Window time.Duration // default DefaultWindow
	Limit  time.Duration // default DefaultLimit
}

type sample struct {
	arrived time.Time
	latency time.Duration
}

// Watch is the latency window. It is not safe for concurrent use: its owner serialises calls.
type Watch struct {
	opts     Options
	samples  []sample
	noPaidAt uint64
	future   uint64
	alerting bool
}

// New returns an empty Watch.
func New(opts Options) *Watch {
	if opts.Window <= 0 {
		opts.Window = DefaultWindow
	}
	if opts.Limit <= 0 {
		opts.Limit = DefaultLimit
	}
	return &Watch{opts: opts}
}

// Limit is the alert limit in force.
func (w *Watch) Limit() time.Duration { return w.opts.Limit }

// Measure is what an order arriving at arrived, paid at paidAt (zero: none), counts as, and its
// latency when Measured.
func Measure(arrived, paidAt time.Time) (Kind, time.Duration) {
	switch {
	case paidAt.IsZero():
		return NoPaidAt, 0
	case paidAt.After(arrived):
		return Future, 0
	}
	return Measured, arrived.Sub(paidAt)
}

// Add records an order that arrived at arrived and was paid at paidAt, and returns what it counted
// as (see Measure).
func (w *Watch) Add(arrived, paidAt time.Time) (Kind, time.Duration) {
	k, d := Measure(arrived, paidAt)
	switch k {
	case NoPaidAt:
		w.noPaidAt++
	case Future:
		w.future++
	default:
		if len(w.samples) >= MaxSamples {
			w.samples = slices.Delete(w.samples, 0, len(w.samples)-MaxSamples+1)
		}
		w.samples = append(w.samples, sample{arrived, d})
	}
	return k, d
}

// Stats are the window's measurements at At.
type Stats struct {
	At     time.Time     `json:"at"`
	Window time.Duration `json:"window"`
	Limit  time.Duration `json:"limit"`
	// Count is the number of orders measured in the window, Median their median latency (0 when
	// none), Max the longest.
	Count  int           `json:"count"`
	Median time.Duration `json:"median"`
	Max    time.Duration `json:"max"`
	// Buckets counts the window's latencies per bucket: Buckets[i] those at most Bounds[i] (and
	// above the bound before), the last one those above every bound. Bounds are latency.Buckets.
	Buckets []int           `json:"buckets"`
	Bounds  []time.Duration `json:"bounds"`
	// NoPaidAt and Future count, since the start, the orders without a paid_at and those paid after
	// they arrived (clock skew): not measured.
	NoPaidAt uint64 `json:"no_paid_at"`
	Future   uint64 `json:"future_paid_at"`
	Alert    bool   `json:"alert"` // the median is over the limit (and the alert not re-armed yet)
}

// Over reports whether the window's median passes the limit.
func (s Stats) Over() bool { return s.Count > 0 && s.Median > s.Limit }

// Observe drops the samples that left the window at now and returns the window's stats, with
// raised true when the alert rises at this observation (once until it is re-armed).
func (w *Watch) Observe(now time.Time) (s Stats, raised bool) {
	from := now.Add(-w.opts.Window)
	w.samples = slices.DeleteFunc(w.samples, func(x sample) bool { return !x.arrived.After(from) })
	s = Stats{At: now, Window: w.opts.Window, Limit: w.opts.Limit, Count: len(w.samples),
		Buckets: make([]int, len(Buckets)+1), Bounds: slices.Clone(Buckets), NoPaidAt: w.noPaidAt, Future: w.future}
	ds := make([]time.Duration, len(w.samples))
	for i, x := range w.samples {
		ds[i] = x.latency
		s.Buckets[bucket(x.latency)]++
	}
	slices.Sort(ds)
	if n := len(ds); n > 0 {
		s.Median = ds[n/2]
		if n%2 == 0 {
			s.Median = (ds[n/2-1] + ds[n/2]) / 2
		}
		s.Max = ds[n-1]
	}
	switch {
	case s.Over() && !w.alerting:
		w.alerting, raised = true, true
	case w.alerting && (s.Count == 0 || float64(s.Median) <= ReArm*float64(s.Limit)):
		w.alerting = false
	}
	s.Alert = w.alerting
	return s, raised
}

// bucket is the index of d's bucket.
func bucket(d time.Duration) int {
	i, _ := slices.BinarySearch(Buckets, d)
	return i
}
