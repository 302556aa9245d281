package printjob_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"wedge/agent/printing/printjob"
	"wedge/drivers/printer"
	"wedge/drivers/printer/label"
	"wedge/order"
	"wedge/sync/wire"
)

const wb = "SF1234567890123"

var paperOut = &printer.FaultError{Printer: "zebra-1", Faults: []printer.Fault{printer.FaultPaperOut}}

// A failed job is told by what became of it in the printer; a label no printer can carry is no
// printer fault.
func TestReject(t *testing.T) {
	o := order.Order{ID: "O-1", State: order.PendingAllocation, Carrier: "sf"}
	src := order.Source{Station: "pack-1", Device: "zebra-1", Trigger: wire.TriggerScan, At: time.Now()}
	for name, tc := range map[string]struct {
		r      printjob.Result
		detail string
		zh     string
	}{
		"cancelled":   {printjob.Result{Job: "7", Printer: "zebra-1", Err: paperOut, Cancelled: true}, "~JA", "已取消"},
		"may print":   {printjob.Result{Job: "7", Printer: "zebra-1", Err: paperOut, Why: "no cancel command"}, "could not be cancelled (no cancel command)", "是否打出"},
		"never sent":  {printjob.Result{Printer: "zebra-1", Err: fmt.Errorf("dial: %w", context.DeadlineExceeded)}, "unknown", "面单未打出：排除故障后重新扫描订单"},
		"unreachable": {printjob.Result{Printer: "zebra-1", Err: fmt.Errorf("dial: refused")}, "no_answer", "面单未打出：排除故障后重新扫描订单"},
	} {
		d := tc.r.Reject(o, wb, "reprint: ", 30*time.Second, src)
		if !tc.r.Failed() || d.Outcome.Reason != order.ReasonPrinterFault || d.Entry.Kind != wire.KindReject || d.Entry.OrderID != "O-1" || d.Entry.Job != tc.r.Job {
			t.Fatalf("%s: %+v", name, d)
		}
		if !strings.HasPrefix(d.Entry.Detail, "reprint: ") || !strings.Contains(d.Entry.Detail, tc.detail) && !strings.Contains(d.Entry.Detail, printer.Fault(tc.detail).En()) {
			t.Fatalf("%s: detail %q", name, d.Entry.Detail)
		}
		if d.Message == nil || !strings.Contains(d.Message.ZH, tc.zh) || !strings.Contains(d.Message.ZH, "zebra-1") {
			t.Fatalf("%s: message %+v", name, d.Message)
		}
	}
	bad := printjob.Result{Printer: "zebra-1", Err: fmt.Errorf("%w: byte 0x01", label.ErrWaybill)}
	if d := bad.Reject(o, "SF\x01", "", time.Minute, src); d.Outcome.Reason != order.ReasonWaybillInvalid || printjob.IsFault(bad.Err) {
		t.Fatalf("unprintable waybill: %+v", d)
	}
}

func TestKinds(t *testing.T) {
	none := printjob.Result{Job: "3", Err: fmt.Errorf("x: %w", printer.ErrNoStatus)}
	if !none.NoStatus() || none.Failed() || printjob.IsFault(none.Err) {
		t.Fatalf("no status: %+v", none)
	}
	ok := printjob.Result{Job: "3"}
	if ok.NoStatus() || ok.Failed() {
		t.Fatalf("confirmed: %+v", ok)
	}
	if !printjob.IsFault(paperOut) || printjob.IsFault(context.Canceled) || printjob.IsFault(printer.ErrClosed) {
		t.Fatal("IsFault")
	}
	if (printjob.Result{Err: paperOut}).MayPrint() || !(printjob.Result{Job: "3", Err: paperOut}).MayPrint() {
		t.Fatal("MayPrint: only a job that reached the printer and was not cancelled")
	}
	if n := printjob.Names([]printer.Fault{printer.FaultPaperOut, printer.FaultHeadOpen}); !strings.Contains(n.ZH, "、") || !strings.Contains(n.EN, ", ") {
		t.Fatalf("names %+v", n)
	}
}
