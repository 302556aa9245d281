package station_test

import (
	"context"
	"sync"
	"testing"

	"wedge/agent/station"
	"wedge/drivers/scanner"
	"wedge/order"
	"wedge/sync/wire"
)

// fakePrinting records what a print station hands over.
type fakePrinting struct {
	mu    sync.Mutex
	codes []string
	ops   []string
}

func (f *fakePrinting) Handle(ctx context.Context, r scanner.Read, operator string) station.Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.codes = append(f.codes, r.Text)
	f.ops = append(f.ops, operator)
	return station.Result{Station: "p", Code: r.Text, Kind: wire.KindNote, Outcome: order.Outcome{Result: order.Accepted}}
}

// A print station with Printing hands it every read but operator badges (which it still signs in
// itself); a handover station never does.
func TestPrintStationDelegatesToPrinting(t *testing.T) {
	r := newRig(t)
	fp := &fakePrinting{}
	s := station.New(station.Config{Name: "p", Role: station.RolePrint}, r.store, station.Options{Clock: r.clk, Printing: fp})
	t.Cleanup(func() { s.Close() })
	h := station.New(station.Config{Name: "h", Role: station.RoleHandover}, r.store, station.Options{Clock: r.clk, Printing: fp})
	t.Cleanup(func() { h.Close() })

	if res := s.Handle(r.ctx, scanner.Read{Text: "OP-wang5", Device: "d"}); res.Kind != wire.KindOperator || !res.Good() {
		t.Fatalf("badge: %+v", res)
	}
	for _, code := range []string{"O-1", wbSF, "REPRINT"} {
		if res := s.Handle(r.ctx, scanner.Read{Text: code, Device: "d"}); res.Code != code || !res.Good() {
			t.Fatalf("%s: %+v", code, res)
		}
	}
	if res := h.Handle(r.ctx, scanner.Read{Text: wbSF, Device: "d"}); res.Outcome.Reason != order.ReasonUnknownWaybill {
		t.Fatalf("handover: %+v", res)
	}
	fp.mu.Lock()
	defer fp.mu.Unlock()
	if len(fp.codes) != 3 || fp.codes[0] != "O-1" || fp.ops[2] != "OP-wang5" {
		t.Fatalf("printing got %v %v", fp.codes, fp.ops)
	}
}
