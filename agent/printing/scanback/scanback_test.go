package scanback_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"wedge/agent/journal"
	"wedge/agent/printing/scanback"
	"wedge/agent/station"
	"wedge/order"
	"wedge/sync/wire"
)

const (
	wb1 = "SF1234567890123"
	wb2 = "SF1234567890999"
)

var t0 = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

func newBook(t *testing.T) (*scanback.Book, *journal.Store) {
	t.Helper()
	s, err := journal.Open(filepath.Join(t.TempDir(), "wedge.db"), &journal.Options{Site: "sz01", Agent: "pack02"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	err = s.Do(context.Background(), func(tx *journal.Tx) error {
		for id, wb := range map[string]string{"O-1": wb1, "O-2": wb2} {
			tx.PutOrder(order.Order{ID: id, Carrier: "sf", AssignedWaybill: wb, State: order.PendingAllocation})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return scanback.New(s, scanback.Config{Window: 30 * time.Second, Printer: "xp-1", Command: "REPRINT"}), s
}

func scan(b *scanback.Book, code string, at time.Time) station.Result {
	src := order.Source{Station: "pack-1", Device: "scan-p1", Trigger: wire.TriggerScan, Code: code, At: at}
	return b.Scan(context.Background(), station.Result{Station: "pack-1", Device: "scan-p1", Code: code, At: at}, src)
}

// A label is settled only by its own scan-back, never one that replaced it; labels never scanned
// back are forgotten after a day.
func TestBook(t *testing.T) {
	b, _ := newBook(t)
	first := scanback.Label{OrderID: "O-1", Job: "1", At: t0}
	b.Await(" sf1234567890123 ", first)
	if l, ok := b.Waiting(wb1); !ok || l != first {
		t.Fatalf("waiting %+v %v", l, ok)
	}
	second := scanback.Label{OrderID: "O-1", Job: "2", At: t0.Add(time.Second)}
	b.Await(wb1, second)
	b.Settle(wb1, first)
	if l, ok := b.Waiting(wb1); !ok || l != second {
		t.Fatalf("settling the replaced label dropped its successor: %+v %v", l, ok)
	}
	b.Await(wb2, scanback.Label{OrderID: "O-2", Job: "3", At: t0.Add(25 * time.Hour)})
	if _, ok := b.Waiting(wb1); ok || b.Len() != 1 {
		t.Fatalf("a day-old label is still waiting (%d waiting)", b.Len())
	}
}

// Within the window the scan-back prints the order (trigger scan, the job sent); after it, it is
// refused and the label keeps waiting; codes no label waits for are refused.
func TestScan(t *testing.T) {
	b, store := newBook(t)
	b.Await(wb1, scanback.Label{OrderID: "O-1", Job: "1", At: t0})
	b.Await(wb2, scanback.Label{OrderID: "O-2", Job: "2", At: t0, Fault: true})

	res := scan(b, wb1, t0.Add(31*time.Second))
	if res.Err != nil || res.Outcome.Reason != order.ReasonPairingExpired || res.Entry.Job != "1" || !strings.Contains(res.Message.EN, "REPRINT") {
		t.Fatalf("late: %+v", res)
	}
	if _, ok := b.Waiting(wb1); !ok {
		t.Fatal("an expired label no longer waits: the order would print again without the reprint command")
	}
	res = scan(b, wb2, t0.Add(10*time.Second))
	if !res.Good() || res.Kind != wire.KindStep || res.Entry.Job != "2" || res.Entry.Trigger != wire.TriggerScan || !strings.Contains(res.Entry.Detail, "after the printer fault") {
		t.Fatalf("in time: %+v", res)
	}
	if o, _, _ := store.Order("O-2"); o.State != order.WaybillPrinted || o.Waybill != wb2 {
		t.Fatalf("order %+v", o)
	}
	if _, ok := b.Waiting(wb2); ok {
		t.Fatal("a scanned-back label still waits")
	}
	if res := scan(b, "SF1234567890777", t0); res.Outcome.Reason != order.ReasonUnknownWaybill || res.Entry.Seq == 0 {
		t.Fatalf("unknown waybill: %+v", res)
	}
	if res := scan(b, "HELLO", t0); res.Outcome.Reason != order.ReasonUnknownCode || res.Entry.Seq == 0 {
		t.Fatalf("unknown code: %+v", res)
	}
}
