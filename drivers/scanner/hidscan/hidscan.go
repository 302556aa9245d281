// Package hidscan is the USB HID barcode scanner driver: HID POS reports (usage page 0x8C, 64-byte
// reports with report id 2, vendor layouts A and B) and boot keyboard reports (keyboard-wedge
// scanners read raw, with Alt+keypad decoding for Chinese text), host feedback through output or
// feature reports, reopen after the device goes away, and per-device health.
//
// # HID POS layouts (bytes counted with the report id at 0)
//
// Layout A (Honeywell, Access-IS, Youjie): [0] RID 2, [1] data bytes in this report (AIM not
// counted), [2..4] AIM "]Xm", [5..60] data, [61] vendor code id, [63] bit 0 = more reports follow.
// Layout B (Newland, ID TECH, Unitech): [0] RID 2, [1] data length, [2..57] data, [62] vendor code
// id, [63] bit 0 = more. The configured suffix travels inside the data and is stripped from the
// assembled payload. Zebra and Datalogic in HID POS mode may put the ']' at byte 3
// (POSOptions.BracketAt3; UNCERTAIN).
//
// # Facts about github.com/karalabe/hid (checked in the module cache, v1.0.1-0.20240306101548-573246063e52,
// vendored hidapi 0.14.0 with a bundled libusb on Linux)
//
//   - Linux goes through libusb, not hidraw. hidapi/libusb/hid.c defines DETACH_KERNEL_DRIVER on
//     every OS but FreeBSD: hid_open_path detaches usbhid from the interface when it is active and
//     claims it, so a keyboard-wedge scanner's keys no longer reach the focused window. hid_close
//     (and a failed claim) calls libusb_attach_kernel_driver when it had detached it, so Close gives
//     the keyboard back. A crash (no Close) leaves the interface detached until replug or a manual
//     rebind; wedge closes its devices on every stop path. The process needs usbfs access
//     (packaging/udev/99-wedge-scanners.rules).
//   - UsagePage and Usage are 0 on Linux (INVASIVE_GET_USAGE is compiled out), so devices are
//     selected by VID/PID plus interface number (Match), never by usage page 0x8C.
//   - Write prepends a 0x00 report id on Windows (hid_enabled.go: "Prepend a HID report ID on
//     Windows"), so a numbered output report such as Honeywell's 0xFD would go out as report 0 there.
//     UNCERTAIN in practice (read from the code, not tested on Windows); on Windows prefer USB serial
//     for feedback. On Linux/macOS data[0] is the report id.
//   - SendFeatureReport: b[0] is the report id, the length includes it.
//   - hid.Read blocks in C and hid_close frees the handle under a concurrent reader, so SystemOpen
//     wraps the device: reads use a 250 ms timeout and Close waits for the pending call.
//   - Without cgo (cross builds) Enumerate returns nothing.
//
// # Goroutines
//
// Each Scanner has one owner goroutine (find the device, open it, send setup reports, decode,
// reopen after loss, idle cut-off), one reader goroutine (the only caller of Device.Read) per open
// device, and one feedback goroutine, so a slow or stuck feedback write never delays a read.
// Close stops and waits for all of them.
package hidscan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"wedge/drivers/profile"
	"wedge/drivers/scanner"
	"wedge/drivers/scanner/hidscan/feedback"
	"wedge/internal/clock"
	"wedge/internal/logging"
)

// More sentinel errors.
var (
	// ErrDeviceClosed is returned by a Device after Close.
	ErrDeviceClosed = errors.New("hidscan: device closed")
	// ErrFeedbackBusy means the previous feedback was still being sent; this one was dropped.
	ErrFeedbackBusy = errors.New("hidscan: previous feedback still in flight, dropped")
)

// DeviceInfo is one HID interface as enumerated (karalabe/hid's fields).
type DeviceInfo struct {
	Path         string
	VendorID     uint16
	ProductID    uint16
	Release      uint16
	Serial       string
	Manufacturer string
	Product      string
	UsagePage    uint16 // 0 on Linux
	Usage        uint16 // 0 on Linux
	Interface    int
}

// Device is an open HID device (the part of karalabe/hid's Device wedge uses). Close must unblock
// a pending Read and may be called more than once.
type Device interface {
	Read([]byte) (int, error)
	Write([]byte) (int, error)
	SendFeatureReport([]byte) (int, error)
	Close() error
}

// Match selects a HID device. Zero fields match anything; Interface -1 (or a nil pointer through
// NewMatch) means any interface.
type Match struct {
	VID, PID  uint16
	Interface int // -1 = any
	Serial    string
	Path      string
}

// AnyInterface is Match.Interface for "any interface".
const AnyInterface = -1

// Matches reports whether d is selected by m.
func (m Match) Matches(d DeviceInfo) bool {
	return (m.VID == 0 || m.VID == d.VendorID) && (m.PID == 0 || m.PID == d.ProductID) &&
		(m.Interface < 0 || m.Interface == d.Interface) &&
		(m.Serial == "" || m.Serial == d.Serial) && (m.Path == "" || m.Path == d.Path)
}

func (m Match) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%04X:%04X", m.VID, m.PID)
	if m.Interface >= 0 {
		fmt.Fprintf(&b, " if%d", m.Interface)
	}
	if m.Serial != "" {
		fmt.Fprintf(&b, " serial %s", m.Serial)
	}
	if m.Path != "" {
		fmt.Fprintf(&b, " at %s", m.Path)
	}
	return b.String()
}

// Options are the driver's seams and knobs. The zero value means the system HID library, the real
// clock, silence, a 500 ms re-scan while the device is absent and a 1 s feedback write bound.
type Options struct {
	Clock clock.Clock
	// Logger receives connects, disconnects, open and feedback failures, with the scanner's name as
	// device. Nil: discard.
	Logger *slog.Logger
	// Enumerate and Open are the HID seams (nil: SystemEnumerate, SystemOpen).
	Enumerate func(vid, pid uint16) []DeviceInfo
	Open      func(DeviceInfo) (Device, error)
	// Rescan is how often to look for the device while it is absent (default 500 ms, so a
	// replugged scanner reads again well within 2 s).
	Rescan time.Duration
	// FeedbackTimeout bounds one feedback write when the caller's ctx has no deadline (default 1 s).
	FeedbackTimeout time.Duration
	// Comma adds the Xenon/Granit comma to Honeywell host-ACK commands.
	Comma bool
	// Record, when set, is called with every input report as it arrives (on the owner goroutine;
	// it must not block), to record traces from real devices (hidscantest.WriteTrace).
	Record func(at time.Time, report []byte)
}

// Config is what to read: the device name (for errors and reads), which HID device, and the
// firmware profile's hid/feedback sections.
type Config struct {
	Name     string
	Match    Match
	HID      profile.HID
	Feedback *profile.Feedback
}

type event struct {
	report []byte
	at     time.Time
	err    error
}

type result struct {
	r   scanner.Read
	err error
}

// Scanner is a HID barcode scanner. It implements scanner.Scanner, scanner.Feedbacker and
// scanner.HealthReporter.
type Scanner struct {
	cfg   Config
	opts  Options
	clk   clock.Clock
	log   *slog.Logger
	newDc func() (Decoder, error)
	setup [][]byte

	reads    chan result
	fb       chan feedback.Command
	fbBusy   atomic.Bool
	stop     chan struct{}
	done     chan struct{}
	fbDone   chan struct{}
	closeErr sync.Once

	mu     sync.Mutex
	dev    Device // current open device (nil while absent)
	health scanner.Health
}

var (
	_ scanner.Scanner        = (*Scanner)(nil)
	_ scanner.Feedbacker     = (*Scanner)(nil)
	_ scanner.HealthReporter = (*Scanner)(nil)
)

// NewDecoder returns the decoder a profile's hid section asks for (with aim_prefix, wrapped by
// StripAIM).
func NewDecoder(h profile.HID) (Decoder, error) {
	d, err := newDecoder(h)
	if err != nil || !h.AIMPrefix {
		return d, err
	}
	return StripAIM(d), nil
}

func newDecoder(h profile.HID) (Decoder, error) {
	switch h.Layout {
	case LayoutKeyboard:
		return NewKeyboardDecoder(KeyboardOptions{AltCodes: h.AltCodes, Suffix: h.Suffix, IdleCut: time.Duration(h.IdleCutMS) * time.Millisecond})
	case LayoutPOSA, LayoutPOSB, LayoutPOSAuto, "":
		rid := h.ReportID
		if rid < 0 || rid > 255 {
			return nil, fmt.Errorf("%w: report_id %d", ErrOptions, rid)
		}
		return NewPOSDecoder(POSOptions{Layout: h.Layout, ReportID: byte(rid), Suffix: h.Suffix, Charset: h.Charset, BracketAt3: true})
	}
	return nil, fmt.Errorf("%w: layout %q (want pos_a, pos_b, pos_auto or keyboard)", ErrOptions, h.Layout)
}

// Open validates cfg and starts the scanner. The device need not be present yet: the scanner looks
// for it every Rescan and Read blocks until it delivers (Health says whether it is connected).
func Open(cfg Config, opts *Options) (*Scanner, error) {
	if opts == nil {
		opts = &Options{}
	}
	s := &Scanner{cfg: cfg, opts: *opts, clk: clock.Or(opts.Clock), log: logging.Or(opts.Logger).With(logging.KeyDevice, cfg.Name)}
	if s.opts.Enumerate == nil {
		s.opts.Enumerate = SystemEnumerate
	}
	if s.opts.Open == nil {
		s.opts.Open = SystemOpen
	}
	if s.opts.Rescan <= 0 {
		s.opts.Rescan = 500 * time.Millisecond
	}
	if s.opts.FeedbackTimeout <= 0 {
		s.opts.FeedbackTimeout = time.Second
	}
	if cfg.Name == "" {
		return nil, fmt.Errorf("%w: empty device name", ErrOptions)
	}
	if _, err := NewDecoder(cfg.HID); err != nil {
		return nil, fmt.Errorf("scanner %q: %w", cfg.Name, err)
	}
	s.newDc = func() (Decoder, error) { return NewDecoder(cfg.HID) }
	for _, h := range cfg.HID.SetupReports {
		b, err := feedback.ParseHex(h)
		if err != nil {
			return nil, fmt.Errorf("scanner %q: setup report: %w", cfg.Name, err)
		}
		s.setup = append(s.setup, b)
	}
	if cfg.Feedback != nil {
		for _, o := range []scanner.Outcome{scanner.Good, scanner.Bad} {
			if _, err := feedback.Encode(cfg.Feedback, o, opts.Comma); err != nil && !errors.Is(err, feedback.ErrNoFeedback) {
				return nil, fmt.Errorf("scanner %q: %w", cfg.Name, err)
			}
		}
	}
	if cmd, err := feedback.Encode(cfg.Feedback, scanner.Good, opts.Comma); err == nil && cmd.Via == feedback.ViaSerial {
		s.log.Info("the profile's feedback goes over serial; in HID mode the scanner beeps on its own decode")
	}
	s.reads = make(chan result, 16)
	s.fb = make(chan feedback.Command, 1)
	s.stop = make(chan struct{})
	s.done = make(chan struct{})
	s.fbDone = make(chan struct{})
	go s.run()
	go s.feedbackLoop()
	return s, nil
}

// String names the scanner and what it binds.
func (s *Scanner) String() string { return fmt.Sprintf("hid scanner %q (%s)", s.cfg.Name, s.cfg.Match) }

// Read blocks until a barcode arrives, a recoverable error occurs (noise, overlong, disconnected:
// call Read again), or Close (scanner.ErrClosed).
func (s *Scanner) Read() (scanner.Read, error) {
	select {
	case <-s.stop:
		return scanner.Read{}, s.closedErr()
	default:
	}
	select {
	case r := <-s.reads:
		return r.r, r.err
	case <-s.stop:
		return scanner.Read{}, s.closedErr()
	}
}

func (s *Scanner) closedErr() error {
	return fmt.Errorf("scanner %q: %w", s.cfg.Name, scanner.ErrClosed)
}

// Close stops the scanner, closes the device (on Linux this gives the interface back to the
// kernel driver) and waits for its goroutines. It may be called more than once.
func (s *Scanner) Close() error {
	s.closeErr.Do(func() { close(s.stop) })
	<-s.done
	<-s.fbDone
	return nil
}

// Health reports connection state, reads, reconnects and the last error.
func (s *Scanner) Health() scanner.Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.health
}

func (s *Scanner) setErr(err error) {
	s.mu.Lock()
	s.health.LastError = err.Error()
	s.health.LastErrAt = s.clk.Now()
	s.mu.Unlock()
}

// Feedback sends the profile's good or bad command without waiting for it: it returns at once
// (ctx is only checked, since callers cancel it as soon as Feedback returns), and the write happens
// on the feedback goroutine, which gives up waiting after Options.FeedbackTimeout. If
// the previous feedback is still in flight this one is dropped (logged, ErrFeedbackBusy). A
// profile without feedback gives nil.
func (s *Scanner) Feedback(ctx context.Context, o scanner.Outcome) error {
	cmd, err := feedback.Encode(s.cfg.Feedback, o, s.opts.Comma)
	if errors.Is(err, feedback.ErrNoFeedback) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("scanner %q: %w", s.cfg.Name, err)
	}
	if cmd.Via == feedback.ViaSerial {
		return nil // the profile's feedback is for its serial mode; in HID mode the scanner beeps on decode
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case <-s.stop:
		return s.closedErr()
	default:
	}
	if !s.fbBusy.CompareAndSwap(false, true) {
		s.log.Warn("scanner feedback dropped: the previous one is still in flight")
		return fmt.Errorf("scanner %q: %w", s.cfg.Name, ErrFeedbackBusy)
	}
	s.fb <- cmd // capacity 1 and at most one in flight: never blocks
	return nil
}

func (s *Scanner) feedbackLoop() {
	defer close(s.fbDone)
	for {
		select {
		case <-s.stop:
			return
		case cmd := <-s.fb:
			s.sendFeedback(cmd)
			s.fbBusy.Store(false)
		}
	}
}

func (s *Scanner) sendFeedback(cmd feedback.Command) {
	s.mu.Lock()
	dev := s.dev
	s.mu.Unlock()
	if dev == nil {
		s.log.Warn("scanner feedback skipped: device not connected")
		return
	}
	errc := make(chan error, 1)
	go func() { // bounded by the device: hidapi writes time out after 1 s; Close unblocks fakes
		var err error
		if cmd.Via == feedback.ViaFeatureReport {
			_, err = dev.SendFeatureReport(cmd.Bytes)
		} else {
			_, err = dev.Write(cmd.Bytes)
		}
		errc <- err
	}()
	t := s.clk.NewTimer(s.opts.FeedbackTimeout)
	defer t.Stop()
	select {
	case err := <-errc:
		if err != nil {
			s.log.Warn("scanner feedback failed", logging.Err(err))
			s.setErr(fmt.Errorf("feedback: %w", err))
		}
		return
	case <-t.C():
		s.log.Warn("scanner feedback write still pending", "after", s.opts.FeedbackTimeout)
		s.setErr(errors.New("feedback write timed out"))
	case <-s.stop:
	}
	<-errc // the write returns when the device answers or is closed; stay busy until then
}

// emit hands a result to Read; false when stopping.
func (s *Scanner) emit(r result) bool {
	select {
	case s.reads <- r:
		return true
	case <-s.stop:
		return false
	}
}

// run is the owner goroutine.
func (s *Scanner) run() {
	defer close(s.done)
	first := true
	lastOpenErr := ""
	for {
		info, ok := s.find()
		if ok {
			dev, err := s.opts.Open(info)
			if err != nil {
				err = fmt.Errorf("open %s: %w (on Linux: is packaging/udev/99-wedge-scanners.rules installed?)", info.Path, err)
				s.setErr(err)
				if err.Error() != lastOpenErr { // once per distinct error, not every re-scan
					s.log.Warn("scanner cannot be opened; retrying", "every", s.opts.Rescan, logging.Err(err))
				}
				lastOpenErr = err.Error()
			} else {
				lastOpenErr = ""
				if !s.session(dev, info, first) {
					return
				}
				first = false
			}
		}
		t := s.clk.NewTimer(s.opts.Rescan)
		select {
		case <-s.stop:
			t.Stop()
			return
		case <-t.C():
		}
	}
}

func (s *Scanner) find() (DeviceInfo, bool) {
	m := s.cfg.Match
	for _, d := range s.opts.Enumerate(m.VID, m.PID) {
		if m.Matches(d) {
			return d, true
		}
	}
	return DeviceInfo{}, false
}

// session reads one open device until it fails (true: look for it again) or the scanner stops
// (false).
func (s *Scanner) session(dev Device, info DeviceInfo, first bool) bool {
	for _, b := range s.setup {
		if _, err := dev.SendFeatureReport(b); err != nil {
			s.log.Warn("scanner setup report failed", "report", fmt.Sprintf("% X", b), logging.Err(err))
			s.setErr(fmt.Errorf("setup report: %w", err))
		}
	}
	dc, _ := s.newDc()
	s.mu.Lock()
	s.dev = dev
	s.health.Connected = true
	if !first {
		s.health.Reconnects++
	}
	s.mu.Unlock()
	s.log.Info("scanner connected", "path", info.Path, "vid", fmt.Sprintf("%04X", info.VendorID), "pid", fmt.Sprintf("%04X", info.ProductID), "interface", info.Interface)

	events := make(chan event, 64)
	readerDone := make(chan struct{})
	go s.reader(dev, events, readerDone)
	gone := func() {
		s.mu.Lock()
		s.dev = nil
		s.health.Connected = false
		s.mu.Unlock()
		dev.Close() // idempotent (Device contract); on Linux gives the interface back to usbhid
	}
	defer func() {
		gone()
		<-readerDone
	}()

	var idle clock.Timer
	var idleC <-chan time.Time
	stopIdle := func() {
		if idle != nil {
			idle.Stop()
			idle, idleC = nil, nil
		}
	}
	defer stopIdle()
	var out []scanner.Read
	deliver := func(reads []scanner.Read, err error) bool {
		for _, r := range reads {
			r.Device = s.cfg.Name
			s.mu.Lock()
			s.health.Reads++
			s.health.LastRead = r.At
			s.mu.Unlock()
			if !s.emit(result{r: r}) {
				return false
			}
		}
		if err != nil {
			err = fmt.Errorf("scanner %q: %w", s.cfg.Name, err)
			s.setErr(err)
			return s.emit(result{err: err})
		}
		return true
	}
	idleFor := time.Duration(s.cfg.HID.IdleCutMS) * time.Millisecond
	if idleFor <= 0 {
		idleFor = 2 * time.Second // a multi-report HID POS payload whose last report never comes
	}
	for {
		select {
		case <-s.stop:
			return false
		case <-idleC:
			idle, idleC = nil, nil
			var err error
			out, err = dc.Flush(out[:0], s.clk.Now())
			if !deliver(out, err) {
				return false
			}
		case ev := <-events:
			if ev.err != nil {
				err := fmt.Errorf("scanner %q: %w: %v", s.cfg.Name, scanner.ErrDisconnected, ev.err)
				s.setErr(err)
				s.log.Warn("scanner disconnected; looking for it again", logging.Err(err))
				out, _ = dc.Flush(out[:0], s.clk.Now())
				gone() // before the error reaches Read, so Health already says disconnected
				if !deliver(out, nil) {
					return false
				}
				return s.emit(result{err: err})
			}
			if s.opts.Record != nil {
				s.opts.Record(ev.at, ev.report)
			}
			var err error
			out, err = dc.Feed(out[:0], ev.report, ev.at)
			if !deliver(out, err) {
				return false
			}
			stopIdle()
			if dc.Pending() {
				idle = s.clk.NewTimer(idleFor)
				idleC = idle.C()
			}
		}
	}
}

// reader is the only caller of dev.Read.
func (s *Scanner) reader(dev Device, events chan<- event, done chan<- struct{}) {
	defer close(done)
	size := max(65, s.cfg.HID.ReportSize+1)
	for {
		buf := make([]byte, size)
		n, err := dev.Read(buf)
		ev := event{report: buf[:n], at: s.clk.Now(), err: err}
		if err == nil && n == 0 {
			continue
		}
		select {
		case events <- ev:
		case <-s.stop:
			return
		}
		if err != nil {
			return
		}
	}
}

// Keyboard-mode defaults applied by ModeHID when a model profile's hid block describes its HID POS
// mode but the device enumerated in keyboard mode.
const (
	DefaultKeyboardIdleMS = 300
	DefaultKeyboardSuffix = "" // Enter, keypad Enter or Tab
)

// ModeHID returns the hid settings for a device of profile p that enumerated in mode ("hid_pos",
// "keyboard", or "" when unknown): the profile's modes.<mode>.hid when it has one, else its hid
// block. When that block does not fit the mode (a HID POS block for a keyboard-mode device, or the
// reverse), ModeHID falls back to generic settings: keyboard decoding with Unicode Alt codes and a
// 300 ms idle cut-off, or HID POS with the layout detected per report (pos_auto).
func ModeHID(p profile.Profile, mode string) profile.HID {
	var h profile.HID
	if ph := p.HIDFor(mode); ph != nil {
		h = *ph
	}
	if mode == profile.ModeKeyboard && h.Layout != LayoutKeyboard {
		return profile.HID{Layout: LayoutKeyboard, ReportSize: 8, IdleCutMS: DefaultKeyboardIdleMS, Suffix: DefaultKeyboardSuffix}
	}
	if mode == profile.ModeHIDPOS && h.Layout == LayoutKeyboard {
		return profile.HID{Layout: LayoutPOSAuto, ReportID: 2, ReportSize: 64}
	}
	return h
}

// ConfigFor builds the Config for a device named name, bound by m, of profile p: the mode comes
// from the profile's usb entry for m's VID/PID (or "" when m names none, or the profile lists
// none); ModeHID picks the decoding for it and p.FeedbackFor the feedback (modes.<mode>.feedback,
// else the top-level block).
func ConfigFor(name string, m Match, p profile.Profile) Config {
	mode := ""
	if m.VID != 0 && m.PID != 0 {
		mode = p.ModeOf(fmt.Sprintf("%04X", m.VID), fmt.Sprintf("%04X", m.PID))
	}
	return Config{Name: name, Match: m, HID: ModeHID(p, mode), Feedback: p.FeedbackFor(mode)}
}
