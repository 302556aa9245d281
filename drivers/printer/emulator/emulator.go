// Package emulator has ZPL and TSPL label printer emulators for tests and the demo. They listen on
// raw TCP (like port 9100) and on pseudo-terminals (internal/pty, for the serial and usblp
// transports), answer ~HS / ~HQES and <ESC>!? / <ESC>!S byte-exactly as the printers' programming
// manuals document them (the layouts are in drivers/printer/zpl and tspl; framed replies end with
// ETX CR LF, or at ETX as some firmware does: Options.Ending), record every label format they
// receive, simulate print time on an injected clock, drop every buffered label on ZPL ~JA (cancel
// all; TSPL has no confirmed cancel command), and can be put into faults: paper out before a job,
// paper out in the middle of a job, head open, and no answer at all.
//
// Printing is simulated lazily: labels complete as the clock passes their print time, evaluated
// whenever a status query arrives or Printed is called, so a fake clock drives it without
// goroutines.
package emulator

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"wedge/drivers/printer"
	"wedge/drivers/printer/tspl"
	"wedge/drivers/printer/zpl"
	"wedge/internal/clock"
	"wedge/internal/logging"
	"wedge/internal/pty"
)

// PaperOutMidJob is a pseudo-fault for SetFault: the next label (or the one printing now) runs out
// of paper half way through its print time; it stays in the buffer and the printer reports paper out.
const PaperOutMidJob printer.Fault = "paper_out_mid_job"

// NoAnswer makes the emulator ignore status queries entirely (jobs are still recorded).
const NoAnswer = printer.FaultNoAnswer

// ErrClosed is returned after Close.
var ErrClosed = errors.New("emulator: closed")

// Options tune an emulator. A nil *Options means all defaults.
type Options struct {
	Clock     clock.Clock   // nil = real time
	PrintTime time.Duration // per label (default 100ms)
	Logger    *slog.Logger  // nil = discard; records carry the language as emulator
	// SilentOnFault makes the emulator behave like Zebra printers that do not answer ~HS while out of
	// media, head open or ribbon out. Default false: it answers with the flags.
	SilentOnFault bool
	// MaxJobs and MaxReceived bound what is recorded for Jobs and Received (oldest dropped first;
	// defaults 10000 formats and 16 MiB), so a long demo run does not grow without limit.
	MaxJobs     int
	MaxReceived int
	// Ending is how framed replies (the ~HS strings, ~HQES, <ESC>!S) end. Default EndCRLF.
	Ending Ending
}

// Ending is how the emulator ends a framed reply.
type Ending int

// The endings of framed replies.
const (
	// EndCRLF: ETX CR LF, as the programming manuals document (the default).
	EndCRLF Ending = iota
	// EndETX: ETX only, as firmware that leaves the CR LF out.
	EndETX
	// EndETXLateCRLF: the reply up to its last ETX in one write, its CR LF in a second write (a
	// host that takes the reply at ETX then finds the CR LF in front of the next one).
	EndETXLateCRLF
)

// Emulator is one emulated printer. It may serve several TCP listeners and ptys at once; they
// share one print engine.
type Emulator struct {
	lang string
	clk  clock.Clock
	pt   time.Duration
	log  *slog.Logger
	silt bool
	maxJ int
	maxR int
	end  Ending

	mu       sync.Mutex
	fault    printer.Fault
	midArmed bool
	queue    []int     // remaining copies per format waiting or printing
	start    time.Time // when the head label started printing
	printed  int
	jobs     [][]byte
	all      []byte
	queries  int
	cancels  int
	closed   bool
	closers  []io.Closer
	conns    map[net.Conn]struct{}
	wg       sync.WaitGroup
}

// NewZPL returns a ZPL (Zebra) printer emulator.
func NewZPL(opts *Options) *Emulator { return newEmu(printer.LangZPL, opts) }

// NewTSPL returns a TSPL (TSC, Gprinter, …) printer emulator.
func NewTSPL(opts *Options) *Emulator { return newEmu(printer.LangTSPL, opts) }

func newEmu(lang string, opts *Options) *Emulator {
	if opts == nil {
		opts = &Options{}
	}
	e := &Emulator{lang: lang, clk: clock.Or(opts.Clock), pt: opts.PrintTime, log: logging.Or(opts.Logger).With("emulator", lang),
		silt: opts.SilentOnFault, end: opts.Ending, conns: map[net.Conn]struct{}{}}
	if e.pt <= 0 {
		e.pt = 100 * time.Millisecond
	}
	e.maxJ, e.maxR = opts.MaxJobs, opts.MaxReceived
	if e.maxJ <= 0 {
		e.maxJ = 10000
	}
	if e.maxR <= 0 {
		e.maxR = 16 << 20
	}
	return e
}

// Language is zpl or tspl.
func (e *Emulator) Language() string { return e.lang }

// ListenTCP listens on addr ("127.0.0.1:0" for any free port) and returns the bound address.
func (e *Emulator) ListenTCP(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("emulator: listen %s: %w", addr, err)
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		ln.Close()
		return "", ErrClosed
	}
	e.closers = append(e.closers, ln)
	e.wg.Add(1)
	e.mu.Unlock()
	go func() {
		defer e.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.mu.Lock()
			if e.closed {
				e.mu.Unlock()
				c.Close()
				return
			}
			e.conns[c] = struct{}{}
			e.wg.Add(1)
			e.mu.Unlock()
			go func() {
				defer e.wg.Done()
				e.serve(c, c)
				e.mu.Lock()
				delete(e.conns, c)
				e.mu.Unlock()
				c.Close()
			}()
		}
	}()
	return ln.Addr().String(), nil
}

// ServePTY opens a pseudo-terminal and serves it; the returned path (/dev/pts/N) is what the serial
// or usblp transport opens.
func (e *Emulator) ServePTY() (string, error) {
	p, err := pty.Open()
	if err != nil {
		return "", err
	}
	// A private non-blocking duplicate of the main side, so that Close wakes the blocked Read.
	fd, err := unix.Dup(int(p.Main.Fd()))
	if err != nil {
		p.Close()
		return "", fmt.Errorf("emulator: dup pty: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		p.Close()
		return "", fmt.Errorf("emulator: pty nonblock: %w", err)
	}
	f := os.NewFile(uintptr(fd), "ptmx-emulator")
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		f.Close()
		p.Close()
		return "", ErrClosed
	}
	e.closers = append(e.closers, f, p)
	e.wg.Add(1)
	e.mu.Unlock()
	go func() {
		defer e.wg.Done()
		e.serve(f, f)
	}()
	return p.Name, nil
}

// SetFault puts the printer into fault f ("" clears every fault and printing resumes). Use
// PaperOutMidJob for paper running out during the next label, NoAnswer for total silence.
func (e *Emulator) SetFault(f printer.Fault) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.clk.Now()
	e.advance(now)
	switch f {
	case PaperOutMidJob:
		e.midArmed = true
		if len(e.queue) == 0 {
			e.start = now
		}
		return
	case "":
		e.midArmed = false
		if e.fault != "" {
			e.start = now
		}
	}
	e.fault = f
	e.log.Info("emulated printer fault set", "fault", f)
}

// Fault is the current fault ("" when healthy).
func (e *Emulator) Fault() printer.Fault {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.advance(e.clk.Now())
	return e.fault
}

// Jobs returns every label format received, in order: ZPL ^XA…^XZ, TSPL commands up to and
// including a PRINT line.
func (e *Emulator) Jobs() [][]byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([][]byte, len(e.jobs))
	for i, j := range e.jobs {
		out[i] = append([]byte(nil), j...)
	}
	return out
}

// Received returns every byte received except the status queries, exactly as received.
func (e *Emulator) Received() []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]byte(nil), e.all...)
}

// Printed is how many labels have come out so far.
func (e *Emulator) Printed() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.advance(e.clk.Now())
	return e.printed
}

// Queries is how many status queries arrived (answered or not).
func (e *Emulator) Queries() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.queries
}

// Close stops every listener and pty and waits for their goroutines.
func (e *Emulator) Close() error {
	e.mu.Lock()
	e.closed = true
	cl := e.closers
	e.closers = nil
	for c := range e.conns {
		c.Close()
	}
	e.mu.Unlock()
	for _, c := range cl {
		c.Close()
	}
	e.wg.Wait()
	return nil
}

// advance completes labels whose print time has passed. Called with mu held.
func (e *Emulator) advance(now time.Time) {
	for e.fault == "" && len(e.queue) > 0 {
		if e.midArmed {
			if now.Sub(e.start) >= e.pt/2 {
				e.fault, e.midArmed = printer.FaultPaperOut, false
				e.log.Info("emulated paper out in the middle of a label")
			}
			return
		}
		if now.Sub(e.start) < e.pt {
			return
		}
		e.start = e.start.Add(e.pt)
		e.printed++
		e.queue[0]--
		if e.queue[0] <= 0 {
			e.queue = e.queue[1:]
		}
	}
}

func (e *Emulator) addFormat(job []byte, copies int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.clk.Now()
	e.advance(now)
	if len(e.queue) == 0 {
		e.start = now
	}
	if copies < 1 {
		copies = 1
	}
	e.queue = append(e.queue, copies)
	e.jobs = append(e.jobs, append([]byte(nil), job...))
	if len(e.jobs) > e.maxJ {
		e.jobs = append([][]byte(nil), e.jobs[len(e.jobs)-e.maxJ:]...)
	}
	e.log.Debug("label format received", "bytes", len(job), "copies", copies)
}

func (e *Emulator) addBytes(b []byte) {
	e.mu.Lock()
	e.all = append(e.all, b...)
	if len(e.all) > e.maxR {
		e.all = append([]byte(nil), e.all[len(e.all)-e.maxR:]...)
	}
	e.mu.Unlock()
}

// cancelAll is ~JA: every format waiting or printing is dropped (its labels never come out); a
// fault stays until it is cleared.
func (e *Emulator) cancelAll() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.advance(e.clk.Now())
	dropped := 0
	for _, n := range e.queue {
		dropped += n
	}
	e.queue = nil
	e.cancels++
	e.log.Info("~JA: buffered labels cancelled", "labels", dropped)
}

// Cancels is how many cancel-all commands (~JA) arrived.
func (e *Emulator) Cancels() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cancels
}

// reply builds the answer to query q, or nil for silence.
func (e *Emulator) reply(q string) []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.queries++
	e.advance(e.clk.Now())
	f := e.fault
	if f == NoAnswer || (e.silt && f != "" && f != printer.FaultPaused) {
		return nil
	}
	labels := 0
	for _, n := range e.queue {
		labels += n
	}
	printing := f == "" && labels > 0
	switch q {
	case "~HS":
		return zpl.FormatHS(zpl.HostStatus{CommSettings: 30, PaperOut: f == printer.FaultPaperOut,
			Paused: f == printer.FaultPaused, LabelLength: 1040, FormatsInBuffer: len(e.queue),
			BufferFull: f == printer.FaultBufferFull, OverTemperature: f == printer.FaultOverTemperature,
			FunctionSettings: 1, HeadUp: f == printer.FaultHeadOpen, RibbonOut: f == printer.FaultRibbonOut,
			PrintMode: 2, LabelsRemaining: labels, FormatWhilePrint: true})
	case "~HQES":
		var ew zpl.ErrorsWarnings
		switch f {
		case printer.FaultPaperOut:
			ew.Errors = zpl.ErrMediaOut
		case printer.FaultRibbonOut:
			ew.Errors = zpl.ErrRibbonOut
		case printer.FaultHeadOpen:
			ew.Errors = zpl.ErrHeadOpen
		case printer.FaultJam:
			ew.Errors = zpl.ErrPaperFeed
		case printer.FaultOverTemperature:
			ew.Errors = zpl.ErrHeadOverTemp
		case printer.FaultPaused:
			ew.Errors = zpl.ErrPaused
		case "":
		default:
			ew.Errors = 0x00100000 // a bit wedge does not know: must map to unknown
		}
		return zpl.FormatHQES(ew)
	case "!?":
		var b byte
		switch f {
		case printer.FaultHeadOpen:
			b = tspl.BitHeadOpen
		case printer.FaultJam:
			b = tspl.BitPaperJam
		case printer.FaultPaperOut:
			b = tspl.BitPaperOut
		case printer.FaultRibbonOut:
			b = tspl.BitRibbonOut
		case printer.FaultPaused:
			b = tspl.BitPause
		case printer.FaultCoverOpen:
			b = tspl.BitCoverOpen
		case printer.FaultOverTemperature:
			b = tspl.BitTempRange
		}
		if printing {
			b |= tspl.BitPrinting
		}
		return []byte{b}
	case "!S":
		x := tspl.Extended{Message: tspl.MsgNormal}
		if printing {
			x.Message = tspl.MsgPrinting
		}
		switch f {
		case printer.FaultPaused:
			x.Message = tspl.MsgPause
		case printer.FaultPaperOut:
			x.Message, x.Error2 = tspl.MsgError, tspl.ErrPaperEmpty
		case printer.FaultJam:
			x.Message, x.Error2 = tspl.MsgError, tspl.ErrPaperJam
		case printer.FaultRibbonOut:
			x.Message, x.Error2 = tspl.MsgError, tspl.ErrRibbon
		case printer.FaultOverTemperature:
			x.Message, x.Error1 = tspl.MsgError, tspl.ErrHeadOverheat
		case printer.FaultBufferFull:
			x.Warning = tspl.WarnBufferFull
		case "":
		default: // head open, cover open: <ESC>!S has no documented flag; report an error message
			x.Message = tspl.MsgError
		}
		return tspl.FormatExtended(x)
	}
	return nil
}

// send writes a reply with the configured ending of its frames.
func (e *Emulator) send(w io.Writer, rep []byte) {
	framed := bytes.HasSuffix(rep, []byte("\x03\r\n"))
	switch {
	case framed && e.end == EndETX:
		w.Write(bytes.ReplaceAll(rep, []byte("\x03\r\n"), []byte("\x03")))
	case framed && e.end == EndETXLateCRLF:
		w.Write(rep[:len(rep)-2])
		w.Write(rep[len(rep)-2:])
	default:
		w.Write(rep)
	}
}

var (
	rePQ    = regexp.MustCompile(`(?i)\^PQ(\d{1,6})`)
	rePrint = regexp.MustCompile(`(?i)^\s*PRINT\s+(\d{1,6})(?:\s*,\s*(\d{1,6}))?`)
)

// serve reads one stream: status queries are answered, everything else is recorded and split
// into label formats.
func (e *Emulator) serve(r io.Reader, w io.Writer) {
	var pend, cur []byte // pend: undecided bytes (a possible query prefix); cur: current format
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			pend = append(pend, buf[:n]...)
			pend, cur = e.consume(pend, cur, w)
		}
		if err != nil {
			if errors.Is(err, unix.EAGAIN) {
				continue
			}
			return
		}
	}
}

// consume handles pend as far as it can; returns the undecided remainder and the current format.
func (e *Emulator) consume(pend, cur []byte, w io.Writer) ([]byte, []byte) {
	lead := byte('~')
	if e.lang == printer.LangTSPL {
		lead = 0x1B
	}
	for len(pend) > 0 {
		i := bytes.IndexByte(pend, lead)
		if i < 0 {
			i = len(pend)
		}
		if i > 0 {
			cur = e.data(pend[:i], cur)
			pend = pend[i:]
			continue
		}
		// pend starts with the lead byte.
		q, need := "", 0
		if e.lang == printer.LangZPL {
			switch {
			case len(pend) >= 3 && string(pend[:3]) == "~HS":
				q, need = "~HS", 3
			case len(pend) >= 5 && string(pend[:5]) == "~HQES":
				q, need = "~HQES", 5
			case len(pend) >= 3 && string(pend[:3]) == "~JA":
				q, need = "~JA", 3
			case len(pend) < 5 && bytes.HasPrefix([]byte("~HQES"), pend), len(pend) < 3 && bytes.HasPrefix([]byte("~HS"), pend),
				len(pend) < 3 && bytes.HasPrefix([]byte("~JA"), pend):
				return pend, cur // wait for more
			}
		} else {
			switch {
			case len(pend) >= 3 && pend[1] == '!' && (pend[2] == '?' || pend[2] == 'S'):
				q, need = "!"+string(pend[2]), 3
			case len(pend) < 3 && (len(pend) == 1 || pend[1] == '!'):
				return pend, cur
			}
		}
		if q == "" {
			cur = e.data(pend[:1], cur)
			pend = pend[1:]
			continue
		}
		pend = pend[need:]
		if q == "~JA" {
			e.cancelAll()
			cur = nil // a format being received is cancelled too
			continue
		}
		if rep := e.reply(q); rep != nil {
			e.send(w, rep)
		}
	}
	return pend, cur
}

// data records job bytes and cuts complete formats out of cur.
func (e *Emulator) data(b, cur []byte) []byte {
	e.addBytes(b)
	cur = append(cur, b...)
	for {
		if e.lang == printer.LangZPL {
			i := bytes.Index(bytes.ToUpper(cur), []byte("^XZ"))
			if i < 0 {
				return cur
			}
			job := cur[:i+3]
			cur = append([]byte(nil), cur[i+3:]...)
			if !bytes.Contains(bytes.ToUpper(job), []byte("^XA")) {
				// No format start (e.g. the tail of a format cancelled by ~JA): a Zebra prints nothing.
				e.log.Warn("^XZ without ^XA ignored", "bytes", len(job))
				continue
			}
			copies := 1
			if m := rePQ.FindSubmatch(job); m != nil {
				copies, _ = strconv.Atoi(string(m[1]))
			}
			e.addFormat(bytes.TrimLeft(job, " \r\n\t"), copies)
			continue
		}
		// TSPL: line by line; a PRINT line ends a label format.
		off := 0
		for {
			j := bytes.IndexByte(cur[off:], '\n')
			if j < 0 {
				break
			}
			line := cur[off : off+j]
			off += j + 1
			if m := rePrint.FindSubmatch(line); m != nil {
				sets, _ := strconv.Atoi(string(m[1]))
				copies := 1
				if len(m[2]) > 0 {
					copies, _ = strconv.Atoi(string(m[2]))
				}
				e.addFormat(bytes.TrimLeft(cur[:off], " \r\n\t"), sets*max(copies, 1))
				cur = append([]byte(nil), cur[off:]...)
				off = 0
			}
		}
		return cur
	}
}
