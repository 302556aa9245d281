package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"wedge/agent/api"
	"wedge/agent/config"
	"wedge/agent/station"
	"wedge/drivers/discovery"
	"wedge/drivers/profile"
	"wedge/drivers/scanner"
	"wedge/drivers/scanner/hidscan"
	"wedge/drivers/scanner/serialscan"
	"wedge/internal/clock"
	"wedge/internal/logging"
)

// Issue 4, agent side: HID scanners, serial scanners bound by USB match rules through the
// discovery watcher, per-device health, unplug events, and feedback after the business decision.
//
// A scanner is opened in one of three ways:
//   - serial with a fixed port and no match: serialscan on that port (it reopens a vanished port);
//   - hid: hidscan with the match rule (it looks for the device again every 500 ms while absent);
//   - serial with match: a slot bound through the discovery watcher. When a matching USB serial
//     port appears the slot opens serialscan on it; when the port stays away longer than the
//     debounce the slot closes it, and the next matching port (maybe under another name) binds.
//
// The watcher runs when any HID or match-bound scanner is configured; its debounced plug/unplug
// events for configured devices go to Deps.OnDeviceEvent and the log.

// DeviceEvent is a configured device plugged in or unplugged (debounced: a brief drop-out is no
// event), for Deps.OnDeviceEvent.
type DeviceEvent struct {
	Device  string    `json:"device"` // the configured name
	Kind    string    `json:"kind"`   // scanner
	Station string    `json:"station"`
	Plugged bool      `json:"plugged"` // false: unplugged
	Path    string    `json:"path"`    // the HID path or serial port
	At      time.Time `json:"at"`
}

// Default discovery timing (Deps.Rescan, Deps.Debounce).
const (
	DefaultRescan   = 500 * time.Millisecond
	DefaultDebounce = time.Second
	// FeedbackQueue is how many outcomes may wait for a scanner's feedback goroutine; beyond that
	// the oldest waiting beep is not sent (logged), so feedback never holds up a read.
	FeedbackQueue = 8
)

// ProfileTransports lists the scanner transports a profile has settings for: "serial" for a serial
// block or a cdc_serial/usb_com USB identity or mode, "hid" for a hid block or a hid_pos/keyboard
// USB identity or mode.
func ProfileTransports(p profile.Profile) []string {
	serial, hid := p.Serial != nil, p.HID != nil
	modes := slices.Collect(maps.Keys(p.Modes))
	for _, u := range p.USB {
		modes = append(modes, u.Mode)
	}
	for _, m := range modes {
		switch m {
		case profile.ModeCDCSerial, profile.ModeUSBCOM:
			serial = true
		case profile.ModeHIDPOS, profile.ModeKeyboard:
			hid = true
		}
	}
	var out []string
	if serial {
		out = append(out, config.TransportSerial)
	}
	if hid {
		out = append(out, config.TransportHID)
	}
	return out
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
	st   *station.Station

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

// openScanners opens every configured scanner (step 5 of New) and starts the discovery watcher
// when a scanner needs it.
func (a *Agent) openScanners(profiles map[string]profile.Profile) {
	needWatch := false
	for _, d := range a.cfg.Devices {
		if d.Kind != config.KindScanner {
			if d.Kind != config.KindPrinter {
				a.logf("device %s: %s devices are not supported by this build yet; skipped", d.Name, d.Kind)
			}
			continue
		}
		p, ok := profiles[d.Profile]
		if !ok {
			a.logf("device %s: unknown firmware profile %q; skipped", d.Name, d.Profile)
			continue
		}
		st := a.stations[d.Station]
		if d.Transport == config.TransportSerial && d.Match != nil {
			r, _ := rule(d)
			a.mu.Lock() // devices() may already run (the console polls it)
			a.bound = append(a.bound, &boundDev{dev: d, prof: p, rule: r, st: st})
			a.mu.Unlock()
			needWatch = true
			continue
		}
		if d.Transport == config.TransportHID {
			needWatch = true
		}
		sc, err := a.openScanner(d, p)
		if err != nil {
			// The driver retries a vanished device; an error here is a configuration problem
			// (unsupported transport, bad line settings, bad profile). Log it and keep running.
			a.logf("device %s: cannot open: %v", d.Name, err)
			continue
		}
		a.mu.Lock()
		a.scanners = append(a.scanners, devScanner{dev: d, sc: sc})
		a.mu.Unlock()
		a.readers.Add(1)
		go a.read(d, sc, st)
	}
	if !needWatch {
		return
	}
	var set []profile.Profile
	for _, p := range profiles {
		set = append(set, p)
	}
	slices.SortFunc(set, func(x, y profile.Profile) int { return strings.Compare(x.ID, y.ID) })
	w := discovery.Watch(&discovery.Options{
		HIDEnumerate: a.deps.HIDEnumerate, SerialPorts: a.deps.SerialPorts, Profiles: set,
		Clock: a.deps.Clock, Logger: logging.FromLogf(a.logf), Interval: a.deps.Rescan, Debounce: a.deps.Debounce,
	})
	a.mu.Lock()
	a.watcher = w
	a.mu.Unlock()
	a.watchDone = make(chan struct{})
	go a.watch()
}

// watch is the owner of the bound slots: it applies the watcher's debounced events.
func (a *Agent) watch() {
	defer close(a.watchDone)
	warned := map[string]bool{}
	for {
		select {
		case <-a.stop:
			return
		case ev := <-a.watcher.Events():
			a.onDeviceChange(ev, warned)
		}
	}
}

func (a *Agent) onDeviceChange(ev discovery.Event, warned map[string]bool) {
	d := ev.Device
	for _, cd := range a.cfg.Devices {
		if cd.Kind != config.KindScanner {
			continue
		}
		r, ok := rule(cd)
		if !ok || !transportFits(cd.Transport, d.Transport) || !r.Matches(d) {
			continue
		}
		if ev.Kind == discovery.Added && !warned[cd.Name] {
			if n := len(discovery.Bind(a.watcher.Present(), r)); n > 1 {
				warned[cd.Name] = true
				a.logf("device %s: 匹配规则命中 %d 个设备，请加上 serial 或 usb_path / the match rule selects %d attached devices: add serial or usb_path to tell them apart", cd.Name, n, n)
			}
		}
		verb := "plugged in"
		if ev.Kind == discovery.Removed {
			verb = "unplugged"
		}
		a.logf("device %s: %s (%s %s:%s)", cd.Name, verb, d.Path, d.VID, d.PID)
		if b := a.boundFor(cd.Name); b != nil {
			if ev.Kind == discovery.Added {
				a.bind(b, d)
			} else {
				a.unbind(b, d.Key)
			}
		}
		if a.deps.OnDeviceEvent != nil {
			a.deps.OnDeviceEvent(DeviceEvent{Device: cd.Name, Kind: cd.Kind, Station: cd.Station,
				Plugged: ev.Kind == discovery.Added, Path: d.Path, At: ev.At})
		}
	}
}

func transportFits(cfg, found string) bool {
	return (cfg == config.TransportHID && found == discovery.TransportHID) ||
		(cfg == config.TransportSerial && found == discovery.TransportSerial)
}

func (a *Agent) boundFor(name string) *boundDev {
	for _, b := range a.bound {
		if b.dev.Name == name {
			return b
		}
	}
	return nil
}

// bind opens the slot's scanner on port d, unless it is bound to a port that still works.
func (a *Agent) bind(b *boundDev, d discovery.Device) {
	b.mu.Lock()
	cur, curKey := b.sc, b.key
	b.mu.Unlock()
	if cur != nil {
		if curKey == d.Key || scannerHealth(cur).Connected {
			return
		}
		a.unbind(b, curKey) // replugged under another name before the old one timed out
	}
	dev := b.dev
	dev.Port = d.Path
	sc, err := a.openScanner(dev, b.prof)
	b.mu.Lock()
	defer b.mu.Unlock()
	if err != nil {
		b.errMsg, b.errAt = fmt.Sprintf("open %s: %v", d.Path, err), clockNow(a)
		a.logf("device %s: cannot open %s: %v", dev.Name, d.Path, err)
		return
	}
	b.sc, b.key, b.path = sc, d.Key, d.Path
	b.binds++
	a.readers.Add(1)
	go a.read(dev, sc, b.st)
}

// unbind closes the slot's scanner if it is bound to key, keeping its health.
func (a *Agent) unbind(b *boundDev, key string) {
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
	b.errMsg, b.errAt = "unplugged: "+b.path, clockNow(a)
	b.mu.Unlock()
	if err := sc.Close(); err != nil {
		a.logf("device %s: close: %v", b.dev.Name, err)
	}
}

func clockNow(a *Agent) time.Time {
	if a.deps.Clock != nil {
		return a.deps.Clock.Now()
	}
	return time.Now()
}

// stopScanners stops the watcher and closes every scanner (Stop, after close(a.stop)).
func (a *Agent) stopScanners() []error {
	var errs []error
	if a.watcher != nil {
		a.watcher.Close()
		<-a.watchDone
	}
	for _, b := range a.bound {
		b.mu.Lock()
		key := b.key
		b.mu.Unlock()
		a.unbind(b, key)
	}
	a.mu.Lock()
	for _, s := range a.scanners {
		if err := s.sc.Close(); err != nil {
			errs = append(errs, fmt.Errorf("device %s: %w", s.dev.Name, err))
		}
	}
	a.mu.Unlock()
	return errs
}

// openScanner opens one scanner with its driver (or Deps.OpenScanner).
func (a *Agent) openScanner(d config.Device, p profile.Profile) (scanner.Scanner, error) {
	logf := prefixed(a.logf, "device "+d.Name+": ")
	if a.deps.OpenScanner != nil {
		return a.deps.OpenScanner(d, p, logf)
	}
	switch d.Transport {
	case config.TransportSerial:
		return serialscan.OpenProfile(d.Name, d.Port, p, &serialscan.Options{Clock: a.deps.Clock, Logger: logging.FromLogf(logf)})
	case config.TransportHID:
		r, _ := rule(d)
		m, err := r.HIDMatch()
		if err != nil {
			return nil, err
		}
		return hidscan.Open(hidscan.ConfigFor(d.Name, m, p), &hidscan.Options{Clock: a.deps.Clock, Logger: logging.FromLogf(logf),
			Enumerate: a.deps.HIDEnumerate, Open: a.deps.HIDOpen, Rescan: a.deps.Rescan})
	}
	return nil, fmt.Errorf("transport %q is not supported by this build", d.Transport)
}

// read is one scanner's reader: every read goes to its station, and the outcome goes back to the
// scanner as feedback (accepted or already done → Good, rejected → Bad) on the reader's feedback
// goroutine, so a slow or stuck beep never delays the next read.
func (a *Agent) read(d config.Device, sc scanner.Scanner, st *station.Station) {
	defer a.readers.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-a.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	var fbq chan scanner.Outcome
	if fb, ok := sc.(scanner.Feedbacker); ok {
		fbq = make(chan scanner.Outcome, FeedbackQueue)
		fbDone := make(chan struct{})
		go a.feedback(ctx, d.Name, fb, fbq, fbDone)
		defer func() { close(fbq); <-fbDone }()
	}
	for {
		r, err := sc.Read()
		if err != nil {
			if !scanner.Recoverable(err) {
				return
			}
			a.logf("device %s: %v", d.Name, err)
			continue
		}
		if r.Device == "" {
			r.Device = d.Name
		}
		if st == nil {
			a.logf("device %s: no station %q; read %q dropped", d.Name, d.Station, r.Text)
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
			a.logf("device %s: feedback queue full (the scanner does not take its beeps); the oldest waiting one was not sent", d.Name)
		}
	}
}

// feedbackRetry paces retries while a HID scanner is still writing the previous feedback.
const feedbackRetry = 5 * time.Millisecond

// feedback sends queued outcomes to the scanner in order, each bounded by FeedbackTimeout. hidscan
// drops a beep while the previous one is still being written (ErrFeedbackBusy); back-to-back reads
// would lose theirs, so it is retried every 5 ms until the bound. The pacing uses the wall clock
// on purpose: it waits for a device write, not for business time (a fake clock would stall it).
func (a *Agent) feedback(ctx context.Context, name string, fb scanner.Feedbacker, q <-chan scanner.Outcome, done chan<- struct{}) {
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
			a.logf("device %s: feedback: %v", name, err)
		}
	}
}

// scannerDevice fills x (a scanner in the status) with its health and the port it is bound to.
func (a *Agent) scannerDevice(d config.Device, open map[string]scanner.Scanner, x *api.Device) {
	if b := a.boundFor(d.Name); b != nil {
		x.Health = b.health()
		b.mu.Lock()
		if b.sc != nil {
			x.Port = b.path
		}
		b.mu.Unlock()
		return
	}
	if sc, ok := open[d.Name]; ok {
		x.Health = scannerHealth(sc)
		if d.Transport == config.TransportHID && a.watcher != nil {
			if r, ok := rule(d); ok {
				for _, dev := range discovery.Bind(a.watcher.Present(), r) {
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
