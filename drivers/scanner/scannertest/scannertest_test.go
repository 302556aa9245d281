package scannertest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"wedge/drivers/scanner"
	"wedge/internal/clock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestFakeConformance(t *testing.T) {
	Run(t, func(t *testing.T) (scanner.Scanner, func([]byte) error) {
		f := NewFake("fake-1", nil, nil)
		return f, f.Inject
	})
}

func TestFakeFromChannelConformance(t *testing.T) {
	// The same fake fed through its channel: inject frames lines and sends them on the channel.
	Run(t, func(t *testing.T) (scanner.Scanner, func([]byte) error) {
		in := make(chan scanner.Read, 64) // buffered: the suite injects before it reads
		f := NewFake("fake-ch", in, nil)
		framer := NewFake("framer", nil, nil) // only its line framing is used
		return f, func(b []byte) error {
			if err := framer.Inject(b); err != nil {
				return err
			}
			for {
				framer.mu.Lock()
				n := len(framer.queue)
				framer.mu.Unlock()
				if n == 0 {
					return nil
				}
				r, _ := framer.Read()
				select {
				case in <- r:
				case <-f.closed:
					return scanner.ErrClosed
				}
			}
		}
	})
}

func TestFakeErrorsAndFeedback(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 22, 9, 0, 0, 0, time.UTC))
	f := NewFake("f", nil, clk)
	f.PushErr(scanner.ErrNoise)
	f.Inject([]byte("\r\nA1\r\n\nB2\n"))
	if _, err := f.Read(); !errors.Is(err, scanner.ErrNoise) {
		t.Fatalf("first Read = %v, want the pushed ErrNoise", err)
	}
	for _, want := range []string{"A1", "B2"} {
		r, err := f.Read()
		if err != nil || r.Text != want || r.Device != "f" || !r.At.Equal(clk.Now()) {
			t.Fatalf("Read = %+v, %v; want %q from device f at the fake time", r, err, want)
		}
	}
	f.Feedback(context.Background(), scanner.Good)
	f.Feedback(context.Background(), scanner.Bad)
	if got := f.Feedbacks(); len(got) != 2 || got[0] != scanner.Good || got[1] != scanner.Bad {
		t.Fatalf("Feedbacks = %v", got)
	}
	f.Close()
	if err := f.Push(scanner.Read{Text: "x"}); !errors.Is(err, scanner.ErrClosed) {
		t.Fatalf("Push after Close = %v", err)
	}
	if err := f.Feedback(context.Background(), scanner.Good); !errors.Is(err, scanner.ErrClosed) {
		t.Fatalf("Feedback after Close = %v", err)
	}
	if f.Health().Connected || f.Health().Reads != 2 {
		t.Fatalf("Health = %+v", f.Health())
	}
}

func TestTraceRoundTrip(t *testing.T) {
	in := `# Honeywell HID POS report, then host feedback
{"t_ms":0,"hex":"02 09 5D 58 30","note":"first"}

{"t_ms":12.5,"dir":"out","hex":"1b37"}
{"t_ms":40,"dir":"in","hex":"534631330d"}
`
	tr, err := ReadTrace(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(tr) != 3 || tr[1].At != 12500*time.Microsecond || tr[1].Dir != Out || tr[0].Note != "first" {
		t.Fatalf("parsed %+v", tr)
	}
	if got := tr.Bytes(In); !bytes.Equal(got, []byte("\x02\x09]X0SF13\r")) {
		t.Fatalf("Bytes(In) = % X", got)
	}
	if got := tr.Filter(Out); len(got) != 1 || string(got[0].Data) != "\x1b7" {
		t.Fatalf("Filter(Out) = %+v", got)
	}
	var buf bytes.Buffer
	tr.WriteTo(&buf)
	again, err := ReadTrace(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != len(tr) {
		t.Fatalf("round trip lost events: %+v", again)
	}
	for i := range tr {
		if again[i].At != tr[i].At || again[i].Dir != tr[i].Dir || !bytes.Equal(again[i].Data, tr[i].Data) || again[i].Note != tr[i].Note {
			t.Fatalf("event %d: %+v, want %+v", i, again[i], tr[i])
		}
	}
}

func TestTraceErrors(t *testing.T) {
	for in, want := range map[string]string{
		`{"t_ms":0,"hex":"zz"}`:                                  "line 1: hex",
		"\n" + `{"t_ms":0,"hex":"00","extra":1}`:                 "line 2:",
		`{"t_ms":5,"hex":"00"}` + "\n" + `{"t_ms":1,"hex":"00"}`: "line 2: t_ms 1 goes back in time",
		`{"t_ms":0,"dir":"up","hex":"00"}`:                       `dir "up"`,
		`{"t_ms":-1,"hex":"00"}`:                                 "negative",
		`not json`:                                               "line 1:",
	} {
		_, err := ReadTrace(strings.NewReader(in))
		if !errors.Is(err, ErrTrace) || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadTrace(%q) = %v, want ErrTrace mentioning %q", in, err, want)
		}
	}
}

func TestRecorderAndPlay(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 22, 9, 0, 0, 0, time.UTC))
	rec := NewRecorder(clk)
	rec.Record(In, []byte("A1\r"))
	clk.Advance(30 * time.Millisecond)
	rec.Record(Out, []byte{0x1b, 0x37})
	clk.Advance(70 * time.Millisecond)
	rec.Record(In, []byte("B2\r"))
	tr := rec.Trace()
	if len(tr) != 3 || tr[2].At != 100*time.Millisecond || tr[1].Dir != Out {
		t.Fatalf("recorded %+v", tr)
	}

	// Play waits for each event's time on the clock; only In events are written.
	var got [][]byte
	done := make(chan error, 1)
	go func() {
		done <- tr.Play(context.Background(), clk, func(b []byte) error { got = append(got, b); return nil })
	}()
	for clk.Waiters() == 0 {
		time.Sleep(time.Millisecond)
	}
	select {
	case <-done:
		t.Fatal("Play finished before the clock reached the second event")
	default:
	}
	clk.Advance(100 * time.Millisecond)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || string(got[0]) != "A1\r" || string(got[1]) != "B2\r" {
		t.Fatalf("played %q", got)
	}

	// Replay ignores time; a write error stops it and names the event.
	n := 0
	err := tr.Replay(func([]byte) error {
		if n++; n == 2 {
			return errors.New("boom")
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "trace event 2") {
		t.Fatalf("Replay error = %v", err)
	}

	// Play stops when ctx is done.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	late := Trace{{At: time.Hour, Dir: In, Data: []byte("x")}}
	if err := late.Play(ctx, clk, func([]byte) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Play with a cancelled ctx = %v", err)
	}

	path := t.TempDir() + "/t.jsonl"
	if err := tr.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := LoadTrace(path)
	if err != nil || len(back) != 3 {
		t.Fatalf("LoadTrace = %+v, %v", back, err)
	}
}

// The suite must be able to fail: each broken scanner below is run through it in a child test
// process, which must fail with the expected complaint.
func TestSuiteCatchesBrokenScanners(t *testing.T) {
	if os.Getenv("SCANNERTEST_BROKEN") != "" {
		t.Skip("inside the child process")
	}
	for name, want := range map[string]string{
		"read-after-close-ok": "want ErrClosed",
		"close-twice-fails":   "second Close",
		"drops-text":          "Read().Text",
		"leaks-goroutine":     "goroutines left behind",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenChild$", "-test.v")
			cmd.Env = append(os.Environ(), "SCANNERTEST_BROKEN="+name)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a broken scanner (%s):\n%s", name, out)
			}
			if !strings.Contains(string(out), want) {
				t.Fatalf("the suite failed without saying %q:\n%s", want, out)
			}
		})
	}
}

// TestBrokenChild runs the suite against a broken scanner; only in the child process.
func TestBrokenChild(t *testing.T) {
	mode := os.Getenv("SCANNERTEST_BROKEN")
	if mode == "" {
		t.Skip("run by TestSuiteCatchesBrokenScanners")
	}
	wait = 2 * time.Second
	Run(t, func(t *testing.T) (scanner.Scanner, func([]byte) error) {
		f := NewFake("broken", nil, nil)
		return &broken{Fake: f, mode: mode, stop: make(chan struct{})}, f.Inject
	})
}

type broken struct {
	*Fake
	mode   string
	stop   chan struct{}
	closes int
}

func (b *broken) Read() (scanner.Read, error) {
	r, err := b.Fake.Read()
	if b.mode == "read-after-close-ok" && errors.Is(err, scanner.ErrClosed) {
		return scanner.Read{}, nil
	}
	if b.mode == "drops-text" {
		r.Text = ""
	}
	return r, err
}

func (b *broken) Close() error {
	b.closes++
	if b.mode == "close-twice-fails" && b.closes > 1 {
		return errors.New("already closed")
	}
	if b.mode == "leaks-goroutine" && b.closes == 1 {
		go func() { <-b.stop }() // never stopped
	}
	return b.Fake.Close()
}
