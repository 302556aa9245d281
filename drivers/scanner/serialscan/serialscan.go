// Package serialscan is the barcode scanner driver for serial lines: RS-232 scanners and USB
// scanners in CDC-ACM or COM-emulation mode (/dev/ttyACM*, /dev/ttyUSB*, COMn), read through
// go.bug.st/serial with the line settings and framing of the device's firmware profile.
//
// A Scanner has one owner goroutine that opens and closes the port, frames the bytes (see Framer),
// keeps the health, and reopens a vanished port with a clock-driven backoff (100 ms doubling to 5 s
// by default); while a port is open, one reader goroutine blocks in the port's Read and hands the
// bytes to the owner. Feedback (the profile's good/bad bytes, e.g. Honeywell host-ACK ESC 7 / ESC 8)
// is written by a third goroutine so that a slow write never delays reading. Close stops all of
// them and waits.
//
// Errors from Read: ErrNoise and ErrOverlong for a rejected frame (logged too), ErrDisconnected
// once when the port goes away (Read then blocks until it is back), ErrClosed after Close. All are
// the drivers/scanner sentinels, wrapped with the device name.
package serialscan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"go.bug.st/serial"

	"wedge/drivers/profile"
	"wedge/drivers/scanner"
	"wedge/internal/clock"
	"wedge/internal/logging"
)

// Default backoff between attempts to reopen a vanished port.
const (
	DefaultBackoffMin = 100 * time.Millisecond
	DefaultBackoffMax = 5 * time.Second
)

// queueMax bounds the reads waiting for a Read call; beyond it the driver stops taking bytes from
// the port (the kernel buffers them, then the line's own flow control applies).
const queueMax = 64

// ErrSettings means the profile's line settings are invalid; Open returns it wrapped.
var ErrSettings = errors.New("serialscan: invalid line settings")

// Backoff bounds the wait between reopen attempts: Min after a disconnect, doubling per failed
// attempt up to Max. Zero fields mean DefaultBackoffMin / DefaultBackoffMax.
type Backoff struct {
	Min, Max time.Duration
}

// Options tune a Scanner. A nil *Options (or zero fields) means the documented defaults.
type Options struct {
	// Clock drives the reopen backoff, the idle and noise cut-offs and Read.At. Nil: the wall clock.
	Clock clock.Clock
	// Logger receives what is worth a person's attention (noise, overlong frames, disconnects,
	// reopen failures, reconnects), with the scanner's name as device. Nil: discard.
	Logger *slog.Logger
	// Backoff between reopen attempts. Zero: 100 ms doubling to 5 s.
	Backoff Backoff
	// OpenPort opens the port. Nil: serial.Open. Tests replace it to make opening fail.
	OpenPort func(port string, mode *serial.Mode) (serial.Port, error)
	// Feedback is the profile's feedback block. When it goes over the serial line and has good/bad
	// bytes, Feedback writes them; otherwise Feedback does nothing. OpenProfile sets it.
	Feedback *profile.Feedback
}

// Scanner is a serial barcode scanner. It implements scanner.Scanner, scanner.Feedbacker and
// scanner.HealthReporter. Its methods may be called from any goroutine.
type Scanner struct {
	name, port string
	mode       *serial.Mode
	framer     *Framer
	idle       time.Duration // the profile's idle cut-off: quiet ends a frame as a barcode (0: none)
	noise      time.Duration // the noise cut-off: quiet makes an unfinished frame noise (0: none)
	clk        clock.Clock
	log        *slog.Logger
	open       func(string, *serial.Mode) (serial.Port, error)
	bmin, bmax time.Duration
	good, bad  []byte // feedback bytes; nil: none

	out     chan result   // the owner offers the oldest queued result here
	closing chan struct{} // closed by Close
	done    chan struct{} // closed when the owner goroutine has stopped everything
	once    sync.Once
	fbReq   chan fbReq
	fbDone  chan struct{}

	portMu sync.Mutex  // held while writing feedback and while the owner swaps the port
	cur    serial.Port // the open port, for feedback writes; nil while disconnected

	mu     sync.Mutex
	health scanner.Health
}

var (
	_ scanner.Scanner        = (*Scanner)(nil)
	_ scanner.Feedbacker     = (*Scanner)(nil)
	_ scanner.HealthReporter = (*Scanner)(nil)
)

type result struct {
	r   scanner.Read
	err error
}

type fbReq struct {
	b    []byte
	done chan error // buffered (1)
}

// OpenProfile opens a scanner with the serial settings and feedback of a firmware profile. The
// feedback is the profile's serial-mode one (profile.SerialFeedback: modes.cdc_serial, else
// modes.usb_com, else the top-level block) unless opts.Feedback is set.
func OpenProfile(name, port string, p profile.Profile, opts *Options) (*Scanner, error) {
	if p.Serial == nil {
		return nil, fmt.Errorf("scanner %q: %w: profile %s has no serial block", name, ErrSettings, p.ID)
	}
	o := Options{}
	if opts != nil {
		o = *opts
	}
	if o.Feedback == nil {
		o.Feedback = p.SerialFeedback()
	}
	return Open(name, port, *p.Serial, &o)
}

// Open starts a scanner named name (the configured device name) on port with the line settings
// and framing p (zero fields take their defaults). It fails only for invalid settings; a port that
// cannot be opened now (the scanner is unplugged) is retried with backoff, and the first Read
// reports it with ErrDisconnected.
func Open(name, port string, p profile.Serial, opts *Options) (*Scanner, error) {
	if port == "" {
		return nil, fmt.Errorf("scanner %q: %w: no port", name, ErrSettings)
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("scanner %q: %w: %w", name, ErrSettings, err)
	}
	if opts == nil {
		opts = &Options{}
	}
	p = p.WithDefaults()
	s := &Scanner{
		name: name, port: port, mode: mode(p), framer: NewFramer(p),
		idle: time.Duration(p.IdleCutMS) * time.Millisecond, noise: p.NoiseCutoff(),
		clk: clock.Or(opts.Clock), log: logging.Or(opts.Logger).With(logging.KeyDevice, name), open: opts.OpenPort,
		bmin: opts.Backoff.Min, bmax: opts.Backoff.Max,
		out: make(chan result), closing: make(chan struct{}), done: make(chan struct{}),
		fbReq: make(chan fbReq), fbDone: make(chan struct{}),
	}
	if s.open == nil {
		s.open = serial.Open
	}
	if s.bmin <= 0 {
		s.bmin = DefaultBackoffMin
	}
	if s.bmax <= 0 {
		s.bmax = DefaultBackoffMax
	}
	s.bmax = max(s.bmax, s.bmin)
	if fb := opts.Feedback; fb != nil && fb.Via == "serial" {
		var err error
		if fb.Good != "" {
			if s.good, err = profile.ParseHex(fb.Good); err != nil {
				return nil, fmt.Errorf("scanner %q: %w: feedback.good: %w", name, ErrSettings, err)
			}
		}
		if fb.Bad != "" {
			if s.bad, err = profile.ParseHex(fb.Bad); err != nil {
				return nil, fmt.Errorf("scanner %q: %w: feedback.bad: %w", name, ErrSettings, err)
			}
		}
	}
	o := &owner{s: s, backoff: s.bmin}
	o.connect(true)
	go o.run()
	go s.writer()
	return s, nil
}

func mode(p profile.Serial) *serial.Mode {
	m := &serial.Mode{BaudRate: p.Baud, DataBits: p.DataBits, StopBits: serial.OneStopBit}
	switch p.Parity {
	case "even":
		m.Parity = serial.EvenParity
	case "odd":
		m.Parity = serial.OddParity
	}
	if p.StopBits == 2 {
		m.StopBits = serial.TwoStopBits
	}
	return m
}

// String names the device and its port.
func (s *Scanner) String() string { return fmt.Sprintf("serial scanner %s on %s", s.name, s.port) }

// Read returns the next barcode, or a recoverable error (ErrNoise, ErrOverlong, ErrDisconnected),
// or ErrClosed once Close was called.
func (s *Scanner) Read() (scanner.Read, error) {
	select {
	case <-s.closing:
		return scanner.Read{}, s.wrap(scanner.ErrClosed)
	default:
	}
	select {
	case r := <-s.out:
		return r.r, r.err
	case <-s.closing:
		return scanner.Read{}, s.wrap(scanner.ErrClosed)
	}
}

// Close stops the scanner, unblocks Read (which then returns ErrClosed), closes the port and waits
// for the driver's goroutines. It may be called more than once, from any goroutine.
func (s *Scanner) Close() error {
	s.once.Do(func() { close(s.closing) })
	<-s.done
	<-s.fbDone
	return nil
}

// Health reports the connection state, reads, reconnects and the last error.
func (s *Scanner) Health() scanner.Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.health
}

// HasFeedback reports whether the profile gave feedback bytes to send over the serial line.
func (s *Scanner) HasFeedback() bool { return s.good != nil || s.bad != nil }

// Feedback writes the profile's good or bad bytes to the scanner. It waits at most until ctx is
// done (the write itself then finishes in the background) and never delays Read. Without
// feedback bytes for o it does nothing and returns nil. It fails with ErrDisconnected while the
// port is away, with ErrClosed after Close.
func (s *Scanner) Feedback(ctx context.Context, o scanner.Outcome) error {
	b := s.good
	if o == scanner.Bad {
		b = s.bad
	}
	if b == nil {
		return nil
	}
	req := fbReq{b: b, done: make(chan error, 1)}
	select {
	case s.fbReq <- req:
	case <-ctx.Done():
		return fmt.Errorf("scanner %q: feedback: %w", s.name, ctx.Err())
	case <-s.closing:
		return s.wrap(scanner.ErrClosed)
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("scanner %q: feedback still being written: %w", s.name, ctx.Err())
	}
}

// writer owns feedback writes, one at a time.
func (s *Scanner) writer() {
	defer close(s.fbDone)
	for {
		select {
		case <-s.closing:
			return
		case req := <-s.fbReq:
			req.done <- s.write(req.b)
		}
	}
}

func (s *Scanner) write(b []byte) error {
	// The lock keeps the owner from closing the port (and the OS from reusing its descriptor)
	// during the write. Serial writes drain at line speed (go.bug.st/serial turns hardware flow
	// control off) and fail at once on a vanished device, so this does not hold the owner long.
	s.portMu.Lock()
	defer s.portMu.Unlock()
	if s.cur == nil {
		return fmt.Errorf("scanner %q: feedback: %w", s.name, scanner.ErrDisconnected)
	}
	for len(b) > 0 {
		n, err := s.cur.Write(b)
		if err != nil {
			return fmt.Errorf("scanner %q: feedback: %w", s.name, err)
		}
		if n == 0 {
			return fmt.Errorf("scanner %q: feedback: %w", s.name, io.ErrShortWrite)
		}
		b = b[n:]
	}
	return nil
}

func (s *Scanner) wrap(err error) error { return fmt.Errorf("scanner %q: %w", s.name, err) }

func (s *Scanner) setHealth(f func(h *scanner.Health)) {
	s.mu.Lock()
	f(&s.health)
	s.mu.Unlock()
}

// owner is the state of the owner goroutine; only it touches these fields.
type owner struct {
	s       *Scanner
	port    serial.Port
	conn    *conn // the reader of the open port; nil while disconnected
	queue   []result
	backoff time.Duration
	retry   clock.Timer // armed while disconnected
	idle    clock.Timer // armed while a frame is pending (for the idle or the noise cut-off)
	last    time.Time   // when the last bytes arrived
	opened  bool        // the port was open at least once (later opens are reconnects)
}

// conn is one open port's reader goroutine and its channels.
type conn struct {
	chunks chan []byte
	errc   chan error
	stop   chan struct{}
	done   chan struct{}
}

func (o *owner) run() {
	s := o.s
	defer close(s.done)
	defer o.shutdown()
	for {
		var out chan result
		var head result
		if len(o.queue) > 0 {
			out, head = s.out, o.queue[0]
		}
		var chunks <-chan []byte
		var errc <-chan error
		if o.conn != nil {
			errc = o.conn.errc
			if len(o.queue) < queueMax {
				chunks = o.conn.chunks
			}
		}
		var retryC, idleC <-chan time.Time
		if o.retry != nil {
			retryC = o.retry.C()
		}
		if o.idle != nil {
			idleC = o.idle.C()
		}
		select {
		case <-s.closing:
			return
		case out <- head:
			o.queue[0] = result{}
			o.queue = o.queue[1:]
		case b := <-chunks:
			o.feed(b)
		case err := <-errc:
			o.disconnect(err)
		case <-retryC:
			o.retry = nil
			o.connect(false)
		case <-idleC:
			o.idleFired()
		}
	}
}

func (o *owner) feed(b []byte) {
	s := o.s
	o.last = s.clk.Now()
	o.push(s.framer.Feed(b))
	if q := s.quiet(); q > 0 && s.framer.Pending() {
		if o.idle == nil {
			o.idle = s.clk.NewTimer(q)
		} else {
			o.idle.Stop()
			o.idle.Reset(q)
		}
	}
}

// quiet is the cut-off in use: the idle cut-off when the profile has one, else the noise cut-off
// (a profile never has both).
func (s *Scanner) quiet() time.Duration {
	if s.idle > 0 {
		return s.idle
	}
	return s.noise
}

func (o *owner) idleFired() {
	s := o.s
	if !s.framer.Pending() {
		return
	}
	q := s.quiet()
	if quiet := s.clk.Now().Sub(o.last); quiet < q {
		o.idle.Reset(q - quiet) // a stale tick: bytes came after it was armed
		return
	}
	// With the queue full this goroutine takes no bytes (back-pressure: the station is behind), so
	// the line's quiet cannot be judged: the rest of the frame may be waiting in the reader. Judge
	// it again a cut-off after the queue has room.
	if o.conn != nil && len(o.queue) >= queueMax {
		o.idle.Reset(q)
		return
	}
	// Bytes the reader already holds came while this goroutine was not running: the line was not
	// quiet, this goroutine was (a busy machine). Take them first; feed re-arms the timer.
	if o.conn != nil {
		select {
		case b := <-o.conn.chunks:
			o.feed(b)
			return
		default:
		}
	}
	if s.idle > 0 {
		o.push(s.framer.Flush())
		return
	}
	frames, overlong := s.framer.Cut()
	if overlong > 0 {
		s.log.Info("scanner line quiet after an overlong frame; the next byte starts a new frame", "bytes", overlong, "quiet", q)
	}
	o.push(frames)
}

// push queues the framer's output, stamping reads and logging rejections.
func (o *owner) push(frames []Frame) {
	s := o.s
	for _, f := range frames {
		if f.Err != nil {
			err := s.wrap(f.Err)
			s.log.Warn("scanner frame rejected", logging.Err(err))
			o.fail(err)
			o.queue = append(o.queue, result{err: err})
			continue
		}
		r := f.Read
		r.At, r.Device = o.last, s.name
		s.setHealth(func(h *scanner.Health) { h.Reads++; h.LastRead = r.At })
		o.queue = append(o.queue, result{r: r})
	}
}

func (o *owner) fail(err error) {
	now := o.s.clk.Now()
	o.s.setHealth(func(h *scanner.Health) { h.LastError, h.LastErrAt = err.Error(), now })
}

// connect opens the port and starts its reader; on failure it arms the retry timer.
func (o *owner) connect(first bool) {
	s := o.s
	p, err := s.open(s.port, s.mode)
	if err != nil {
		err = fmt.Errorf("scanner %q: %w: open %s: %w", s.name, scanner.ErrDisconnected, s.port, err)
		o.fail(err)
		if first {
			s.log.Warn("scanner cannot be opened; retrying", "port", s.port, "backoff_min", s.bmin, "backoff_max", s.bmax, logging.Err(err))
			o.queue = append(o.queue, result{err: err})
		} else {
			o.backoff = min(2*o.backoff, s.bmax)
		}
		o.retry = s.clk.NewTimer(o.backoff)
		return
	}
	o.port = p
	s.portMu.Lock()
	s.cur = p
	s.portMu.Unlock()
	c := &conn{chunks: make(chan []byte), errc: make(chan error, 1), stop: make(chan struct{}), done: make(chan struct{})}
	o.conn = c
	go c.read(p)
	reconnect := o.opened
	o.opened = true
	o.backoff = s.bmin
	s.setHealth(func(h *scanner.Health) {
		h.Connected = true
		if reconnect {
			h.Reconnects++
		}
	})
	if reconnect || !first {
		s.log.Info("scanner reconnected", "port", s.port)
	}
}

// disconnect handles a port that failed under the reader: report ErrDisconnected once and start
// reopening.
func (o *owner) disconnect(cause error) {
	s := o.s
	o.closePort()
	if n := s.framer.Reset(); n > 0 {
		s.log.Warn("scanner disconnected mid-barcode; its bytes are dropped", "bytes", n)
	}
	err := fmt.Errorf("scanner %q: %w: %s: %w", s.name, scanner.ErrDisconnected, s.port, cause)
	s.log.Warn("scanner disconnected; reopening", "port", s.port, logging.Err(err))
	o.fail(err)
	s.setHealth(func(h *scanner.Health) { h.Connected = false })
	o.queue = append(o.queue, result{err: err})
	o.backoff = s.bmin
	o.retry = s.clk.NewTimer(o.backoff)
}

// closePort closes the port, which ends its reader, and waits for the reader.
func (o *owner) closePort() {
	if o.port == nil {
		return
	}
	o.s.portMu.Lock()
	o.s.cur = nil
	o.s.portMu.Unlock()
	o.port.Close()
	close(o.conn.stop)
	<-o.conn.done
	o.port, o.conn = nil, nil
	if o.idle != nil {
		o.idle.Stop()
	}
}

func (o *owner) shutdown() {
	o.closePort()
	if o.retry != nil {
		o.retry.Stop()
	}
	if o.idle != nil {
		o.idle.Stop()
	}
	o.s.setHealth(func(h *scanner.Health) { h.Connected = false })
}

// read is the reader goroutine of one open port: it blocks in the port's Read and hands the bytes
// to the owner until the port fails or is closed.
func (c *conn) read(p serial.Port) {
	defer close(c.done)
	buf := make([]byte, 1024)
	empty := 0
	for {
		n, err := p.Read(buf)
		if n > 0 {
			empty = 0
			select {
			case c.chunks <- append([]byte(nil), buf[:n]...):
			case <-c.stop:
				return
			}
		}
		if err == nil && n == 0 {
			// go.bug.st/serial returns (0, nil) only on a read timeout, which is never set; a
			// port that keeps doing it is broken: treat it as gone rather than spin.
			if empty++; empty < 100 {
				continue
			}
			err = io.ErrNoProgress
		}
		if err != nil {
			c.errc <- err // buffered: the owner may be busy closing us
			return
		}
	}
}
