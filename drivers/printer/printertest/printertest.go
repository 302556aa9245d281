// Package printertest is the conformance suite every printer implementation passes, run against
// the emulators for every language × transport: status of an idle printer, a job arriving byte for
// byte and being confirmed, paper out before and during a job, head open, a printer that does not
// answer (a fault, never healthy), Close twice, and concurrent use under -race; RunEnding runs it
// against emulators whose replies end at ETX.
//
// Time is a fake clock shared by the emulator, the printer and Confirm; the suite advances it
// while a call waits, so no test depends on real timings.
//
// Fake is a hand-written scripted printer for tests of code that uses printers.
package printertest

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"wedge/drivers/printer"
	"wedge/drivers/printer/emulator"
	"wedge/internal/clock"
)

// Opener serves emu on the transport under test and opens the printer under test with opts.
// It registers its own cleanup (emu is closed by the suite).
type Opener func(t *testing.T, emu *emulator.Emulator, opts *printer.Options) printer.Printer

// PrintTime is the emulated time per label in the suite.
const PrintTime = time.Second

// Job returns a one-label job in lang carrying waybill wb.
func Job(lang, wb string) []byte {
	if lang == printer.LangTSPL {
		return []byte("SIZE 76 mm,130 mm\r\nGAP 2 mm,0 mm\r\nCLS\r\nBARCODE 40,40,\"128\",120,1,0,2,2,\"" + wb + "\"\r\nPRINT 1,1\r\n")
	}
	return []byte("^XA^CI28^FO40,40^BCN,120,Y,N,N^FD" + wb + "^FS^XZ\r\n")
}

type env struct {
	clk *clock.Fake
	emu *emulator.Emulator
	p   printer.Printer
}

func setup(t *testing.T, lang string, end emulator.Ending, open Opener, queryTimeout time.Duration) *env {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC))
	eopts := &emulator.Options{Clock: clk, PrintTime: PrintTime, Ending: end}
	var emu *emulator.Emulator
	if lang == printer.LangTSPL {
		emu = emulator.NewTSPL(eopts)
	} else {
		emu = emulator.NewZPL(eopts)
	}
	t.Cleanup(func() { emu.Close() })
	p := open(t, emu, &printer.Options{Clock: clk, QueryTimeout: queryTimeout})
	t.Cleanup(func() { p.Close() })
	return &env{clk: clk, emu: emu, p: p}
}

// drive runs fn while advancing the fake clock by step whenever something waits on it.
func drive(clk *clock.Fake, step time.Duration, fn func()) {
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	for {
		select {
		case <-done:
			return
		case <-time.After(time.Millisecond):
			if clk.Waiters() > 0 {
				clk.Advance(step)
			}
		}
	}
}

func (e *env) status(t *testing.T) (printer.Status, error) {
	t.Helper()
	var st printer.Status
	var err error
	drive(e.clk, 100*time.Millisecond, func() { st, err = e.p.Status(context.Background()) })
	return st, err
}

func (e *env) confirm(t *testing.T, id string) (printer.Status, error) {
	t.Helper()
	var st printer.Status
	var err error
	drive(e.clk, 250*time.Millisecond, func() {
		st, err = printer.Confirm(context.Background(), e.p, id, &printer.ConfirmOptions{Clock: e.clk, Timeout: time.Hour})
	})
	return st, err
}

// waitJobs waits (in real time, bounded) until the emulator has recorded n formats.
func waitJobs(t *testing.T, emu *emulator.Emulator, n int) [][]byte {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		j := emu.Jobs()
		if len(j) >= n {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("emulator recorded %d formats, want %d", len(j), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Run runs the suite for a printer speaking lang (printer.LangZPL or printer.LangTSPL).
func Run(t *testing.T, lang string, open Opener) { RunEnding(t, lang, emulator.EndCRLF, open) }

// RunEnding runs the suite against emulators whose framed replies end as end says: at ETX without
// the CR LF (emulator.EndETX), or with the CR LF written after the reply (emulator.EndETXLateCRLF).
// Such a printer has answered: everything the suite asks of a printer holds for it too.
func RunEnding(t *testing.T, lang string, end emulator.Ending, open Opener) {
	const hour = time.Hour
	t.Run("IdleIsReady", func(t *testing.T) {
		e := setup(t, lang, end, open, hour)
		st, err := e.status(t)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Ready || len(st.Faults) != 0 || st.Printing || !st.Done() {
			t.Fatalf("idle printer: %+v, want ready, no faults", st)
		}
		if st.Raw == "" {
			t.Error("Status.Raw is empty")
		}
	})
	t.Run("PrintConfirm", func(t *testing.T) {
		e := setup(t, lang, end, open, hour)
		job := Job(lang, "SF1385628716739")
		id, err := e.p.Print(context.Background(), job)
		if err != nil || id == "" {
			t.Fatalf("Print = %q, %v", id, err)
		}
		jobs := waitJobs(t, e.emu, 1)
		if !bytes.Equal(e.emu.Received(), job) || !bytes.Contains(jobs[0], []byte("SF1385628716739")) {
			t.Fatalf("emulator received %q, want %q", e.emu.Received(), job)
		}
		st, err := e.status(t)
		if err != nil || !st.Printing || st.Ready || st.Done() {
			t.Fatalf("status right after the job: %+v, %v; want printing", st, err)
		}
		st, err = e.confirm(t, id)
		if err != nil || !st.Done() {
			t.Fatalf("Confirm = %+v, %v", st, err)
		}
		if e.emu.Printed() != 1 {
			t.Fatalf("emulator printed %d labels, want 1", e.emu.Printed())
		}
		id2, err := e.p.Print(context.Background(), job)
		if err != nil || id2 == id {
			t.Fatalf("second Print = %q, %v (ids must differ from %q)", id2, err, id)
		}
	})
	faultCase := func(name string, set, want printer.Fault) {
		t.Run(name, func(t *testing.T) {
			e := setup(t, lang, end, open, hour)
			if set != emulator.PaperOutMidJob {
				e.emu.SetFault(set)
			}
			st, err := e.status(t)
			if set != emulator.PaperOutMidJob && (err != nil || !st.Has(want) || st.Ready) {
				t.Fatalf("status with %s: %+v, %v; want fault %s", set, st, err, want)
			}
			if set == emulator.PaperOutMidJob {
				e.emu.SetFault(set)
			}
			id, err := e.p.Print(context.Background(), Job(lang, "YT8962646785389"))
			if err != nil {
				t.Fatal(err)
			}
			waitJobs(t, e.emu, 1)
			st, err = e.confirm(t, id)
			var fe *printer.FaultError
			if !errors.As(err, &fe) || !errors.Is(err, printer.ErrFault) || !st.Has(want) {
				t.Fatalf("Confirm with %s = %+v, %v; want a FaultError with %s", set, st, err, want)
			}
			if e.emu.Printed() != 0 {
				t.Fatalf("printed %d labels during %s", e.emu.Printed(), set)
			}
			e.emu.SetFault("")
			if st, err := e.confirm(t, id); err != nil || !st.Done() {
				t.Fatalf("Confirm after clearing %s = %+v, %v", set, st, err)
			}
			if e.emu.Printed() != 1 {
				t.Fatalf("printed %d labels after clearing the fault, want 1", e.emu.Printed())
			}
		})
	}
	faultCase("PaperOutBeforeJob", printer.FaultPaperOut, printer.FaultPaperOut)
	faultCase("PaperOutMidJob", emulator.PaperOutMidJob, printer.FaultPaperOut)
	faultCase("HeadOpen", printer.FaultHeadOpen, printer.FaultHeadOpen)
	faultCase("Paused", printer.FaultPaused, printer.FaultPaused)
	t.Run("NoAnswerIsAFault", func(t *testing.T) {
		e := setup(t, lang, end, open, 5*time.Second)
		e.emu.SetFault(emulator.NoAnswer)
		var st printer.Status
		var err error
		drive(e.clk, time.Second, func() { st, err = e.p.Status(context.Background()) })
		if !errors.Is(err, printer.ErrNoAnswer) || !st.Has(printer.FaultNoAnswer) || st.Ready || st.Done() {
			t.Fatalf("silent printer: %+v, %v; want FaultNoAnswer and ErrNoAnswer", st, err)
		}
		drive(e.clk, time.Second, func() {
			st, err = printer.Confirm(context.Background(), e.p, "x", &printer.ConfirmOptions{Clock: e.clk})
		})
		if !errors.Is(err, printer.ErrNoAnswer) || !errors.Is(err, printer.ErrFault) {
			t.Fatalf("Confirm on a silent printer = %v, want a no-answer fault", err)
		}
		// It recovers when the printer speaks again.
		e.emu.SetFault("")
		st, err = e.status(t)
		if err != nil || !st.Ready {
			t.Fatalf("status after the printer answers again: %+v, %v", st, err)
		}
	})
	t.Run("CloseTwiceAndAfterClose", func(t *testing.T) {
		e := setup(t, lang, end, open, hour)
		if _, err := e.status(t); err != nil {
			t.Fatal(err)
		}
		if err := e.p.Close(); err != nil {
			t.Fatal(err)
		}
		if err := e.p.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if _, err := e.p.Print(context.Background(), Job(lang, "X")); !errors.Is(err, printer.ErrClosed) {
			t.Fatalf("Print after Close = %v, want ErrClosed", err)
		}
		if _, err := e.status(t); !errors.Is(err, printer.ErrClosed) {
			t.Fatalf("Status after Close = %v, want ErrClosed", err)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		e := setup(t, lang, end, open, hour)
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for i := 0; i < 5; i++ {
			wg.Add(2)
			go func() {
				defer wg.Done()
				_, err := e.p.Print(context.Background(), Job(lang, "JT5261988016578"))
				errs <- err
			}()
			go func() {
				defer wg.Done()
				_, err := e.p.Status(context.Background())
				errs <- err
			}()
		}
		drive(e.clk, 10*time.Millisecond, wg.Wait)
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		if got := len(waitJobs(t, e.emu, 5)); got != 5 {
			t.Fatalf("emulator got %d formats, want 5 (interleaved writes?)", got)
		}
	})
}
