package printer_test

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"wedge/drivers/printer"
	"wedge/drivers/printer/emulator"
)

// A printer that is switched off and on again (the TCP connection dies) is reached again on the
// next call, without reopening the Device.
func TestReconnectAfterPrinterRestart(t *testing.T) {
	emu := emulator.NewZPL(nil)
	addr, err := emu.ListenTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p, err := printer.Open(printer.Config{Name: "z", Transport: "tcp", Address: addr, Profile: prof(printer.LangZPL, printer.QueryZPLHS)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	if st, err := p.Status(ctx); err != nil || !st.Ready {
		t.Fatalf("first status: %+v, %v", st, err)
	}
	emu.Close() // power off: the connection drops
	emu2 := emulator.NewZPL(nil)
	defer emu2.Close()
	var addr2 string
	for i := 0; i < 50; i++ { // the port may take a moment to be free again
		if addr2, err = emu2.ListenTCP(addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Skipf("port %s not reusable: %v", addr, err)
	}
	var st printer.Status
	for i := 0; i < 3; i++ { // the first call may see the dead connection
		if st, err = p.Status(ctx); err == nil {
			break
		}
	}
	if err != nil || !st.Ready {
		t.Fatalf("status after restart on %s: %+v, %v", addr2, st, err)
	}
	if _, err := p.Print(ctx, []byte("^XA^FDx^FS^XZ")); err != nil {
		t.Fatal(err)
	}
}

// Print gives up when its context ends while the printer does not take the bytes.
func TestPrintHonoursContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c // never reads: the socket buffers fill up
		}
	}()
	p, err := printer.Open(printer.Config{Name: "stuck", Transport: "tcp", Address: ln.Addr().String(), Profile: prof(printer.LangZPL)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := p.Print(ctx, make([]byte, 64<<20))
		done <- err
	}()
	c := <-accepted
	defer c.Close()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Print = %v, want context.Canceled", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Print blocked after its context ended")
	}
}

// Close interrupts a Status waiting for an answer that will not come.
func TestCloseInterruptsStatus(t *testing.T) {
	emu := emulator.NewZPL(nil)
	defer emu.Close()
	addr, err := emu.ListenTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	emu.SetFault(emulator.NoAnswer)
	p, err := printer.Open(printer.Config{Name: "z", Transport: "tcp", Address: addr, Profile: prof(printer.LangZPL, printer.QueryZPLHS)}, &printer.Options{QueryTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := p.Status(context.Background()); done <- err }()
	for emu.Queries() == 0 {
		time.Sleep(time.Millisecond)
	}
	p.Close()
	select {
	case err := <-done:
		if !errors.Is(err, printer.ErrClosed) {
			t.Fatalf("Status = %v, want ErrClosed", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not interrupt Status")
	}
}

// A printer that cannot be reached at all is reported as not answering, not retried for ever.
func TestConfirmUnreachableIsNoAnswer(t *testing.T) {
	p, err := printer.Open(printer.Config{Name: "gone", Transport: "usblp", Address: "/nonexistent/lp9", Profile: prof(printer.LangTSPL, printer.QueryTSPLESCQ)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if st, err := p.Status(context.Background()); err == nil || !st.Has(printer.FaultNoAnswer) || st.Ready {
		t.Fatalf("unreachable printer status %+v, %v: must carry no_answer", st, err)
	}
	_, err = printer.Confirm(context.Background(), p, "j", &printer.ConfirmOptions{Interval: time.Millisecond})
	if !errors.Is(err, printer.ErrNoAnswer) {
		t.Fatalf("Confirm = %v, want a no-answer fault", err)
	}
}

// A printer that closes idle connections (some do, after a timeout) is not reported as faulty: the
// status query is retried once on a fresh connection.
func TestIdleConnectionClosedByPrinterIsNotAFault(t *testing.T) {
	emu := emulator.NewTSPL(nil)
	defer emu.Close()
	emuAddr, err := emu.ListenTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// A front that closes the first connection after it reads the first query, then relays to the
	// emulator for every later connection.
	front := frontRelay(t, emuAddr, func(c net.Conn) {
		c.Read(make([]byte, 3))
		c.Close()
	})
	p, err := printer.Open(printer.Config{Name: "t", Transport: "tcp", Address: front, Profile: prof(printer.LangTSPL, printer.QueryTSPLESCQ)}, &printer.Options{QueryTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	st, err := p.Status(context.Background())
	if err != nil || !st.Ready {
		t.Fatalf("status = %+v, %v; want ready after one retry", st, err)
	}
	p.Close()
}

// A job whose connection dies before the printer was seen done with it is never confirmed from
// the fresh connection's idle state: it may never have arrived (a power-cycled printer).
func TestJobLostWithItsConnectionIsAFault(t *testing.T) {
	emu := emulator.NewZPL(nil)
	defer emu.Close()
	emuAddr, err := emu.ListenTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{})
	front := frontRelay(t, emuAddr, func(c net.Conn) { // swallow the job, then "power off"
		buf := make([]byte, 64)
		for total := 0; total < len("^XA^FDx^FS^XZ"); {
			k, err := c.Read(buf)
			if err != nil {
				break
			}
			total += k
		}
		c.Close()
		close(got)
	})
	p, err := printer.Open(printer.Config{Name: "z", Transport: "tcp", Address: front, Profile: prof(printer.LangZPL, printer.QueryZPLHS)}, &printer.Options{QueryTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	id, err := p.Print(context.Background(), []byte("^XA^FDx^FS^XZ"))
	if err != nil {
		t.Fatal(err)
	}
	<-got
	_, err = printer.Confirm(context.Background(), p, id, &printer.ConfirmOptions{Interval: time.Millisecond})
	var fe *printer.FaultError
	if !errors.Is(err, printer.ErrJobLost) || !errors.As(err, &fe) || fe.Faults[0] != printer.FaultUnknown {
		t.Fatalf("Confirm = %v, want a FaultError caused by ErrJobLost", err)
	}
	if len(emu.Jobs()) != 0 {
		t.Fatal("the job reached the printer after all")
	}
	// Reported once: the printer itself is fine afterwards.
	if st, err := p.Status(context.Background()); err != nil || !st.Ready {
		t.Fatalf("status after the lost job: %+v, %v", st, err)
	}
}

// frontRelay listens on a free local port in front of a printer at emuAddr: the first connection is
// handed to first (which must close it), every later one is relayed to emuAddr both ways. It
// returns the front's address; the listener is closed in t's cleanup.
func frontRelay(t *testing.T, emuAddr string, first func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		n := 0
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n++
			if n == 1 {
				first(c)
				continue
			}
			up, err := net.Dial("tcp", emuAddr)
			if err != nil {
				c.Close()
				return
			}
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	return ln.Addr().String()
}
