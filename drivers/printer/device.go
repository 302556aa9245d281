package printer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"wedge/drivers/printer/transport"
	"wedge/drivers/printer/tspl"
	"wedge/drivers/printer/zpl"
	"wedge/drivers/profile"
	"wedge/internal/clock"
	"wedge/internal/logging"
)

// Languages.
const (
	LangZPL  = "zpl"
	LangTSPL = "tspl"
)

// Status query names used in profiles (profile.Printer.Status).
const (
	QueryZPLHS    = "zpl_hs"
	QueryZPLHQES  = "zpl_hqes"
	QueryTSPLESCQ = "tspl_esc_q"
	QueryTSPLESCS = "tspl_esc_s"
)

// Config is one configured printer: a device with kind: printer in wedge.yaml.
type Config struct {
	Name      string          // configured device name, e.g. "pack-1-printer"
	Transport string          // tcp | serial | usblp
	Address   string          // tcp host[:port], serial port path, or /dev/usb/lpN
	Port      int             // tcp port when Address has none (default 9100)
	Profile   profile.Profile // the printer's firmware profile (Kind printer, Printer non-nil)
}

// Options tune a printer. A nil *Options means all defaults.
type Options struct {
	Clock        clock.Clock   // nil = real time
	Logger       *slog.Logger  // nil = discard; records carry the printer's name as device
	QueryTimeout time.Duration // how long a status query waits for its answer (default 2s)
	DialTimeout  time.Duration // TCP dial timeout (default 5s)
	// Open replaces transport.Open (tests); nil = transport.Open.
	Open func(ctx context.Context, c transport.Config) (io.ReadWriteCloser, error)
}

// DefaultQueryTimeout is how long a status query waits by default.
const DefaultQueryTimeout = 2 * time.Second

// Device is a printer reached over a transport and spoken to in its profile's language. The
// transport is opened lazily on first use and reopened after an I/O error.
type Device struct {
	name    string
	lang    string
	queries []string
	tcfg    transport.Config
	clk     clock.Clock
	log     *slog.Logger
	qto     time.Duration
	dto     time.Duration
	open    func(ctx context.Context, c transport.Config) (io.ReadWriteCloser, error)

	life context.Context // cancelled by Close, so Close interrupts a waiting Print or Status
	kill context.CancelFunc

	mu     sync.Mutex // serialises wire operations
	conn   io.ReadWriteCloser
	in     chan []byte   // chunks read by the reader goroutine
	rdDone chan struct{} // closed when the reader goroutine ends
	rdErr  *error        // the reader's final error, set before rdDone is closed (per connection)
	closed bool
	seq    uint64
	gen    uint64 // counts connections opened
	// pendingGen is the connection that carried the last job, until a Status on that same
	// connection saw the printer done. If that connection dies first, the job may never have
	// reached the printer (TCP accepts writes to a peer that was power-cycled), so the next Status
	// reports ErrJobLost instead of the fresh, idle, "done-looking" state of a new connection.
	pendingGen uint64
	// owed is the part of the last framed reply's CR LF that had not come when the reply was taken
	// at its ETX ("\r\n", "\n" or ""): the printer may still send it, in front of the next reply.
	owed string
}

var (
	_ Printer   = (*Device)(nil)
	_ Canceller = (*Device)(nil)
)

// Open checks the config against the profile and returns the printer. It does not connect yet:
// the first Print or Status does, so an agent starts while a printer is still off.
func Open(cfg Config, opts *Options) (*Device, error) {
	if opts == nil {
		opts = &Options{}
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("printer %q: %w: %s", cfg.Name, ErrConfig, fmt.Sprintf(format, a...))
	}
	if cfg.Name == "" {
		return nil, bad("empty name")
	}
	p := cfg.Profile.Printer
	if cfg.Profile.Kind != profile.KindPrinter || p == nil {
		return nil, bad("profile %q is not a printer profile", cfg.Profile.ID)
	}
	if p.Language != LangZPL && p.Language != LangTSPL {
		return nil, bad("profile %q: language %q (want zpl or tspl)", cfg.Profile.ID, p.Language)
	}
	kind := cfg.Transport
	if kind == "" {
		kind = transport.TCP
	}
	if kind != transport.TCP && kind != transport.Serial && kind != transport.USBLP {
		return nil, bad("transport %q (want tcp, serial or usblp)", kind)
	}
	if len(p.Transports) > 0 && !contains(p.Transports, kind) {
		return nil, bad("profile %q does not list transport %q (has %v)", cfg.Profile.ID, kind, p.Transports)
	}
	if cfg.Address == "" {
		return nil, bad("empty address")
	}
	var qs []string
	for _, q := range p.Status {
		switch {
		case p.Language == LangZPL && (q == QueryZPLHS || q == QueryZPLHQES),
			p.Language == LangTSPL && (q == QueryTSPLESCQ || q == QueryTSPLESCS):
			qs = append(qs, q)
		default:
			return nil, bad("profile %q: status query %q does not fit language %s", cfg.Profile.ID, q, p.Language)
		}
	}
	tc := transport.Config{Kind: kind, Address: cfg.Address, Port: cfg.Port}
	if s := p.Serial; s != nil {
		tc.Serial = transport.SerialMode{Baud: s.Baud, DataBits: s.DataBits, Parity: s.Parity, StopBits: s.StopBits}
	}
	d := &Device{name: cfg.Name, lang: p.Language, queries: order(qs), tcfg: tc, clk: clock.Or(opts.Clock),
		log: logging.Or(opts.Logger).With(logging.KeyDevice, cfg.Name), qto: opts.QueryTimeout, dto: opts.DialTimeout, open: opts.Open}
	if d.qto <= 0 {
		d.qto = DefaultQueryTimeout
	}
	if d.dto <= 0 {
		d.dto = 5 * time.Second
	}
	if d.open == nil {
		d.open = transport.Open
	}
	d.life, d.kill = context.WithCancel(context.Background())
	return d, nil
}

// order puts the query that tells buffer counts (~HS) or the 1-byte <ESC>!? first.
func order(qs []string) []string {
	var out []string
	for _, want := range []string{QueryZPLHS, QueryZPLHQES, QueryTSPLESCQ, QueryTSPLESCS} {
		if contains(qs, want) {
			out = append(out, want)
		}
	}
	return out
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func (d *Device) String() string { return d.name }

// Language is zpl or tspl.
func (d *Device) Language() string { return d.lang }

// HasStatus reports whether the profile lists a status query (else confirm by scan-back).
func (d *Device) HasStatus() bool { return len(d.queries) > 0 }

func (d *Device) wrap(err error) error { return fmt.Errorf("printer %q: %w", d.name, err) }

// connect opens the transport if needed. Called with mu held.
func (d *Device) connect(ctx context.Context) error {
	if d.closed {
		return d.wrap(ErrClosed)
	}
	if d.conn != nil {
		select {
		case <-d.rdDone:
			d.log.Warn("printer connection lost; reopening", logging.Err(*d.rdErr))
			d.dropLocked()
		default:
			return nil
		}
	}
	dctx, cancel := context.WithTimeout(ctx, d.dto)
	defer cancel()
	c, err := d.open(dctx, d.tcfg)
	if err != nil {
		return d.wrap(err)
	}
	d.gen++
	d.owed = "" // nothing of an old connection's replies comes on this one
	d.conn, d.in, d.rdDone, d.rdErr = c, make(chan []byte, 64), make(chan struct{}), new(error)
	go d.reader(c, d.in, d.rdDone, d.rdErr)
	return nil
}

// reader is the one goroutine reading a connection; it ends when the connection is closed.
func (d *Device) reader(c io.Reader, in chan<- []byte, done chan struct{}, final *error) {
	defer close(done)
	buf := make([]byte, 512)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			chunk := append([]byte(nil), buf[:n]...)
			select {
			case in <- chunk:
			default: // nobody is asking: unsolicited bytes are dropped (bounded memory)
			}
		}
		if err != nil {
			*final = err
			return
		}
	}
}

// write writes b, giving up when ctx ends if the transport supports write deadlines (TCP, ptys and
// usblp files do; a serial port write is bounded by the line speed). Called with mu held.
func (d *Device) write(ctx context.Context, b []byte) (int, error) {
	dl, ok := d.conn.(interface{ SetWriteDeadline(time.Time) error })
	if !ok || ctx.Done() == nil {
		return d.conn.Write(b)
	}
	if t, has := ctx.Deadline(); has {
		dl.SetWriteDeadline(t)
	}
	stop := context.AfterFunc(ctx, func() { dl.SetWriteDeadline(time.Now()) })
	n, err := d.conn.Write(b)
	if !stop() && err != nil {
		err = fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	dl.SetWriteDeadline(time.Time{})
	return n, err
}

// dropLocked closes the connection and waits for its reader. Called with mu held.
func (d *Device) dropLocked() {
	if d.conn == nil {
		return
	}
	d.conn.Close()
	// Closing wakes the reader on TCP, serial ports, ptys and usblp (which supports poll). As a
	// safety net against a character device whose read ignores close, Close does not hang for
	// ever: after 2 s (wall time on purpose: this bounds a kernel call, not product logic) the
	// reader is abandoned; it ends when its read does.
	select {
	case <-d.rdDone:
	case <-clock.Real.After(2 * time.Second):
		d.log.Warn("printer reader did not stop after close; abandoning it")
	}
	d.conn = nil
}

// Print sends the job and returns its id.
func (d *Device) Print(ctx context.Context, job []byte) (string, error) {
	if len(job) == 0 {
		return "", d.wrap(ErrEmptyJob)
	}
	if err := ctx.Err(); err != nil {
		return "", d.wrap(err)
	}
	ctx, done := d.bound(ctx)
	defer done()
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.connect(ctx); err != nil {
		return "", err
	}
	if _, err := d.write(ctx, job); err != nil {
		d.dropLocked()
		return "", d.wrap(fmt.Errorf("send job: %w", err))
	}
	d.seq++
	d.pendingGen = d.gen
	id := d.name + "-" + d.clk.Now().UTC().Format("20060102T150405.000") + "-" + strconv.FormatUint(d.seq, 10)
	d.log.Debug("print job sent", "job", id, "bytes", len(job))
	return id, nil
}

// Status runs the profile's status queries and merges their answers.
func (d *Device) Status(ctx context.Context) (Status, error) {
	if len(d.queries) == 0 {
		return Status{LabelsRemaining: -1, FormatsInBuffer: -1}, d.wrap(ErrNoStatus)
	}
	ctx, done := d.bound(ctx)
	defer done()
	d.mu.Lock()
	defer d.mu.Unlock()
	unreachable := Status{Faults: []Fault{FaultNoAnswer}, LabelsRemaining: -1, FormatsInBuffer: -1}
	if err := d.connect(ctx); err != nil {
		if errors.Is(err, ErrClosed) {
			return Status{LabelsRemaining: -1, FormatsInBuffer: -1}, err
		}
		return unreachable, err // the Status never looks healthy; err says why
	}
	if lost := d.jobLost(); lost != nil {
		return Status{Faults: []Fault{FaultUnknown}, LabelsRemaining: -1, FormatsInBuffer: -1}, lost
	}
	var st Status
	for i, q := range d.queries {
		one, err := d.query(ctx, q)
		if errors.Is(err, errConnLost) && ctx.Err() == nil {
			d.log.Warn("printer connection lost during a status query; retrying on a new connection", "query", q, logging.Err(err))
			if err = d.connect(ctx); err == nil {
				if lost := d.jobLost(); lost != nil {
					return Status{Faults: []Fault{FaultUnknown}, LabelsRemaining: -1, FormatsInBuffer: -1}, lost
				}
				one, err = d.query(ctx, q)
			}
		}
		if i == 0 {
			st = one
		} else {
			st = merge(st, one)
		}
		if err != nil {
			if !errors.Is(err, ErrClosed) && !errors.Is(err, ErrBadReply) && ctx.Err() == nil {
				st = merge(st, unreachable) // no answer, or the connection dropped while asking
			}
			if errors.Is(err, ErrBadReply) {
				st = merge(st, Status{Faults: []Fault{FaultUnknown}, LabelsRemaining: -1, FormatsInBuffer: -1})
			}
			return st, d.wrap(err)
		}
	}
	if st.Done() && d.pendingGen == d.gen {
		d.pendingGen = 0
	}
	return st, nil
}

// Cancel drops every job the printer holds (see Canceller). ZPL: ~JA, then, when the profile has
// ~HS, one ~HS must show no format in the buffer and no label remaining (a fault may still be
// reported: paper out stays until the roll is replaced); without ~HS, or with no answer (Zebras
// stay silent while out of media), the result is ErrCancelUnconfirmed. TSPL: ErrNoCancel, nothing
// is sent.
func (d *Device) Cancel(ctx context.Context) error {
	if d.lang != LangZPL {
		return d.wrap(fmt.Errorf("%w (%s)", ErrNoCancel, d.lang))
	}
	ctx, done := d.bound(ctx)
	defer done()
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.connect(ctx); err != nil {
		return fmt.Errorf("%w: %w", ErrCancelUnconfirmed, err)
	}
	if _, err := d.write(ctx, zpl.CancelAll); err != nil {
		d.dropLocked()
		return d.wrap(fmt.Errorf("%w: send ~JA: %w", ErrCancelUnconfirmed, err))
	}
	d.log.Info("~JA sent: cancel every buffered job")
	if !contains(d.queries, QueryZPLHS) {
		return d.wrap(fmt.Errorf("%w: the profile has no ~HS to show the buffer empty", ErrCancelUnconfirmed))
	}
	st, err := d.query(ctx, QueryZPLHS)
	if err != nil {
		return d.wrap(fmt.Errorf("%w: %w", ErrCancelUnconfirmed, err))
	}
	if st.FormatsInBuffer != 0 || st.LabelsRemaining != 0 {
		return d.wrap(fmt.Errorf("%w: after ~JA the printer still holds %d formats, %d labels", ErrCancelUnconfirmed,
			st.FormatsInBuffer, st.LabelsRemaining))
	}
	d.pendingGen = 0 // nothing is pending any more: the job is gone, not lost
	return nil
}

// jobLost reports (once) that the connection which carried the last job died before the printer
// was seen done with it. Called with mu held, after connect.
func (d *Device) jobLost() error {
	if d.pendingGen == 0 || d.pendingGen == d.gen {
		return nil
	}
	d.pendingGen = 0
	d.log.Error("the connection that carried the last print job was lost before the job was confirmed")
	return d.wrap(ErrJobLost)
}

// query sends one status query and waits for its whole reply. Called with mu held.
func (d *Device) query(ctx context.Context, q string) (Status, error) {
	none := Status{LabelsRemaining: -1, FormatsInBuffer: -1}
	// Drop stale bytes (a late answer to an earlier query, the late CR LF of the last reply).
	for drained := false; !drained; {
		select {
		case b := <-d.in:
			d.eatOwed(b)
		default:
			drained = true
		}
	}
	var cmd []byte
	var parse func([]byte) (Status, int, error)
	switch q {
	case QueryZPLHS:
		cmd = zpl.QueryHS
		parse = func(b []byte) (Status, int, error) {
			hs, n, err := zpl.ParseHS(b)
			return FromZPL(&hs, nil), n, incomplete(err, zpl.ErrIncomplete)
		}
	case QueryZPLHQES:
		cmd = zpl.QueryHQES
		parse = func(b []byte) (Status, int, error) {
			ew, n, err := zpl.ParseHQES(b)
			return FromZPL(nil, &ew), n, incomplete(err, zpl.ErrIncomplete)
		}
	case QueryTSPLESCQ:
		cmd = tspl.QueryStatus
		parse = func(b []byte) (Status, int, error) {
			s, n, err := tspl.ParseStatus(b)
			return FromTSPL(&s, nil), n, incomplete(err, tspl.ErrIncomplete)
		}
	case QueryTSPLESCS:
		cmd = tspl.QueryExtended
		parse = func(b []byte) (Status, int, error) {
			e, n, err := tspl.ParseExtended(b)
			return FromTSPL(nil, &e), n, incomplete(err, tspl.ErrIncomplete)
		}
	}
	if _, err := d.write(ctx, cmd); err != nil {
		d.dropLocked()
		return none, fmt.Errorf("send %s: %w: %w", q, errConnLost, err)
	}
	t := d.clk.NewTimer(d.qto)
	defer t.Stop()
	var buf []byte
	for {
		select {
		case chunk := <-d.in:
			buf = append(buf, chunk...)
			if q == QueryTSPLESCQ {
				// The one-byte reply has no frame that would skip a late CR LF: remove it here.
				var wait bool
				if buf, wait = d.skipOwed(buf); wait {
					continue
				}
			}
			st, n, err := parse(buf)
			if errors.Is(err, errIncomplete) {
				continue
			}
			if err != nil {
				return none, fmt.Errorf("%s: %w: %v (reply %q)", q, ErrBadReply, err, buf)
			}
			d.owed = ""
			if q != QueryTSPLESCQ {
				d.owed = owedAfter(buf[:n])
			}
			st.Raw = quote(buf[:n])
			return st, nil
		case <-t.C():
			d.log.Warn("printer did not answer a status query", "query", q, "within", d.qto)
			return none, fmt.Errorf("%s: %w within %v", q, ErrNoAnswer, d.qto)
		case <-d.rdDone:
			err := *d.rdErr
			d.dropLocked()
			return none, fmt.Errorf("%s: %w: %w", q, errConnLost, err)
		case <-ctx.Done():
			if d.life.Err() != nil {
				return none, ErrClosed
			}
			return none, ctx.Err()
		}
	}
}

// owedAfter is what is still to come of the CR LF after a framed reply taken at its ETX: the
// parsers take a reply as complete at ETX (some firmware never sends the CR LF; waiting for it
// would make every query a timeout) and consume the CR LF only when it is already there.
func owedAfter(reply []byte) string {
	switch {
	case bytes.HasSuffix(reply, []byte{0x03}):
		return "\r\n"
	case bytes.HasSuffix(reply, []byte{0x03, '\r'}):
		return "\n"
	}
	return ""
}

// eatOwed takes the owed CR LF (or what of it is there) from the front of dropped bytes; any other
// byte first means the printer did not send it.
func (d *Device) eatOwed(b []byte) {
	for _, c := range b {
		if d.owed == "" {
			return
		}
		if c != d.owed[0] {
			d.owed = ""
			return
		}
		d.owed = d.owed[1:]
	}
}

// skipOwed removes the owed CR LF from the front of buf, the start of the one-byte <ESC>!? reply,
// which would otherwise read a CR as "head open, paper out, ribbon out". wait reports that buf is
// exactly the owed CR LF so far: the status byte is still to come (a reply is one byte, never
// two). A lone CR is the ambiguous case: it is taken as the status byte, since a CR LF sent late
// arrives whole.
func (d *Device) skipOwed(buf []byte) (rest []byte, wait bool) {
	o := d.owed
	switch {
	case o == "" || len(buf) == 0:
		return buf, false
	case len(buf) > len(o) && string(buf[:len(o)]) == o:
		d.owed = ""
		return buf[len(o):], false
	case len(o) == 2 && string(buf) == o:
		return buf, true
	}
	d.owed = "" // what came is the reply itself: the printer does not send the CR LF
	return buf, false
}

var (
	errIncomplete = errors.New("incomplete")
	// errConnLost: the connection died during a query (e.g. the printer closed an idle TCP
	// connection). Status retries once on a fresh connection before calling it a fault.
	errConnLost = errors.New("connection lost")
)

func incomplete(err, sentinel error) error {
	if errors.Is(err, sentinel) {
		return errIncomplete
	}
	return err
}

// bound returns ctx cancelled also by Close.
func (d *Device) bound(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(d.life, cancel)
	return ctx, func() { stop(); cancel() }
}

// Close interrupts a waiting Print or Status, closes the transport and waits for the reader
// goroutine.
func (d *Device) Close() error {
	d.kill()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	d.dropLocked()
	return nil
}
