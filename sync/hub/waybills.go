package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"

	"time"

	"wedge/internal/logging"
	"wedge/order"
	"wedge/order/waybill"
	"wedge/sync/hub/ewaybill"
	"wedge/sync/wire"
)

// EWaybillOptions make the hub obtain e-waybill numbers for posted orders that arrive without one
// (docs/PROTOCOL.md, "E-waybill numbers"). Zero durations take the documented defaults.
type EWaybillOptions struct {
	// Provider obtains the numbers. nil: the hub never asks; orders are published as posted.
	Provider ewaybill.Provider
	// Carriers are the wedge carrier codes the provider has accounts for. An order of another
	// carrier (or with none) is published as posted.
	Carriers []string
	// Sites limits the feature to these sites (empty: every site).
	Sites []string
	// RetryMin and RetryMax bound the backoff after a retryable failure: RetryMin doubled per
	// attempt up to RetryMax (defaults 5 s and 10 min).
	RetryMin, RetryMax time.Duration
	// Timeout bounds one call to the provider (default 30 s). A claimed request is leased to this
	// hub for twice as long, so a replica that dies mid-call does not hold it for ever.
	Timeout time.Duration
	// Concurrency is how many provider calls one hub makes at once (default 4).
	Concurrency int
}

func (o EWaybillOptions) withDefaults() EWaybillOptions {
	if o.RetryMin <= 0 {
		o.RetryMin = 5 * time.Second
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = max(10*time.Minute, o.RetryMin)
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	return o
}

// covers reports whether the hub asks the provider for a number for an order of carrier at site.
func (o EWaybillOptions) covers(site, carrier string) bool {
	return o.Provider != nil && carrier != "" && slices.Contains(o.Carriers, carrier) &&
		(len(o.Sites) == 0 || slices.Contains(o.Sites, site))
}

// backoff is the wait after the n-th failed attempt (n ≥ 1).
func (o EWaybillOptions) backoff(n int) time.Duration {
	d := o.RetryMin
	for i := 1; i < n && d < o.RetryMax; i++ {
		d *= 2
	}
	return min(d, o.RetryMax)
}

// waybillJob is an order held back until a provider gives it a waybill number (store documents of
// EWaybillTx). Msg is the order message to publish then: the latest version posted.
type waybillJob struct {
	OrderID   string        `json:"order_id"`
	Site      string        `json:"site"`
	Carrier   string        `json:"carrier"`
	Msg       wire.OrderMsg `json:"msg"`
	CreatedAt time.Time     `json:"created_at"`
	Attempts  int           `json:"attempts"`
	NextAt    time.Time     `json:"next_at"`
	// LeaseUntil is set while a hub is calling the provider for it; others leave it alone until then.
	LeaseUntil time.Time `json:"lease_until,omitzero"`
	LastError  string    `json:"last_error,omitempty"`
	// Permanent: the provider refused it or returned an unusable number; never retried. A new
	// post of the order carrying a waybill resolves it.
	Permanent bool `json:"permanent,omitempty"`
}

func getJob(tx Tx, id string) (j waybillJob, ok bool, err error) {
	raw, err := tx.EWaybill(id)
	if err != nil || raw == nil {
		return j, false, err
	}
	if err := json.Unmarshal(raw, &j); err != nil {
		return j, false, fmt.Errorf("%w: decode e-waybill request %q: %v", ErrStore, id, err)
	}
	return j, true, nil
}

// holdForWaybill decides, inside the POST's transaction, whether message m is held back until a
// number is obtained instead of being published now: an order message is when the order already
// waits (the new version replaces the held one) or when it is new, has no waybill and the
// provider covers its carrier. For an order that waits, a message that brings a waybill (an order
// version with one, or a waybill message) ends the wait, and so does a cancel; pre is then the
// held order message to publish before m (with the posted waybill), or nil. Orders already held
// are handled so also on a hub started without a provider, so that they can still be released.
func (g *group) holdForWaybill(site string, m wire.OrderMsg, known bool) (held bool, pre *wire.OrderMsg, err error) {
	if !validOrderID(m.ID()) {
		return false, nil, nil
	}
	id := m.ID()
	j, waiting, err := getJob(g.tx, id)
	if err != nil {
		return false, nil, err
	}
	switch {
	case waiting && m.Type == wire.TypeWaybill:
		pre = &j.Msg
		pre.Waybill, pre.Carrier = m.Waybill, j.Carrier
		return false, pre, g.tx.DeleteEWaybill(id)
	case waiting && (m.Type == wire.TypeCancel || m.Type == wire.TypeOrder && m.Waybill != ""):
		return false, nil, g.tx.DeleteEWaybill(id)
	case waiting && m.Type == wire.TypeOrder:
		j.Msg = m
		return true, nil, g.tx.PutEWaybill(id, mustJSON(j))
	case waiting, m.Type != wire.TypeOrder, known, m.Waybill != "":
		return false, nil, nil
	}
	carrier := order.NormalizeCode(m.Carrier)
	if !g.h.ewb.covers(site, carrier) {
		return false, nil, nil
	}
	j = waybillJob{OrderID: id, Site: site, Carrier: carrier, Msg: m, CreatedAt: g.now, NextAt: g.now}
	g.wakeWaybills = true
	return true, nil, g.tx.PutEWaybill(id, mustJSON(j))
}

// waybillResult is what a provider call produced for one order; the owner applies it.
type waybillResult struct {
	orderID   string
	number    string
	err       string
	permanent bool
	released  bool // the hub is stopping: the call was cut short; not an attempt
}

// ewaybillDone applies a provider's answer: the number goes into the order, which is published to
// its site (hseq and signature as any downlink); a failure is recorded and rescheduled.
func (g *group) ewaybillDone(r *waybillResult) error {
	j, ok, err := getJob(g.tx, r.orderID)
	if err != nil {
		return err
	}
	if !ok { // a post with a waybill, or a cancel, ended the wait meanwhile
		if r.number != "" {
			g.h.log.Warn("e-waybill number obtained for an order that no longer waits: number unused",
				logging.KeyOrder, r.orderID, "waybill", r.number)
		}
		return nil
	}
	g.wakeWaybills = true // the next request's time may have changed
	if r.released {
		j.LeaseUntil = time.Time{}
		return g.tx.PutEWaybill(j.OrderID, mustJSON(j))
	}
	if r.number == "" {
		j.Attempts++
		j.LastError, j.Permanent, j.LeaseUntil = r.err, r.permanent, time.Time{}
		j.NextAt = g.now.Add(g.h.ewb.backoff(j.Attempts))
		g.h.log.Warn("e-waybill request failed", logging.KeyOrder, j.OrderID, logging.KeySite, j.Site, "carrier", j.Carrier,
			"attempts", j.Attempts, "permanent", j.Permanent, "next_at", j.NextAt, "error", r.err)
		return g.tx.PutEWaybill(j.OrderID, mustJSON(j))
	}
	rec, known, err := loadOrder(g.tx, j.OrderID)
	if err != nil {
		return err
	}
	if !known {
		return fmt.Errorf("%w: order %q waits for a waybill but has no record", ErrStore, j.OrderID)
	}
	rec.Order.AssignedWaybill = r.number
	if err := g.saveOrder(rec); err != nil {
		return err
	}
	if err := g.tx.DeleteEWaybill(j.OrderID); err != nil {
		return err
	}
	m := j.Msg
	m.Waybill, m.Carrier = r.number, j.Carrier
	hseq, err := g.downlink(j.Site, m)
	if err == nil {
		g.h.log.Info("e-waybill number obtained; the order is published with it once this commits", logging.KeyOrder, j.OrderID, logging.KeySite, j.Site,
			"carrier", j.Carrier, "waybill", r.number, "attempts", j.Attempts+1, "hseq", hseq)
	}
	return err
}

// waybiller is the goroutine that calls the provider: it claims due requests (a lease in the
// store, so replicas sharing a store do not ask twice), calls the provider outside any
// transaction, and hands each answer to the owner (kindEWaybill).
type waybiller struct {
	h      *Hub
	wake   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

func (h *Hub) startWaybiller() {
	if h.ewb.Provider == nil {
		h.warnHeldWithoutProvider()
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &waybiller{h: h, wake: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	h.waybiller = w
	go w.run(ctx)
}

// stopWaybiller ends the goroutine and waits for it (a call in flight is cancelled and its request
// given back, see round).
func (h *Hub) stopWaybiller() {
	if w := h.waybiller; w != nil {
		w.cancel()
		<-w.done
	}
}

func (w *waybiller) kick() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *waybiller) run(ctx context.Context) {
	defer close(w.done)
	for {
		wait := w.round(ctx)
		t := w.h.clk.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-w.wake:
		case <-t.C():
		}
		t.Stop()
	}
}

// round claims up to Concurrency due requests, calls the provider for them in parallel (within
// one Timeout, so well inside their lease) and hands the answers to the owner. It returns how
// long to wait for the next round.
func (w *waybiller) round(ctx context.Context) time.Duration {
	idle := w.h.ewb.RetryMax
	jobs, next, err := w.claim(ctx)
	if err != nil {
		if ctx.Err() == nil {
			w.h.log.Error("e-waybill requests: cannot claim", logging.Err(err))
		}
		return w.h.ewb.RetryMin
	}
	results := make([]*waybillResult, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = w.apply(ctx, j)
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.number == "" && ctx.Err() != nil { // stopping cut the call short: give the request back, no attempt counted
			r = &waybillResult{orderID: jobs[i].OrderID, released: true}
		}
		w.h.enqueue(item{kind: kindEWaybill, topic: "e-waybill " + r.orderID, ewb: r})
	}
	switch {
	case len(jobs) == w.h.ewb.Concurrency:
		return 0 // more may be due
	case len(jobs) > 0:
		return idle // the owner kicks again once it has committed the answers
	case !next.IsZero():
		return max(next.Sub(w.h.clk.Now()), 0)
	}
	return idle
}

// claim leases the longest-due requests (up to Concurrency) to this hub; next is when the
// earliest other one is due.
func (w *waybiller) claim(ctx context.Context) (jobs []waybillJob, next time.Time, err error) {
	err = w.h.db.Update(ctx, func(tx Tx) error {
		jobs, next = nil, time.Time{}
		now := w.h.clk.Now().UTC()
		var due []waybillJob
		err := tx.EWaybills(func(id string, raw []byte) (bool, error) {
			var j waybillJob
			if err := json.Unmarshal(raw, &j); err != nil {
				return false, fmt.Errorf("%w: decode e-waybill request %q: %v", ErrStore, id, err)
			}
			at := later(j.NextAt, j.LeaseUntil)
			switch {
			case j.Permanent: // never again
			case at.After(now):
				if next.IsZero() || at.Before(next) {
					next = at
				}
			default:
				due = append(due, j)
			}
			return true, nil
		})
		if err != nil {
			return err
		}
		slices.SortStableFunc(due, func(a, b waybillJob) int { return a.NextAt.Compare(b.NextAt) })
		for _, c := range due {
			if len(jobs) == w.h.ewb.Concurrency {
				break
			}
			j, ok, err := getJob(tx, c.OrderID) // locked now (shared stores): look again
			if err != nil {
				return err
			}
			if !ok || j.Permanent || later(j.NextAt, j.LeaseUntil).After(now) {
				continue
			}
			j.LeaseUntil = now.Add(2 * w.h.ewb.Timeout)
			if err := tx.PutEWaybill(j.OrderID, mustJSON(j)); err != nil {
				return err
			}
			jobs = append(jobs, j)
		}
		return nil
	})
	return jobs, next, err
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// apply calls the provider for j and checks the number with order/waybill against the carrier.
func (w *waybiller) apply(ctx context.Context, j waybillJob) *waybillResult {
	r := &waybillResult{orderID: j.OrderID}
	cctx, cancel := context.WithTimeout(ctx, w.h.ewb.Timeout)
	defer cancel()
	m := j.Msg
	wb, err := w.h.ewb.Provider.Apply(cctx, ewaybill.Request{
		OrderID: j.OrderID, Carrier: j.Carrier, Parcels: 1,
		Recipient: ewaybill.Party{Name: m.RecipientName, Mobile: m.RecipientPhone, Address: m.RecipientAddress},
	})
	switch {
	case err != nil:
		// The provider's message may quote the recipient's mobile (a refused number, say); it
		// becomes last_error and a log line, so the phone is masked in it (phonemask_http.go).
		r.err, r.permanent = providerError(err, m.RecipientPhone), !errors.Is(err, ewaybill.ErrRetryable)
	default:
		num := waybill.Normalize(wb.Number)
		if verr := waybill.Validate(j.Carrier, num); verr != nil {
			r.err, r.permanent = fmt.Sprintf("provider returned an unusable number %q: %v", wb.Number, verr), true
		} else {
			r.number = num
		}
	}
	return r
}

// PendingWaybill is one order waiting for an e-waybill number (GET /v1/waybills/pending).
type PendingWaybill struct {
	OrderID   string `json:"order_id"`
	Site      string `json:"site"`
	Carrier   string `json:"carrier"`
	CreatedAt string `json:"created_at"`
	Attempts  int    `json:"attempts"`
	NextAt    string `json:"next_at,omitempty"` // empty when permanent
	LastError string `json:"last_error,omitempty"`
	Permanent bool   `json:"permanent"`
}

func (h *Hub) getPendingWaybills(w http.ResponseWriter, r *http.Request) {
	out := []PendingWaybill{}
	err := h.db.View(r.Context(), func(tx Tx) error {
		return tx.EWaybills(func(id string, raw []byte) (bool, error) {
			var j waybillJob
			if err := json.Unmarshal(raw, &j); err != nil {
				return false, fmt.Errorf("%w: decode e-waybill request %q: %v", ErrStore, id, err)
			}
			p := PendingWaybill{OrderID: j.OrderID, Site: j.Site, Carrier: j.Carrier, CreatedAt: wire.Time(j.CreatedAt),
				Attempts: j.Attempts, LastError: j.LastError, Permanent: j.Permanent}
			if !j.Permanent {
				p.NextAt = wire.Time(j.NextAt)
			}
			out = append(out, p)
			return true, nil
		})
	})
	if err != nil {
		writeError(w, http.StatusInternalServerError, "读取失败 / cannot read the store: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"pending": out})
}

// checked applies the defaults and refuses carriers order/waybill does not know.
func (o EWaybillOptions) checked() (EWaybillOptions, error) {
	if o.Provider == nil {
		return o, nil
	}
	if len(o.Carriers) == 0 {
		return o, fmt.Errorf("%w: EWaybill.Carriers is empty: the provider would never be asked", ErrOptions)
	}
	for _, c := range o.Carriers {
		if _, ok := waybill.Lookup(c); !ok {
			return o, fmt.Errorf("%w: EWaybill.Carriers: unknown carrier %q", ErrOptions, c)
		}
	}
	return o.withDefaults(), nil
}

// warnHeldWithoutProvider logs the orders still held for a number on a hub started without a
// provider: nothing obtains one now; posting them with a waybill (or a waybill message) releases
// them, and GET /v1/waybills/pending lists them.
func (h *Hub) warnHeldWithoutProvider() {
	n := 0
	err := h.db.View(context.Background(), func(tx Tx) error {
		return tx.EWaybills(func(string, []byte) (bool, error) { n++; return true, nil })
	})
	if err != nil || n == 0 {
		return
	}
	h.log.Error("订单等待电子面单号但未配置面单服务 / orders wait for an e-waybill number but no provider is configured: post them with a waybill, or configure ewaybill",
		"held", n)
}
