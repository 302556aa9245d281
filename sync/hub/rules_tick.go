package hub

import (
	"context"
	"errors"
	"time"

	"wedge/internal/logging"
	"wedge/order"
	"wedge/sync/hub/central"
)

// The periodic rules. Some rules have no cause an entry brings: a site's KPI drifting under its
// warning level, a handover whose first scan never comes. One goroutine per hub wakes every
// MeasuresOptions.Tick (on the hub's clock), loads the orders those rules look at in one View, and
// decides each rule in its own Update under a LockKey, so that replicas sharing a store decide
// each once: the KPI warning of a site (rules_kpi.go) and the 伪完成 counted as anomalies
// (falsecompletion.go).

// DefaultRulesTick is MeasuresOptions.Tick's default.
const DefaultRulesTick = 5 * time.Minute

// rulesLookback is how far past its due time a handover is still looked at by the tick: a hub down
// for less than this counts the 伪完成 that fell due meanwhile when it is back.
const rulesLookback = 24 * time.Hour

// startRules starts the rules' tick; Stop waits for it before the store closes.
func (h *Hub) startRules() {
	h.rulesDone = make(chan struct{})
	if h.opts.Measures.Tick < 0 {
		close(h.rulesDone)
		return
	}
	go h.rulesLoop()
}

func (h *Hub) rulesLoop() {
	defer close(h.rulesDone)
	every := h.opts.Measures.Tick
	if every <= 0 {
		every = DefaultRulesTick
	}
	for h.sleep(every) {
		if err := h.runRules(context.Background()); err != nil {
			h.log.Error("定时规则失败，下次再试 / periodic rules failed (tried again at the next tick)", logging.Err(err))
		}
	}
}

// runRules runs the periodic rules once at the hub's now.
func (h *Hub) runRules(ctx context.Context) error {
	now := h.clk.Now()
	paidSince := now.Add(-26 * time.Hour) // the start of today in any zone (a DST day has 25 h)
	handedSince := now.Add(-h.maxFalseCompletionAfter() - rulesLookback)
	var orders []central.Order
	err := h.db.View(ctx, func(tx Tx) (err error) {
		orders, err = centralOrdersWhere(tx, func(rec orderRec) bool {
			return handoverCandidate(rec, handedSince) ||
				h.notify.rules(rec.Site).KPIWarning != nil && rec.Order.PaidAt.After(paidSince)
		})
		return err
	})
	if err != nil {
		return err
	}
	err = errors.Join(h.kpiWarnings(ctx, orders, now), h.countFalseCompletions(ctx, orders, now))
	h.log.Debug("periodic rules ran", "orders", len(orders), "now", now, logging.Err(err))
	return err
}

// handoverCandidate: an order that may have been handed over since since. An order the hub has as
// 已揽收 since then (its record's time, close to the handover's), or one in 已打单: under
// carrier_first_scan a handover leaves the order there until the courier's first scan.
func handoverCandidate(rec orderRec, since time.Time) bool {
	o := rec.Order
	switch o.State {
	case order.WaybillPrinted:
		return true
	case order.PickedUp:
		at := o.PickedUpAt
		if at.IsZero() {
			at = o.StateSince
		}
		return at.IsZero() || !at.Before(since)
	}
	return false
}

// falseCompletionAfter is a site's 伪完成 limit: its false_completion rule's After, else 12 h.
func (h *Hub) falseCompletionAfter(site string) time.Duration {
	if r := h.notify.rules(site).FalseCompletion; r != nil && r.After > 0 {
		return r.After
	}
	return DefaultFalseCompletionAfter
}

// maxFalseCompletionAfter is the longest limit of any site.
func (h *Hub) maxFalseCompletionAfter() time.Duration {
	d := DefaultFalseCompletionAfter
	if h.notify != nil {
		for _, r := range h.notify.Sites {
			if r.FalseCompletion != nil {
				d = max(d, r.FalseCompletion.After)
			}
		}
	}
	return d
}
