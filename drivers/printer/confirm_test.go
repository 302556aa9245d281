package printer_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"wedge/drivers/printer"
	"wedge/drivers/printer/printertest"
	"wedge/internal/clock"
)

// confirmOn runs Confirm against f, advancing the fake clock by step whenever Confirm sleeps.
func confirmOn(f printer.Printer, clk *clock.Fake, step time.Duration, o printer.ConfirmOptions) (printer.Status, error) {
	o.Clock = clk
	type res struct {
		st  printer.Status
		err error
	}
	done := make(chan res, 1)
	go func() {
		st, err := printer.Confirm(context.Background(), f, "j", &o)
		done <- res{st, err}
	}()
	for {
		select {
		case r := <-done:
			return r.st, r.err
		case <-time.After(time.Millisecond):
			if clk.Waiters() > 0 {
				clk.Advance(step)
			}
		}
	}
}

func tsplStatus(printing bool) printer.Status {
	return printer.Status{Ready: !printing, Printing: printing, LabelsRemaining: -1, FormatsInBuffer: -1}
}

// TSPL's <ESC>!? may answer "ready" before the job's PRINT was parsed: Confirm believes it only
// after the printer was seen printing or Settle passed.
func TestConfirmTSPLSettle(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	f := &printertest.Fake{StatusFunc: func(int) (printer.Status, error) { return tsplStatus(false), nil }}
	start := clk.Now()
	if _, err := confirmOn(f, clk, 100*time.Millisecond, printer.ConfirmOptions{Interval: 100 * time.Millisecond, Settle: time.Second}); err != nil {
		t.Fatal(err)
	}
	if waited := clk.Now().Sub(start); waited < time.Second {
		t.Fatalf("confirmed after %v, before Settle", waited)
	}
	// Seen printing, then idle: confirmed without waiting for Settle.
	clk = clock.NewFake(time.Unix(0, 0))
	f = &printertest.Fake{StatusFunc: func(n int) (printer.Status, error) { return tsplStatus(n == 0), nil }}
	start = clk.Now()
	if _, err := confirmOn(f, clk, 100*time.Millisecond, printer.ConfirmOptions{Interval: 100 * time.Millisecond, Settle: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if f.StatusCalls() != 2 || clk.Now().Sub(start) >= time.Hour {
		t.Fatalf("%d status calls, %v", f.StatusCalls(), clk.Now().Sub(start))
	}
}

func TestConfirmTimeoutAndFaults(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	busy := &printertest.Fake{StatusFunc: func(int) (printer.Status, error) {
		return printer.Status{Printing: true, FormatsInBuffer: 1, LabelsRemaining: 1}, nil
	}}
	if _, err := confirmOn(busy, clk, time.Second, printer.ConfirmOptions{Timeout: 10 * time.Second}); !errors.Is(err, printer.ErrConfirmTimeout) {
		t.Fatalf("never finishing: %v, want ErrConfirmTimeout", err)
	}
	jam := &printertest.Fake{StatusFunc: func(n int) (printer.Status, error) {
		if n < 2 {
			return printer.Status{Printing: true, FormatsInBuffer: 1, LabelsRemaining: 1}, nil
		}
		return printer.Status{Faults: []printer.Fault{printer.FaultJam}, FormatsInBuffer: 1, LabelsRemaining: 1}, nil
	}}
	_, err := confirmOn(jam, clk, time.Second, printer.ConfirmOptions{})
	var fe *printer.FaultError
	if !errors.As(err, &fe) || len(fe.Faults) != 1 || fe.Faults[0] != printer.FaultJam || jam.StatusCalls() != 3 {
		t.Fatalf("jam: %v after %d calls", err, jam.StatusCalls())
	}
	garbage := &printertest.Fake{StatusFunc: func(int) (printer.Status, error) { return printer.Status{}, printer.ErrBadReply }}
	if _, err := confirmOn(garbage, clk, time.Second, printer.ConfirmOptions{}); !errors.As(err, &fe) || fe.Faults[0] != printer.FaultUnknown {
		t.Fatalf("garbage replies: %v, want an unknown fault", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := printer.Confirm(ctx, busy, "j", &printer.ConfirmOptions{Clock: clk}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

// A fault is logged as a warning that names the printer (device), the job and the faults; the
// confirmation of a healthy job is debug chatter.
func TestConfirmLogs(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ok := &printertest.Fake{StatusFunc: func(int) (printer.Status, error) { return printer.Status{Ready: true}, nil }}
	if _, err := confirmOn(ok, clk, time.Second, printer.ConfirmOptions{Logger: log}); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Fatalf("a confirmed job logged at info: %s", buf.String())
	}
	jam := &printertest.Fake{StatusFunc: func(int) (printer.Status, error) {
		return printer.Status{Faults: []printer.Fault{printer.FaultJam}}, nil
	}}
	if _, err := confirmOn(jam, clk, time.Second, printer.ConfirmOptions{Logger: log}); err == nil {
		t.Fatal("jam confirmed")
	}
	if s := buf.String(); !strings.Contains(s, "level=WARN") || !strings.Contains(s, "device="+jam.String()) || !strings.Contains(s, "job=j") || !strings.Contains(s, "faults=") {
		t.Fatalf("fault log %q", s)
	}
}
