package printer_test

import (
	"context"
	"testing"
	"time"

	"wedge/drivers/printer"
	"wedge/drivers/printer/emulator"
	"wedge/drivers/printer/label"
)

// BenchmarkRenderPrintConfirm is the driver's share of scan-to-已打单 on a loopback ZPL emulator:
// render, send, poll status until done (emulated print time 1 ms, poll interval 1 ms).
func BenchmarkRenderPrintConfirm(b *testing.B) {
	emu := emulator.NewZPL(&emulator.Options{PrintTime: time.Millisecond})
	defer emu.Close()
	addr, err := emu.ListenTCP("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	p, err := printer.Open(printer.Config{Name: "bench", Transport: "tcp", Address: addr, Profile: prof(printer.LangZPL, printer.QueryZPLHS, printer.QueryZPLHQES)}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	l := label.Label{Waybill: "SF1385628716739", Carrier: "顺丰", OrderID: "O-1"}
	ctx := context.Background()
	for b.Loop() {
		job, err := label.Render(l, label.Size76x130, 203, label.LangZPL)
		if err != nil {
			b.Fatal(err)
		}
		id, err := p.Print(ctx, job)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := printer.Confirm(ctx, p, id, &printer.ConfirmOptions{Interval: time.Millisecond}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStatusZPL is one ~HS + ~HQES round trip over loopback TCP.
func BenchmarkStatusZPL(b *testing.B) {
	emu := emulator.NewZPL(nil)
	defer emu.Close()
	addr, _ := emu.ListenTCP("127.0.0.1:0")
	p, err := printer.Open(printer.Config{Name: "bench", Transport: "tcp", Address: addr, Profile: prof(printer.LangZPL, printer.QueryZPLHS, printer.QueryZPLHQES)}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	for b.Loop() {
		if _, err := p.Status(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
