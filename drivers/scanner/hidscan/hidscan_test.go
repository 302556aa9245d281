package hidscan_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"wedge/drivers/profile"
	"wedge/drivers/scanner"
	"wedge/drivers/scanner/hidscan"
	h "wedge/drivers/scanner/hidscan/hidscantest"
	"wedge/drivers/scanner/scannertest"
	"wedge/internal/clock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var honeywell = hidscan.DeviceInfo{Path: "1-1:1.0", VendorID: 0x0C2E, ProductID: 0x0B8F, Interface: 0, Product: "Voyager 1450g"}

func posConfig() hidscan.Config {
	return hidscan.Config{
		Name:     "pack-1",
		Match:    hidscan.Match{VID: 0x0C2E, PID: 0x0B8F, Interface: hidscan.AnyInterface},
		HID:      profile.HID{Layout: hidscan.LayoutPOSA, ReportID: 2, Suffix: "cr", SetupReports: []string{"FE01"}},
		Feedback: &profile.Feedback{Protocol: "honeywell_hid", Via: "output_report", ReportID: 0xFD},
	}
}

type rig struct {
	bus *h.Bus
	clk *clock.Fake
	mu  sync.Mutex
	dev []*h.Device
	sc  *hidscan.Scanner
}

func (r *rig) plug(info hidscan.DeviceInfo, reports ...[]byte) {
	r.bus.Plug(info, func() *h.Device {
		d := h.NewDevice(reports...)
		r.mu.Lock()
		r.dev = append(r.dev, d)
		r.mu.Unlock()
		return d
	})
}

func (r *rig) device(t *testing.T, i int) *h.Device {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		if len(r.dev) > i {
			d := r.dev[i]
			r.mu.Unlock()
			return d
		}
		r.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("device %d never opened", i)
	return nil
}

// waitTimers waits (real time, only to synchronise with the scanner's goroutines) until the fake
// clock has at least n armed timers.
func waitTimers(t *testing.T, clk *clock.Fake, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for clk.Waiters() < n {
		if time.Now().After(deadline) {
			t.Fatalf("the scanner never armed %d timers", n)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitOpen advances the fake clock by re-scan intervals until the bus saw n opens.
func (r *rig) waitOpen(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for r.bus.Opens() < n {
		if time.Now().After(deadline) {
			t.Fatalf("device not opened (%d opens, want %d)", r.bus.Opens(), n)
		}
		if r.clk.Waiters() > 0 {
			r.clk.Advance(500 * time.Millisecond)
		}
		time.Sleep(time.Millisecond)
	}
}

func newRig(t *testing.T, cfg hidscan.Config) *rig {
	t.Helper()
	r := &rig{bus: &h.Bus{}, clk: clock.NewFake(t0)}
	sc, err := hidscan.Open(cfg, &hidscan.Options{Clock: r.clk, Enumerate: r.bus.Enumerate, Open: r.bus.Open})
	if err != nil {
		t.Fatal(err)
	}
	r.sc = sc
	t.Cleanup(func() { sc.Close() })
	return r
}

func readOK(t *testing.T, sc scanner.Scanner) scanner.Read {
	t.Helper()
	r, err := scannertest.ReadWithin(t, sc, 5*time.Second)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return r
}

func TestReadsSetupAndFeedback(t *testing.T) {
	cfg := posConfig()
	r := newRig(t, cfg)
	r.plug(honeywell, h.Concat(h.POSA("]C0", 'j', []byte("SF1385628716739\r")), h.POSA("]Q1", 's', []byte(qrText+"\r")))...)
	r.waitOpen(t, 1)

	rd := readOK(t, r.sc)
	if rd.Text != "SF1385628716739" || rd.AIM != "]C0" || rd.Device != "pack-1" {
		t.Fatalf("read %+v", rd)
	}
	if rd := readOK(t, r.sc); rd.Text != qrText || rd.AIM != "]Q1" {
		t.Fatalf("read %+v", rd)
	}
	dev := r.device(t, 0)
	if f := dev.Features(); len(f) != 1 || !bytes.Equal(f[0], []byte{0xFE, 0x01}) {
		t.Fatalf("setup reports % X, want FE 01", f)
	}
	if err := r.sc.Feedback(context.Background(), scanner.Good); err != nil {
		t.Fatal(err)
	}
	w := dev.WaitWrites(1, 5*time.Second)
	if len(w) != 1 || !bytes.Equal(w[0], []byte{0xFD, 0x02, 0x1B, 0x37}) {
		t.Fatalf("feedback writes % X", w)
	}
	hl := r.sc.Health()
	if !hl.Connected || hl.Reads != 2 || hl.Reconnects != 0 {
		t.Fatalf("health %+v", hl)
	}
}

func TestRecordHook(t *testing.T) {
	var mu sync.Mutex
	var got [][]byte
	bus := &h.Bus{}
	reps := h.POSA("]Q1", 's', []byte(qrText+"\r"))
	bus.Plug(honeywell, func() *h.Device { return h.NewDevice(reps...) })
	cfg := posConfig()
	sc, err := hidscan.Open(cfg, &hidscan.Options{Enumerate: bus.Enumerate, Open: bus.Open, Record: func(at time.Time, r []byte) {
		mu.Lock()
		got = append(got, append([]byte(nil), r...))
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if rd := readOK(t, sc); rd.Text != qrText {
		t.Fatalf("read %q", rd.Text)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != len(reps) {
		t.Fatalf("recorded %d reports, want %d", len(got), len(reps))
	}
	for i := range reps {
		if !bytes.Equal(got[i], reps[i]) {
			t.Fatalf("report %d differs", i)
		}
	}
}

func TestFeedbackNeverDelaysReads(t *testing.T) {
	r := newRig(t, posConfig())
	r.plug(honeywell)
	r.waitOpen(t, 1)
	dev := r.device(t, 0)
	release := dev.GateWrites() // the scanner does not answer the output report
	defer release()
	if err := r.sc.Feedback(context.Background(), scanner.Bad); err != nil {
		t.Fatal(err)
	}
	// the previous one is stuck: the next is dropped at once with ErrFeedbackBusy
	if err := r.sc.Feedback(context.Background(), scanner.Good); !errors.Is(err, hidscan.ErrFeedbackBusy) {
		t.Fatalf("second feedback: %v", err)
	}
	// and a new scan still reads while the write hangs
	dev.Push(h.POSA("]C0", 'j', []byte("YT8962646785389\r"))...)
	if rd := readOK(t, r.sc); rd.Text != "YT8962646785389" {
		t.Fatalf("read %+v", rd)
	}
	release()
	if w := dev.WaitWrites(1, 5*time.Second); len(w) != 1 || !bytes.Equal(w[0], []byte{0xFD, 0x02, 0x1B, 0x38}) {
		t.Fatalf("writes % X", w)
	}
}

func TestReplugReadsAgainWithinTwoSeconds(t *testing.T) {
	r := newRig(t, posConfig())
	r.plug(honeywell, h.POSA("]C0", 'j', []byte("A1\r"))...)
	r.waitOpen(t, 1)
	if rd := readOK(t, r.sc); rd.Text != "A1" {
		t.Fatalf("read %+v", rd)
	}
	first := r.device(t, 0)
	r.bus.Unplug(honeywell.Path)
	first.Unplug()
	if _, err := r.sc.Read(); !errors.Is(err, scanner.ErrDisconnected) || !scanner.Recoverable(err) {
		t.Fatalf("read after unplug: %v", err)
	}
	if hl := r.sc.Health(); hl.Connected || hl.LastError == "" {
		t.Fatalf("health after unplug %+v", hl)
	}
	if !first.Closed() {
		t.Fatal("lost device not closed")
	}
	// the device comes back at another path (another USB port); the scanner finds it by VID/PID
	back := honeywell
	back.Path = "1-2:1.0"
	r.plug(back, h.POSA("]C0", 'j', []byte("B2\r"))...)
	var waited time.Duration
	for r.bus.Opens() < 2 {
		if waited >= 2*time.Second {
			t.Fatalf("not reopened within 2 s of fake time")
		}
		waitTimers(t, r.clk, 1)
		r.clk.Advance(500 * time.Millisecond)
		waited += 500 * time.Millisecond
		time.Sleep(time.Millisecond)
	}
	if rd := readOK(t, r.sc); rd.Text != "B2" {
		t.Fatalf("read after replug %+v", rd)
	}
	if hl := r.sc.Health(); !hl.Connected || hl.Reconnects != 1 || hl.Reads != 2 {
		t.Fatalf("health %+v", hl)
	}
}

func TestKeyboardIdleCutoffThroughDriver(t *testing.T) {
	cfg := hidscan.Config{Name: "kbd", Match: hidscan.Match{VID: 0x05E0, PID: 0x1200, Interface: 0},
		HID: profile.HID{Layout: hidscan.LayoutKeyboard, IdleCutMS: 300, Suffix: "none"}}
	r := newRig(t, cfg)
	zebra := hidscan.DeviceInfo{Path: "3-1:1.0", VendorID: 0x05E0, ProductID: 0x1200, Interface: 0}
	other := zebra
	other.Path, other.Interface = "3-1:1.1", 1 // a second interface of the same device: not ours
	r.bus.Plug(other, func() *h.Device { t.Error("opened the wrong interface"); return h.NewDevice() })
	r.plug(zebra, h.Type("7361055558")...)
	r.waitOpen(t, 1)
	r.device(t, 0)
	waitTimers(t, r.clk, 1) // the idle timer after the last key
	r.clk.Advance(300 * time.Millisecond)
	if rd := readOK(t, r.sc); rd.Text != "7361055558" || rd.Device != "kbd" {
		t.Fatalf("read %+v", rd)
	}
}

func TestOpenRejectsBadConfig(t *testing.T) {
	for _, cfg := range []hidscan.Config{
		{Name: ""},
		{Name: "x", HID: profile.HID{Layout: "serial"}},
		{Name: "x", HID: profile.HID{Layout: "pos_a", SetupReports: []string{"FZ"}}},
		{Name: "x", HID: profile.HID{Layout: "pos_a"}, Feedback: &profile.Feedback{Protocol: "morse"}},
	} {
		if sc, err := hidscan.Open(cfg, &hidscan.Options{Enumerate: (&h.Bus{}).Enumerate}); err == nil {
			sc.Close()
			t.Errorf("%+v: accepted", cfg)
		}
	}
}

// Conformance checks every scanner driver must pass (kept local until scannertest.Run lands).
func TestConformance(t *testing.T) {
	open := func(t *testing.T) (*rig, *hidscan.Scanner) {
		r := newRig(t, posConfig())
		r.plug(honeywell)
		r.waitOpen(t, 1)
		r.device(t, 0)
		return r, r.sc
	}
	t.Run("CloseUnblocksRead", func(t *testing.T) {
		_, sc := open(t)
		errc := make(chan error, 1)
		go func() { _, err := sc.Read(); errc <- err }()
		time.Sleep(10 * time.Millisecond) // let Read block (not a timing assertion)
		if err := sc.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; !errors.Is(err, scanner.ErrClosed) || scanner.Recoverable(err) {
			t.Fatalf("Read after Close: %v", err)
		}
	})
	t.Run("DoubleClose", func(t *testing.T) {
		r, sc := open(t)
		if err := sc.Close(); err != nil {
			t.Fatal(err)
		}
		if err := sc.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := sc.Read(); !errors.Is(err, scanner.ErrClosed) {
			t.Fatalf("Read: %v", err)
		}
		if !r.device(t, 0).Closed() {
			t.Fatal("device left open")
		}
		if err := sc.Feedback(context.Background(), scanner.Good); !errors.Is(err, scanner.ErrClosed) {
			t.Fatalf("Feedback after Close: %v", err)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		r, sc := open(t)
		dev := r.device(t, 0)
		const n = 50
		var wg sync.WaitGroup
		got := make(chan string, n)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					rd, err := sc.Read()
					if errors.Is(err, scanner.ErrClosed) {
						return
					}
					if err == nil {
						got <- rd.Text
					}
					_ = sc.Health()
					_ = sc.Feedback(context.Background(), scanner.Good)
				}
			}()
		}
		for i := range n {
			dev.Push(h.POSA("]C0", 'j', []byte{'N', byte('0' + i%10), '\r'})...)
		}
		for range n {
			select {
			case <-got:
			case <-time.After(5 * time.Second):
				t.Fatal("reads lost")
			}
		}
		sc.Close()
		wg.Wait()
	})
	t.Run("String", func(t *testing.T) {
		_, sc := open(t)
		if sc.String() == "" {
			t.Fatal("empty String")
		}
	})
}

func TestFeedbackChannels(t *testing.T) {
	// Newland: explicit bytes wrapped in output report 0x04
	cfg := posConfig()
	cfg.Feedback = &profile.Feedback{Protocol: "newland", Via: "feature_report", ReportID: 4, Good: "7E 00 08 01 00 00 D5 EF 41"}
	r := newRig(t, cfg)
	r.plug(honeywell)
	r.waitOpen(t, 1)
	dev := r.device(t, 0)
	if err := r.sc.Feedback(context.Background(), scanner.Good); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(dev.Features()) < 2 && time.Now().Before(deadline) { // FE01 setup, then the feedback
		time.Sleep(time.Millisecond)
	}
	f := dev.Features()
	if len(f) != 2 || !bytes.Equal(f[1], []byte{0x04, 0x09, 0x7E, 0x00, 0x08, 0x01, 0x00, 0x00, 0xD5, 0xEF, 0x41}) {
		t.Fatalf("feature reports % X", f)
	}
	// no bad bytes for newland: nothing to send, no error
	if err := r.sc.Feedback(context.Background(), scanner.Bad); err != nil {
		t.Fatalf("bad without bytes: %v", err)
	}
	// a cancelled context sends nothing
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.sc.Feedback(ctx, scanner.Good); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	// serial-only feedback (a Zebra profile) is a no-op in HID mode
	z := posConfig()
	z.Feedback = &profile.Feedback{Protocol: "zebra_ssi", Via: "serial"}
	rz := newRig(t, z)
	rz.plug(honeywell)
	rz.waitOpen(t, 1)
	if err := rz.sc.Feedback(context.Background(), scanner.Good); err != nil {
		t.Fatalf("serial feedback on HID: %v", err)
	}
	if w := rz.device(t, 0).Writes(); len(w) != 0 {
		t.Fatalf("wrote % X", w)
	}
}

func TestOpenFailureIsRetriedAndReported(t *testing.T) {
	var logs logLines
	bus := &h.Bus{}
	clk := clock.NewFake(t0)
	bus.Plug(honeywell, func() *h.Device { return h.NewDevice(h.POSA("]C0", 'j', []byte("OK\r"))...) })
	bus.FailOpen(errors.New("LIBUSB_ERROR_ACCESS"))
	sc, err := hidscan.Open(posConfig(), &hidscan.Options{Clock: clk, Enumerate: bus.Enumerate, Open: bus.Open,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	for range 3 {
		waitTimers(t, clk, 1)
		clk.Advance(500 * time.Millisecond)
	}
	waitTimers(t, clk, 1)
	if hl := sc.Health(); hl.Connected || !strings.Contains(hl.LastError, "LIBUSB_ERROR_ACCESS") {
		t.Fatalf("health %+v", hl)
	}
	if l := logs.get(); len(l) != 1 || !strings.Contains(l[0], "LIBUSB_ERROR_ACCESS") || !strings.Contains(l[0], "device=") {
		t.Fatalf("%d log lines for the same open error, want 1 naming the device: %q", len(l), l)
	}
	bus.FailOpen(nil)
	clk.Advance(500 * time.Millisecond)
	if rd := readOK(t, sc); rd.Text != "OK" {
		t.Fatalf("read %+v", rd)
	}
}

// A keyboard trace played in fake time: two barcodes without a terminator, a second apart; the
// idle cut-off separates them and each read carries its last key's time.
func TestPlayedKeyboardTraceIdleCutoff(t *testing.T) {
	clk := clock.NewFake(t0)
	reps := h.Concat(h.Type("7361055558"))
	trace := h.Spaced(0, 8*time.Millisecond, reps...)
	for _, r := range h.Spaced(time.Second, 8*time.Millisecond, h.Type("JT5261988016578")...) {
		trace = append(trace, r)
	}
	var mu sync.Mutex
	var player *h.Player
	bus := &h.Bus{}
	zebra := hidscan.DeviceInfo{Path: "3-1:1.0", VendorID: 0x05E0, ProductID: 0x1200}
	bus.Plug(zebra, func() *h.Device { return nil })
	sc, err := hidscan.Open(hidscan.Config{Name: "kbd", Match: hidscan.Match{VID: 0x05E0, PID: 0x1200, Interface: hidscan.AnyInterface},
		HID: profile.HID{Layout: hidscan.LayoutKeyboard, IdleCutMS: 300, Suffix: "none"}},
		&hidscan.Options{Clock: clk, Enumerate: bus.Enumerate, Open: func(hidscan.DeviceInfo) (hidscan.Device, error) {
			p := h.NewPlayer(clk, t0.Add(500*time.Millisecond), trace)
			mu.Lock()
			player = p
			mu.Unlock()
			return p, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	type res struct {
		r   scanner.Read
		err error
	}
	reads := make(chan res, 4)
	go func() {
		for range 2 {
			r, err := sc.Read()
			reads <- res{r, err}
		}
	}()
	// drive the fake clock: each report arrives exactly when due; after the last one, let the
	// idle cut-off fire (bounded loop; real sleeps only hand the CPU to the scanner's goroutines)
	var got []scanner.Read
	for step := 0; len(got) < 2 && step < 20000; step++ {
		select {
		case x := <-reads:
			if x.err != nil {
				t.Fatal(x.err)
			}
			got = append(got, x.r)
			continue
		default:
		}
		mu.Lock()
		player := player
		mu.Unlock()
		if player != nil {
			if due, ok := player.Waiting(); ok {
				clk.Set(due)
			} else if player.Done() && clk.Waiters() > 0 {
				clk.Advance(50 * time.Millisecond)
			}
		} else if clk.Waiters() > 0 {
			clk.Advance(500 * time.Millisecond) // re-scan until the device is opened
		}
		time.Sleep(100 * time.Microsecond)
	}
	if len(got) != 2 {
		t.Fatalf("got %d reads", len(got))
	}
	if got[0].Text != "7361055558" || got[1].Text != "JT5261988016578" {
		t.Fatalf("reads %q %q", got[0].Text, got[1].Text)
	}
	last0 := t0.Add(500 * time.Millisecond).Add(trace[len(reps)-1].At)
	if !got[0].At.Equal(last0) {
		t.Errorf("first read at %v, want its last key %v", got[0].At, last0)
	}
	if !got[1].At.After(t0.Add(1500 * time.Millisecond)) {
		t.Errorf("second read at %v", got[1].At)
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
