package printer_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"wedge/drivers/printer"
	"wedge/drivers/printer/emulator"
	"wedge/internal/clock"
)

// cancelRig is a ZPL or TSPL emulator on a fake clock reached over TCP.
func cancelRig(t *testing.T, lang string, silent bool, queries ...string) (*emulator.Emulator, *clock.Fake, *printer.Device) {
	t.Helper()
	clk := clock.NewFake(time.Unix(0, 0))
	eo := &emulator.Options{Clock: clk, PrintTime: time.Second, SilentOnFault: silent}
	emu := emulator.NewZPL(eo)
	if lang == printer.LangTSPL {
		emu = emulator.NewTSPL(eo)
	}
	addr, err := emu.ListenTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p, err := printer.Open(printer.Config{Name: "p", Address: addr, Profile: prof(lang, queries...)},
		&printer.Options{QueryTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(); emu.Close() })
	return emu, clk, p
}

// paperOutMidJob prints one label that runs out of paper half way and checks the printer says so.
func paperOutMidJob(t *testing.T, emu *emulator.Emulator, clk *clock.Fake, p *printer.Device, job string) {
	t.Helper()
	emu.SetFault(emulator.PaperOutMidJob)
	if _, err := p.Print(context.Background(), []byte(job)); err != nil {
		t.Fatal(err)
	}
	waitJobs(t, emu, 1)
	clk.Advance(600 * time.Millisecond)
	if emu.Fault() != printer.FaultPaperOut {
		t.Fatalf("emulator fault %q, want paper out", emu.Fault())
	}
}

func waitJobs(t *testing.T, emu *emulator.Emulator, n int) {
	t.Helper()
	for i := 0; len(emu.Jobs()) < n; i++ {
		if i > 500 {
			t.Fatalf("emulator got %d formats, want %d", len(emu.Jobs()), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// After paper out in the middle of a label, Cancel (~JA) drops it: once the roll is replaced the
// label does not come out, and the next job prints once.
func TestCancelDropsTheJobHeldByAPaperOut(t *testing.T) {
	emu, clk, p := cancelRig(t, printer.LangZPL, false, printer.QueryZPLHS, printer.QueryZPLHQES)
	paperOutMidJob(t, emu, clk, p, "^XA^FDone^FS^XZ")
	if st, _ := p.Status(context.Background()); st.FormatsInBuffer != 1 || !st.Has(printer.FaultPaperOut) {
		t.Fatalf("before cancel: %+v", st)
	}
	if err := p.Cancel(context.Background()); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if emu.Cancels() != 1 {
		t.Fatalf("emulator saw %d ~JA", emu.Cancels())
	}
	st, _ := p.Status(context.Background())
	if st.FormatsInBuffer != 0 || st.LabelsRemaining != 0 || !st.Has(printer.FaultPaperOut) {
		t.Fatalf("after cancel the buffer is empty and the paper still out: %+v", st)
	}
	emu.SetFault("") // new roll
	clk.Advance(10 * time.Second)
	if n := emu.Printed(); n != 0 {
		t.Fatalf("the cancelled label came out after the roll was replaced: %d printed", n)
	}
	id, err := p.Print(context.Background(), []byte("^XA^FDtwo^FS^XZ"))
	if err != nil {
		t.Fatal(err)
	}
	waitJobs(t, emu, 2)
	clk.Advance(time.Second)
	if _, err := printer.Confirm(context.Background(), p, id, &printer.ConfirmOptions{Interval: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if n := emu.Printed(); n != 1 {
		t.Fatalf("printed %d, want exactly 1", n)
	}
}

// A Zebra that stays silent while out of paper takes ~JA but cannot show it worked: Cancel says
// so (the caller treats the label as possibly coming out later).
func TestCancelUnconfirmedWhenThePrinterIsSilent(t *testing.T) {
	emu, clk, p := cancelRig(t, printer.LangZPL, true, printer.QueryZPLHS)
	paperOutMidJob(t, emu, clk, p, "^XA^FDone^FS^XZ")
	err := p.Cancel(context.Background())
	if !errors.Is(err, printer.ErrCancelUnconfirmed) || !errors.Is(err, printer.ErrNoAnswer) {
		t.Fatalf("Cancel on a silent printer: %v, want ErrCancelUnconfirmed and ErrNoAnswer", err)
	}
	emu.SetFault("")
	clk.Advance(10 * time.Second)
	if n := emu.Printed(); n != 0 {
		t.Fatalf("the emulator did not honour ~JA: %d printed", n)
	}
}

// Without ~HS the buffer cannot be seen empty; a TSPL printer has no confirmed cancel command and
// gets no bytes.
func TestCancelWithoutHSAndOnTSPL(t *testing.T) {
	_, _, z := cancelRig(t, printer.LangZPL, false, printer.QueryZPLHQES)
	if err := z.Cancel(context.Background()); !errors.Is(err, printer.ErrCancelUnconfirmed) {
		t.Fatalf("ZPL with ~HQES only: %v", err)
	}
	emu, _, ts := cancelRig(t, printer.LangTSPL, false, printer.QueryTSPLESCQ)
	var c printer.Canceller = ts
	if err := c.Cancel(context.Background()); !errors.Is(err, printer.ErrNoCancel) {
		t.Fatalf("TSPL: %v, want ErrNoCancel", err)
	}
	if b := emu.Received(); len(b) != 0 {
		t.Fatalf("TSPL printer got %q", b)
	}
}
