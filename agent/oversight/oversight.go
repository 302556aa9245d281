// Package oversight is the agent's oversight of its backlog and floor: the durable backlog breaker
// (Breaker, over the pure agent/breaker), one overdue alert per order (agent/overdue), the pickup
// KPI (KPI, over order/kpi), the Prometheus metrics (agent/metrics) and the supervisor console
// (agent/console) with its popups (Events). Oversight wires them together and runs the owner loop.
//
// One owner goroutine observes the 待分仓 backlog on a clock-driven ticker (Options.Every) and
// whenever Kick is called (after intake, after station results). A breaker transition is journaled
// (wire.KindBreaker) together with the breaker state (journal meta MetaBreaker) in one transaction;
// when the breaker closes (hysteresis or a supervisor's reset) the held orders are released to
// 待分仓 in arrival order (order.ActRelease, one step entry each) in that same transaction. Only
// after the commit are the uplink status, the console and the metrics told. A restart while the
// breaker is open restores it from the meta, so intake keeps holding and nothing is lost.
//
// Orders in 待分仓 first queued longer than Options.OverdueAfter ago get exactly one overdue entry
// each.
//
// The intake latency (agent/latency): each observation reads the entries committed since the last
// one; every new order's intake entry adds its paid_at → arrival time to the metrics' histogram and
// to the 10-minute window whose median the board shows, and a median over
// Options.IntakeLatencyAlert raises a console alert (once, until the median falls back). Entries
// committed before the agent started are not counted.
//
// A held order left behind by a race (intake read the breaker as open just before it closed) is
// released by the next observation, so no order stays held while the breaker is closed.
package oversight

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"wedge/agent/breaker"
	"wedge/agent/config"
	"wedge/agent/console"
	"wedge/agent/journal"
	"wedge/agent/latency"
	"wedge/agent/metrics"
	"wedge/agent/overdue"
	"wedge/agent/station"
	"wedge/internal/clock"
	"wedge/internal/logging"
	"wedge/order"
	"wedge/order/kpi"
	"wedge/sync/wire"
)

// Sentinel errors. Match them with errors.Is.
var (
	// ErrConfig means invalid options (thresholds, KPI zone or shifts, console users).
	ErrConfig = errors.New("oversight: invalid configuration")
	// ErrCommand means a hub command that could not be read or applied; it is journaled as a note.
	ErrCommand = errors.New("oversight: bad command")
	// ErrCommit means a breaker change could not be journaled; the breaker keeps its previous state.
	ErrCommit = errors.New("oversight: commit failed")
)

// Defaults.
const (
	DefaultEvery    = 5 * time.Second
	DefaultKPIEvery = 30 * time.Second
	DefaultMinGap   = 250 * time.Millisecond
)

// Options configure an Oversight. Zero values mean the documented defaults.
type Options struct {
	Site, Agent string
	// Breaker holds the thresholds (zero: breaker defaults). Clock, Logger and Initial are set here.
	Breaker breaker.Options
	// Settings are the reported settings as the configuration file gives them (config.Config's
	// ReportedSettings) and ConfigFile the file's name. They are reported with their source
	// (Oversight.Settings) and remembered in the journal meta (MetaSettings): at start, a breaker
	// threshold the file changed since the last start takes the file's value, one it did not change
	// keeps a hub command's; each change is journaled (ReasonSettings). Nil: the breaker thresholds
	// of Breaker only.
	Settings   []config.Setting
	ConfigFile string
	// OverdueAfter is the overdue limit (default overdue.DefaultAfter, 30 min).
	OverdueAfter time.Duration
	// IntakeLatencyAlert is the limit of the intake latency's 10-minute median (paid_at → intake
	// here) above which the console raises an alert (default latency.DefaultLimit, 10 min).
	IntakeLatencyAlert time.Duration
	KPI                kpi.Options
	// Console holds users, session key, origins and cookie policy. Source, Clock and Logger are set here.
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
	Logger  *slog.Logger // nil: discard
}

// Oversight is the running oversight: it owns the parts and the loop that observes the backlog.
// Its methods are safe for concurrent use.
type Oversight struct {
	opts    Options
	store   *journal.Store
	clk     clock.Clock
	log     *slog.Logger
	m       *metrics.Metrics
	con     *console.Console
	src     *consoleSource
	breaker *Breaker
	book    *settingsBook
	events  *Events
	kpi     *KPI
	board   *board
	overdue *overdueMarker
	feed    *entryFeed
	intake  *intakeWatch

	kick chan struct{}
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// New loads the breaker state from the journal, starts the console and the owner goroutine.
func New(ctx context.Context, store *journal.Store, opts Options) (*Oversight, error) {
	if opts.Every <= 0 {
		opts.Every = DefaultEvery
	}
	if opts.MinGap <= 0 {
		opts.MinGap = DefaultMinGap
	}
	if opts.KPIEvery <= 0 {
		opts.KPIEvery = DefaultKPIEvery
	}
	if opts.OverdueAfter <= 0 {
		opts.OverdueAfter = overdue.DefaultAfter
	}
	o := &Oversight{opts: opts, store: store, clk: clock.Or(opts.Clock), log: logging.Or(opts.Logger), m: opts.Metrics,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	if o.m == nil {
		o.m = metrics.New()
	}
	var err error
	if o.kpi, err = newKPI(store, &opts.KPI, opts.KPIEvery, o.clk); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	fileTh := order.Thresholds{MaxBacklog: opts.Breaker.MaxBacklog, MaxAvgWait: opts.Breaker.MaxAvgWait,
		CloseRatio: opts.Breaker.CloseRatio, CloseAfter: opts.Breaker.CloseAfter}.WithDefaults()
	o.book = &settingsBook{file: fileSettings(opts, fileTh), configFile: opts.ConfigFile}
	if o.breaker, err = loadBreaker(ctx, store, opts.Breaker, o.book, o.clk, o.log, o.m); err != nil {
		return nil, err
	}
	o.logSettings()
	o.breaker.onChange = o.breakerChanged
	o.overdue = &overdueMarker{store: store, after: opts.OverdueAfter, m: o.m, log: o.log}
	o.feed = &entryFeed{store: store, after: store.LastSeq()}
	o.intake = &intakeWatch{m: o.m, log: o.log, w: latency.New(latency.Options{Limit: opts.IntakeLatencyAlert})}
	o.board = &board{site: opts.Site, agent: opts.Agent, devices: opts.Devices, sync: opts.Sync}
	o.events = &Events{m: o.m, clk: o.clk, kick: o.Kick, devUp: map[string]bool{}}
	o.src = &consoleSource{store: store, clk: o.clk, board: o.board, kpi: o.kpi, breaker: o.breaker, events: o.events, confirm: opts.Confirm, settings: o.Settings,
		exq: station.NewExceptionQueue(store)}

	co := opts.Console
	co.Source, co.Clock, co.Logger = o.src, o.clk, o.log
	if o.con, err = console.New(co); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	o.events.con = o.con
	o.observe(ctx) // the board is right from the first connection
	go o.run()
	return o, nil
}

// Breaker is the durable backlog breaker.
func (o *Oversight) Breaker() *Breaker { return o.breaker }

// logSettings logs the reported settings with their source in one line (field=value (origin)).
func (o *Oversight) logSettings() {
	var args []any
	for _, e := range o.Settings() {
		args = append(args, e.Field, e.Value+" ("+e.Origin()+")")
	}
	o.log.Info("settings", args...)
}

// Events takes station results, printer faults and device events to the console and the metrics.
func (o *Oversight) Events() *Events { return o.events }

// KPI is the pickup KPI over the journal.
func (o *Oversight) KPI() *KPI { return o.kpi }

// Kick asks for an observation now (coalesced; never blocks).
func (o *Oversight) Kick() {
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

// Check observes now, like the owner loop does, and returns after any resulting commit (tests, and
// callers that need the breaker decided before going on).
func (o *Oversight) Check(ctx context.Context) { o.observe(ctx) }

// Register mounts the console (/console/), /metrics and GET /api/v1/kpi on mux.
func (o *Oversight) Register(mux *http.ServeMux) {
	mux.Handle("/console/", http.StripPrefix("/console", o.con.Handler()))
	mux.Handle("/console", http.RedirectHandler("/console/", http.StatusFound))
	mux.Handle("/metrics", o.m.Handler())
	mux.Handle("GET /api/v1/kpi", o.kpi)
}

// Close stops the owner goroutine and the console (closing its WebSockets: call it before the HTTP
// server's Shutdown). It waits for both.
func (o *Oversight) Close() error {
	var err error
	o.once.Do(func() {
		close(o.stop)
		<-o.done
		err = o.con.Close()
	})
	return err
}

func (o *Oversight) run() {
	defer close(o.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	t := o.clk.NewTimer(o.opts.Every)
	defer t.Stop()
	for {
		select {
		case <-o.stop:
			return
		case <-t.C():
			t.Reset(o.opts.Every)
		case <-o.kick:
		}
		o.observe(ctx)
		// Bound the rate of observations under a stream of kicks (each reads the backlog); kicks
		// that arrive meanwhile coalesce into one.
		select {
		case <-o.stop:
			return
		case <-o.clk.After(o.opts.MinGap):
		}
	}
}

// backlog returns the orders in 待分仓 and the held ones.
func backlog(store *journal.Store) (pending, held []order.Order, err error) {
	if err = store.ForEachOrder(order.PendingAllocation, func(o order.Order) bool { pending = append(pending, o); return true }); err != nil {
		return nil, nil, err
	}
	err = store.ForEachOrder(order.Held, func(o order.Order) bool { held = append(held, o); return true })
	return pending, held, err
}

// observe is one round: breaker, stray held orders, overdue, then the board and the metrics.
func (o *Oversight) observe(ctx context.Context) {
	pending, held, err := backlog(o.store)
	if err != nil {
		if !errors.Is(err, journal.ErrClosed) {
			o.log.Error("oversight cannot read the backlog", logging.Err(err))
		}
		return
	}
	now := o.clk.Now()
	o.feed.poll(func(e wire.Entry) {
		if s, ok := refusalScan(e, now); ok {
			o.con.Publish(console.ScanEvent(s))
		}
		if a, ok := carrierException(e, now); ok {
			o.con.Publish(console.AlertEvent(a))
		}
		o.intake.add(e)
	})
	lat, raised := o.intake.observe(now)
	o.board.setIntake(lat)
	if raised {
		o.con.Publish(console.AlertEvent(console.IntakeLatencyAlert(lat)))
	}
	wrote := o.breaker.observe(ctx, pending, held, now)
	if o.overdue.mark(ctx, pending, now) > 0 {
		wrote = true
	}
	if wrote {
		o.refresh(now)
	} else {
		o.show(now, pending, held)
	}
}

// refresh re-reads what the board and the metrics show.
func (o *Oversight) refresh(now time.Time) {
	pending, held, err := backlog(o.store)
	if err != nil {
		return
	}
	o.show(now, pending, held)
}

// show updates the board, the device popups and the metrics from orders read at now.
func (o *Oversight) show(now time.Time, pending, held []order.Order) {
	st := breaker.Backlog(append(slices.Clip(pending), held...), now)
	counts := o.store.Counts()
	var sy console.Sync
	if o.opts.Sync != nil {
		sy = o.opts.Sync()
	}
	o.board.set(counts, st, overdueRows(pending), sy)
	if o.opts.Devices != nil {
		o.events.devices(o.opts.Devices())
	}
	o.m.SetCounts(counts)
	o.m.SetHeld(st.Held)
	o.m.SetWait(st.AvgWait, st.OldestWait)
	var lag time.Duration
	if sy.Unsynced > 0 && !sy.LastAck.IsZero() {
		lag = now.Sub(sy.LastAck)
	}
	o.m.SetSync(sy.Unsynced, lag, sy.Connected)
	o.m.SetBreaker(o.breaker.Open())
}

// breakerChanged tells the others about a committed breaker transition: the uplink's retained
// status, a popup when it opened, the metrics and the board; new thresholds are applied at once.
func (o *Oversight) breakerChanged(tr breaker.Transition) {
	if o.opts.PublishStatus != nil {
		o.opts.PublishStatus()
	}
	if tr.Event == breaker.EventOpen {
		o.con.Publish(console.AlertEvent(console.BreakerAlert(tr)))
	}
	o.m.SetBreaker(tr.Open)
	o.refresh(o.clk.Now())
	o.con.Refresh()
	if tr.Event == breaker.EventThresholds {
		o.Kick()
	}
}
