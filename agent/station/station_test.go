package station_test

import (
	"context"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"wedge/agent/intake"
	"wedge/agent/journal"
	"wedge/agent/journal/journaltest"
	"wedge/agent/station"
	"wedge/drivers/scanner"
	"wedge/internal/clock"
	"wedge/order"
	"wedge/sync/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	wbSF  = "SF1234567890123"
	wbSF2 = "SF1234567890999"
)

var t0 = time.Date(2026, 1, 22, 8, 0, 0, 0, time.UTC)

type rig struct {
	t     *testing.T
	clk   *clock.Fake
	store *journal.Store
	ctx   context.Context

	mu      sync.Mutex
	results []station.Result
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{t: t, clk: clock.NewFake(t0), ctx: context.Background()}
	s, err := journal.Open(filepath.Join(t.TempDir(), "wedge.db"), &journal.Options{Site: "sz01", Agent: "pack02", Clock: r.clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	r.store = s
	return r
}

func (r *rig) station(name, role string) *station.Station {
	s := station.New(station.Config{Name: name, Role: role}, r.store, station.Options{Clock: r.clk, OnResult: func(res station.Result) {
		r.mu.Lock()
		r.results = append(r.results, res)
		r.mu.Unlock()
	}})
	r.t.Cleanup(func() { s.Close() })
	return s
}

func (r *rig) put(orders ...order.Order) {
	r.t.Helper()
	err := r.store.Do(r.ctx, func(tx *journal.Tx) error {
		for _, o := range orders {
			tx.PutOrder(o)
		}
		return nil
	})
	if err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) order(id string) order.Order {
	r.t.Helper()
	o, ok, err := r.store.Order(id)
	if err != nil || !ok {
		r.t.Fatalf("order %s: %v %v", id, ok, err)
	}
	return o
}

func scan(s *station.Station, device, code string) station.Result {
	return s.Handle(context.Background(), scanner.Read{Text: code, Device: device})
}

func pending(id string) order.Order {
	return order.Order{ID: id, Channel: "tmall", ChannelOrderNo: "40" + id + "0000000000", Carrier: "sf", State: order.PendingAllocation, StateSince: t0}
}

// mustEntry checks a result's committed entry.
func mustEntry(t *testing.T, res station.Result, kind string, reason order.Reason) wire.Entry {
	t.Helper()
	if res.Err != nil {
		t.Fatalf("not committed: %v", res.Err)
	}
	e := res.Entry
	if e.Seq == 0 || e.Hash == "" || e.JournalID == "" {
		t.Fatalf("result without a committed entry: %+v", e)
	}
	if e.Kind != kind || e.Reason != string(reason) {
		t.Fatalf("entry kind %s reason %q, want %s %q (%s)", e.Kind, e.Reason, kind, reason, e.Detail)
	}
	if res.Message.ZH == "" || res.Message.EN == "" {
		t.Fatalf("result without a message: %+v", res)
	}
	return e
}

func TestPrintPairing(t *testing.T) {
	r := newRig(t)
	r.put(pending("1001"), pending("1002"))
	p := r.station("print-1", station.RolePrint)

	res := scan(p, "scan-p1", "1001")
	e := mustEntry(t, res, wire.KindNote, "")
	if !res.Good() || e.OrderID != "1001" || e.Station != "print-1" || e.Device != "scan-p1" || e.Trigger != wire.TriggerScan {
		t.Fatalf("order scan: %+v %+v", res, e)
	}
	r.clk.Advance(10 * time.Second)
	res = scan(p, "scan-p1", wbSF)
	e = mustEntry(t, res, wire.KindStep, "")
	if res.Outcome.Result != order.Accepted || e.From != string(order.PendingAllocation) || e.To != string(order.WaybillPrinted) || e.Waybill != wbSF || e.Carrier != "sf" {
		t.Fatalf("waybill scan: %+v", e)
	}
	if e.Seq > r.store.LastSeq() {
		t.Fatal("result returned before its entry was in the journal")
	}
	if o := r.order("1001"); o.State != order.WaybillPrinted || o.Waybill != wbSF {
		t.Fatalf("order after print: %+v", o)
	}
	// The pairing is used up: a second label needs a new order scan.
	res = scan(p, "scan-p1", wbSF2)
	mustEntry(t, res, wire.KindReject, order.ReasonNoOrderScanned)

	// The order's channel order number pairs too.
	scan(p, "scan-p1", "4010020000000000")
	res = scan(p, "scan-p1", wbSF2)
	mustEntry(t, res, wire.KindStep, "")
	if o := r.order("1002"); o.Waybill != wbSF2 {
		t.Fatalf("pair by channel order no: %+v", o)
	}
	h, err := r.store.History("1001")
	if err != nil || len(h) != 2 {
		t.Fatalf("history of 1001: %d entries, %v", len(h), err)
	}
}

func TestPairingExpires(t *testing.T) {
	r := newRig(t)
	r.put(pending("1001"))
	p := r.station("print-1", station.RolePrint)
	scan(p, "d", "1001")
	r.clk.Advance(30*time.Second + time.Millisecond)
	res := scan(p, "d", wbSF)
	e := mustEntry(t, res, wire.KindReject, order.ReasonPairingExpired)
	if res.Good() || e.OrderID != "1001" || e.Code != wbSF || e.Device != "d" {
		t.Fatalf("expired pairing: %+v", e)
	}
	if o := r.order("1001"); o.State != order.PendingAllocation {
		t.Fatalf("expired pairing moved the order: %s", o.State)
	}
	// After the rejection the operator starts again.
	if res := scan(p, "d", wbSF); res.Outcome.Reason != order.ReasonNoOrderScanned {
		t.Fatalf("after expiry: %s", res.Outcome.Reason)
	}
	// Exactly at the window's end it still pairs.
	scan(p, "d", "1001")
	r.clk.Advance(30 * time.Second)
	if res := scan(p, "d", wbSF); res.Outcome.Result != order.Accepted {
		t.Fatalf("at the window's edge: %s %s", res.Outcome.Result, res.Outcome.Reason)
	}
}

func TestOperatorBadge(t *testing.T) {
	r := newRig(t)
	r.put(pending("1001"))
	p := r.station("print-1", station.RolePrint)
	res := scan(p, "d", "OP-zhang3")
	e := mustEntry(t, res, wire.KindOperator, "")
	if e.Operator != "OP-zhang3" || p.Operator() != "OP-zhang3" || !res.Good() {
		t.Fatalf("badge: %+v, station operator %q", e, p.Operator())
	}
	scan(p, "d", "1001")
	res = scan(p, "d", wbSF)
	if e := mustEntry(t, res, wire.KindStep, ""); e.Operator != "OP-zhang3" {
		t.Fatalf("step without operator: %+v", e)
	}
	res = scan(p, "d", "nonsense!")
	if e := mustEntry(t, res, wire.KindReject, order.ReasonUnknownCode); e.Operator != "OP-zhang3" {
		t.Fatalf("rejection without operator: %+v", e)
	}
	// A custom pattern.
	q := station.New(station.Config{Name: "print-2", Role: station.RolePrint, OperatorPattern: regexpMust(`^EMP\d{4}$`)}, r.store, station.Options{Clock: r.clk})
	defer q.Close()
	if res := scan(q, "d", "EMP0042"); res.Kind != wire.KindOperator {
		t.Fatalf("custom badge: %s", res.Kind)
	}
	if res := scan(q, "d", "OP-zhang3"); res.Kind != wire.KindReject {
		t.Fatalf("default badge at a custom-pattern station: %s", res.Kind)
	}
}

// TestEveryRejectionJournaled drives each rejection reason at a print station and checks that the
// entry names reason, code, device, station, operator and trigger, and that no order moved.
func TestEveryRejectionJournaled(t *testing.T) {
	r := newRig(t)
	cancelled := pending("2001")
	cancelled.State = order.Cancelled
	deposit := pending("2002")
	deposit.State = order.AwaitingBalance
	assigned := pending("2003")
	assigned.AssignedWaybill = wbSF
	printed := pending("2004")
	printed.State, printed.Waybill = order.WaybillPrinted, wbSF2
	r.put(pending("2000"), cancelled, deposit, assigned, printed)
	p := r.station("print-1", station.RolePrint)
	scan(p, "d", "OP-li")

	cases := []struct {
		name   string
		codes  []string // all but the last are set-up scans
		reason order.Reason
	}{
		{"unknown code", []string{"hello world"}, order.ReasonUnknownCode},
		{"no order scanned", []string{"SF1234567890555"}, order.ReasonNoOrderScanned},
		{"invalid waybill", []string{"2000", "YT1234567890123"}, order.ReasonWaybillInvalid},
		{"garbage as waybill", []string{"2000", "12"}, order.ReasonWaybillInvalid},
		{"cancelled order", []string{"2001"}, order.ReasonCancelled},
		{"awaiting balance", []string{"2002"}, order.ReasonAwaitingBalance},
		{"not the assigned waybill", []string{"2003", "SF1234567890555"}, order.ReasonWaybillMismatch},
		{"waybill bound to another order", []string{"2000", wbSF2}, order.ReasonWaybillMismatch},
	}
	for _, c := range cases {
		var res station.Result
		for _, code := range c.codes {
			res = scan(p, "scan-7", code)
		}
		e := mustEntry(t, res, wire.KindReject, c.reason)
		last := c.codes[len(c.codes)-1]
		if e.Station != "print-1" || e.Device != "scan-7" || e.Operator != "OP-li" || e.Trigger != wire.TriggerScan || e.Code != last {
			t.Errorf("%s: entry %+v", c.name, e)
		}
		if res.Good() {
			t.Errorf("%s: a rejection is not good", c.name)
		}
	}
	for id, want := range map[string]order.State{"2000": order.PendingAllocation, "2001": order.Cancelled, "2002": order.AwaitingBalance, "2003": order.PendingAllocation, "2004": order.WaybillPrinted} {
		if got := r.order(id).State; got != want {
			t.Errorf("order %s moved to %s by a rejection", id, got)
		}
	}
	// The invalid waybill keeps the pairing: the right label still goes through.
	scan(p, "d", "2000")
	scan(p, "d", "YT1234567890123")
	if res := scan(p, "d", "SF1234567890777"); res.Outcome.Result != order.Accepted {
		t.Errorf("after a bad label, the right one: %s %s", res.Outcome.Result, res.Outcome.Reason)
	}
	// A printed order scanned again is an idempotent repeat, still traced.
	if res := scan(p, "d", "2004"); res.Outcome.Result != order.AlreadyDone || res.Entry.Seq == 0 {
		t.Errorf("printed order rescanned: %s seq %d", res.Outcome.Result, res.Entry.Seq)
	}
	if res := scan(p, "d", wbSF2); res.Outcome.Result != order.AlreadyDone {
		t.Errorf("printed label rescanned: %s %s", res.Outcome.Result, res.Outcome.Reason)
	}
}

func TestHandover(t *testing.T) {
	r := newRig(t)
	printed := pending("3001")
	printed.State, printed.Waybill = order.WaybillPrinted, wbSF
	r.put(printed, pending("3002"))
	h := r.station("dock-1", station.RoleHandover)

	res := scan(h, "scan-d1", "sf1234567890123") // lower case from a CapsLock keyboard scanner
	e := mustEntry(t, res, wire.KindStep, "")
	if e.From != string(order.WaybillPrinted) || e.To != string(order.PickedUp) || e.OrderID != "3001" || e.Waybill != wbSF {
		t.Fatalf("handover: %+v", e)
	}
	if o := r.order("3001"); o.State != order.PickedUp || o.PickedUpAt.IsZero() {
		t.Fatalf("after handover: %+v", o)
	}
	if res := scan(h, "scan-d1", wbSF); res.Outcome.Result != order.AlreadyDone || !res.Good() {
		t.Fatalf("repeat handover: %s", res.Outcome.Result)
	}
	mustEntry(t, scan(h, "scan-d1", wbSF2), wire.KindReject, order.ReasonUnknownWaybill)
	mustEntry(t, scan(h, "scan-d1", "3002"), wire.KindReject, order.ReasonNotPrinted)
	mustEntry(t, scan(h, "scan-d1", "???"), wire.KindReject, order.ReasonUnknownCode)
}

// TestHandoverOfOrderPrintedElsewhere: PC A printed it; this agent only heard the hub's state
// message, and its handover station takes the parcel.
func TestHandoverOfOrderPrintedElsewhere(t *testing.T) {
	r := newRig(t)
	in, err := intake.New(r.ctx, r.store, intake.Options{Clock: r.clk})
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Apply(r.ctx, []byte(`{"type":"state","hseq":1,"order_id":"9001","state":"waybill_printed","waybill":"`+wbSF+`"}`)); err != nil {
		t.Fatal(err)
	}
	h := r.station("dock-1", station.RoleHandover)
	res := scan(h, "scan-d1", wbSF)
	if e := mustEntry(t, res, wire.KindStep, ""); e.OrderID != "9001" || e.To != string(order.PickedUp) {
		t.Fatalf("handover of a merged order: %+v", e)
	}
}

func TestManualConfirm(t *testing.T) {
	r := newRig(t)
	o := pending("4001")
	o.AssignedWaybill = wbSF
	r.put(o)
	res := station.Confirm(r.ctx, r.store, station.ManualRequest{Code: "4001", Operator: "OP-boss"}, r.clk)
	e := mustEntry(t, res, wire.KindReject, order.ReasonManualIncomplete)
	if e.Trigger != wire.TriggerManual || e.Device != station.DeviceAPI {
		t.Fatalf("incomplete manual: %+v", e)
	}
	res = station.Confirm(r.ctx, r.store, station.ManualRequest{Code: "4001", Operator: "OP-boss", Note: "printer jammed, label printed by hand"}, r.clk)
	e = mustEntry(t, res, wire.KindStep, "")
	if e.Trigger != wire.TriggerManual || e.Operator != "OP-boss" || e.Detail == "" || e.To != string(order.WaybillPrinted) || e.Waybill != wbSF {
		t.Fatalf("manual print: %+v", e)
	}
	// By waybill, the next step is the pickup.
	res = station.Confirm(r.ctx, r.store, station.ManualRequest{Code: wbSF, Operator: "OP-boss", Note: "courier forgot to scan"}, r.clk)
	if e := mustEntry(t, res, wire.KindStep, ""); e.To != string(order.PickedUp) {
		t.Fatalf("manual pickup: %+v", e)
	}
	res = station.Confirm(r.ctx, r.store, station.ManualRequest{Code: "4001", Operator: "OP-boss", Note: "again"}, r.clk)
	mustEntry(t, res, wire.KindReject, order.ReasonWrongState)
	last := r.store.LastSeq()
	res = station.Confirm(r.ctx, r.store, station.ManualRequest{Code: "nope", Operator: "OP-boss", Note: "x"}, r.clk)
	if res.Err == nil || res.Good() || r.store.LastSeq() != last {
		t.Fatalf("unknown order: %+v", res)
	}
}

// TestStationsRunInParallelAndSerially: many concurrent scans on two stations; each station keeps
// its own pairing, every scan leaves exactly one entry, and the journal verifies.
func TestStationsRunInParallelAndSerially(t *testing.T) {
	r := newRig(t)
	const n = 40
	var orders []order.Order
	for i := 0; i < n; i++ {
		o := pending(string(rune('A'+i%26)) + string(rune('a'+i/26)))
		orders = append(orders, o)
	}
	r.put(orders...)
	a := r.station("print-1", station.RolePrint)
	b := r.station("print-2", station.RolePrint)
	before := r.store.LastSeq()
	var wg sync.WaitGroup
	for i, st := range []*station.Station{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := i; j < n; j += 2 {
				scan(st, "d", orders[j].ID)
				wb := "SF1" + string(rune('0'+j/10)) + string(rune('0'+j%10)) + "0000000000"
				if res := scan(st, "d", wb); res.Outcome.Result != order.Accepted {
					t.Errorf("order %s: %s %s %s", orders[j].ID, res.Outcome.Result, res.Outcome.Reason, res.Outcome.Detail)
				}
			}
		}()
	}
	wg.Wait()
	if got := r.store.LastSeq() - before; got != 2*n {
		t.Errorf("%d entries for %d scans", got, 2*n)
	}
	if c := r.store.Counts()[order.WaybillPrinted]; c != n {
		t.Errorf("%d printed, want %d", c, n)
	}
	r.mu.Lock()
	got := len(r.results)
	r.mu.Unlock()
	if got != 2*n {
		t.Errorf("OnResult saw %d results, want %d", got, 2*n)
	}
}

func TestClosedStationAndStoreAcknowledgeNothing(t *testing.T) {
	r := newRig(t)
	r.put(pending("5001"))
	p := station.New(station.Config{Name: "p", Role: station.RolePrint}, r.store, station.Options{Clock: r.clk})
	p.Close()
	p.Close()
	if res := scan(p, "d", "5001"); res.Err == nil || res.Good() {
		t.Fatalf("closed station: %+v", res)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	q := r.station("q", station.RolePrint)
	if res := q.Handle(ctx, scanner.Read{Text: "5001"}); res.Err == nil || res.Good() {
		t.Fatalf("cancelled ctx: %+v", res)
	}
	r.store.Close()
	if res := scan(q, "d", "OP-li"); res.Err == nil || res.Good() || q.Operator() != "" {
		t.Fatalf("closed store: %+v, operator %q", res, q.Operator())
	}
}

func regexpMust(s string) *regexp.Regexp { return regexp.MustCompile(s) }

// A full disk: the scan is not acknowledged (no good signal, a clear message, nothing journaled, the
// order does not move), and once there is room again the same scan goes through with a gapless chain.
func TestFullDiskAcknowledgesNothing(t *testing.T) {
	var full journaltest.DiskFull
	clk := clock.NewFake(t0)
	store := journaltest.Open(t, &journal.Options{Site: "sz01", Agent: "pack02", Clock: clk, FailCommit: full.Hook()})
	if err := store.Do(context.Background(), func(tx *journal.Tx) error {
		o := pending("1001")
		o.State, o.Waybill = order.WaybillPrinted, wbSF
		tx.PutOrder(o)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	h := station.New(station.Config{Name: "dock-1", Role: station.RoleHandover}, store, station.Options{Clock: clk})
	t.Cleanup(func() { h.Close() })

	full.Set(true)
	before := store.LastSeq()
	res := scan(h, "scan-d1", wbSF)
	if res.Err == nil || res.Good() {
		t.Fatalf("disk full: result %+v, want an error and no good signal", res)
	}
	if res.Message.ZH == "" || res.Message.EN == "" {
		t.Fatalf("disk full: no message for the operator: %+v", res.Message)
	}
	if store.LastSeq() != before {
		t.Fatalf("disk full: journal moved from seq %d to %d", before, store.LastSeq())
	}
	if o, _, _ := store.Order("1001"); o.State != order.WaybillPrinted {
		t.Fatalf("disk full: order moved to %s", o.State)
	}

	full.Set(false)
	res = scan(h, "scan-d1", wbSF)
	if !res.Good() || res.Outcome.Result != order.Accepted || res.Entry.Seq != before+1 {
		t.Fatalf("after the disk recovered: %+v", res)
	}
}
