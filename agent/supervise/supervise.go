// Package supervise is the agent's supervision of issue 5: it owns the backlog circuit breaker
// (agent/breaker), the overdue alerts (agent/breaker/overdue), the pickup KPI (agent/kpi), the
// Prometheus metrics (agent/metrics) and the supervisor console (agent/console), and does their
// durable part on the agent's journal.
//
// One owner goroutine observes the 待分仓 backlog on a clock-driven ticker (Options.Every) and
// whenever Kick is called (after intake, after station results). A breaker transition is journaled
// (wire.KindBreaker) together with the breaker state (journal meta MetaBreaker) in one transaction;
// when the breaker closes (hysteresis or a supervisor's reset) the held orders are released to
// 待分仓 in arrival order (order.ActRelease, one step entry each) in that same transaction. Only
// after the commit are the uplink status, the console and the metrics told. A restart while the
// breaker is open restores it from the meta, so intake keeps holding and nothing is lost.
//
// Orders that wait in 待分仓 longer than Options.OverdueAfter get exactly one overdue entry each.
//
// A held order left behind by a race (intake read the breaker as open just before it closed) is
// released by the next observation, so no order stays held while the breaker is closed.
package supervise

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"wedge/agent/breaker"
	"wedge/agent/console"
	"wedge/agent/journal"
	"wedge/agent/metrics"
	"wedge/agent/overdue"
	"wedge/agent/printing"
	"wedge/agent/station"
	"wedge/internal/clock"
	"wedge/order"
	"wedge/order/kpi"
	"wedge/sync/wire"
)

// Sentinel errors. Match them with errors.Is.
var (
	// ErrConfig means invalid options (thresholds, KPI zone or shifts, console users).
	ErrConfig = errors.New("supervise: invalid configuration")
	// ErrCommand means a hub command that could not be read or applied; it is journaled as a note.
	ErrCommand = errors.New("supervise: bad command")
	// ErrCommit means a breaker change could not be journaled; the breaker keeps its previous state.
	ErrCommit = errors.New("supervise: commit failed")
)

// MetaBreaker is the journal meta key holding the breaker state (JSON of breaker.State).
const MetaBreaker = "breaker"

// Defaults.
const (
	DefaultEvery    = 5 * time.Second
	DefaultKPIEvery = 30 * time.Second
	DefaultMinGap   = 250 * time.Millisecond
	// MaxOverdueRows bounds the overdue rows on the board.
	MaxOverdueRows = 50
)

// DeviceConsole is the Device field of manual confirmations made in the console.
const DeviceConsole = "console"

// Options configure a Supervisor. Zero values mean the documented defaults.
type Options struct {
	Site, Agent string
	// Breaker holds the thresholds (zero: breaker defaults). Clock, Logf and Initial are set here.
	Breaker breaker.Options
	// OverdueAfter is the overdue limit (default overdue.DefaultAfter, 30 min).
	OverdueAfter time.Duration
	KPI          kpi.Options
	// Console holds users, session key, origins and cookie policy. Source, Clock and Logf are set here.
	Console console.Options
	// Every is how often the backlog is observed without a Kick (default 5 s).
	Every time.Duration
	// MinGap is the least time between two observations of the owner loop (default 250 ms).
	MinGap time.Duration
	// KPIEvery is how long the board's KPI is cached (default 30 s).
	KPIEvery time.Duration
	// Metrics receives the measurements; nil: a new registry.
	Metrics *metrics.Metrics
	// Devices lists the devices with their health for the board (nil: none). A device that goes
	// from up to down raises an unplugged popup.
	Devices func() []console.Device
	// Sync reports the uplink's state (nil: zero).
	Sync func() console.Sync
	// PublishStatus re-publishes the agent's retained status after a breaker change (nil: none).
	PublishStatus func()
	// Confirm performs a manual confirmation (nil: station.Confirm on the store with Clock). The
	// console's confirmations go through it, like POST /api/v1/orders/{id}/confirm.
	Confirm func(ctx context.Context, req station.ManualRequest) station.Result
	Clock   clock.Clock
	Logf    func(format string, args ...any)
}

// Supervisor is the running supervision. Its methods are safe for concurrent use.
type Supervisor struct {
	store *journal.Store
	opts  Options
	clk   clock.Clock
	logf  func(string, ...any)
	kc    *kpi.Calculator
	m     *metrics.Metrics
	con   *console.Console

	br atomic.Pointer[breaker.Breaker]
	// txMu serialises breaker changes with their commits (owner loop, reset, hub command).
	txMu sync.Mutex

	mu       sync.Mutex
	counts   map[order.State]int
	stats    breaker.Stats
	overdue  []console.OrderRow
	kpiAt    time.Time
	kpiRep   console.KPI
	devUp    map[string]bool
	lastSync console.Sync

	kick chan struct{}
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// New loads the breaker state from the journal, starts the console and the owner goroutine.
func New(ctx context.Context, store *journal.Store, opts Options) (*Supervisor, error) {
	s := &Supervisor{store: store, opts: opts, clk: clock.Or(opts.Clock), logf: opts.Logf,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}), devUp: map[string]bool{}}
	if s.logf == nil {
		s.logf = func(string, ...any) {}
	}
	if s.opts.Every <= 0 {
		s.opts.Every = DefaultEvery
	}
	if s.opts.MinGap <= 0 {
		s.opts.MinGap = DefaultMinGap
	}
	if s.opts.KPIEvery <= 0 {
		s.opts.KPIEvery = DefaultKPIEvery
	}
	if s.opts.OverdueAfter <= 0 {
		s.opts.OverdueAfter = overdue.DefaultAfter
	}
	s.m = opts.Metrics
	if s.m == nil {
		s.m = metrics.New()
	}
	var err error
	if s.kc, err = kpi.New(&opts.KPI); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	var initial *breaker.State
	err = store.Do(ctx, func(tx *journal.Tx) error {
		if b := tx.Meta(MetaBreaker); len(b) > 0 {
			var st breaker.State
			if err := json.Unmarshal(b, &st); err != nil {
				return fmt.Errorf("breaker state in the journal meta is unreadable: %w", err)
			}
			initial = &st
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("supervise: load breaker state: %w", err)
	}
	bo := opts.Breaker
	bo.Clock, bo.Initial = s.clk, initial
	if initial != nil {
		// Thresholds changed by a hub command survive the restart; the config gives the rest.
		bo.MaxBacklog, bo.MaxAvgWait = initial.Thresholds.MaxBacklog, initial.Thresholds.MaxAvgWait
		bo.CloseRatio, bo.CloseAfter = initial.Thresholds.CloseRatio, initial.Thresholds.CloseAfter
	}
	br, err := breaker.New(bo)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	s.br.Store(br)
	if br.Open() {
		s.logf("breaker: 重启时熔断仍打开，新订单继续暂停进入 / restarted with the breaker open: new orders stay held")
	}
	s.m.SetBreaker(br.Open())

	co := opts.Console
	co.Source, co.Clock = (*source)(s), s.clk
	if s.con, err = console.New(co); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	s.observe(ctx) // the board is right from the first connection
	go s.run()
	return s, nil
}

// Console is the supervisor console.
func (s *Supervisor) Console() *console.Console { return s.con }

// Metrics is the metrics registry.
func (s *Supervisor) Metrics() *metrics.Metrics { return s.m }

// Breaker returns the breaker's current state.
func (s *Supervisor) Breaker() breaker.State { return s.br.Load().State() }

// BreakerOpen reports whether intake is paused (for the agent's retained status).
func (s *Supervisor) BreakerOpen() bool { return s.br.Load().Open() }

// IntakeState is the state a newly arriving, fully paid order enters: order.Held while the breaker
// is open, else order.PendingAllocation (intake.Options.IntakeState).
func (s *Supervisor) IntakeState() order.State { return s.br.Load().IntakeState() }

// Kick asks for an observation now (coalesced; never blocks).
func (s *Supervisor) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Check observes now, like the owner loop does, and returns after any resulting commit (tests, and
// callers that need the breaker decided before going on).
func (s *Supervisor) Check(ctx context.Context) { s.observe(ctx) }

// Register mounts the console (/console/), /metrics and GET /api/v1/kpi on mux.
func (s *Supervisor) Register(mux *http.ServeMux) {
	mux.Handle("/console/", http.StripPrefix("/console", s.con.Handler()))
	mux.Handle("/console", http.RedirectHandler("/console/", http.StatusFound))
	mux.Handle("/metrics", s.m.Handler())
	mux.HandleFunc("GET /api/v1/kpi", s.serveKPI)
}

func (s *Supervisor) serveKPI(w http.ResponseWriter, r *http.Request) {
	now := s.clk.Now()
	rep, err := s.ComputeKPI(now)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(map[string]any{"error": "unavailable", "message": map[string]string{
			"zh": "暂时无法读取订单：" + err.Error(), "en": "cannot read the orders: " + err.Error()}})
		return
	}
	day, shift := s.kc.Current(rep, now)
	json.NewEncoder(w).Encode(KPIResponse{Report: rep, Today: day, Shift: shift})
}

// KPIResponse is the body of GET /api/v1/kpi: the report (days and shifts, oldest first, in the
// site's zone) and the current day and shift.
type KPIResponse struct {
	kpi.Report
	Today kpi.Rate `json:"today"`
	Shift kpi.Rate `json:"shift"`
}

// ComputeKPI computes the KPI report over the orders in the journal at now.
func (s *Supervisor) ComputeKPI(now time.Time) (kpi.Report, error) {
	var orders []order.Order
	for _, st := range order.States {
		if err := s.store.ForEachOrder(st, func(o order.Order) bool { orders = append(orders, o); return true }); err != nil {
			return kpi.Report{}, err
		}
	}
	return s.kc.Compute(orders, now), nil
}

// OnResult takes every committed station result (agent station OnResult hook): the live scan
// feed, the scan and step metrics, and a Kick. It does not block.
func (s *Supervisor) OnResult(r station.Result) {
	if r.Err != nil {
		return
	}
	res := "accepted"
	switch r.Outcome.Result {
	case order.AlreadyDone:
		res = "already_done"
	case order.Rejected:
		res = "rejected"
	}
	at := r.At
	if at.IsZero() {
		at = s.clk.Now()
	}
	s.con.Publish(console.ScanEvent(console.Scan{At: at, Station: r.Station, Device: r.Device, Operator: r.Operator,
		Code: r.Code, OrderID: r.Entry.OrderID, Result: res, Reason: r.Outcome.Reason, Message: r.Message}))
	if r.Entry.Trigger == wire.TriggerManual {
		if r.Outcome.Result == order.Rejected {
			s.m.Reject(r.Outcome.Reason) // a manual confirmation is not a scan
		}
	} else {
		s.m.Scan(r.Station, r.Outcome.Result, r.Outcome.Reason)
	}
	if r.Entry.Kind == wire.KindStep {
		s.m.Step(order.State(r.Entry.From), order.State(r.Entry.To), r.Entry.Trigger)
	}
	s.Kick()
}

// PrinterFault shows a printer fault popup on every console (the printers' event hook).
func (s *Supervisor) PrinterFault(printer, detail string) {
	s.con.Publish(console.AlertEvent(console.PrinterFaultAlert(s.clk.Now(), printer, detail)))
}

// PrinterEvent takes agent/printing's events (printing.Options.OnEvent): a fault raises a printer
// fault popup on every console; a cleared fault only refreshes the board. It does not block.
func (s *Supervisor) PrinterEvent(ev printing.Event) {
	if ev.Cleared {
		s.con.Refresh()
		return
	}
	name := ev.Printer
	if ev.Station != "" {
		name += " @ " + ev.Station
	}
	detail := ev.Message.ZH + " / " + ev.Message.EN
	if ev.OrderID != "" {
		detail += " (order " + ev.OrderID + ")"
	}
	a := console.PrinterFaultAlert(ev.At, name, detail)
	if a.At.IsZero() {
		a.At = s.clk.Now()
	}
	s.con.Publish(console.AlertEvent(a))
}

// DeviceEvent takes a debounced plug/unplug event (agent.Deps.OnDeviceEvent): an unplug raises one
// unplugged popup (the periodic device poll will not raise a second for the same change), and the
// board is refreshed. It does not block.
func (s *Supervisor) DeviceEvent(kind, name string, plugged bool) {
	s.mu.Lock()
	was, seen := s.devUp[name]
	s.devUp[name] = plugged
	s.mu.Unlock()
	if !plugged && (was || !seen) {
		s.Unplugged(kind, name)
	}
	s.m.SetDevice(name, kind, plugged)
	s.con.Refresh()
}

// Unplugged shows an unplugged-device popup on every console.
func (s *Supervisor) Unplugged(kind, name string) {
	s.con.Publish(console.AlertEvent(console.UnpluggedAlert(s.clk.Now(), kind, name)))
}

// Close stops the owner goroutine and the console (closing its WebSockets: call it before the HTTP
// server's Shutdown). It waits for both.
func (s *Supervisor) Close() error {
	var err error
	s.once.Do(func() {
		close(s.stop)
		<-s.done
		err = s.con.Close()
	})
	return err
}

func (s *Supervisor) run() {
	defer close(s.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	t := s.clk.NewTimer(s.opts.Every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C():
			t.Reset(s.opts.Every)
		case <-s.kick:
		}
		s.observe(ctx)
		// Bound the rate of observations under a stream of kicks (each reads the backlog); kicks
		// that arrive meanwhile coalesce into one.
		select {
		case <-s.stop:
			return
		case <-s.clk.After(s.opts.MinGap):
		}
	}
}

// orders returns the orders in 待分仓 and the held ones.
func (s *Supervisor) orders() (pending, held []order.Order, err error) {
	if err = s.store.ForEachOrder(order.PendingAllocation, func(o order.Order) bool { pending = append(pending, o); return true }); err != nil {
		return nil, nil, err
	}
	err = s.store.ForEachOrder(order.Held, func(o order.Order) bool { held = append(held, o); return true })
	return pending, held, err
}

// observe is one round: breaker, stray held orders, overdue, board cache and metrics.
func (s *Supervisor) observe(ctx context.Context) {
	pending, held, err := s.orders()
	if err != nil {
		if !errors.Is(err, journal.ErrClosed) {
			s.logf("supervise: read orders: %v", err)
		}
		return
	}
	now := s.clk.Now()
	st := breaker.Backlog(append(slices.Clip(pending), held...), now)

	wrote := false
	s.txMu.Lock()
	br := s.br.Load()
	tr := br.Observe(st.Backlog, st.AvgWait)
	switch {
	case tr.Changed():
		wrote = true
		if _, err := s.commitLocked(ctx, br, tr, ""); err != nil {
			s.logf("breaker: %v", err)
		}
	case !br.Open() && len(held) > 0:
		// Held while the breaker was closing: release them now (arrival order).
		wrote = true
		hs := s.withSeq(held)
		if err := s.store.Do(ctx, func(tx *journal.Tx) error {
			s.releaseTx(tx, hs, now, wire.TriggerSystem, "", "熔断已关闭 / breaker closed")
			return nil
		}); err != nil {
			s.logf("breaker: release held orders: %v", err)
		}
	}
	s.txMu.Unlock()

	if ids := overdue.Scan(pending, now, s.opts.OverdueAfter); len(ids) > 0 {
		n := 0
		err := s.store.Do(ctx, func(tx *journal.Tx) error {
			n = 0
			for _, id := range ids {
				o, ok := tx.Order(id)
				if !ok || o.State != order.PendingAllocation || o.Overdue {
					continue
				}
				o, e := overdue.Mark(o, now)
				tx.PutOrder(o)
				tx.Append(e)
				n++
			}
			return nil
		})
		if err != nil {
			s.logf("overdue: %v", err)
		} else {
			s.m.Overdue(n)
			if n > 0 {
				wrote = true
				s.logf("overdue: %d 单在待分仓超过 %s / %d orders waited in pending_allocation over %s", n, s.opts.OverdueAfter, n, s.opts.OverdueAfter)
			}
		}
	}
	if wrote {
		s.refreshCache(now)
	} else {
		s.cache(now, pending, held)
	}
}

// refreshCache re-reads what the board and the metrics show.
func (s *Supervisor) refreshCache(now time.Time) {
	pending, held, err := s.orders()
	if err != nil {
		return
	}
	s.cache(now, pending, held)
}

// cache stores what the board and the metrics show, from orders read at now.
func (s *Supervisor) cache(now time.Time, pending, held []order.Order) {
	st := breaker.Backlog(append(slices.Clip(pending), held...), now)
	counts := s.store.Counts()
	var rows []console.OrderRow
	for _, o := range pending {
		if o.Overdue {
			rows = append(rows, console.OrderRow{ID: o.ID, ChannelOrderNo: o.ChannelOrderNo, State: o.State, Since: breaker.PendingSince(o), Overdue: true})
		}
	}
	slices.SortFunc(rows, func(a, b console.OrderRow) int { return cmp.Or(a.Since.Compare(b.Since), cmp.Compare(a.ID, b.ID)) })
	if len(rows) > MaxOverdueRows {
		rows = rows[:MaxOverdueRows]
	}
	var sy console.Sync
	if s.opts.Sync != nil {
		sy = s.opts.Sync()
	}
	var devs []console.Device
	if s.opts.Devices != nil {
		devs = s.opts.Devices()
	}

	s.mu.Lock()
	s.counts, s.stats, s.overdue, s.lastSync = counts, st, rows, sy
	var gone []console.Device
	for _, d := range devs {
		if was, ok := s.devUp[d.Name]; ok && was && !d.Up {
			gone = append(gone, d)
		}
		s.devUp[d.Name] = d.Up
	}
	s.mu.Unlock()

	for _, d := range gone {
		s.Unplugged(d.Kind, d.Name)
	}
	for _, d := range devs {
		s.m.SetDevice(d.Name, d.Kind, d.Up)
	}
	s.m.SetCounts(counts)
	s.m.SetHeld(st.Held)
	s.m.SetWait(st.AvgWait, st.OldestWait)
	var lag time.Duration
	if sy.Unsynced > 0 && !sy.LastAck.IsZero() {
		lag = now.Sub(sy.LastAck)
	}
	s.m.SetSync(sy.Unsynced, lag, sy.Connected)
	s.m.SetBreaker(s.BreakerOpen())
}

// commitLocked journals tr (from br) with the breaker state, releasing the held orders when it
// closed, then tells the uplink, the console and the metrics. On a failed commit the breaker is
// restored to its state before tr. txMu must be held.
func (s *Supervisor) commitLocked(ctx context.Context, br *breaker.Breaker, tr breaker.Transition, code string) (released int, err error) {
	state, _ := json.Marshal(br.State())
	var held []breaker.Held // read before the transaction (no read inside a write); re-checked in it
	if !tr.Open {
		var orders []order.Order
		if err := s.store.ForEachOrder(order.Held, func(o order.Order) bool { orders = append(orders, o); return true }); err != nil {
			s.restore(br, tr)
			return 0, fmt.Errorf("%w: read held orders: %w", ErrCommit, err)
		}
		held = s.withSeq(orders)
	}
	err = s.store.Do(ctx, func(tx *journal.Tx) error {
		e := tr.Entry()
		if code != "" {
			e.Code = code
		}
		tx.Append(e)
		tx.SetMeta(MetaBreaker, state)
		released = 0
		if !tr.Open && (tr.Event == breaker.EventClose || tr.Event == breaker.EventReset) {
			trig, detail := wire.TriggerSystem, "熔断自动关闭，暂停订单按到达顺序进入待分仓 / breaker closed by itself: held orders released in arrival order"
			if tr.Event == breaker.EventReset {
				trig, detail = wire.TriggerManual, "主管复位熔断："+tr.Reason+" / breaker reset by a supervisor: held orders released in arrival order"
			}
			released = s.releaseTx(tx, held, tr.At, trig, tr.By, detail)
		}
		return nil
	})
	if err != nil {
		s.restore(br, tr)
		return 0, fmt.Errorf("%w: breaker %s not journaled, kept the previous state: %w", ErrCommit, tr.Event, err)
	}
	s.logf("breaker: %s — %s (released %d held orders)", tr.Message().ZH, tr.Message().EN, released)
	if s.opts.PublishStatus != nil {
		s.opts.PublishStatus()
	}
	if tr.Event == breaker.EventOpen {
		s.con.Publish(console.AlertEvent(console.BreakerAlert(tr)))
	}
	s.m.SetBreaker(br.Open())
	s.refreshCache(s.clk.Now())
	s.con.Refresh()
	return released, nil
}

// restore replaces the breaker by one in the state before tr (a commit failed).
func (s *Supervisor) restore(br *breaker.Breaker, tr breaker.Transition) {
	prev := br.State()
	switch tr.Event {
	case breaker.EventOpen, breaker.EventClose, breaker.EventReset:
		prev.Open = !tr.Open
		prev.BelowSince, prev.GraceUntil = time.Time{}, time.Time{}
	case breaker.EventThresholds:
		if tr.Previous != nil {
			prev.Thresholds = *tr.Previous
		}
	}
	th := prev.Thresholds
	nb, err := breaker.New(breaker.Options{MaxBacklog: th.MaxBacklog, MaxAvgWait: th.MaxAvgWait, CloseRatio: th.CloseRatio,
		CloseAfter: th.CloseAfter, ResetGrace: s.opts.Breaker.ResetGrace, Clock: s.clk, Initial: &prev})
	if err == nil {
		s.br.Store(nb)
	}
}

// releaseTx moves every held order to 待分仓 in arrival order inside tx.
func (s *Supervisor) releaseTx(tx *journal.Tx, held []breaker.Held, now time.Time, trigger, by, detail string) int {
	n := 0
	for _, h := range breaker.ReleaseOrder(held) {
		o, ok := tx.Order(h.Order.ID)
		if !ok || o.State != order.Held {
			continue
		}
		out := order.Apply(o, order.Request{Action: order.ActRelease, At: now})
		if out.Result != order.Accepted {
			continue
		}
		tx.PutOrder(out.Order)
		tx.Append(wire.Entry{Kind: wire.KindStep, OrderID: o.ID, From: string(out.From), To: string(out.To),
			Trigger: trigger, Operator: by, At: wire.Time(now), Detail: detail})
		s.m.Step(out.From, out.To, trigger)
		n++
	}
	return n
}

// withSeq pairs held orders with their intake seq (read outside any write transaction).
func (s *Supervisor) withSeq(orders []order.Order) []breaker.Held {
	held := make([]breaker.Held, 0, len(orders))
	for _, o := range orders {
		held = append(held, breaker.Held{Order: o, Seq: s.intakeSeq(o.ID)})
	}
	return held
}

// intakeSeq is the journal seq of the order's first intake entry (arrival order among orders
// received in the same instant); 0 if unknown.
func (s *Supervisor) intakeSeq(id string) uint64 {
	h, err := s.store.History(id)
	if err != nil {
		return 0
	}
	for _, e := range h {
		if e.Kind == wire.KindIntake {
			return e.Seq
		}
	}
	return 0
}

// Reset closes the open breaker on a supervisor's decision (journaled) and releases the held
// orders; it returns after the commit. breaker.ErrNotOpen and breaker.ErrNoReason are wrapped.
func (s *Supervisor) Reset(ctx context.Context, by, reason string) (released int, err error) {
	s.txMu.Lock()
	defer s.txMu.Unlock()
	br := s.br.Load()
	tr, err := br.Reset(by, reason)
	if err != nil {
		return 0, err
	}
	return s.commitLocked(ctx, br, tr, "")
}

// Command applies a hub command (wire.TopicCommand). A command that cannot be read or applied is
// journaled as a note (so the hub sees the refusal) and returned wrapping ErrCommand.
func (s *Supervisor) Command(ctx context.Context, payload []byte) error {
	cmd, th, err := order.ParseCommand(payload)
	if err == nil {
		s.txMu.Lock()
		br := s.br.Load()
		var tr breaker.Transition
		if tr, err = br.SetThresholds("hub:"+cmd.By, cmd.Reason, th); err == nil {
			_, err = s.commitLocked(ctx, br, tr, cmd.ID)
			s.txMu.Unlock()
			if err != nil {
				return err
			}
			s.Kick()
			return nil
		}
		s.txMu.Unlock()
	}
	ex := string(payload)
	if len(ex) > 200 {
		ex = ex[:200]
	}
	now := s.clk.Now()
	jerr := s.store.Do(ctx, func(tx *journal.Tx) error {
		tx.Append(wire.Entry{Kind: wire.KindNote, Trigger: wire.TriggerHub, Code: cmd.ID, At: wire.Time(now), Reason: "command_refused",
			Detail: fmt.Sprintf("hub command refused: %v; payload: %q", err, ex)})
		return nil
	})
	if jerr != nil {
		return fmt.Errorf("%w: %w (and journaling the refusal failed: %w)", ErrCommand, err, jerr)
	}
	return fmt.Errorf("%w: %w", ErrCommand, err)
}

// kpiNow returns the cached board KPI, recomputed every KPIEvery.
func (s *Supervisor) kpiNow(now time.Time) console.KPI {
	s.mu.Lock()
	if !s.kpiAt.IsZero() && now.Sub(s.kpiAt) < s.opts.KPIEvery && now.After(s.kpiAt.Add(-time.Second)) {
		k := s.kpiRep
		s.mu.Unlock()
		return k
	}
	s.mu.Unlock()
	rep, err := s.ComputeKPI(now)
	if err != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.kpiRep
	}
	day, shift := s.kc.Current(rep, now)
	k := console.KPI{Goal: rep.Goal, Warn: rep.Warn, Day: day, Shift: shift}
	s.mu.Lock()
	s.kpiAt, s.kpiRep = now, k
	s.mu.Unlock()
	return k
}
