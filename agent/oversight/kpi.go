package oversight

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"wedge/agent/console"
	"wedge/agent/journal"
	"wedge/internal/clock"
	"wedge/order"
	"wedge/order/kpi"
)

// KPI is the pickup KPI (order/kpi) over the orders in the journal: served on GET /api/v1/kpi
// (ServeHTTP) and, cached for a while, on the console's board.
type KPI struct {
	store *journal.Store
	calc  *kpi.Calculator
	clk   clock.Clock
	every time.Duration // how long the board's KPI is cached

	mu   sync.Mutex
	at   time.Time
	last console.KPI
}

func newKPI(store *journal.Store, opts *kpi.Options, every time.Duration, clk clock.Clock) (*KPI, error) {
	calc, err := kpi.New(opts)
	if err != nil {
		return nil, err
	}
	return &KPI{store: store, calc: calc, clk: clk, every: every}, nil
}

// KPIResponse is the body of GET /api/v1/kpi: the report (days and shifts, oldest first, in the
// site's zone) and the current day and shift.
type KPIResponse struct {
	kpi.Report
	Today kpi.Rate `json:"today"`
	Shift kpi.Rate `json:"shift"`
}

// Compute computes the KPI report over the orders in the journal at now.
func (k *KPI) Compute(now time.Time) (kpi.Report, error) {
	var orders []order.Order
	for _, st := range order.States {
		if err := k.store.ForEachOrder(st, func(o order.Order) bool { orders = append(orders, o); return true }); err != nil {
			return kpi.Report{}, err
		}
	}
	return k.calc.Compute(orders, now), nil
}

// ServeHTTP answers GET /api/v1/kpi with a KPIResponse, or 503 when the orders cannot be read.
func (k *KPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := k.clk.Now()
	rep, err := k.Compute(now)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(map[string]any{"error": "unavailable", "message": map[string]string{
			"zh": "暂时无法读取订单：" + err.Error(), "en": "cannot read the orders: " + err.Error()}})
		return
	}
	day, shift := k.calc.Current(rep, now)
	json.NewEncoder(w).Encode(KPIResponse{Report: rep, Today: day, Shift: shift})
}

// board returns the board's KPI at now, recomputed when the cached one is older than every (or
// from the future, after a clock step back); on a read error the last one.
func (k *KPI) board(now time.Time) console.KPI {
	k.mu.Lock()
	if !k.at.IsZero() && now.Sub(k.at) < k.every && now.After(k.at.Add(-time.Second)) {
		c := k.last
		k.mu.Unlock()
		return c
	}
	k.mu.Unlock()
	rep, err := k.Compute(now)
	if err != nil {
		k.mu.Lock()
		defer k.mu.Unlock()
		return k.last
	}
	day, shift := k.calc.Current(rep, now)
	c := console.KPI{Goal: rep.Goal, Warn: rep.Warn, Day: day, Shift: shift}
	k.mu.Lock()
	k.at, k.last = now, c
	k.mu.Unlock()
	return c
}
