package printing_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"wedge/agent/journal"
	"wedge/agent/printing"
	"wedge/agent/station"
	"wedge/drivers/printer"
	"wedge/drivers/printer/emulator"
	"wedge/drivers/printer/jobscan"
	"wedge/drivers/profile"
	"wedge/drivers/scanner"
	"wedge/internal/clock"
	"wedge/order"
	"wedge/sync/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	wb1 = "SF1234567890123"
	wb2 = "SF1234567890999"
	wb3 = "SF1234567890777"
)

var profiles = func() map[string]profile.Profile {
	set, err := profile.LoadEmbedded()
	if err != nil {
		panic(err)
	}
	out := map[string]profile.Profile{}
	for _, p := range set {
		out[p.ID] = p
	}
	return out
}()

type rig struct {
	t     testing.TB
	ctx   context.Context
	store *journal.Store
	emu   *emulator.Emulator
	dev   *printer.Device
	ps    *printing.Station
	st    *station.Station

	mu      sync.Mutex
	events  []printing.Event
	results []station.Result
}

type rigOpts struct {
	lang      string // zpl (default) | tspl
	profile   string // default zebra-zd421 / tsc-te244
	transport string // tcp (default) | serial | usblp (pty)
	clk       clock.Clock
	printTime time.Duration // emulator's per-label print time (default 20ms)
	interval  time.Duration // Confirm's poll interval (default 10ms)
}

func newRig(t testing.TB, o rigOpts) *rig {
	t.Helper()
	r := &rig{t: t, ctx: context.Background()}
	s, err := journal.Open(filepath.Join(t.TempDir(), "wedge.db"), &journal.Options{Site: "sz01", Agent: "pack02", Clock: o.clk})
	if err != nil {
		t.Fatal(err)
	}
	r.store = s
	if o.printTime == 0 {
		o.printTime = 20 * time.Millisecond
	}
	if o.interval == 0 {
		o.interval = 10 * time.Millisecond
	}
	eo := &emulator.Options{PrintTime: o.printTime}
	switch o.lang {
	case "", printer.LangZPL:
		r.emu = emulator.NewZPL(eo)
		if o.profile == "" {
			o.profile = "zebra-zd421"
		}
	default:
		r.emu = emulator.NewTSPL(eo)
		if o.profile == "" {
			o.profile = "tsc-te244"
		}
	}
	addr := ""
	switch o.transport {
	case "", "tcp":
		o.transport = "tcp"
		addr, err = r.emu.ListenTCP("127.0.0.1:0")
	default:
		addr, err = r.emu.ServePTY()
	}
	if err != nil {
		t.Fatal(err)
	}
	r.dev, err = printer.Open(printer.Config{Name: "pack-1-printer", Transport: o.transport, Address: addr, Profile: profiles[o.profile]},
		&printer.Options{QueryTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r.ps, err = printing.New(printing.Config{Station: "pack-1", Printer: r.dev, DPI: profiles[o.profile].Printer.DPI,
		Confirm: &printer.ConfirmOptions{Interval: o.interval, Timeout: 10 * time.Second, Settle: 60 * time.Millisecond}},
		r.store, &printing.Options{Clock: o.clk, OnEvent: func(e printing.Event) {
			r.mu.Lock()
			r.events = append(r.events, e)
			r.mu.Unlock()
		}, OnResult: func(res station.Result) {
			r.mu.Lock()
			r.results = append(r.results, res)
			r.mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	r.st = station.New(station.Config{Name: "pack-1", Role: station.RolePrint}, r.store, station.Options{Clock: o.clk, Printing: r.ps})
	t.Cleanup(func() {
		r.st.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.ps.Close(ctx); err != nil {
			t.Errorf("printing close: %v", err)
		}
		r.dev.Close()
		r.emu.Close()
		s.Close()
	})
	return r
}

func (r *rig) order(id, assigned string, st order.State) {
	r.t.Helper()
	err := r.store.Do(r.ctx, func(tx *journal.Tx) error {
		tx.PutOrder(order.Order{ID: id, Channel: "tmall", ChannelOrderNo: "T" + id, Carrier: "sf", AssignedWaybill: assigned, State: st,
			Recipient: "张三 13812345678 深圳市南山区", SKUs: []string{"CUP-1", "CUP-1", "LID-2"}})
		return nil
	})
	if err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) scan(code string) station.Result {
	r.t.Helper()
	res := r.st.Handle(r.ctx, scanner.Read{Text: code, Device: "scan-p1", At: time.Now()})
	if res.Err != nil {
		r.t.Fatalf("scan %q: %v", code, res.Err)
	}
	return res
}

func (r *rig) get(id string) order.Order {
	r.t.Helper()
	o, ok, err := r.store.Order(id)
	if err != nil || !ok {
		r.t.Fatalf("order %s: %v %v", id, ok, err)
	}
	return o
}

func (r *rig) history(id string) []wire.Entry {
	r.t.Helper()
	h, err := r.store.History(id)
	if err != nil {
		r.t.Fatal(err)
	}
	return h
}

func kinds(h []wire.Entry) []string {
	var out []string
	for _, e := range h {
		out = append(out, e.Kind)
	}
	return out
}

// Scan → the printer receives a job with the waybill in a Code 128 field → confirmed by status →
// 已打单 with that waybill, one step entry (trigger print, device the printer, job id).
func TestScanPrintsConfirmsAndAdvances(t *testing.T) {
	for _, tc := range []rigOpts{{lang: "zpl"}, {lang: "tspl", transport: "serial"}} {
		t.Run(tc.lang, func(t *testing.T) {
			r := newRig(t, tc)
			r.order("O-1", wb1, order.PendingAllocation)
			res := r.scan("O-1")
			if !res.Good() || res.Kind != wire.KindStep || res.Outcome.To != order.WaybillPrinted {
				t.Fatalf("result %+v", res)
			}
			e := res.Entry
			if e.Trigger != wire.TriggerPrint || e.Device != "pack-1-printer" || e.Job == "" || e.Waybill != wb1 || e.Station != "pack-1" || e.Seq == 0 {
				t.Fatalf("entry %+v", e)
			}
			jobs := r.emu.Jobs()
			if len(jobs) != 1 {
				t.Fatalf("printer got %d formats, want 1", len(jobs))
			}
			if got := jobscan.Scan(jobs[0], nil); !reflect.DeepEqual(got, []string{wb1}) {
				t.Fatalf("Code 128 fields %v, want [%s]", got, wb1)
			}
			if r.emu.Printed() != 1 {
				t.Fatalf("printed %d", r.emu.Printed())
			}
			o := r.get("O-1")
			if o.State != order.WaybillPrinted || o.Waybill != wb1 {
				t.Fatalf("order %+v", o)
			}
			if st := r.ps.Status(); !st.OK || st.Jobs != 1 || st.LastJob != e.Job {
				t.Fatalf("status %+v", st)
			}

			// A repeat scan never prints again silently.
			res = r.scan("O-1")
			if res.Outcome.Result != order.AlreadyDone || res.Kind != wire.KindNote || !strings.Contains(res.Message.EN, "REPRINT") {
				t.Fatalf("repeat: %+v", res)
			}
			// So does a scan of the printed label, or the channel order no.
			for _, code := range []string{wb1, "TO-1"} {
				if res := r.scan(code); res.Outcome.Result != order.AlreadyDone {
					t.Fatalf("repeat %s: %+v", code, res)
				}
			}
			if n := len(r.emu.Jobs()); n != 1 {
				t.Fatalf("repeat scans sent %d formats in all, want 1", n)
			}
			if h := r.history("O-1"); !reflect.DeepEqual(kinds(h), []string{"step", "note", "note", "note"}) {
				t.Fatalf("history %v", kinds(h))
			}
		})
	}
}

// Paper runs out in the middle of the label: the order stays 待分仓 with a printer_fault entry, the
// fault shows in the status and as an event, and the held job is cancelled (~JA); with the roll
// replaced, a new scan prints, and exactly one label came out in all (no late duplicate).
func TestPaperOutMidJobThenPrintOnce(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.order("O-1", wb1, order.PendingAllocation)
	r.emu.SetFault(emulator.PaperOutMidJob)
	res := r.scan("O-1")
	if res.Good() || res.Outcome.Reason != order.ReasonPrinterFault || res.Kind != wire.KindReject {
		t.Fatalf("result %+v", res)
	}
	if !strings.Contains(res.Entry.Detail, "缺纸") || !strings.Contains(res.Entry.Detail, "paper out") || res.Entry.Device != "pack-1-printer" || res.Entry.Job == "" {
		t.Fatalf("entry %+v", res.Entry)
	}
	if !strings.Contains(res.Message.ZH, "缺纸") || !strings.Contains(res.Message.EN, "paper out") ||
		!strings.Contains(res.Message.ZH, "已取消") || !strings.Contains(res.Message.EN, "cancelled") {
		t.Fatalf("message %+v", res.Message)
	}
	if !strings.Contains(res.Entry.Detail, "~JA") || r.emu.Cancels() != 1 {
		t.Fatalf("held job not cancelled: %d ~JA, detail %q", r.emu.Cancels(), res.Entry.Detail)
	}
	if o := r.get("O-1"); o.State != order.PendingAllocation || o.Waybill != "" {
		t.Fatalf("order %+v", o)
	}
	st := r.ps.Status()
	if st.OK || !reflect.DeepEqual(st.Faults, []printer.Fault{printer.FaultPaperOut}) || st.Message == nil || st.FaultSince == "" {
		t.Fatalf("status %+v", st)
	}
	r.mu.Lock()
	if len(r.events) != 1 || r.events[0].Cleared || r.events[0].OrderID != "O-1" || !reflect.DeepEqual(r.events[0].Faults, []printer.Fault{printer.FaultPaperOut}) {
		t.Fatalf("events %+v", r.events)
	}
	r.mu.Unlock()

	r.emu.SetFault("") // new roll: without ~JA the held label would come out now
	before := len(r.emu.Jobs())
	res = r.scan("O-1")
	if !res.Good() || res.Kind != wire.KindStep {
		t.Fatalf("after clearing: %+v", res)
	}
	if n := len(r.emu.Jobs()) - before; n != 1 {
		t.Fatalf("the scan after clearing sent %d formats, want 1", n)
	}
	if n := r.emu.Printed(); n != 1 {
		t.Fatalf("%d labels came out in all, want exactly 1", n)
	}
	if h := r.history("O-1"); !reflect.DeepEqual(kinds(h), []string{"reject", "step"}) {
		t.Fatalf("history %v", kinds(h))
	}
	if st := r.ps.Status(); !st.OK || len(st.Faults) != 0 {
		t.Fatalf("status after clearing %+v", st)
	}
	all, err := r.store.Entries(0, 1000, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	cleared := 0
	for _, e := range all {
		if e.Kind == wire.KindNote && strings.Contains(e.Detail, "printer fault cleared") && strings.Contains(e.Detail, "paper out") && e.Device == "pack-1-printer" {
			cleared++
		}
	}
	if cleared != 1 {
		t.Fatalf("%d 'fault cleared' notes in the journal, want 1", cleared)
	}
	r.mu.Lock()
	if len(r.events) != 2 || !r.events[1].Cleared {
		t.Fatalf("events %+v", r.events)
	}
	r.mu.Unlock()
}

// TSPL has no confirmed cancel command: after paper out the message asks to check whether the
// label came out and scan it back. The label comes out once the roll is replaced; its scan-back
// advances the order (trigger scan, the faulted job) and nothing is printed a second time.
func TestTSPLPaperOutLateLabelScannedBack(t *testing.T) {
	r := newRig(t, rigOpts{lang: "tspl"})
	r.order("O-1", wb1, order.PendingAllocation)
	r.emu.SetFault(emulator.PaperOutMidJob)
	res := r.scan("O-1")
	if res.Outcome.Reason != order.ReasonPrinterFault || res.Entry.Job == "" {
		t.Fatalf("result %+v", res)
	}
	job := res.Entry.Job
	if !strings.Contains(res.Message.ZH, "是否打出") || !strings.Contains(res.Message.ZH, "扫描该面单条码") || !strings.Contains(res.Message.ZH, wb1) ||
		!strings.Contains(res.Message.EN, "check whether label "+wb1+" came out") || !strings.Contains(res.Message.EN, "scan the order again") {
		t.Fatalf("message %+v", res.Message)
	}
	if !strings.Contains(res.Entry.Detail, "could not be cancelled") || r.emu.Cancels() != 0 || r.ps.Status().WaitingScan != 1 {
		t.Fatalf("detail %q, ~JA %d, status %+v", res.Entry.Detail, r.emu.Cancels(), r.ps.Status())
	}
	r.emu.SetFault("") // new roll: the held label comes out
	waitFor(t, func() bool { return r.emu.Printed() == 1 })
	res = r.scan(wb1)
	if !res.Good() || res.Kind != wire.KindStep || res.Entry.Trigger != wire.TriggerScan || res.Entry.Job != job || res.Outcome.To != order.WaybillPrinted {
		t.Fatalf("scan-back of the late label: %+v", res)
	}
	if !strings.Contains(res.Entry.Detail, "after the printer fault") {
		t.Fatalf("detail %q", res.Entry.Detail)
	}
	if o := r.get("O-1"); o.State != order.WaybillPrinted || o.Waybill != wb1 {
		t.Fatalf("order %+v", o)
	}
	if res := r.scan("O-1"); res.Outcome.Result != order.AlreadyDone {
		t.Fatalf("rescan: %+v", res)
	}
	if n, p := len(r.emu.Jobs()), r.emu.Printed(); n != 1 || p != 1 {
		t.Fatalf("printer got %d formats and printed %d, want 1 and 1", n, p)
	}
	if h := r.history("O-1"); !reflect.DeepEqual(kinds(h), []string{"reject", "step", "note"}) {
		t.Fatalf("history %v", kinds(h))
	}
	if st := r.ps.Status(); st.WaitingScan != 0 {
		t.Fatalf("status %+v", st)
	}
}

// TSPL, no label came out after the fault (the operator checked): scanning the order again prints
// again instead of waiting for a scan-back that will not come.
func TestTSPLPaperOutNoLabelRescanPrints(t *testing.T) {
	r := newRig(t, rigOpts{lang: "tspl"})
	r.order("O-1", wb1, order.PendingAllocation)
	r.emu.SetFault(printer.FaultPaperOut)
	if res := r.scan("O-1"); res.Outcome.Reason != order.ReasonPrinterFault {
		t.Fatalf("result %+v", res)
	}
	r.emu.SetFault("")
	res := r.scan("O-1")
	if !res.Good() || res.Kind != wire.KindStep || res.Entry.Trigger != wire.TriggerPrint {
		t.Fatalf("rescan: %+v", res)
	}
	if n := len(r.emu.Jobs()); n != 2 {
		t.Fatalf("printer got %d formats, want 2", n)
	}
	if st := r.ps.Status(); st.WaitingScan != 0 || !st.OK {
		t.Fatalf("status %+v", st)
	}
}

// A printer that stays silent (Zebra out of media) is a fault, never healthy.
func TestNoAnswerIsAFault(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.order("O-1", wb1, order.PendingAllocation)
	r.emu.SetFault(emulator.NoAnswer)
	res := r.scan("O-1")
	if res.Outcome.Reason != order.ReasonPrinterFault || !strings.Contains(res.Entry.Detail, "no_answer") && !strings.Contains(res.Entry.Detail, "does not answer") {
		t.Fatalf("result %+v", res)
	}
	if r.get("O-1").State != order.PendingAllocation {
		t.Fatal("order moved")
	}
	// ~JA was sent but a silent printer cannot show it worked: the label may still come out, so
	// the operator is asked to check and scan it back, and its scan-back is awaited.
	if r.emu.Cancels() != 1 || !strings.Contains(res.Entry.Detail, "could not be cancelled") ||
		!strings.Contains(res.Message.EN, "check whether label "+wb1+" came out") || r.ps.Status().WaitingScan != 1 {
		t.Fatalf("~JA %d, detail %q, message %+v, status %+v", r.emu.Cancels(), res.Entry.Detail, res.Message, r.ps.Status())
	}
}

// No waybill from the hub: a journaled rejection, nothing sent. Other states: refused, nothing sent.
func TestRefusalsSendNothing(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.order("O-1", "", order.PendingAllocation)
	r.order("O-2", wb2, order.Held)
	r.order("O-3", wb3, order.Cancelled)
	for code, want := range map[string]order.Reason{"O-1": order.ReasonNoWaybill, "O-2": order.ReasonHeld, "O-3": order.ReasonCancelled,
		"NOPE-1": order.ReasonUnknownCode, "SF9999999999999": order.ReasonUnknownWaybill} {
		res := r.scan(code)
		if res.Good() || res.Outcome.Reason != want || res.Kind != wire.KindReject || res.Entry.Seq == 0 {
			t.Fatalf("%s: %+v, want %s", code, res, want)
		}
	}
	if n := len(r.emu.Received()); n != 0 {
		t.Fatalf("printer received %d bytes", n)
	}
}

// REPRINT then the order code: a reprint entry, one more label; the order's state stays.
func TestReprintCommandAndAPI(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.order("O-1", wb1, order.PendingAllocation)
	r.order("O-2", wb2, order.PendingAllocation)
	r.scan("O-1")
	if res := r.scan("REPRINT"); !res.Good() || res.Kind != wire.KindNote {
		t.Fatalf("reprint command: %+v", res)
	}
	res := r.scan("O-1")
	if !res.Good() || res.Kind != wire.KindReprint || res.Entry.Job == "" || res.Entry.Waybill != wb1 || res.Entry.Trigger != wire.TriggerScan {
		t.Fatalf("reprint: %+v", res)
	}
	if n := len(r.emu.Jobs()); n != 2 {
		t.Fatalf("%d formats, want 2", n)
	}
	// The command is used up: the next scan is a repeat again.
	if res := r.scan("O-1"); res.Outcome.Result != order.AlreadyDone {
		t.Fatalf("after reprint: %+v", res)
	}
	// Reprint of an order not printed yet: refused, nothing sent.
	r.scan("REPRINT")
	if res := r.scan("O-2"); res.Good() || res.Outcome.Reason != order.ReasonWrongState {
		t.Fatalf("reprint of unprinted: %+v", res)
	}
	// Through the API's Set: the station where it was printed.
	set := printing.NewSet(r.store, r.ps)
	res = set.Reprint(r.ctx, "", printing.ReprintRequest{Code: wb1, Operator: "OP-LI", Note: "label torn"})
	if !res.Good() || res.Kind != wire.KindReprint || res.Entry.Trigger != wire.TriggerManual || res.Entry.Operator != "OP-LI" || !strings.Contains(res.Entry.Detail, "label torn") {
		t.Fatalf("api reprint: %+v", res)
	}
	if n := len(r.emu.Jobs()); n != 3 {
		t.Fatalf("%d formats, want 3", n)
	}
	if res := set.Reprint(r.ctx, "", printing.ReprintRequest{Code: "NOPE"}); !errors.Is(res.Err, printing.ErrNotFound) {
		t.Fatalf("unknown: %+v", res)
	}
	if res := set.Reprint(r.ctx, "dock-1", printing.ReprintRequest{Code: "O-1"}); !errors.Is(res.Err, printing.ErrNoPrinter) {
		t.Fatalf("unknown station: %+v", res)
	}
	if o := r.get("O-1"); o.State != order.WaybillPrinted {
		t.Fatalf("order %+v", o)
	}
	if h := r.history("O-1"); !reflect.DeepEqual(kinds(h), []string{"step", "reprint", "note", "reprint"}) {
		t.Fatalf("history %v", kinds(h))
	}
}

// A printer without a status query (Xprinter over usblp): the label is sent, the order waits for
// the scan-back of the printed label within the pair window, then 已打单 with trigger scan.
func TestScanBackWithoutStatus(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC))
	r := newRig(t, rigOpts{lang: "tspl", profile: "xprinter-xp-460b", transport: "usblp", clk: clk})
	r.order("O-1", wb1, order.PendingAllocation)
	r.order("O-2", wb2, order.PendingAllocation)

	res := r.scan("O-1")
	if !res.Good() || res.Kind != wire.KindNote || res.Entry.Job == "" || !strings.Contains(res.Message.EN, wb1) {
		t.Fatalf("sent: %+v", res)
	}
	if r.get("O-1").State != order.PendingAllocation {
		t.Fatal("moved before the scan-back")
	}
	waitFor(t, func() bool { return len(r.emu.Jobs()) == 1 })
	// Scanning the order again does not print again.
	if res := r.scan("O-1"); res.Outcome.Result != order.AlreadyDone {
		t.Fatalf("repeat: %+v", res)
	}
	if st := r.ps.Status(); st.WaitingScan != 1 {
		t.Fatalf("status %+v", st)
	}
	clk.Advance(10 * time.Second)
	res = r.scan(wb1)
	if !res.Good() || res.Kind != wire.KindStep || res.Entry.Trigger != wire.TriggerScan || res.Entry.Device != "scan-p1" || res.Entry.Job == "" {
		t.Fatalf("scan-back: %+v", res)
	}
	if o := r.get("O-1"); o.State != order.WaybillPrinted || o.Waybill != wb1 {
		t.Fatalf("order %+v", o)
	}

	// Too late: refused, the order stays.
	r.scan("O-2")
	clk.Advance(31 * time.Second)
	if res := r.scan(wb2); res.Good() || res.Outcome.Reason != order.ReasonPairingExpired {
		t.Fatalf("late scan-back: %+v", res)
	}
	if r.get("O-2").State != order.PendingAllocation {
		t.Fatal("moved after a late scan-back")
	}
	waitFor(t, func() bool { return len(r.emu.Jobs()) == 2 })
	// The late label still counts as sent: scanning the order does not print it again...
	if res := r.scan("O-2"); res.Outcome.Result != order.AlreadyDone {
		t.Fatalf("order scan after a late scan-back: %+v", res)
	}
	// ...the reprint command does, and the new label's scan-back within the window prints it.
	r.scan("REPRINT")
	if res := r.scan("O-2"); !res.Good() || res.Kind != wire.KindReprint {
		t.Fatalf("reprint while waiting: %+v", res)
	}
	waitFor(t, func() bool { return len(r.emu.Jobs()) == 3 })
	clk.Advance(5 * time.Second)
	if res := r.scan(wb2); !res.Good() || res.Kind != wire.KindStep {
		t.Fatalf("scan-back after reprint: %+v", res)
	}
	if st := r.ps.Status(); st.WaitingScan != 0 {
		t.Fatalf("status %+v", st)
	}
	time.Sleep(50 * time.Millisecond) // nothing else may arrive
	if n := len(r.emu.Jobs()); n != 3 {
		t.Fatalf("%d formats, want 3", n)
	}
	if h := r.history("O-2"); !reflect.DeepEqual(kinds(h), []string{"note", "reject", "note", "reprint", "step"}) {
		t.Fatalf("history %v", kinds(h))
	}
}

// A printer without status behind the proxy: the third-party label waits for its scan-back.
func TestProxyScanBackWithoutStatus(t *testing.T) {
	r := newRig(t, rigOpts{lang: "tspl", profile: "deli-dl-888", transport: "usblp"})
	r.order("O-1", wb1, order.PendingAllocation)
	addr, err := r.ps.StartProxy("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	job := "SIZE 76 mm,130 mm\r\nCLS\r\nBARCODE 40,40,\"128\",100,1,0,2,2,\"" + wb1 + "\"\r\nPRINT 1,1\r\n"
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte(job))
	c.Close()
	waitFor(t, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.results) == 1
	})
	r.mu.Lock()
	res := r.results[0]
	r.mu.Unlock()
	if !res.Good() || res.Kind != wire.KindNote || r.get("O-1").State != order.PendingAllocation {
		t.Fatalf("proxy job without status: %+v", res)
	}
	if res := r.scan(wb1); !res.Good() || res.Kind != wire.KindStep || res.Entry.Trigger != wire.TriggerScan {
		t.Fatalf("scan-back: %+v", res)
	}
	waitFor(t, func() bool { return string(r.emu.Received()) == job })
}

// A third-party ZPL job with two labels through the proxy: both orders advance (trigger print),
// an unknown waybill is a rejection, and the printer receives the job's bytes unchanged.
func TestProxyTwoLabels(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.order("O-1", wb1, order.PendingAllocation)
	r.order("O-2", wb2, order.PendingAllocation)
	addr, err := r.ps.StartProxy("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.ps.StartProxy("127.0.0.1:0", nil); !errors.Is(err, printing.ErrProxy) {
		t.Fatalf("second proxy: %v", err)
	}
	job := []byte("^XA^FO50,50^A0N,30,30^FD第三方 WMS^FS^FO50,100^BCN,120,Y,N,N^FD" + wb1 + "^FS^XZ\r\n" +
		"^XA^FO50,50^BY3^BCN,120,Y,N,N^FD" + wb2 + "^FS^PQ1^XZ\r\n" +
		"^XA^FO50,50^BCN,120,Y,N,N^FD" + wb3 + "^FS^XZ\r\n")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	// Split across writes, as real clients do.
	for _, part := range [][]byte{job[:17], job[17:90], job[90:]} {
		if _, err := c.Write(part); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.Close()
	waitFor(t, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.results) == 3
	})
	for _, id := range []string{"O-1", "O-2"} {
		o := r.get(id)
		if o.State != order.WaybillPrinted {
			t.Fatalf("%s: %+v", id, o)
		}
		h := r.history(id)
		last := h[len(h)-1]
		if last.Kind != wire.KindStep || last.Trigger != wire.TriggerPrint || last.Device != "pack-1-printer" || last.Job == "" {
			t.Fatalf("%s entry %+v", id, last)
		}
	}
	r.mu.Lock()
	var unknown *station.Result
	for i := range r.results {
		if r.results[i].Outcome.Reason == order.ReasonUnknownWaybill {
			unknown = &r.results[i]
		}
	}
	r.mu.Unlock()
	if unknown == nil || unknown.Entry.Waybill != wb3 || unknown.Entry.Seq == 0 {
		t.Fatalf("no unknown_waybill rejection for %s: %+v", wb3, unknown)
	}
	if got := r.emu.Received(); !bytes.Equal(got, job) {
		t.Fatalf("printer received %d bytes, want the %d bytes sent, unchanged", len(got), len(job))
	}
	if r.emu.Printed() != 3 {
		t.Fatalf("printed %d, want 3", r.emu.Printed())
	}
	// The same job again: the orders are already printed, so it is journaled as reprints.
	c, err = net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Write(job[:bytes.Index(job, []byte("^XZ\r\n"))+5])
	c.Close()
	waitFor(t, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.results) == 4
	})
	if h := r.history("O-1"); h[len(h)-1].Kind != wire.KindReprint {
		t.Fatalf("history %v", kinds(h))
	}
}

// The PNG preview carries exactly the waybill (decoded by zbarimg, a real decoder).
func TestLabelPNGDecodes(t *testing.T) {
	zbar, err := exec.LookPath("zbarimg")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("zbarimg is required in CI (apt install zbar-tools)")
		}
		t.Skip("zbarimg not installed")
	}
	r := newRig(t, rigOpts{})
	r.order("O-1", wb1, order.PendingAllocation)
	r.order("O-2", "", order.PendingAllocation)
	set := printing.NewSet(r.store, r.ps)
	png, err := set.LabelPNG("TO-1")
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "label.png")
	if err := os.WriteFile(f, png, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(zbar, "--raw", "-q", f).Output()
	if err != nil {
		t.Fatalf("zbarimg: %v", err)
	}
	if got := strings.TrimSpace(string(out)); got != wb1 {
		t.Fatalf("zbarimg read %q, want exactly %q", got, wb1)
	}
	if _, err := set.LabelPNG("O-2"); !errors.Is(err, printing.ErrNoWaybill) {
		t.Fatalf("no waybill: %v", err)
	}
	if _, err := set.LabelPNG("NOPE"); !errors.Is(err, printing.ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
}

func TestNewChecksConfig(t *testing.T) {
	dir := t.TempDir()
	s, err := journal.Open(filepath.Join(dir, "w.db"), &journal.Options{Site: "s", Agent: "a"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := printing.New(printing.Config{Station: "p"}, s, nil); !errors.Is(err, printing.ErrConfig) {
		t.Fatalf("no printer: %v", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 15s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The proxy finds orders by their assigned waybill through the journal's index, which follows a
// reassignment by the hub; an assigned waybill is still no printed label, so a handover station
// refuses it until the order is printed.
func TestProxyAssignedIndexAndHandover(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.order("O-1", wb1, order.PendingAllocation)
	h := station.New(station.Config{Name: "dock-1", Role: station.RoleHandover}, r.store, station.Options{})
	t.Cleanup(func() { h.Close() })
	if res := h.Handle(r.ctx, scanner.Read{Text: wb1, Device: "scan-d1"}); res.Good() || res.Outcome.Reason != order.ReasonUnknownWaybill {
		t.Fatalf("handover of an assigned, unprinted waybill: %+v", res.Outcome)
	}

	r.order("O-1", wb2, order.PendingAllocation) // the hub reassigned the order's waybill
	addr, err := r.ps.StartProxy("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	proxied := func(wb string) station.Result {
		t.Helper()
		r.mu.Lock()
		n := len(r.results)
		r.mu.Unlock()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("^XA^FO50,50^BCN,120,Y,N,N^FD" + wb + "^FS^XZ\r\n"))
		c.Close()
		waitFor(t, func() bool {
			r.mu.Lock()
			defer r.mu.Unlock()
			return len(r.results) > n
		})
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.results[n]
	}
	if res := proxied(wb1); res.Outcome.Reason != order.ReasonUnknownWaybill || r.get("O-1").State != order.PendingAllocation {
		t.Fatalf("the old assignment still leads to the order: %+v", res.Outcome)
	}
	if res := proxied(wb2); res.Kind != wire.KindStep || res.Outcome.Order.ID != "O-1" || r.get("O-1").Waybill != wb2 {
		t.Fatalf("the new assignment: %+v", res.Outcome)
	}
	if res := h.Handle(r.ctx, scanner.Read{Text: wb2, Device: "scan-d1"}); res.Kind != wire.KindStep || r.get("O-1").State != order.PickedUp {
		t.Fatalf("handover of the printed label: %+v", res.Outcome)
	}
}
