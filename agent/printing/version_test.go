package printing_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"wedge/agent/journal"
	"wedge/order"
	"wedge/sync/wire"
)

// msg applies a downlink message to the rig's store as intake does (order.DecideMsg, committed).
func (r *rig) msg(m wire.OrderMsg) wire.Entry {
	r.t.Helper()
	var d order.Decision
	err := r.store.Do(r.ctx, func(tx *journal.Tx) error {
		o, known := tx.Order(m.ID())
		d = tx.Commit(order.DecideMsg(o, known, m, order.MsgEnv{At: time.Now().UTC()}))
		return nil
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return d.Entry
}

func versioned(v uint64, addr string) wire.OrderMsg {
	return wire.OrderMsg{Type: wire.TypeOrder, OrderID: "V-1", Version: v, Channel: "tmall", ChannelOrderNo: "401234567890123", BuyerID: "b",
		OrderedAt: "2026-01-22T07:00:00Z", SKUs: []string{"S1"}, Carrier: "sf", Waybill: wb1,
		RecipientName: "张三", RecipientPhone: "13812345678", RecipientAddress: addr}
}

// The label carries version 1's address; after the address changes in version 2 the label is
// outdated, and the next scan of the order (its code, or the old label's barcode) prints it again
// with the new address, journaled as a reprint at version 2; a scan after that prints nothing.
func TestOutdatedLabelReprintedAtNextScan(t *testing.T) {
	for _, code := range []string{"V-1", wb1} {
		t.Run(code, func(t *testing.T) {
			r := newRig(t, rigOpts{})
			r.msg(versioned(1, "广东省深圳市南山区科苑路8号"))
			if res := r.scan("V-1"); res.Outcome.To != order.WaybillPrinted || res.Entry.LabelVersion != 1 {
				t.Fatalf("print: %+v", res)
			}
			if job := r.emu.Jobs()[0]; !bytes.Contains(job, []byte("科苑路8号")) || !bytes.Contains(job, []byte("138****5678")) || bytes.Contains(job, []byte("13812345678")) {
				t.Fatalf("first label:\n%s", job)
			}
			if e := r.msg(versioned(2, "广东省深圳市福田区华强北路1号")); e.Kind != wire.KindUpdate || !r.get("V-1").LabelOutdated {
				t.Fatalf("update: %+v", e)
			}
			res := r.scan(code)
			if !res.Good() || res.Kind != wire.KindReprint || res.Entry.LabelVersion != 2 || !strings.Contains(res.Message.ZH, "已按新信息补打") ||
				!strings.Contains(res.Entry.Detail, "replaced") || res.Entry.Job == "" {
				t.Fatalf("reprint: %+v", res)
			}
			jobs := r.emu.Jobs()
			if len(jobs) != 2 || !bytes.Contains(jobs[1], []byte("华强北")) || bytes.Contains(jobs[1], []byte("科苑路")) {
				t.Fatalf("%d jobs; reprint:\n%s", len(jobs), jobs[len(jobs)-1])
			}
			if o := r.get("V-1"); o.LabelOutdated || o.LabelVersion != 2 || o.State != order.WaybillPrinted {
				t.Fatalf("order %+v", o)
			}
			if res := r.scan("V-1"); res.Outcome.Result != order.AlreadyDone || len(r.emu.Jobs()) != 2 {
				t.Fatalf("scan after the reprint: %+v", res)
			}
		})
	}
}

// An intercepted order is not printed, neither at its scan nor through the reprint command: the
// operator is told to take it to the exception shelf, and nothing is sent to the printer.
func TestInterceptedNotPrinted(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.msg(versioned(1, "广东省深圳市南山区科苑路8号"))
	r.msg(wire.OrderMsg{Type: wire.TypeIntercept, OrderID: "V-1", HSeq: 3, Reason: "buyer asked"})
	res := r.scan("V-1")
	if res.Good() || res.Outcome.Reason != order.ReasonIntercepted || !strings.Contains(res.Message.ZH, "异常件架") || len(r.emu.Jobs()) != 0 {
		t.Fatalf("scan of an intercepted order: %+v", res)
	}
	// Printed, then intercepted: neither a scan nor the reprint command prints.
	r.order("O-2", wb2, order.PendingAllocation)
	r.scan("O-2")
	r.msg(wire.OrderMsg{Type: wire.TypeIntercept, OrderID: "O-2", HSeq: 4})
	for _, code := range []string{"O-2", "REPRINT", "O-2"} {
		if res := r.scan(code); code == "O-2" && res.Outcome.Reason != order.ReasonIntercepted {
			t.Fatalf("%s: %+v", code, res)
		}
	}
	if n := len(r.emu.Jobs()); n != 1 {
		t.Fatalf("%d jobs, want only O-2's first label", n)
	}
}
