// Package agent wires one wedge agent together. New starts the parts from sinks to sources:
//
//	journal (bbolt) → intake → uplink (MQTT, feeding intake) → printers → stations → drivers (scanners, print proxies) → API
//
// and Stop ends them in the reverse order, waiting for each. A device that fails to open is logged
// and retried by its driver; the agent keeps running. Run is New, wait for ctx, Stop.
package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"wedge/agent/api"
	"wedge/agent/config"
	"wedge/agent/intake"
	"wedge/agent/journal"
	"wedge/agent/oversight"
	"wedge/agent/printing"
	"wedge/agent/station"
	"wedge/agent/version"
	"wedge/drivers/discovery"
	"wedge/drivers/profile"
	"wedge/drivers/scanner"
	"wedge/drivers/scanner/hidscan"
	"wedge/internal/clock"
	"wedge/internal/logging"
	"wedge/sync/uplink"
	"wedge/sync/wire"
)

// Sentinel errors. Match them with errors.Is.
var (
	// ErrStart means the agent could not start (journal, uplink or API); the cause is wrapped.
	ErrStart = errors.New("agent: cannot start")
	// ErrStop means a part did not stop cleanly or in time.
	ErrStop = errors.New("agent: stop")
)

// JournalFile is the bbolt file's name inside data_dir.
const JournalFile = "wedge.db"

// FeedbackTimeout bounds one good/bad feedback to a scanner (sent on the reader's feedback
// goroutine, so it never delays the next read).
const FeedbackTimeout = 300 * time.Millisecond

// Deps are the agent's seams. The zero value means the real ones.
type Deps struct {
	Clock clock.Clock          // nil: real
	Logf  func(string, ...any) // nil: silent
	// Profiles are the firmware profiles by id. Nil: the embedded ones merged with cfg.ProfilesDir.
	Profiles map[string]profile.Profile
	// OpenScanner opens a configured scanner. Nil: serial scanners through serialscan.
	OpenScanner func(d config.Device, p profile.Profile, logf func(string, ...any)) (scanner.Scanner, error)
	// OnResult, if set, also receives every station result and every manual confirmation through
	// the API (after commit). It must not block.
	OnResult func(station.Result)
	// OnPrinterEvent, if set, also receives printer faults and their clearing. It must not block.
	OnPrinterEvent func(printing.Event)

	// Issue 4 (scanners.go). HIDEnumerate and HIDOpen are hidscan's seams, SerialPorts discovery's
	// (nil: the system's). Rescan is how often absent devices are looked for (default 500 ms);
	// Debounce how long a device must stay away to count as unplugged (default 1 s).
	HIDEnumerate func(vid, pid uint16) []hidscan.DeviceInfo
	HIDOpen      func(hidscan.DeviceInfo) (hidscan.Device, error)
	SerialPorts  func() ([]discovery.Port, error)
	Rescan       time.Duration
	Debounce     time.Duration
	// OnDeviceEvent, if set, receives debounced plug/unplug events of configured scanners (from the
	// discovery watcher, which runs when a HID or match-bound scanner is configured). It must not block.
	OnDeviceEvent func(DeviceEvent)
}

// Agent is a running agent.
type Agent struct {
	cfg  *config.Config
	deps Deps
	logf func(string, ...any)

	store    *journal.Store
	sup      *oversight.Oversight // breaker, overdue, KPI, metrics, console
	up       *uplink.Uplink
	in       *intake.Intake
	stations map[string]*station.Station
	order    []*station.Station
	api      *api.API
	srv      *http.Server
	ln       net.Listener

	mu        sync.Mutex
	scanners  []devScanner
	bound     []*boundDev        // serial scanners bound by match rules (issue 4); fixed after New
	watcher   *discovery.Watcher // nil when no scanner needs discovery
	watchDone chan struct{}
	printers  []devPrinter // issue 3; fixed after New
	printSet  *printing.Set

	stop     chan struct{}
	pumpDone chan struct{}
	readers  sync.WaitGroup
	httpDone chan struct{}
	stopOnce sync.Once
	stopErr  error
}

type devScanner struct {
	dev config.Device
	sc  scanner.Scanner
}

// LoadProfiles returns the embedded firmware profiles merged with those in dir ("" = none).
func LoadProfiles(dir string) (map[string]profile.Profile, error) {
	set, err := profile.LoadEmbedded()
	if err != nil {
		return nil, err
	}
	if dir != "" {
		over, err := profile.LoadDir(dir)
		if err != nil {
			return nil, err
		}
		set = profile.Merge(set, over)
	}
	out := make(map[string]profile.Profile, len(set))
	for _, p := range set {
		out[p.ID] = p
	}
	return out, nil
}

// New starts an agent for cfg. On error everything already started is stopped again.
func New(ctx context.Context, cfg *config.Config, deps Deps) (a *Agent, err error) {
	a = &Agent{cfg: cfg, deps: deps, logf: deps.Logf, stations: map[string]*station.Station{},
		stop: make(chan struct{}), pumpDone: make(chan struct{}), httpDone: make(chan struct{})}
	if a.logf == nil {
		a.logf = func(string, ...any) {}
	}
	defer func() {
		if err != nil {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			a.Stop(sctx)
		}
	}()
	close(a.httpDone) // re-made below when the API starts
	close(a.pumpDone)

	profiles := deps.Profiles
	if profiles == nil {
		if profiles, err = LoadProfiles(cfg.ProfilesDir); err != nil {
			return a, fmt.Errorf("%w: firmware profiles: %w", ErrStart, err)
		}
	}

	// 1. journal
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return a, fmt.Errorf("%w: data_dir: %w", ErrStart, err)
	}
	a.store, err = journal.Open(filepath.Join(cfg.DataDir, JournalFile), &journal.Options{
		Site: cfg.Site, Agent: cfg.Agent, Clock: deps.Clock, Logf: prefixed(a.logf, "journal: ")})
	if err != nil {
		return a, fmt.Errorf("%w: journal: %w", ErrStart, err)
	}

	// 1b. supervision (issue 5): it decides the state of arriving orders, so it starts before intake.
	if err := a.startSupervise(ctx); err != nil {
		return a, fmt.Errorf("%w: %w", ErrStart, err)
	}

	// 2. intake (fed by the downlink once the uplink runs). It asks the uplink for catch-ups;
	// the uplink asks it where to catch up from after every reconnect.
	a.in, err = intake.New(ctx, a.store, intake.Options{Clock: deps.Clock, Logger: logging.FromLogf(a.logf),
		Contract: cfg.CheckOrderNo, RequestCatchup: func(since uint64) { a.up.RequestCatchup(since) },
		IntakeState: a.sup.Breaker().IntakeState})
	if err != nil {
		return a, fmt.Errorf("%w: %w", ErrStart, err)
	}

	// 3. uplink. It must outlive ctx: Stop ends it after the stations, in order.
	a.up, err = uplink.New(context.WithoutCancel(ctx), a.store, uplink.Options{
		URL: cfg.Broker.URL, Site: cfg.Site, Agent: cfg.Agent,
		CAFile: cfg.Broker.CA, CertFile: cfg.Broker.Cert, KeyFile: cfg.Broker.Key,
		Username: cfg.Broker.Username, Password: cfg.Broker.Password,
		Clock: deps.Clock, Logf: prefixed(a.logf, "uplink: "), Status: a.status,
		CatchupSince: a.in.CatchupSince,
	})
	if err != nil {
		return a, fmt.Errorf("%w: uplink: %w", ErrStart, err)
	}
	a.pumpDone = make(chan struct{})
	go a.pump()

	// 4. stations, and the API handler that records their results (no read reaches a station
	// before the drivers start below)
	a.openPrinters(profiles)
	stations := a.startStations()
	a.api = api.New(api.Options{
		Info:  api.Info{Site: cfg.Site, Agent: cfg.Agent, Version: version.Version},
		Token: cfg.API.Token, Store: a.store, Sync: a.up, Devices: a.devices,
		Clock: deps.Clock, Logf: prefixed(a.logf, "api: "),
		Stations: stations, Printing: a.printSet,
		// Manual confirmations: the API records them itself; the rest of the sink is the stations'.
		OnResult: a.resultSink,
	})

	// 5. drivers: scanners (and the discovery watcher, scanners.go), then print proxies
	a.openScanners(profiles)
	a.startProxies()

	// 6. API server
	if cfg.API.Listen != "off" {
		a.ln, err = net.Listen("tcp", cfg.API.Listen)
		if err != nil {
			return a, fmt.Errorf("%w: api listen %s: %w", ErrStart, cfg.API.Listen, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/", a.api)
		a.sup.Register(mux) // /console/, /metrics, GET /api/v1/kpi
		a.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		a.httpDone = make(chan struct{})
		go func() {
			defer close(a.httpDone)
			if err := a.srv.Serve(a.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.logf("api: %v", err)
			}
		}()
		a.logf("api: listening on http://%s", a.ln.Addr())
	}
	a.logf("agent %s/%s started: journal %s, %d stations, %d devices", cfg.Site, cfg.Agent, a.store.JournalID(), len(a.order), len(a.scanners))
	return a, nil
}

func prefixed(logf func(string, ...any), p string) func(string, ...any) {
	return func(format string, args ...any) { logf(p+format, args...) }
}

func (a *Agent) startStations() []*station.Station {
	for _, s := range a.cfg.Stations {
		st := station.New(station.Config{Name: s.Name, Role: s.Role, OperatorPattern: a.cfg.OperatorRE(), PairWindow: a.cfg.PairWindow.D()},
			a.store, station.Options{Clock: a.deps.Clock, Logger: logging.FromLogf(a.logf), OnResult: a.onResult, Printing: a.printingFor(s.Name)})
		a.stations[s.Name] = st
		a.order = append(a.order, st)
	}
	return a.order
}

// onResult is the stations' (and print proxies') hook: the API's recent list, then the sink.
func (a *Agent) onResult(r station.Result) {
	if a.api != nil {
		a.api.Record(r)
	}
	a.resultSink(r)
}

// resultSink takes every committed result, from stations and from manual confirmations through the
// API (api.Options.OnResult): the outcome log line, the console feed and metrics, Deps.OnResult.
func (a *Agent) resultSink(r station.Result) {
	if r.Err == nil {
		// One machine-readable line per committed outcome (the station's own line is for people):
		// whoever reads the log (tests, log shippers) learns what the operator was told, and it is
		// written only after the commit, so an accepted line is never lost by a crash.
		a.logf("outcome station=%s device=%s code=%q result=%s kind=%s order=%s reason=%s seq=%d",
			r.Station, r.Device, r.Code, r.Outcome.Result, r.Kind, r.Entry.OrderID, r.Entry.Reason, r.Entry.Seq)
	}
	if a.sup != nil {
		a.sup.Events().OnResult(r)
	}
	if a.deps.OnResult != nil {
		a.deps.OnResult(r)
	}
}

func (a *Agent) pump() {
	defer close(a.pumpDone)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dl := a.up.Downlink()
	for {
		select {
		case <-a.stop:
			return
		case m, ok := <-dl:
			if !ok {
				return
			}
			if m.Topic == wire.TopicCommand(a.cfg.Site, a.cfg.Agent) {
				if err := a.sup.Breaker().Command(ctx, m.Payload); err != nil {
					a.logf("command: %v", err)
				}
				continue
			}
			if err := a.in.Apply(ctx, m.Payload); err != nil {
				a.logf("intake: %v", err)
			}
			a.sup.Kick()
		}
	}
}

func (a *Agent) status() wire.Status {
	s := wire.Status{State: "online", Site: a.cfg.Site, Agent: a.cfg.Agent, Version: version.Version, At: wire.Time(clock.Or(a.deps.Clock).Now())}
	if a.store != nil {
		s.JournalID = a.store.JournalID()
		s.BreakerOpen = a.sup != nil && a.sup.Breaker().Open()
		if l, k := a.store.LastSeq(), a.store.AckedSeq(); l > k {
			s.Unsynced = l - k
		}
	}
	return s
}

func (a *Agent) devices() []api.Device {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]api.Device, 0, len(a.cfg.Devices))
	open := map[string]scanner.Scanner{}
	for _, s := range a.scanners {
		open[s.dev.Name] = s.sc
	}
	for _, d := range a.cfg.Devices {
		x := api.Device{Name: d.Name, Kind: d.Kind, Station: d.Station, Profile: d.Profile, Port: d.Port}
		if d.Kind == config.KindPrinter {
			out = append(out, a.printerDevice(d, x))
			continue
		}
		a.scannerDevice(d, open, &x)
		out = append(out, x)
	}
	return out
}

// Supervisor is the agent's oversight (breaker, overdue, KPI, metrics, console). Printer
// drivers report faults through Supervisor().Events().PrinterFault.
func (a *Agent) Supervisor() *oversight.Oversight { return a.sup }

// Store is the agent's journal store.
func (a *Agent) Store() *journal.Store { return a.store }

// Station returns the named station.
func (a *Agent) Station(name string) (*station.Station, bool) {
	s, ok := a.stations[name]
	return s, ok
}

// Intake is the agent's downlink intake.
func (a *Agent) Intake() *intake.Intake { return a.in }

// APIAddr is the API's listen address ("" when off).
func (a *Agent) APIAddr() string {
	if a.ln == nil {
		return ""
	}
	return a.ln.Addr().String()
}

// Stop ends the agent in reverse start order: API, drivers, stations, downlink pump, uplink, journal. It
// waits for each up to ctx's deadline. Calling it again returns the first result.
func (a *Agent) Stop(ctx context.Context) error {
	a.stopOnce.Do(func() {
		var errs []error
		if a.sup != nil {
			// Before the HTTP server: Shutdown does not close the console's hijacked WebSockets.
			if err := a.sup.Close(); err != nil {
				errs = append(errs, fmt.Errorf("supervise: %w", err))
			}
		}
		if a.srv != nil {
			if err := a.srv.Shutdown(ctx); err != nil {
				a.srv.Close()
			}
			<-a.httpDone
		}
		close(a.stop)
		errs = append(errs, a.stopScanners()...)
		if err := waitCtx(ctx, func() { a.readers.Wait() }); err != nil {
			errs = append(errs, fmt.Errorf("scanner readers: %w", err))
		}
		errs = append(errs, a.stopProxies(ctx)...)
		for _, s := range a.order {
			s.Close()
		}
		errs = append(errs, a.closePrinters()...)
		if err := waitCtx(ctx, func() { <-a.pumpDone }); err != nil {
			errs = append(errs, fmt.Errorf("downlink pump: %w", err))
		}
		if a.up != nil {
			if err := a.up.Stop(ctx); err != nil {
				errs = append(errs, fmt.Errorf("uplink: %w", err))
			}
		}
		if a.store != nil {
			if err := a.store.Close(); err != nil {
				errs = append(errs, fmt.Errorf("journal: %w", err))
			}
		}
		if len(errs) > 0 {
			a.stopErr = fmt.Errorf("%w: %w", ErrStop, errors.Join(errs...))
		}
		a.logf("agent stopped")
	})
	return a.stopErr
}

func waitCtx(ctx context.Context, f func()) error {
	done := make(chan struct{})
	go func() { f(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run starts the agent, waits for ctx to end, and stops it (with stopTimeout for the stop).
func Run(ctx context.Context, cfg *config.Config, deps Deps) error {
	a, err := New(ctx, cfg, deps)
	if err != nil {
		return err
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	return a.Stop(sctx)
}
