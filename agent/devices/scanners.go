package devices

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"wedge/agent/api"
	"wedge/agent/config"
	"wedge/drivers/discovery"
	"wedge/drivers/profile"
	"wedge/drivers/scanner"
	"wedge/drivers/scanner/hidscan"
	"wedge/drivers/scanner/serialscan"
	"wedge/internal/clock"
	"wedge/internal/logging"
)

// Scanners: HID scanners, serial scanners bound by USB match rules through the discovery watcher,
// per-device health, unplug events, and feedback after the business decision.
//
// A scanner is opened in one of three ways:
//   - serial with a fixed port and no match: serialscan on that port (it reopens a vanished port);
//   - hid: hidscan with the match rule (it looks for the device again every 500 ms while absent);
//   - serial with match: a slot bound through the discovery watcher. When a matching USB serial
//     port appears the slot opens serialscan on it; when the port stays away longer than the
//     debounce the slot closes it, and the next matching port (maybe under another name) binds.
//
// The watcher runs when any HID or match-bound scanner is configured; its debounced plug/unplug
// events for configured devices go to Options.OnEvent and the log.

// openScanner is a scanner opened at Start (fixed port or HID), for its whole run.
type openScanner struct {
	dev config.Device
	sc  scanner.Scanner
}

// rule is the discovery rule of a configured scanner (ok false: none, a fixed port only).
func rule(d config.Device) (discovery.Rule, bool) {
	if d.Match == nil {
		if d.Transport == config.TransportSerial && d.Port != "" {
			return discovery.Rule{Port: d.Port}, true // for plug/unplug events only
		}
		return discovery.Rule{}, false
	}
	r := discovery.Rule{VID: d.Match.VID, PID: d.Match.PID, Serial: d.Match.Serial, USBPath: d.Match.USBPath, Interface: d.Match.Interface}
	if d.Transport == config.TransportSerial {
		r.Port = d.Port
	}
	return r, true
}

// boundDev is a serial scanner bound by a match rule: it has a scanner only while a matching port
// is present. Its health carries over from one bound scanner to the next.
type boundDev struct {
	dev  config.Device
	prof profile.Profile
	rule discovery.Rule
	st   Station // nil: no such station

	mu     sync.Mutex
	sc     scanner.Scanner // nil while unbound
	key    string          // discovery key of the bound port
	path   string
	binds  int
	past   scanner.Health // accumulated from scanners closed before
	errMsg string
	errAt  time.Time
}

func (b *boundDev) health() scanner.Health {
	b.mu.Lock()
	defer b.mu.Unlock()
	h := b.past
	h.Connected = false
	if b.sc != nil {
		cur := scannerHealth(b.sc)
		h.Connected = cur.Connected
		h.Reads += cur.Reads
		h.Reconnects += cur.Reconnects
		if cur.LastRead.After(h.LastRead) {
			h.LastRead = cur.LastRead
		}
		if cur.LastErrAt.After(h.LastErrAt) || (h.LastError == "" && cur.LastError != "") {
			h.LastError, h.LastErrAt = cur.LastError, cur.LastErrAt
		}
	}
	if b.binds > 1 {
		h.Reconnects += uint64(b.binds - 1)
	}
	if b.errAt.After(h.LastErrAt) {
		h.LastError, h.LastErrAt = b.errMsg, b.errAt
	}
	if b.sc == nil && h.LastError == "" {
		h.LastError = "no matching device attached"
	}
	return h
}

func scannerHealth(sc scanner.Scanner) scanner.Health {
	if h, ok := sc.(scanner.HealthReporter); ok {
		return h.Health()
	}
	return scanner.Health{Connected: true}
}

// openScanners opens every configured scanner and starts the discovery watcher when a scanner
// needs it.
func (d *Devices) openScanners(stations map[string]Station) {
	needWatch := false
	for _, c := range d.opts.Config.Devices {
		log := d.log.With(logging.KeyDevice, c.Name)
		if c.Kind != config.KindScanner {
			if c.Kind != config.KindPrinter {
				log.Warn("device kind not supported by this build yet; skipped", "kind", c.Kind)
			}
			continue
		}
		p, ok := d.opts.Profiles[c.Profile]
		if !ok {
			log.Error("unknown firmware profile; device skipped", "profile", c.Profile)
			continue
		}
		st := stations[c.Station]
		if c.Transport == config.TransportSerial && c.Match != nil {
			r, _ := rule(c)
			d.mu.Lock() // List may already run (the console polls it)
			d.bound = append(d.bound, &boundDev{dev: c, prof: p, rule: r, st: st})
			d.mu.Unlock()
			needWatch = true
			continue
		}
		if c.Transport == config.TransportHID {
			needWatch = true
		}
		sc, err := d.openScanner(c, p)
		if err != nil {
			// The driver retries a vanished device; an error here is a configuration problem
			// (unsupported transport, bad line settings, bad profile). Log it and keep running.
			log.Error("cannot open scanner", logging.Err(err))
			continue
		}
		d.mu.Lock()
		d.scanners = append(d.scanners, openScanner{dev: c, sc: sc})
		d.mu.Unlock()
		d.readers.Add(1)
		go d.read(c, sc, st)
	}
	if !needWatch {
		return
	}
	var set []profile.Profile
	for _, p := range d.opts.Profiles {
		set = append(set, p)
	}
	slices.SortFunc(set, func(x, y profile.Profile) int { return strings.Compare(x.ID, y.ID) })
	w := discovery.Watch(&discovery.Options{
		HIDEnumerate: d.opts.HIDEnumerate, SerialPorts: d.opts.SerialPorts, Profiles: set,
		Clock: d.opts.Clock, Logger: d.log, Interval: d.opts.Rescan, Debounce: d.opts.Debounce,
	})
	d.mu.Lock()
	d.watcher = w
	d.mu.Unlock()
	d.watchDone = make(chan struct{})
	go d.watch(w)
}

// watch is the owner of the bound slots: it applies the watcher's debounced events.
func (d *Devices) watch(w *discovery.Watcher) {
	defer close(d.watchDone)
	warned := map[string]bool{}
	for {
		select {
		case <-d.stop:
			return
		case ev := <-w.Events():
			d.onDeviceChange(w, ev, warned)
		}
	}
}

func (d *Devices) onDeviceChange(w *discovery.Watcher, ev discovery.Event, warned map[string]bool) {
	found := ev.Device
	for _, c := range d.opts.Config.Devices {
		if c.Kind != config.KindScanner {
			continue
		}
		r, ok := rule(c)
		if !ok || !transportFits(c.Transport, found.Transport) || !r.Matches(found) {
			continue
		}
		log := d.log.With(logging.KeyDevice, c.Name)
		if ev.Kind == discovery.Added && !warned[c.Name] {
			if n := len(discovery.Bind(w.Present(), r)); n > 1 {
				warned[c.Name] = true
				log.Warn("匹配规则命中多个设备，请加上 serial 或 usb_path / the match rule selects several attached devices: add serial or usb_path to tell them apart", "matches", n)
			}
		}
		attrs := []any{"path", found.Path, "vid", found.VID, "pid", found.PID}
		if ev.Kind == discovery.Removed {
			log.Warn("scanner unplugged", attrs...)
		} else {
			log.Info("scanner plugged in", attrs...)
		}
		if b := d.boundFor(c.Name); b != nil {
			if ev.Kind == discovery.Added {
				d.bind(b, found)
			} else {
				d.unbind(b, found.Key)
			}
		}
		d.event(Event{Device: c.Name, Kind: c.Kind, Station: c.Station,
			Plugged: ev.Kind == discovery.Added, Path: found.Path, At: ev.At})
	}
}

func transportFits(cfg, found string) bool {
	return (cfg == config.TransportHID && found == discovery.TransportHID) ||
		(cfg == config.TransportSerial && found == discovery.TransportSerial)
}

func (d *Devices) boundFor(name string) *boundDev {
	for _, b := range d.bound {
		if b.dev.Name == name {
			return b
		}
	}
	return nil
}

// bind opens the slot's scanner on port found, unless it is bound to a port that still works.
func (d *Devices) bind(b *boundDev, found discovery.Device) {
	b.mu.Lock()
	cur, curKey := b.sc, b.key
	b.mu.Unlock()
	if cur != nil {
		if curKey == found.Key || scannerHealth(cur).Connected {
			return
		}
		d.unbind(b, curKey) // replugged under another name before the old one timed out
	}
	dev := b.dev
	dev.Port = found.Path
	sc, err := d.openScanner(dev, b.prof)
	b.mu.Lock()
	defer b.mu.Unlock()
	if err != nil {
		b.errMsg, b.errAt = fmt.Sprintf("open %s: %v", found.Path, err), d.now()
		d.log.Warn("cannot open scanner", logging.KeyDevice, dev.Name, "path", found.Path, logging.Err(err))
		return
	}
	b.sc, b.key, b.path = sc, found.Key, found.Path
	b.binds++
	d.readers.Add(1)
	go d.read(dev, sc, b.st)
}

// unbind closes the slot's scanner if it is bound to key, keeping its health.
func (d *Devices) unbind(b *boundDev, key string) {
	b.mu.Lock()
	sc := b.sc
	if sc == nil || b.key != key {
		b.mu.Unlock()
		return
	}
	h := scannerHealth(sc)
	b.past.Reads += h.Reads
	b.past.Reconnects += h.Reconnects
	if h.LastRead.After(b.past.LastRead) {
		b.past.LastRead = h.LastRead
	}
	if h.LastErrAt.After(b.past.LastErrAt) {
		b.past.LastError, b.past.LastErrAt = h.LastError, h.LastErrAt
	}
	b.sc, b.key = nil, ""
	b.errMsg, b.errAt = "unplugged: "+b.path, d.now()
	b.mu.Unlock()
	if err := sc.Close(); err != nil {
		d.log.Warn("scanner close", logging.KeyDevice, b.dev.Name, logging.Err(err))
	}
}

// stopScanners stops the watcher and closes every scanner (StopInputs, after close(d.stop)).
func (d *Devices) stopScanners() []error {
	var errs []error
	d.mu.Lock()
	w := d.watcher
	d.mu.Unlock()
	if w != nil {
		w.Close()
		<-d.watchDone
	}
	for _, b := range d.bound {
		b.mu.Lock()
		key := b.key
		b.mu.Unlock()
		d.unbind(b, key)
	}
	d.mu.Lock()
	for _, s := range d.scanners {
		if err := s.sc.Close(); err != nil {
			errs = append(errs, fmt.Errorf("device %s: %w", s.dev.Name, err))
		}
	}
	d.mu.Unlock()
	return errs
}

// openScanner opens one scanner with its driver (or Options.OpenScanner).
func (d *Devices) openScanner(c config.Device, p profile.Profile) (scanner.Scanner, error) {
	log := d.log.With(logging.KeyDevice, c.Name)
	if d.opts.OpenScanner != nil {
		return d.opts.OpenScanner(c, p, log)
	}
	switch c.Transport {
	case config.TransportSerial:
		return serialscan.OpenProfile(c.Name, c.Port, p, &serialscan.Options{Clock: d.opts.Clock, Logger: log})
	case config.TransportHID:
		r, _ := rule(c)
		m, err := r.HIDMatch()
		if err != nil {
			return nil, err
		}
		return hidscan.Open(hidscan.ConfigFor(c.Name, m, p), &hidscan.Options{Clock: d.opts.Clock, Logger: log,
			Enumerate: d.opts.HIDEnumerate, Open: d.opts.HIDOpen, Rescan: d.opts.Rescan})
	}
	return nil, fmt.Errorf("transport %q is not supported by this build", c.Transport)
}

// read is one scanner's reader: every read goes to its station, and the outcome goes back to the
// scanner as feedback (accepted or already done → Good, rejected → Bad; noise → Bad) on the
// reader's feedback goroutine, so a slow or stuck beep never delays the next read.
func (d *Devices) read(c config.Device, sc scanner.Scanner, st Station) {
	defer d.readers.Done()
	log := d.log.With(logging.KeyDevice, c.Name)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-d.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	var fbq chan scanner.Outcome
	if fb, ok := sc.(scanner.Feedbacker); ok {
		fbq = make(chan scanner.Outcome, FeedbackQueue)
		fbDone := make(chan struct{})
		go feedback(ctx, log, fb, fbq, fbDone)
		defer func() { close(fbq); <-fbDone }()
	}
	var noiseBeep time.Time // when noise last got its bad beep
	for {
		r, err := sc.Read()
		if err != nil {
			if !scanner.Recoverable(err) {
				return
			}
			log.Warn("scanner read", logging.Err(err))
			// Noise gets the bad beep too, so the operator scans again; at most one per
			// NoiseBeepGap, and never in place of a waiting beep of a read.
			if fbq != nil && (errors.Is(err, scanner.ErrNoise) || errors.Is(err, scanner.ErrOverlong)) {
				if now := d.now(); noiseBeep.IsZero() || now.Sub(noiseBeep) >= NoiseBeepGap {
					noiseBeep = now
					select {
					case fbq <- scanner.Bad:
					default:
					}
				}
			}
			continue
		}
		if r.Device == "" {
			r.Device = c.Name
		}
		if st == nil {
			log.Error("no such station; read dropped", logging.KeyStation, c.Station, "code", r.Text)
			continue
		}
		res := st.Handle(ctx, r)
		if fbq == nil {
			continue
		}
		o := scanner.Bad
		if res.Good() {
			o = scanner.Good
		}
		select {
		case fbq <- o:
		default: // the oldest waiting beep goes; the operator waits for this one
			select {
			case <-fbq:
			default:
			}
			select {
			case fbq <- o:
			default:
			}
			log.Warn("feedback queue full (the scanner does not take its beeps); the oldest waiting one was not sent")
		}
	}
}

// feedbackRetry paces retries while a HID scanner is still writing the previous feedback.
const feedbackRetry = 5 * time.Millisecond

// feedback sends queued outcomes to the scanner in order, each bounded by FeedbackTimeout. hidscan
// drops a beep while the previous one is still being written (ErrFeedbackBusy); back-to-back reads
// would lose theirs, so it is retried every 5 ms until the bound. The pacing uses the wall clock
// on purpose: it waits for a device write, not for business time (a fake clock would stall it).
func feedback(ctx context.Context, log *slog.Logger, fb scanner.Feedbacker, q <-chan scanner.Outcome, done chan<- struct{}) {
	defer close(done)
	for o := range q {
		fctx, cancel := context.WithTimeout(ctx, FeedbackTimeout)
		err := fb.Feedback(fctx, o)
		for errors.Is(err, hidscan.ErrFeedbackBusy) {
			t := clock.Real.NewTimer(feedbackRetry)
			select {
			case <-fctx.Done():
				err = fmt.Errorf("%w (%w)", err, fctx.Err())
			case <-t.C():
				err = fb.Feedback(fctx, o)
			}
			t.Stop()
			if fctx.Err() != nil {
				break
			}
		}
		cancel()
		if err != nil && !errors.Is(err, context.Canceled) {
			log.Warn("scanner feedback", logging.Err(err))
		}
	}
}

// scannerDevice fills x (a scanner in the list) with its health and the port it is bound to.
// d.mu is held.
func (d *Devices) scannerDevice(c config.Device, open map[string]scanner.Scanner, x *api.Device) {
	if b := d.boundFor(c.Name); b != nil {
		x.Health = b.health()
		b.mu.Lock()
		if b.sc != nil {
			x.Port = b.path
		}
		b.mu.Unlock()
		return
	}
	if sc, ok := open[c.Name]; ok {
		x.Health = scannerHealth(sc)
		if c.Transport == config.TransportHID && d.watcher != nil {
			if r, ok := rule(c); ok {
				for _, dev := range discovery.Bind(d.watcher.Present(), r) {
					if dev.Transport == discovery.TransportHID {
						x.Port = dev.Path
						break
					}
				}
			}
		}
		return
	}
	x.Health.LastError = "not opened (see the agent log)"
}
