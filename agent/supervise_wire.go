package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"wedge/agent/api"
	"wedge/agent/breaker"
	"wedge/agent/config"
	"wedge/agent/console"
	"wedge/agent/devices"
	"wedge/agent/intake"
	"wedge/agent/journal"
	"wedge/agent/oversight"
	"wedge/agent/pickup"
	"wedge/agent/station"
	"wedge/agent/version"
	"wedge/internal/clock"
	"wedge/internal/logging"
	"wedge/order"
	"wedge/sync/uplink"
	"wedge/sync/wire"
)

// The wiring between the agent's parts: where results, hub messages, the status and the
// supervision's views come from and go to.

// results routes every committed result. Station and print proxy results (fromStation) go to the
// API's recent list; those and the API's manual confirmations (sink) go to the outcome log line,
// the supervision (console feed, metrics) and Deps.OnResult. api and sup are set once they run,
// before anything can deliver a result to them.
type results struct {
	log  *slog.Logger
	api  *api.API
	sup  *oversight.Oversight
	next func(station.Result)
}

func (r *results) fromStation(res station.Result) {
	if r.api != nil {
		r.api.Record(res)
	}
	r.sink(res)
}

func (r *results) sink(res station.Result) {
	if res.Err == nil {
		// One machine-readable line per committed outcome (the station's own line is for people):
		// whoever reads the log (tests, log shippers) learns what the operator was told, and it is
		// written only after the commit, so an accepted line is never lost by a crash.
		r.log.Info("outcome", logging.KeyStation, res.Station, logging.KeyDevice, res.Device, "code", res.Code,
			"result", res.Outcome.Result.String(), "kind", res.Kind, logging.KeyOrder, res.Entry.OrderID,
			"reason", res.Entry.Reason, logging.KeySeq, res.Entry.Seq)
	}
	if r.sup != nil {
		r.sup.Events().OnResult(res)
	}
	if r.next != nil {
		r.next(res)
	}
}

// downlink routes what the hub sends: commands on the agent's command topic to the supervision
// (unless replayed), everything else to the intake — as authenticated when the hub's signature
// was verified. What the uplink refused never gets here.
type downlink struct {
	cfg    *config.Config
	store  *journal.Store // pickup policy commands
	pickup *pickup.Cache
	clk    clock.Clock
	sup    *oversight.Oversight
	in     *intake.Intake
	trust  *hubTrust
	log    *slog.Logger
}

// pump applies the messages of dl until stop is closed or dl ends, then closes done.
func (d downlink) pump(dl <-chan uplink.Message, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmdTopic := wire.TopicCommand(d.cfg.Site, d.cfg.Agent)
	for {
		select {
		case <-stop:
			return
		case m, ok := <-dl:
			if !ok {
				return
			}
			if m.Topic == cmdTopic {
				d.command(ctx, m.Payload)
				continue
			}
			group, next, open := gather(dl, m, cmdTopic)
			if err := d.in.ApplyAll(ctx, group); err != nil {
				d.log.Error("downlink payload not applied", logging.Err(err), "payloads", len(group))
			}
			d.sup.Kick()
			if next != nil {
				d.command(ctx, next.Payload)
			}
			if !open {
				return
			}
		}
	}
}

// maxGroup bounds the downlink payloads applied in one journal transaction.
const maxGroup = 32

// gather takes first and the downlink payloads already waiting behind it (up to maxGroup), to
// apply them in one journal commit. It stops at a command, which it returns to be handled after
// the group (in arrival order), and reports whether dl is still open.
func gather(dl <-chan uplink.Message, first uplink.Message, cmdTopic string) (group []intake.Payload, cmd *uplink.Message, open bool) {
	group = []intake.Payload{{Data: first.Payload, Authenticated: first.Authenticated}}
	for len(group) < maxGroup {
		select {
		case m, ok := <-dl:
			if !ok {
				return group, nil, false
			}
			if m.Topic == cmdTopic {
				return group, &m, true
			}
			group = append(group, intake.Payload{Data: m.Payload, Authenticated: m.Authenticated})
		default:
			return group, nil, true
		}
	}
	return group, nil, true
}

// command admits and applies one hub command (the breaker's thresholds or the pickup policy, by
// its type), and records it handled.
func (d downlink) command(ctx context.Context, payload []byte) {
	key, ok := d.trust.admitCommand(ctx, payload)
	if !ok {
		return
	}
	var err error
	if order.CommandType(payload) == order.CommandPickup {
		err = pickup.Command(ctx, d.store, payload, clock.Or(d.clk).Now().UTC())
		if errors.Is(err, pickup.ErrCommand) {
			err = fmt.Errorf("%w: %w", oversight.ErrCommand, err)
		} else if err == nil {
			err = d.pickup.Refresh(ctx, d.store) // the status reports the new policy
		}
	} else {
		err = d.sup.Breaker().Command(ctx, payload)
	}
	if errors.Is(err, oversight.ErrCommand) {
		d.log.Warn("hub command refused", logging.Err(err))
	} else if err != nil {
		d.log.Error("hub command not applied", logging.Err(err))
	}
	if err == nil || errors.Is(err, oversight.ErrCommand) {
		d.trust.commandHandled(ctx, key)
	}
}

// statusOf is the agent's status for the uplink to publish, with the hash of the file's shared
// settings and, beside it, the settings a hub command overrides.
func statusOf(cfg *config.Config, store *journal.Store, sup *oversight.Oversight, pol *pickup.Cache, clk clock.Clock) func() wire.Status {
	hash := cfg.SettingsHash()
	return func() wire.Status {
		s := wire.Status{State: "online", Site: cfg.Site, Agent: cfg.Agent, Version: version.Version,
			At: wire.Time(clock.Or(clk).Now()), JournalID: store.JournalID(), BreakerOpen: sup.Breaker().Open(),
			SettingsHash: hash, SettingsOverrides: overridesText(sup.SettingsOverrides()), Pickup: string(pol.Load())}
		l, k := store.LastSeq(), store.AckedSeq()
		s.LastSeq = l // the hub's lag metric: last seq − what it acked
		if l > k {
			s.Unsynced = l - k
		}
		return s
	}
}

// startSupervise starts the supervision over the journal: breaker, overdue alerts, KPI, metrics and
// the console, whose device board is dev's list and whose sync state is the journal's and the
// uplink's (up returns nil until the uplink runs). Its confirmations take the API's path
// (station.Confirm, trigger manual) and are recorded through res like every station result.
func startSupervise(ctx context.Context, cfg *config.Config, store *journal.Store, dev *devices.Devices,
	up func() *uplink.Uplink, res *results, clk clock.Clock, log *slog.Logger) (*oversight.Oversight, error) {
	key, err := cfg.SessionKey()
	if err != nil {
		return nil, err
	}
	return oversight.New(ctx, store, oversight.Options{
		Site: cfg.Site, Agent: cfg.Agent,
		Breaker: breaker.Options{MaxBacklog: cfg.Breaker.MaxBacklog, MaxAvgWait: cfg.Breaker.MaxAvgWait.D(),
			CloseRatio: cfg.Breaker.CloseRatio, CloseAfter: cfg.Breaker.CloseAfter.D()},
		OverdueAfter:       cfg.OverdueAfter.D(),
		IntakeLatencyAlert: cfg.Intake.LatencyAlert.D(),
		Settings:           cfg.ReportedSettings(),
		ConfigFile:         cfg.File,
		KPI:                kpiOptions(cfg.KPI),
		Console: console.Options{Users: cfg.Console.Users, SessionKey: key,
			AllowedOrigins: cfg.Console.AllowedOrigins, SecureCookies: cfg.Console.SecureCookies},
		Devices: func() []console.Device { return consoleDevices(dev) },
		Sync:    func() console.Sync { return consoleSync(store, up()) },
		PublishStatus: func() {
			if u := up(); u != nil {
				u.PublishStatus()
			}
		},
		Confirm: func(ctx context.Context, req station.ManualRequest) station.Result {
			r := station.Confirm(ctx, store, req, clk)
			if r.Err == nil {
				res.fromStation(r)
			}
			return r
		},
		Every:  oversight.DefaultEvery,
		Clock:  clock.Or(clk),
		Logger: log,
	})
}

func consoleDevices(dev *devices.Devices) []console.Device {
	ds := dev.List()
	out := make([]console.Device, 0, len(ds))
	for _, d := range ds {
		h := "ok"
		if !d.Health.Connected {
			h = "unplugged"
		}
		out = append(out, console.Device{Name: d.Name, Kind: d.Kind, Station: d.Station, Up: d.Health.Connected, Health: h, Detail: d.Health.LastError})
	}
	return out
}

func consoleSync(store *journal.Store, up *uplink.Uplink) console.Sync {
	var s console.Sync
	if l, k := store.LastSeq(), store.AckedSeq(); l > k {
		s.Unsynced = l - k
	}
	if up != nil {
		s.Connected = up.Connected()
		s.LastAck = up.LastAck()
	}
	return s
}

// overridesText is wire.Status.SettingsOverrides: "field=value" pairs sorted by field, joined by ";".
func overridesText(m map[string]string) string {
	var parts []string
	for _, f := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, f+"="+m[f])
	}
	return strings.Join(parts, ";")
}
