package scannertest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"wedge/internal/clock"
)

// ErrTrace means a trace file is malformed; the error names the line.
var ErrTrace = errors.New("scannertest: bad trace")

// Directions of a trace event.
const (
	In  = "in"  // device → host (what the scanner sent: serial bytes, HID input reports)
	Out = "out" // host → device (feedback, set-up reports)
)

// Event is one chunk of bytes on the wire: a serial read, or one HID report.
type Event struct {
	At   time.Duration // since the start of the recording
	Dir  string        // In (default) or Out
	Data []byte
	Note string // free text, e.g. "Honeywell 1950g, QR with GBK text"
}

// Trace is a recording of bytes with timestamps. Its file form is JSON lines, one event per line:
//
//	{"t_ms":0,"hex":"5346313338353632383731363733390d"}
//	{"t_ms":12.5,"dir":"out","hex":"1b37","note":"host ACK good"}
//
// t_ms is milliseconds since the start (fractions allowed, never decreasing), dir is "in"
// (default) or "out", hex is the bytes (spaces allowed), note is optional. Blank lines and lines
// starting with # are comments. The format knows nothing about serial or HID: a HID trace holds
// one input report per event.
type Trace []Event

type eventJSON struct {
	TMS  float64 `json:"t_ms"`
	Dir  string  `json:"dir,omitempty"`
	Hex  string  `json:"hex"`
	Note string  `json:"note,omitempty"`
}

// ReadTrace parses a trace in its file form.
func ReadTrace(r io.Reader) (Trace, error) {
	var t Trace
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	line := 0
	var last time.Duration
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		var e eventJSON
		dec := json.NewDecoder(strings.NewReader(s))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrTrace, line, err)
		}
		if e.TMS < 0 {
			return nil, fmt.Errorf("%w: line %d: t_ms %v is negative", ErrTrace, line, e.TMS)
		}
		at := time.Duration(e.TMS * float64(time.Millisecond))
		if at < last {
			return nil, fmt.Errorf("%w: line %d: t_ms %v goes back in time", ErrTrace, line, e.TMS)
		}
		last = at
		switch e.Dir {
		case "":
			e.Dir = In
		case In, Out:
		default:
			return nil, fmt.Errorf("%w: line %d: dir %q is not in or out", ErrTrace, line, e.Dir)
		}
		data, err := hex.DecodeString(strings.ReplaceAll(e.Hex, " ", ""))
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: hex: %v", ErrTrace, line, err)
		}
		t = append(t, Event{At: at, Dir: e.Dir, Data: data, Note: e.Note})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: line %d: %v", ErrTrace, line+1, err)
	}
	return t, nil
}

// LoadTrace reads a trace file.
func LoadTrace(path string) (Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t, err := ReadTrace(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// WriteTo writes the trace in its file form.
func (t Trace) WriteTo(w io.Writer) (int64, error) {
	var buf bytes.Buffer
	for _, e := range t {
		j := eventJSON{TMS: float64(e.At) / float64(time.Millisecond), Hex: hex.EncodeToString(e.Data), Note: e.Note}
		if e.Dir != In {
			j.Dir = e.Dir
		}
		b, err := json.Marshal(j)
		if err != nil {
			return 0, err
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	return buf.WriteTo(w)
}

// Save writes the trace to a file.
func (t Trace) Save(path string) error {
	var buf bytes.Buffer
	t.WriteTo(&buf)
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// Filter returns the events going in direction dir.
func (t Trace) Filter(dir string) Trace {
	var out Trace
	for _, e := range t {
		if e.Dir == dir {
			out = append(out, e)
		}
	}
	return out
}

// Bytes returns the data of the events going in direction dir, concatenated.
func (t Trace) Bytes(dir string) []byte {
	var out []byte
	for _, e := range t {
		if e.Dir == dir {
			out = append(out, e.Data...)
		}
	}
	return out
}

// Replay writes the data of every In event to write, in order, as fast as write takes it.
func (t Trace) Replay(write func([]byte) error) error {
	for i, e := range t {
		if e.Dir != In {
			continue
		}
		if err := write(e.Data); err != nil {
			return fmt.Errorf("trace event %d: %w", i, err)
		}
	}
	return nil
}

// Play writes the data of every In event to write at its time, measured on clk (nil: the wall
// clock) from the call. It stops early when ctx is done.
func (t Trace) Play(ctx context.Context, clk clock.Clock, write func([]byte) error) error {
	clk = clock.Or(clk)
	start := clk.Now()
	for i, e := range t {
		if e.Dir != In {
			continue
		}
		if wait := e.At - clk.Now().Sub(start); wait > 0 {
			tm := clk.NewTimer(wait)
			select {
			case <-tm.C():
			case <-ctx.Done():
				tm.Stop()
				return ctx.Err()
			}
		}
		if err := write(e.Data); err != nil {
			return fmt.Errorf("trace event %d: %w", i, err)
		}
	}
	return nil
}

// Recorder builds a trace from bytes seen live, e.g. in a smoke test on real hardware: wrap the
// device's read and write calls with Record. It is safe for concurrent use.
type Recorder struct {
	clk   clock.Clock
	mu    sync.Mutex
	start time.Time
	t     Trace
}

// NewRecorder starts a recording; times are measured on clk (nil: the wall clock) from now.
func NewRecorder(clk clock.Clock) *Recorder {
	clk = clock.Or(clk)
	return &Recorder{clk: clk, start: clk.Now()}
}

// Record adds a copy of b going in direction dir (In or Out) at the current time.
func (r *Recorder) Record(dir string, b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.t = append(r.t, Event{At: r.clk.Now().Sub(r.start), Dir: dir, Data: bytes.Clone(b)})
}

// Trace returns a copy of what was recorded so far.
func (r *Recorder) Trace() Trace {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(Trace, len(r.t))
	copy(out, r.t)
	return out
}
