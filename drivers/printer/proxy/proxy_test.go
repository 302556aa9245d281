package proxy_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"reflect"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"wedge/drivers/printer"
	"wedge/drivers/printer/emulator"
	"wedge/drivers/printer/proxy"
	"wedge/drivers/profile"
	"wedge/internal/clock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type result struct {
	job proxy.Job
	st  printer.Status
	err error
}

type rig struct {
	clk  *clock.Fake
	emu  *emulator.Emulator
	dev  *printer.Device
	px   *proxy.Proxy
	jobs chan proxy.Job
	conf chan result
	stop chan struct{}
	wg   sync.WaitGroup
}

func newRig(t *testing.T, lang string, po *proxy.Options) *rig {
	t.Helper()
	r := &rig{clk: clock.NewFake(time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)), jobs: make(chan proxy.Job, 16), conf: make(chan result, 16), stop: make(chan struct{})}
	eo := &emulator.Options{Clock: r.clk, PrintTime: time.Second}
	status := []string{printer.QueryZPLHS, printer.QueryZPLHQES}
	if lang == printer.LangTSPL {
		r.emu = emulator.NewTSPL(eo)
		status = []string{printer.QueryTSPLESCQ}
	} else {
		r.emu = emulator.NewZPL(eo)
	}
	addr, err := r.emu.ListenTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pr := profile.Profile{ID: "t", Kind: profile.KindPrinter, Printer: &profile.Printer{Language: lang, DPI: 203, Status: status}}
	r.dev, err = printer.Open(printer.Config{Name: "p1", Transport: "tcp", Address: addr, Profile: pr}, &printer.Options{Clock: r.clk, QueryTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if po == nil {
		po = &proxy.Options{}
	}
	po.Clock = r.clk
	po.OnJob = func(j proxy.Job) { r.jobs <- j }
	po.OnConfirmed = func(j proxy.Job, st printer.Status, err error) { r.conf <- result{j, st, err} }
	r.px, err = proxy.New("127.0.0.1:0", r.dev, po)
	if err != nil {
		t.Fatal(err)
	}
	// Move fake time whenever something sleeps on it (Confirm's poll interval, the retry wait).
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			select {
			case <-r.stop:
				return
			case <-time.After(time.Millisecond):
				if r.clk.Waiters() > 0 {
					r.clk.Advance(250 * time.Millisecond)
				}
			}
		}
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.px.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
		close(r.stop)
		r.wg.Wait()
		r.dev.Close()
		r.emu.Close()
	})
	return r
}

// send prints job to the proxy like third-party software: connect, write in small pieces, close.
func send(t *testing.T, addr string, job []byte, piece int) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(job); i += piece {
		if _, err := c.Write(job[i:min(i+piece, len(job))]); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
}

func wait[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatal("timed out waiting for the proxy")
		panic("unreachable")
	}
}

const twoLabels = "^XA^FO20,20^BY3^BCN,120,Y,N,N^FDSF1385628716739^FS^FO20,200^A0N,30,30^FDorder 1^FS^XZ\r\n" +
	"^XA^FO20,20^BY3^BCN,120,Y,N,N^FD>;73610555582883^FS^FO20,200^BQN,2,4^FDQA,https://x.example/1^FS^XZ\r\n"

func TestThirdPartyZPLTwoLabels(t *testing.T) {
	r := newRig(t, printer.LangZPL, nil)
	send(t, r.px.Addr(), []byte(twoLabels), 7)
	j := wait(t, r.jobs)
	if want := []string{"SF1385628716739", "73610555582883"}; !reflect.DeepEqual(j.Waybills, want) || j.Labels != 2 || j.Bytes != len(twoLabels) || j.PrinterJobID == "" {
		t.Fatalf("job %+v, want waybills %v, 2 labels, %d bytes", j, want, len(twoLabels))
	}
	c := wait(t, r.conf)
	if c.err != nil || !c.st.Done() || c.job.ID != j.ID {
		t.Fatalf("confirmation %+v", c)
	}
	if got := r.emu.Received(); !bytes.Equal(got, []byte(twoLabels)) {
		t.Fatalf("printer received %q, want identical bytes %q", got, twoLabels)
	}
	if r.emu.Printed() != 2 {
		t.Fatalf("printed %d labels", r.emu.Printed())
	}
}

func TestTSPLJobAndFault(t *testing.T) {
	r := newRig(t, printer.LangTSPL, nil)
	r.emu.SetFault(emulator.PaperOutMidJob)
	job := []byte("SIZE 76 mm,130 mm\r\nCLS\r\nBARCODE 40,40,\"128\",120,1,0,2,2,\"JT5261988016578\"\r\nPRINT 1,1\r\n")
	send(t, r.px.Addr(), job, 3)
	j := wait(t, r.jobs)
	if !reflect.DeepEqual(j.Waybills, []string{"JT5261988016578"}) {
		t.Fatalf("waybills %v", j.Waybills)
	}
	c := wait(t, r.conf)
	if !errors.Is(c.err, printer.ErrFault) || !c.st.Has(printer.FaultPaperOut) {
		t.Fatalf("confirmation with paper out mid-job: %+v", c)
	}
	if !bytes.Equal(r.emu.Received(), job) {
		t.Fatal("job not forwarded byte for byte")
	}
}

func TestUnknownJobStillPrintsAndCallbacksMayPanic(t *testing.T) {
	r := newRig(t, printer.LangZPL, nil)
	// A job with no barcode at all, and a client that sends garbage: both go to the printer unchanged.
	junk := []byte("^XA^FDjust text^FS^XZ\x00\xff^^^~~~")
	send(t, r.px.Addr(), junk, 1)
	if j := wait(t, r.jobs); len(j.Waybills) != 0 || j.Bytes != len(junk) {
		t.Fatalf("job %+v", j)
	}
	wait(t, r.conf)
	if !bytes.Equal(r.emu.Received(), junk) {
		t.Fatalf("printer got %q", r.emu.Received())
	}
}

func TestPanickingCallbackDoesNotStopPrinting(t *testing.T) {
	r := newRig(t, printer.LangZPL, nil)
	// A second proxy on the same printer, whose callbacks panic.
	px, err := proxy.New("127.0.0.1:0", r.dev, &proxy.Options{Name: "panicky", Clock: r.clk,
		OnJob:       func(proxy.Job) { panic("boom") },
		OnConfirmed: func(proxy.Job, printer.Status, error) { panic("boom") }})
	if err != nil {
		t.Fatal(err)
	}
	send(t, px.Addr(), []byte(twoLabels), 64)
	deadline := time.Now().Add(10 * time.Second)
	for r.emu.Printed() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if r.emu.Printed() != 2 {
		t.Fatalf("printed %d", r.emu.Printed())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := px.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := px.Stop(ctx); !errors.Is(err, proxy.ErrStopped) {
		t.Fatalf("second Stop: %v", err)
	}
}

func TestPrinterDownReportsError(t *testing.T) {
	pr := profile.Profile{ID: "t", Kind: profile.KindPrinter, Printer: &profile.Printer{Language: "zpl", DPI: 203, Status: []string{"zpl_hs"}}}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close() // nothing listens there any more
	dev, err := printer.Open(printer.Config{Name: "gone", Transport: "tcp", Address: addr, Profile: pr}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	conf := make(chan error, 1)
	px, err := proxy.New("127.0.0.1:0", dev, &proxy.Options{Retries: 1, RetryIn: time.Millisecond,
		OnConfirmed: func(_ proxy.Job, _ printer.Status, err error) { conf <- err }})
	if err != nil {
		t.Fatal(err)
	}
	send(t, px.Addr(), []byte(twoLabels), 100)
	if err := wait(t, conf); err == nil {
		t.Fatal("no error for a printer that is down")
	}
	if err := px.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// discard is a printer that accepts everything and is always done (for the benchmark).
type discard struct{ n int64 }

func (d *discard) String() string { return "discard" }
func (d *discard) Print(_ context.Context, job []byte) (string, error) {
	d.n += int64(len(job))
	return "j", nil
}
func (d *discard) Status(context.Context) (printer.Status, error) {
	return printer.Status{Ready: true}, nil
}
func (d *discard) Close() error { return nil }

func BenchmarkProxyForwarding(b *testing.B) {
	up := &discard{}
	done := make(chan struct{}, 1024)
	px, err := proxy.New("127.0.0.1:0", up, &proxy.Options{OnJob: func(proxy.Job) { done <- struct{}{} },
		Confirm: &printer.ConfirmOptions{Settle: time.Nanosecond}})
	if err != nil {
		b.Fatal(err)
	}
	defer px.Stop(context.Background())
	job := bytes.Repeat([]byte(twoLabels), 500) // ~90 KB, 1000 labels
	b.SetBytes(int64(len(job)))
	for b.Loop() {
		c, err := net.Dial("tcp", px.Addr())
		if err != nil {
			b.Fatal(err)
		}
		c.Write(job)
		c.Close()
		<-done
	}
}

// A client that keeps its connection open: a quiet gap ends a job, the next bytes start another.
func TestOpenConnectionIdleGapSplitsJobs(t *testing.T) {
	r := newRig(t, printer.LangZPL, &proxy.Options{IdleGap: 50 * time.Millisecond})
	c, err := net.Dial("tcp", r.px.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	first := "^XA^BCN^FDSF1385628716739^FS^XZ"
	second := "^XA^BCN^FDYT8962646785389^FS^XZ"
	c.Write([]byte(first))
	if j := wait(t, r.jobs); !reflect.DeepEqual(j.Waybills, []string{"SF1385628716739"}) {
		t.Fatalf("first job %+v", j)
	}
	c.Write([]byte(second))
	if j := wait(t, r.jobs); !reflect.DeepEqual(j.Waybills, []string{"YT8962646785389"}) {
		t.Fatalf("second job %+v", j)
	}
	wait(t, r.conf)
	wait(t, r.conf)
	if got := string(r.emu.Received()); got != first+second {
		t.Fatalf("printer got %q", got)
	}
}
