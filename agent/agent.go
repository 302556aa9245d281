// Package agent wires one wedge agent together. New starts the parts from sinks to sources:
//
//	journal (bbolt) → devices (printers) → supervision → intake → uplink (MQTT, feeding intake) →
//	stations → API handler → device inputs (scanners, discovery watcher, print proxies) → HTTP server
//
// and Stop ends them in the reverse order, waiting for each. A device that fails to open is logged
// and retried by its driver; the agent keeps running. Run is New, wait for ctx, Stop.
package agent

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"wedge/agent/api"
	"wedge/agent/config"
	"wedge/agent/devices"
	"wedge/agent/intake"
	"wedge/agent/journal"
	"wedge/agent/oversight"
	"wedge/agent/pickup"
	"wedge/agent/printing"
	"wedge/agent/station"
	"wedge/agent/version"
	"wedge/drivers/discovery"
	"wedge/drivers/profile"
	"wedge/drivers/scanner"
	"wedge/drivers/scanner/hidscan"
	"wedge/internal/clock"
	"wedge/internal/httpserve"
	"wedge/internal/logging"
	"wedge/sync/uplink"
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

// Deps are the agent's seams. The zero value means the real ones.
type Deps struct {
	Clock clock.Clock // nil: real
	// Logger receives the agent's log records, each with the agent's site and name (nil: discard).
	Logger *slog.Logger
	// Profiles are the firmware profiles by id. Nil: the embedded ones merged with cfg.ProfilesDir.
	Profiles map[string]profile.Profile
	// OpenScanner opens a configured scanner. Nil: the serial or HID driver by transport.
	OpenScanner func(d config.Device, p profile.Profile, log *slog.Logger) (scanner.Scanner, error)
	// OnResult, if set, also receives every station result and every manual confirmation through
	// the API (after commit). It must not block.
	OnResult func(station.Result)
	// OnPrinterEvent, if set, also receives printer faults and their clearing. It must not block.
	OnPrinterEvent func(printing.Event)
	// OnRefused, if set, also receives every hub message refused for its signature (never acted
	// on; journaled within a budget). It must not block.
	OnRefused func(topic string, reason error)

	// HIDEnumerate and HIDOpen are hidscan's seams, SerialPorts discovery's (nil: the system's).
	// Rescan is how often absent devices are looked for (default devices.DefaultRescan); Debounce
	// how long a device must stay away to count as unplugged (default devices.DefaultDebounce).
	HIDEnumerate func(vid, pid uint16) []hidscan.DeviceInfo
	HIDOpen      func(hidscan.DeviceInfo) (hidscan.Device, error)
	SerialPorts  func() ([]discovery.Port, error)
	Rescan       time.Duration
	Debounce     time.Duration
	// OnDeviceEvent, if set, also receives debounced plug/unplug events of configured scanners
	// (from the discovery watcher, which runs when a HID or match-bound scanner is configured).
	// It must not block.
	OnDeviceEvent func(devices.Event)
}

// Agent is a running agent.
type Agent struct {
	log *slog.Logger

	store    *journal.Store
	pickup   pickup.Cache // the pickup policy in force, for the status
	dev      *devices.Devices
	sup      *oversight.Oversight // breaker, overdue, KPI, metrics, console
	up       *uplink.Uplink
	in       *intake.Intake
	stations []*station.Station
	srv      *http.Server
	ln       net.Listener

	stop     chan struct{} // closed by Stop: the downlink pump ends
	pumpDone chan struct{}
	httpDone chan struct{}
	stopOnce sync.Once
	stopErr  error
}

// LoadProfiles returns the embedded firmware profiles merged with those in dir ("" = none).
func LoadProfiles(dir string) (map[string]profile.Profile, error) { return devices.LoadProfiles(dir) }

// ProfileTransports lists the scanner transports a profile has settings for (see
// devices.ProfileTransports).
func ProfileTransports(p profile.Profile) []string { return devices.ProfileTransports(p) }

// New starts an agent for cfg. On error everything already started is stopped again.
func New(ctx context.Context, cfg *config.Config, deps Deps) (a *Agent, err error) {
	log := logging.Or(deps.Logger).With(logging.KeySite, cfg.Site, logging.KeyAgent, cfg.Agent)
	a = &Agent{log: log,
		stop: make(chan struct{}), pumpDone: make(chan struct{}), httpDone: make(chan struct{})}
	defer func() {
		if err != nil {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			a.Stop(sctx)
		}
	}()
	close(a.httpDone) // re-made below when the API starts
	close(a.pumpDone)

	// The hub keys first: without one (and without broker.accept_unsigned) the agent must not run.
	hubKeys, err := cfg.HubPublicKeys()
	if err != nil {
		return a, fmt.Errorf("%w: %w", ErrStart, err)
	}

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
		Site: cfg.Site, Agent: cfg.Agent, Clock: deps.Clock, Logger: log.With("component", "journal")})
	if err != nil {
		return a, fmt.Errorf("%w: journal: %w", ErrStart, err)
	}
	if err := a.pickup.Refresh(ctx, a.store); err != nil {
		log.Warn("pickup policy record unreadable: handover_scan until the hub sends it again", logging.Err(err))
	}

	// 2. devices: the printers and the printing side of their stations (they connect on first
	// use; nothing is read yet), so that the supervision can list them from its first look.
	// Every result goes through res; its API and supervision are filled in as they start, each
	// before anything can deliver a result to it.
	res := &results{log: log, next: deps.OnResult}
	a.dev = devices.New(a.devicesOptions(cfg, deps, profiles, res))

	// 3. supervision: it decides the state of arriving orders, so it starts before intake.
	// The supervision's goroutine asks for the uplink's state at any time; the uplink starts
	// after it (it publishes the breaker's state), so it is handed over through up.
	var up atomic.Pointer[uplink.Uplink]
	a.sup, err = startSupervise(ctx, cfg, a.store, a.dev, up.Load, res, deps.Clock, log)
	if err != nil {
		return a, fmt.Errorf("%w: %w", ErrStart, err)
	}
	res.sup = a.sup

	// 4. intake (fed by the downlink once the uplink runs). It asks the uplink for catch-ups;
	// the uplink asks it where to catch up from after every reconnect.
	a.in, err = intake.New(ctx, a.store, intake.Options{Clock: deps.Clock, Logger: log,
		Contract: cfg.CheckOrderNo, RequestCatchup: func(since uint64) { a.up.RequestCatchup(since) },
		IntakeState: a.sup.Breaker().IntakeState, Grace: cfg.Broker.DownlinkGrace.D()})
	if err != nil {
		return a, fmt.Errorf("%w: %w", ErrStart, err)
	}

	// 5. uplink. It must outlive ctx: Stop ends it after the stations, in order. It believes only
	// what the hub signed and signs the agent's batches (hubtrust.go).
	trust, err := a.startUplink(ctx, cfg, deps, hubKeys)
	if err != nil {
		return a, err
	}
	up.Store(a.up)
	a.pumpDone = make(chan struct{})
	go downlink{cfg: cfg, store: a.store, pickup: &a.pickup, clk: deps.Clock, sup: a.sup, in: a.in, trust: trust, log: log}.pump(a.up.Downlink(), a.stop, a.pumpDone)

	// 6. stations, and the API handler that records their results (no read reaches a station
	// before the device inputs start below)
	inputs, handler := a.startStations(cfg, deps, res)

	// 7. device inputs: scanners (and the discovery watcher), then print proxies
	a.dev.Start(inputs)

	// 8. API server
	if err := a.serveAPI(cfg, handler); err != nil {
		return a, err
	}
	log.Info("agent started", "journal", a.store.JournalID(),
		"stations", len(a.stations), "devices", len(cfg.Devices))
	return a, nil
}

// devicesOptions wires the device binding: results go through res, unplugs and printer faults to
// the supervision (popup, metrics) and to the Deps hooks.
func (a *Agent) devicesOptions(cfg *config.Config, deps Deps, profiles map[string]profile.Profile, res *results) devices.Options {
	return devices.Options{
		Config: cfg, Profiles: profiles, Store: a.store, Clock: deps.Clock, Logger: a.log,
		OpenScanner: deps.OpenScanner, HIDEnumerate: deps.HIDEnumerate, HIDOpen: deps.HIDOpen,
		SerialPorts: deps.SerialPorts, Rescan: deps.Rescan, Debounce: deps.Debounce,
		OnResult: res.fromStation,
		// The supervision (next step) hears of unplugs (popup, metrics) and printer faults
		// (popup). Device and printer events come only from reads and jobs, after it started.
		OnEvent: []func(devices.Event){
			func(ev devices.Event) { a.sup.Events().DeviceEvent(ev.Kind, ev.Device, ev.Plugged) },
			deps.OnDeviceEvent,
		},
		OnPrinterEvent: []func(printing.Event){
			func(ev printing.Event) {
				if !ev.Cleared {
					a.sup.Events().PrinterFault(ev.Printer, ev.Message.String())
				}
			},
			deps.OnPrinterEvent,
		},
	}
}

// startUplink starts the uplink over the journal: it believes only what the hub signed and signs
// the agent's batches (hubtrust.go). It must outlive ctx: Stop ends it after the stations, in order.
func (a *Agent) startUplink(ctx context.Context, cfg *config.Config, deps Deps, hubKeys []ed25519.PublicKey) (*hubTrust, error) {
	log := a.log
	ownKey, err := agentKey(cfg, log)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStart, err)
	}
	trust := newHubTrust(a.store, deps.Clock, log, deps.OnRefused)
	a.up, err = uplink.New(context.WithoutCancel(ctx), a.store, uplink.Options{
		URL: cfg.Broker.URL, Site: cfg.Site, Agent: cfg.Agent,
		CAFile: cfg.Broker.CA, CertFile: cfg.Broker.Cert, KeyFile: cfg.Broker.Key,
		Username: cfg.Broker.Username, Password: cfg.Broker.Password,
		Clock: deps.Clock, Logger: log, Status: statusOf(cfg, a.store, a.sup, &a.pickup, deps.Clock),
		CatchupSince: a.in.CatchupSince,
		HubKeys:      hubKeys, AcceptUnsigned: cfg.Broker.AcceptUnsigned, SigningKey: ownKey, OnRefused: trust.onRefused,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: uplink: %w", ErrStart, err)
	}
	return trust, nil
}

// startStations makes the stations and the API handler that records their results (no read
// reaches a station before the device inputs start).
func (a *Agent) startStations(cfg *config.Config, deps Deps, res *results) ([]devices.Station, *api.API) {
	log := a.log
	var inputs []devices.Station
	for _, s := range cfg.Stations {
		st := station.New(station.Config{Name: s.Name, Role: s.Role, OperatorPattern: cfg.OperatorRE(), PairWindow: cfg.PairWindow.D()},
			a.store, station.Options{Clock: deps.Clock, Logger: log, OnResult: res.fromStation, Printing: a.dev.Printing(s.Name)})
		a.stations = append(a.stations, st)
		inputs = append(inputs, st)
	}
	handler := api.New(api.Options{
		Info:  api.Info{Site: cfg.Site, Agent: cfg.Agent, Version: version.Version},
		Token: cfg.API.Token, Store: a.store, Sync: a.up, Devices: a.dev.List,
		Settings: a.sup.Settings, SettingsHash: cfg.SettingsHash(),
		Pickup: func() string { return string(a.pickup.Load()) },
		Clock:  deps.Clock, Logger: log,
		Stations: a.stations, Printing: a.dev.PrintSet(),
		// Manual confirmations: the API records them itself; the rest of the sink is the stations'.
		OnResult: res.sink,
	})
	res.api = handler
	return inputs, handler
}

// serveAPI serves the API, the console, /metrics and the KPI on cfg.API.Listen ("off": nothing).
func (a *Agent) serveAPI(cfg *config.Config, handler http.Handler) error {
	if cfg.API.Listen == "off" {
		return nil
	}
	ln, err := net.Listen("tcp", cfg.API.Listen)
	if err != nil {
		return fmt.Errorf("%w: api listen %s: %w", ErrStart, cfg.API.Listen, err)
	}
	a.ln = ln
	mux := http.NewServeMux()
	mux.Handle("/", handler)
	a.sup.Register(mux) // /console/, /metrics, GET /api/v1/kpi
	a.srv = httpserve.Server(mux, httpserve.Options{AllowedHosts: allowedHosts(cfg.API)})
	a.httpDone = make(chan struct{})
	go func(srv *http.Server, ln net.Listener, done chan struct{}) {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("api server", logging.Err(err))
		}
	}(a.srv, a.ln, a.httpDone)
	a.log.Info("api listening", "url", "http://"+a.ln.Addr().String())
	return nil
}

// Supervisor is the agent's supervision (breaker, overdue, KPI, metrics, console).
func (a *Agent) Supervisor() *oversight.Oversight { return a.sup }

// Store is the agent's journal store.
func (a *Agent) Store() *journal.Store { return a.store }

// Heartbeats are the probes of the owner goroutines whose hang must restart the agent (see
// agent/watchdog): the journal writer and the uplink's owner loop, which answers while offline.
func (a *Agent) Heartbeats() map[string]func(context.Context) error {
	return map[string]func(context.Context) error{"journal": a.store.Heartbeat, "uplink": a.up.Heartbeat}
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

// Stop ends the agent in reverse start order: supervision, API, device inputs, stations, printers,
// downlink pump, intake, uplink, journal. It waits for each up to ctx's deadline. Calling it again
// returns the first result.
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
		if a.dev != nil {
			if err := a.dev.StopInputs(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		for _, s := range a.stations {
			s.Close()
		}
		if a.dev != nil {
			if err := a.dev.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		if err := waitCtx(ctx, func() { <-a.pumpDone }); err != nil {
			errs = append(errs, fmt.Errorf("downlink pump: %w", err))
		}
		if a.in != nil {
			a.in.Close() // its grace window asks the uplink for a catch-up: before the uplink stops
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
		a.log.Info("agent stopped")
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

// allowedHosts are the Host names the API answers to: the configured ones and the listen address's
// own host (loopback names are always allowed).
func allowedHosts(c config.API) []string {
	hosts := append([]string(nil), c.AllowedHosts...)
	if h, _, err := net.SplitHostPort(c.Listen); err == nil && h != "" && h != "0.0.0.0" && h != "::" {
		hosts = append(hosts, h)
	}
	return hosts
}
