// Package watchdog sends systemd's WATCHDOG=1 only while the agent's vital owner goroutines answer
// a heartbeat: the journal writer and the uplink's owner loop. Every Interval it asks each probe
// once; when all of a round's probes have answered without error, it pings. A probe that does not
// answer (a stuck writer) is not asked again until it does, so no goroutines pile up, and no ping
// is sent while it hangs: systemd kills and restarts the agent after WatchdogSec. A broker outage
// does not stop the pings: the uplink loop answers while offline.
package watchdog

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"wedge/internal/clock"
	"wedge/internal/logging"
	"wedge/internal/sdnotify"
)

// Probe asks one component's owner goroutine for a heartbeat; it returns nil once the goroutine
// answered and ctx's error if ctx ends first (ctx ends only when the watchdog stops).
type Probe func(ctx context.Context) error

// Options configure a Watchdog.
type Options struct {
	// Interval between rounds; default 10 s. Use a third of WatchdogSec (see ForSystemd), so a
	// healthy agent pings about three times within systemd's limit.
	Interval time.Duration
	// Notify sends one ping; default sdnotify.Watchdog (WATCHDOG=1 to $NOTIFY_SOCKET).
	Notify func() error
	Clock  clock.Clock  // default real
	Logger *slog.Logger // default discard
}

// ErrNoProbes is returned by Start without probes: a watchdog that pings unconditionally would
// hide exactly the hangs it exists for.
var ErrNoProbes = errors.New("watchdog: no probes")

// ForSystemd is the Options for the watchdog systemd asked for ($WATCHDOG_USEC), and false when
// it asked for none (no WatchdogSec=, or not started by systemd).
func ForSystemd() (Options, bool) {
	d, ok := sdnotify.WatchdogInterval()
	if !ok {
		return Options{}, false
	}
	return Options{Interval: max(d/3, time.Millisecond)}, true
}

// Watchdog is the owner goroutine of the rounds; Stop ends it.
type Watchdog struct {
	probes  map[string]Probe
	opts    Options
	results chan result
	cancel  context.CancelFunc
	ctx     context.Context
	done    chan struct{}
	wg      sync.WaitGroup // probe goroutines
}

type result struct {
	name  string
	round uint64
	err   error
}

// Start starts the watchdog; its first round is at once. It stops when ctx ends or on Stop.
func Start(ctx context.Context, probes map[string]Probe, opts Options) (*Watchdog, error) {
	if len(probes) == 0 {
		return nil, ErrNoProbes
	}
	if opts.Interval <= 0 {
		opts.Interval = 10 * time.Second
	}
	if opts.Notify == nil {
		opts.Notify = sdnotify.Watchdog
	}
	opts.Clock = clock.Or(opts.Clock)
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	w := &Watchdog{probes: probes, opts: opts, results: make(chan result, len(probes)), done: make(chan struct{})}
	w.ctx, w.cancel = context.WithCancel(ctx)
	go w.run()
	return w, nil
}

// Stop ends the rounds, cancels probes still waiting, and waits for them up to ctx's deadline.
func (w *Watchdog) Stop(ctx context.Context) error {
	w.cancel()
	all := make(chan struct{})
	go func() { <-w.done; w.wg.Wait(); close(all) }()
	select {
	case <-all:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// round is what the owner knows about the current round.
type round struct {
	n        uint64
	answered map[string]bool
	failed   bool
}

func (w *Watchdog) run() {
	defer close(w.done)
	inflight := map[string]bool{}
	var r round
	var silent []string // the probes that did not answer last round, for logging changes only
	t := w.opts.Clock.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-t.C():
			t.Reset(w.opts.Interval)
			stuck := w.startRound(&r, inflight)
			silent = w.logStuck(silent, stuck)
		case res := <-w.results:
			delete(inflight, res.name)
			w.answer(&r, res)
		}
	}
}

// startRound asks every probe that is not still busy with an earlier question; a busy one fails
// the round. It returns the busy ones, sorted.
func (w *Watchdog) startRound(r *round, inflight map[string]bool) []string {
	*r = round{n: r.n + 1, answered: map[string]bool{}}
	var stuck []string
	for name, p := range w.probes {
		if inflight[name] {
			stuck = append(stuck, name)
			r.failed = true
			continue
		}
		inflight[name] = true
		w.wg.Add(1)
		go func(name string, p Probe, n uint64) {
			defer w.wg.Done()
			err := p(w.ctx)
			select {
			case w.results <- result{name: name, round: n, err: err}:
			case <-w.ctx.Done():
			}
		}(name, p, r.n)
	}
	sort.Strings(stuck)
	return stuck
}

// answer records one probe's answer; the last good answer of a healthy round pings systemd.
func (w *Watchdog) answer(r *round, res result) {
	if res.round != r.n {
		return // a late answer to an earlier round: the probe is free again, nothing more
	}
	if res.err != nil {
		r.failed = true
		if w.ctx.Err() == nil {
			w.opts.Logger.Error("看门狗：组件心跳失败，暂停通知 systemd watchdog: a component's heartbeat failed, pings withheld",
				"component", res.name, logging.Err(res.err))
		}
		return
	}
	r.answered[res.name] = true
	if r.failed || len(r.answered) < len(w.probes) {
		return
	}
	if err := w.opts.Notify(); err != nil {
		w.opts.Logger.Warn("看门狗：无法通知 systemd watchdog: cannot notify systemd", logging.Err(err))
	}
}

// logStuck logs when the set of components not answering changes, not every round.
func (w *Watchdog) logStuck(before, now []string) []string {
	if strings.Join(before, ",") == strings.Join(now, ",") {
		return now
	}
	if len(now) > 0 {
		w.opts.Logger.Error("看门狗：组件无响应，暂停通知 systemd（将被重启） watchdog: components not answering, pings withheld (systemd will restart the agent)",
			"components", strings.Join(now, ","))
	} else {
		w.opts.Logger.Info("看门狗：组件恢复响应 watchdog: all components answer again")
	}
	return now
}
