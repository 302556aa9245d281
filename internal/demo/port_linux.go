package demo

import (
	"log/slog"

	"wedge/drivers/printer"
	"wedge/drivers/printer/emulator"
	"wedge/internal/logging"
	"wedge/internal/pty"
)

// openScannerPort allocates the pseudo-terminal a simulated scanner types into: the driver opens
// the returned path, the operators write to the returned writer.
func openScannerPort() (simPort, error) {
	p, err := pty.Open()
	if err != nil {
		return nil, err
	}
	return ptyPort{p}, nil
}

type ptyPort struct{ p *pty.Pair }

func (p ptyPort) Write(b []byte) (int, error) { return p.p.Write(b) }
func (p ptyPort) Close() error                { return p.p.Close() }
func (p ptyPort) Path() string                { return p.p.Name }

// startPrinter starts the demo's label printer: a ZPL emulator (drivers/printer/emulator) on a
// free loopback TCP port, which the print station's driver reaches like a network printer on 9100.
func startPrinter(log *slog.Logger) (simPrinter, error) {
	e := emulator.NewZPL(&emulator.Options{Logger: log.With(logging.KeyDevice, PrinterName), MaxJobs: 200, MaxReceived: 1 << 20})
	addr, err := e.ListenTCP("127.0.0.1:0")
	if err != nil {
		e.Close()
		return nil, err
	}
	return zplPrinter{e: e, addr: addr}, nil
}

type zplPrinter struct {
	e    *emulator.Emulator
	addr string
}

func (p zplPrinter) Addr() string { return p.addr }
func (p zplPrinter) Printed() int { return p.e.Printed() }
func (p zplPrinter) Close() error { return p.e.Close() }
func (p zplPrinter) PaperOut(out bool) {
	if out {
		p.e.SetFault(printer.FaultPaperOut)
	} else {
		p.e.SetFault("")
	}
}
