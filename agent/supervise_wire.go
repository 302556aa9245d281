package agent

import (
	"context"

	"wedge/agent/breaker"
	"wedge/agent/console"
	"wedge/agent/station"
	"wedge/agent/supervise"
	"wedge/internal/clock"
)

// startSupervise starts the issue-5 supervision over the journal (agent/supervise).
func (a *Agent) startSupervise(ctx context.Context) error {
	cfg := a.cfg
	key, err := cfg.SessionKey()
	if err != nil {
		return err
	}
	clk := clock.Or(a.deps.Clock)
	// Plug/unplug events from the discovery watcher also go to the console (popup) and metrics.
	next := a.deps.OnDeviceEvent
	a.deps.OnDeviceEvent = func(ev DeviceEvent) {
		if a.sup != nil {
			a.sup.DeviceEvent(ev.Kind, ev.Device, ev.Plugged)
		}
		if next != nil {
			next(ev)
		}
	}
	a.sup, err = supervise.New(ctx, a.store, supervise.Options{
		Site: cfg.Site, Agent: cfg.Agent,
		Breaker: breaker.Options{MaxBacklog: cfg.Breaker.MaxBacklog, MaxAvgWait: cfg.Breaker.MaxAvgWait.D(),
			CloseRatio: cfg.Breaker.CloseRatio, CloseAfter: cfg.Breaker.CloseAfter.D()},
		OverdueAfter: cfg.OverdueAfter.D(),
		KPI:          kpiOptions(cfg.KPI),
		Console: console.Options{Users: cfg.Console.Users, SessionKey: key,
			AllowedOrigins: cfg.Console.AllowedOrigins, SecureCookies: cfg.Console.SecureCookies},
		Devices: a.consoleDevices,
		Sync:    a.consoleSync,
		PublishStatus: func() {
			if a.up != nil {
				a.up.PublishStatus()
			}
		},
		// The console's confirmations take the API's path (station.Confirm, trigger manual) and
		// are recorded like every station result.
		Confirm: func(ctx context.Context, req station.ManualRequest) station.Result {
			r := station.Confirm(ctx, a.store, req, a.deps.Clock)
			if r.Err == nil {
				a.onResult(r)
			}
			return r
		},
		Every: supervise.DefaultEvery,
		Clock: clk,
		Logf:  prefixed(a.logf, ""),
	})
	return err
}

func (a *Agent) consoleDevices() []console.Device {
	ds := a.devices()
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

func (a *Agent) consoleSync() console.Sync {
	var s console.Sync
	if a.store != nil {
		if l, k := a.store.LastSeq(), a.store.AckedSeq(); l > k {
			s.Unsynced = l - k
		}
	}
	if a.up != nil {
		s.Connected = a.up.Connected()
		s.LastAck = a.up.LastAck()
	}
	return s
}
