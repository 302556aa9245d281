package serialscan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.bug.st/serial"
	"go.uber.org/goleak"

	"wedge/drivers/profile"
	"wedge/drivers/scanner"
	"wedge/drivers/scanner/scannertest"
	"wedge/internal/clock"
	"wedge/internal/pty"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 1, 22, 9, 0, 0, 0, time.UTC)

// newPTY opens a real pseudo-terminal; the test writes the scanner's bytes to its device side.
func newPTY(t *testing.T) *pty.Pair {
	t.Helper()
	p, err := pty.Open()
	if err != nil {
		t.Fatalf("pty: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func open(t *testing.T, port string, s profile.Serial, opts *Options) *Scanner {
	t.Helper()
	sc, err := Open("scan-p1", port, s, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { sc.Close() })
	return sc
}

func write(t *testing.T, p *pty.Pair, s string) {
	t.Helper()
	if _, err := p.Write([]byte(s)); err != nil {
		t.Fatalf("write to the pty: %v", err)
	}
}

// readWait bounds every Read in these tests, so a hung driver fails instead of hanging.
const readWait = 10 * time.Second

func mustText(t *testing.T, sc scanner.Scanner, want string) scanner.Read {
	t.Helper()
	r, err := scannertest.ReadWithin(t, sc, readWait)
	if err != nil {
		t.Fatalf("Read: %v, want %q", err, want)
	}
	if r.Text != want {
		t.Fatalf("Read().Text = %q, want %q", r.Text, want)
	}
	return r
}

func mustErr(t *testing.T, sc scanner.Scanner, want error) error {
	t.Helper()
	_, err := scannertest.ReadWithin(t, sc, readWait)
	if !errors.Is(err, want) {
		t.Fatalf("Read error = %v, want %v", err, want)
	}
	if !scanner.Recoverable(err) {
		t.Fatalf("%v must be recoverable", err)
	}
	return err
}

func TestConformanceOverPTY(t *testing.T) {
	scannertest.Run(t, func(t *testing.T) (scanner.Scanner, func([]byte) error) {
		p := newPTY(t)
		sc, err := Open("scan-p1", p.Name, profile.Serial{}, &Options{Feedback: &profile.Feedback{Protocol: "honeywell_serial", Good: "1B37", Bad: "1B38", Via: "serial"}})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		// Drain what the driver writes (feedback), as a device would.
		done := make(chan struct{})
		go func() { defer close(done); io.Copy(io.Discard, p.Main) }()
		t.Cleanup(func() { p.Close(); <-done })
		return sc, func(b []byte) error { _, err := p.Write(b); return err }
	})
}

func TestFramingOverPTY(t *testing.T) {
	for _, c := range []struct {
		term, sep string
	}{{"cr", "\r"}, {"lf", "\n"}, {"crlf", "\r\n"}, {"tab", "\t"}} {
		t.Run(c.term, func(t *testing.T) {
			p := newPTY(t)
			clk := clock.NewFake(t0)
			sc := open(t, p.Name, profile.Serial{Terminator: c.term}, &Options{Clock: clk})
			write(t, p, "SF1385628716739"+c.sep+"YT8962646785389"+c.sep)
			r := mustText(t, sc, "SF1385628716739")
			if r.Device != "scan-p1" || !r.At.Equal(t0) || r.AIM != "" || string(r.Raw) != "SF1385628716739" {
				t.Fatalf("read %+v: want device scan-p1, the clock's time, no AIM, raw bytes", r)
			}
			mustText(t, sc, "YT8962646785389")
		})
	}
	t.Run("crlf tolerates lone CR and LF", func(t *testing.T) {
		p := newPTY(t)
		sc := open(t, p.Name, profile.Serial{Terminator: "crlf"}, nil)
		write(t, p, "A1\rB2\nC3\r\n")
		for _, want := range []string{"A1", "B2", "C3"} {
			mustText(t, sc, want)
		}
	})
}

func TestAIMStrippedOverPTY(t *testing.T) {
	p := newPTY(t)
	sc := open(t, p.Name, profile.Serial{AIMPrefix: true}, nil)
	write(t, p, "]C0SF1385628716739\r]Q1收件人:张三\r")
	if r := mustText(t, sc, "SF1385628716739"); r.AIM != "]C0" {
		t.Fatalf("AIM = %q, want ]C0", r.AIM)
	}
	if r := mustText(t, sc, "收件人:张三"); r.AIM != "]Q1" {
		t.Fatalf("AIM = %q, want ]Q1", r.AIM)
	}
}

func TestNoiseRejectedThenGoodRead(t *testing.T) {
	p := newPTY(t)
	var logs logLines
	sc := open(t, p.Name, profile.Serial{}, &Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	write(t, p, "\x00\x07\xff\x1b[2J\rJT5261988016578\r")
	err := mustErr(t, sc, scanner.ErrNoise)
	if !strings.Contains(err.Error(), `scanner "scan-p1"`) || !strings.Contains(err.Error(), "at byte 0") || !strings.Contains(err.Error(), "[00] 07 FF 1B") {
		t.Fatalf("noise error %q: want the device, the offset and a hex excerpt", err)
	}
	mustText(t, sc, "JT5261988016578")
	if h := sc.Health(); h.Reads != 1 || !strings.Contains(h.LastError, "noise") {
		t.Fatalf("Health = %+v: want 1 read and the noise as last error", h)
	}
	if l := logs.get(); len(l) == 0 || !strings.Contains(l[0], "level=WARN") || !strings.Contains(l[0], "device=scan-p1") || !strings.Contains(l[0], "noise") {
		t.Fatalf("the rejected frame was not logged as a warning naming the device: %q", l)
	}
}

func TestOverlongThenResync(t *testing.T) {
	p := newPTY(t)
	sc := open(t, p.Name, profile.Serial{}, nil)
	// 5 KiB of printable garbage without a terminator, the rest of it up to a CR, then a barcode.
	go p.Write([]byte(strings.Repeat("0123456789ABCDEF", 5*1024/16) + "tail\rDPK202252612836\r"))
	err := mustErr(t, sc, scanner.ErrOverlong)
	if !strings.Contains(err.Error(), "4096") {
		t.Fatalf("overlong error %q should name the limit", err)
	}
	mustText(t, sc, "DPK202252612836")
}

func TestGBKOverPTY(t *testing.T) {
	p := newPTY(t)
	sc := open(t, p.Name, profile.Serial{Charset: "gbk"}, nil)
	write(t, p, gbk("顺丰速运 SF1385628716739 收件人:张三")+"\r")
	r := mustText(t, sc, "顺丰速运 SF1385628716739 收件人:张三")
	if string(r.Raw) != gbk("顺丰速运 SF1385628716739 收件人:张三") {
		t.Fatalf("Raw = % X, want the GBK bytes", r.Raw)
	}
}

func TestIdleCutoff(t *testing.T) {
	p := newPTY(t)
	clk := clock.NewFake(t0)
	sc := open(t, p.Name, profile.Serial{IdleCutMS: 300}, &Options{Clock: clk})
	write(t, p, "ABC")
	waitFor(t, "the idle timer to be armed", func() bool { return clk.Waiters() == 1 })
	clk.Advance(299 * time.Millisecond)
	if clk.Waiters() != 1 {
		t.Fatal("the idle cut-off fired before 300 ms of quiet")
	}
	clk.Advance(time.Millisecond)
	r := mustText(t, sc, "ABC")
	if !r.At.Equal(t0) {
		t.Fatalf("At = %v, want the time the last byte arrived (%v)", r.At, t0)
	}
	// A terminator still ends frames normally.
	write(t, p, "DEF\r")
	mustText(t, sc, "DEF")
}

// A port-bound scanner of a model with several modes beeps with its serial mode's feedback
// (modes.cdc_serial), not with the top-level block, which is for its HID POS mode.
func TestFeedbackOverPTY(t *testing.T) {
	p := newPTY(t)
	prof := profile.Profile{ID: "honeywell-xenon-1950g", Serial: &profile.Serial{}, HID: &profile.HID{Layout: "pos_a"},
		Feedback: &profile.Feedback{Protocol: "honeywell_hid", Good: "1B 37 2C", Bad: "1B 38 2C", Via: "output_report", ReportID: 253},
		Modes:    map[string]profile.Mode{"cdc_serial": {Feedback: &profile.Feedback{Protocol: "honeywell_serial", Good: "1B 37 2C", Bad: "1B 38 2C", Via: "serial"}}}}
	sc, err := OpenProfile("scan-p1", p.Name, prof, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if !sc.HasFeedback() {
		t.Fatal("HasFeedback() = false with feedback bytes in the profile")
	}
	write(t, p, "SF1385628716739\r")
	mustText(t, sc, "SF1385628716739")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sc.Feedback(ctx, scanner.Good); err != nil {
		t.Fatal(err)
	}
	if err := sc.Feedback(ctx, scanner.Bad); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 6)
	if _, err := io.ReadFull(p.Main, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != "\x1b7,\x1b8," {
		t.Fatalf("device received % X, want 1B 37 2C 1B 38 2C", got)
	}

	// Without feedback bytes Feedback does nothing.
	p2 := newPTY(t)
	plain := open(t, p2.Name, profile.Serial{}, &Options{Feedback: &profile.Feedback{Protocol: "newland", Via: "serial"}})
	if plain.HasFeedback() || plain.Feedback(ctx, scanner.Good) != nil {
		t.Fatal("a scanner without feedback bytes should do nothing")
	}
}

// flaky wraps the real serial.Open: it fails while fails > 0 and hands out the ports it opened.
type flaky struct {
	mu       sync.Mutex
	fails    int
	attempts int
	ports    []serial.Port
}

func (f *flaky) open(name string, m *serial.Mode) (serial.Port, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts++
	if f.fails > 0 {
		f.fails--
		return nil, errors.New("no such device (test)")
	}
	p, err := serial.Open(name, m)
	if err == nil {
		f.ports = append(f.ports, p)
	}
	return p, err
}

func (f *flaky) get() (attempts int, last serial.Port) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.ports) > 0 {
		last = f.ports[len(f.ports)-1]
	}
	return f.attempts, last
}

func TestReopenWithBackoff(t *testing.T) {
	p := newPTY(t)
	clk := clock.NewFake(t0)
	fl := &flaky{}
	sc := open(t, p.Name, profile.Serial{}, &Options{Clock: clk, OpenPort: fl.open})
	write(t, p, "A1\r")
	mustText(t, sc, "A1")
	if h := sc.Health(); !h.Connected || h.Reconnects != 0 {
		t.Fatalf("Health = %+v, want connected, no reconnects", h)
	}

	// The port is closed under the driver (as when the device vanishes); the next 3 opens fail.
	fl.mu.Lock()
	fl.fails = 3
	fl.mu.Unlock()
	_, port := fl.get()
	port.Close()
	err := mustErr(t, sc, scanner.ErrDisconnected)
	if !strings.Contains(err.Error(), p.Name) {
		t.Fatalf("disconnect error %q should name the port", err)
	}
	if h := sc.Health(); h.Connected || h.LastError == "" {
		t.Fatalf("Health = %+v, want disconnected with the error", h)
	}

	// Attempts come after 100 ms, then 200, 400 (doubling), each only when its time has come.
	for i, backoff := range []time.Duration{100, 200, 400, 800} {
		backoff *= time.Millisecond
		waitFor(t, "the retry timer", func() bool { return clk.Waiters() == 1 })
		before, _ := fl.get()
		clk.Advance(backoff - time.Millisecond)
		if clk.Waiters() != 1 {
			t.Fatalf("attempt %d came before its backoff of %s", i+1, backoff)
		}
		clk.Advance(time.Millisecond)
		waitFor(t, "a reopen attempt", func() bool { n, _ := fl.get(); return n == before+1 })
	}
	// The 4th attempt succeeded.
	waitFor(t, "the reconnect", func() bool { return sc.Health().Connected })
	if h := sc.Health(); h.Reconnects != 1 {
		t.Fatalf("Health = %+v, want 1 reconnect", h)
	}
	write(t, p, "B2\r")
	mustText(t, sc, "B2")
}

func TestUnplugPTY(t *testing.T) {
	p := newPTY(t)
	clk := clock.NewFake(t0)
	sc := open(t, p.Name, profile.Serial{}, &Options{Clock: clk, Feedback: &profile.Feedback{Protocol: "datalogic", Good: "42", Bad: "46", Via: "serial"}})
	write(t, p, "A1\rHALF")
	mustText(t, sc, "A1")
	p.Close() // the device side goes away: the port is gone
	mustErr(t, sc, scanner.ErrDisconnected)
	h := sc.Health()
	if h.Connected || !strings.Contains(h.LastError, "disconnected") || !h.LastErrAt.Equal(t0) {
		t.Fatalf("Health = %+v, want disconnected with the error at the clock's time", h)
	}
	// Feedback has nowhere to go and says so, within its context.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sc.Feedback(ctx, scanner.Good); !errors.Is(err, scanner.ErrDisconnected) {
		t.Fatalf("Feedback while unplugged = %v, want ErrDisconnected", err)
	}
	// Reopening fails (the pty is gone) without a second ErrDisconnected; Close still works.
	waitFor(t, "the retry timer", func() bool { return clk.Waiters() == 1 })
	clk.Advance(100 * time.Millisecond)
	waitFor(t, "the next retry", func() bool { return clk.Waiters() == 1 })
	errc := make(chan error, 1)
	go func() { _, err := sc.Read(); errc <- err }()
	if err := sc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, scanner.ErrClosed) {
		t.Fatalf("Read while reopening then Close = %v, want ErrClosed (no second ErrDisconnected)", err)
	}
	if err := sc.Feedback(ctx, scanner.Bad); !errors.Is(err, scanner.ErrClosed) {
		t.Fatalf("Feedback after Close = %v, want ErrClosed", err)
	}
}

func TestOpenMissingPortRetries(t *testing.T) {
	clk := clock.NewFake(t0)
	sc := open(t, "/dev/wedge-no-such-port", profile.Serial{}, &Options{Clock: clk})
	err := mustErr(t, sc, scanner.ErrDisconnected)
	if !strings.Contains(err.Error(), "/dev/wedge-no-such-port") {
		t.Fatalf("error %q should name the port", err)
	}
	if sc.Health().Connected {
		t.Fatal("Connected with no port")
	}
	if err := sc.Feedback(context.Background(), scanner.Good); err != nil {
		t.Fatalf("Feedback without feedback bytes = %v, want nil", err)
	}
}

func TestOpenRejectsBadSettings(t *testing.T) {
	for _, c := range []struct {
		port string
		s    profile.Serial
		want string
	}{
		{"", profile.Serial{}, "no port"},
		{"/dev/null", profile.Serial{Baud: 12345}, "serial.baud"},
		{"/dev/null", profile.Serial{Terminator: "crx"}, `"crx" is not one of cr, lf, crlf, tab`},
		{"/dev/null", profile.Serial{Charset: "big5"}, "serial.charset"},
	} {
		_, err := Open("s1", c.port, c.s, nil)
		if !errors.Is(err, ErrSettings) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), `"s1"`) {
			t.Errorf("Open(%q, %+v) = %v, want ErrSettings naming the device and %q", c.port, c.s, err, c.want)
		}
	}
	_, err := Open("s1", "/dev/null", profile.Serial{}, &Options{Feedback: &profile.Feedback{Via: "serial", Good: "1G"}})
	if !errors.Is(err, ErrSettings) || !strings.Contains(err.Error(), "feedback.good") {
		t.Errorf("bad feedback hex: %v", err)
	}
	_, err = OpenProfile("s1", "/dev/null", profile.Profile{ID: "x"}, nil)
	if !errors.Is(err, ErrSettings) {
		t.Errorf("profile without serial block: %v", err)
	}
}

func TestBackpressureKeepsOrder(t *testing.T) {
	// More barcodes than the queue holds arrive before anyone reads: none is lost or reordered.
	p := newPTY(t)
	sc := open(t, p.Name, profile.Serial{}, nil)
	var b strings.Builder
	const n = 3 * queueMax
	for i := range n {
		b.WriteString("YT" + strings.Repeat("0", 10) + string(rune('A'+i%26)) + itoa(i) + "\r")
	}
	go p.Write([]byte(b.String()))
	for i := range n {
		r, err := scannertest.ReadWithin(t, sc, readWait)
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if want := "YT" + strings.Repeat("0", 10) + string(rune('A'+i%26)) + itoa(i); r.Text != want {
			t.Fatalf("read %d = %q, want %q", i, r.Text, want)
		}
	}
}

func itoa(i int) string { return fmt.Sprintf("%03d", i) }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// logLines records the lines a log/slog handler writes (one Write per record).
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, string(p))
	return len(p), nil
}

func (l *logLines) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// A full queue (the station is behind, so the driver takes no bytes) is not a quiet line: a frame
// whose first bytes came before the queue filled is not cut as noise when the cut-off passes; its
// rest, waiting in the reader, completes it once the queue has room. (One short write, so the
// driver gets the frames beyond the queue's room and the unfinished frame in one read.)
func TestNoiseCutoffWaitsOutBackpressure(t *testing.T) {
	p := newPTY(t)
	clk := clock.NewFake(t0)
	sc := open(t, p.Name, profile.Serial{}, &Options{Clock: clk})
	const n = queueMax + 6
	var b strings.Builder
	for i := range n {
		b.WriteString("A" + itoa(i) + "\r")
	}
	write(t, p, b.String()+"S")
	waitFor(t, "the cut-off timer to be armed", func() bool { return clk.Waiters() == 1 })
	write(t, p, "F1385628716739\r") // waits in the reader: the queue is full
	clk.Advance(sc.noise)
	waitFor(t, "the cut-off timer to be armed again", func() bool { return clk.Waiters() == 1 })
	for i := range n {
		mustText(t, sc, "A"+itoa(i))
	}
	mustText(t, sc, "SF1385628716739")
}
