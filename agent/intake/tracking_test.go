package intake_test

import (
	"fmt"
	"iter"
	"path/filepath"
	"testing"
	"time"

	"wedge/agent/journal"
	"wedge/agent/pickup"
	"wedge/order"
	"wedge/sync/wire"
)

func trackingMsg(hseq int, id, event, at string) string {
	return fmt.Sprintf(`{"type":"tracking","hseq":%d,"order_id":%q,"carrier":"sf","waybill":"SF1234567890123","event":%q,"at":%q}`, hseq, id, event, at)
}

// carrierNote checks that es is one carrier note of event for order id with hub sequence hseq,
// leaving the order in state st.
func carrierNote(t *testing.T, es []wire.Entry, id, event string, hseq int, st order.State) wire.Entry {
	t.Helper()
	if len(es) != 1 {
		t.Fatalf("want one entry, got %d: %+v", len(es), es)
	}
	e := es[0]
	if e.Kind != wire.KindNote || e.Trigger != wire.TriggerCarrier || e.Reason != order.NoteCarrierPrefix+event || e.OrderID != id ||
		e.Code != fmt.Sprintf("hseq:%d", hseq) || e.Waybill != "SF1234567890123" || e.Carrier != "sf" || e.From != string(st) || e.To != string(st) {
		t.Fatalf("carrier note: %+v", e)
	}
	return e
}

// Every carrier event the hub relays is journaled once as a note with trigger carrier that moves
// nothing: not a delivered before the first scan, not in_transit, not the tracking message of the
// first scan itself under carrier_first_scan (only the first_scan message moves the order). A
// replay, one by one, as a batch or after a restart, journals nothing; the order keeps the latest
// event by the carrier's time, also after a rebuild from the entries.
func TestTrackingJournaledOnceAndMovesNothing(t *testing.T) {
	r := newRig(t)
	r.applyAuthenticated(`{"type":"state","hseq":1,"order_id":"A1","state":"waybill_printed","waybill":"SF1234567890123","carrier":"sf"}`)
	if err := pickup.Command(r.ctx, r.store, []byte(`{"type":"pickup_policy","id":"c-1","by":"ops","reason":"以快递首扫为准","pickup":"carrier_first_scan"}`), r.clk.Now()); err != nil {
		t.Fatal(err)
	}
	if d := r.handover("A1", "SF1234567890123"); d.Outcome.Result != order.Recorded {
		t.Fatalf("handover: %+v", d.Outcome)
	}
	// Out of order: delivered, then an in_transit of earlier, then the first scan's event.
	delivered := trackingMsg(2, "A1", "delivered", "2026-01-23T15:00:00+08:00")
	e := carrierNote(t, r.applyAuthenticated(delivered), "A1", "delivered", 2, order.WaybillPrinted)
	if ev, ok := order.ParseCarrierNote(e); !ok || ev.Event != "delivered" || !ev.At.Equal(time.Date(2026, 1, 23, 7, 0, 0, 0, time.UTC)) {
		t.Fatalf("note reads back as %+v %v (detail %q)", ev, ok, e.Detail)
	}
	inTransit := trackingMsg(3, "A1", "in_transit", "2026-01-22T20:00:00+08:00")
	carrierNote(t, r.applyAuthenticated(inTransit), "A1", "in_transit", 3, order.WaybillPrinted)
	firstScan := trackingMsg(4, "A1", "first_scan", "2026-01-22T17:00:00+08:00")
	carrierNote(t, r.applyAuthenticated(firstScan), "A1", "first_scan", 4, order.WaybillPrinted)
	o, _ := r.order("A1")
	if o.State != order.WaybillPrinted || o.HandedOverAt.IsZero() || o.Tracking.Event != "delivered" || o.Tracking.Waybill != "SF1234567890123" {
		t.Fatalf("carrier events moved the order or lost the latest: %+v", o)
	}
	// Replays write nothing: one by one, as one array, after a restart.
	for _, p := range []string{delivered, inTransit, firstScan, "[" + delivered + "," + inTransit + "," + firstScan + "]"} {
		if es := r.applyAuthenticated(p); len(es) != 0 {
			t.Fatalf("replay %s wrote %+v", p, es)
		}
	}
	r.in.Close()
	r.store.Close()
	r.open()
	if es := r.applyAuthenticated(delivered); len(es) != 0 {
		t.Fatalf("replay after a restart wrote %+v", es)
	}
	// The first_scan message alone makes it 已揽收.
	es := r.applyAuthenticated(`{"type":"first_scan","hseq":5,"order_id":"A1","carrier":"sf","waybill":"SF1234567890123","at":"2026-01-22T17:00:00+08:00"}`)
	if len(es) != 1 || es[0].Kind != wire.KindStep || es[0].To != string(order.PickedUp) {
		t.Fatalf("first_scan message: %+v", es)
	}
	// An event for an order not known here is journaled for its trace; no order appears.
	carrierNote(t, r.applyAuthenticated(trackingMsg(6, "Z9", "in_transit", "2026-01-22T20:00:00+08:00")), "Z9", "in_transit", 6, "")
	if _, ok := r.order("Z9"); ok {
		t.Fatal("a carrier event created an order")
	}
	// A signed tracking message this agent cannot read is a journaled rejection and consumes its hseq.
	bad := r.applyAuthenticated(`{"type":"tracking","hseq":7,"order_id":"A1","waybill":"SF1234567890123","event":"lost","at":"2026-01-22T20:00:00+08:00"}`)
	if len(bad) != 1 || bad[0].Kind != wire.KindReject || bad[0].Reason != string(order.ReasonMalformed) || r.in.CatchupSince() != 7 {
		t.Fatalf("bad event: %+v, hseq %d", bad, r.in.CatchupSince())
	}
	if o, _ := r.order("A1"); o.State != order.PickedUp || o.Tracking.Event != "delivered" {
		t.Fatalf("A1 after all: %+v", o)
	}

	// A journal rebuilt from its entries gives the order its latest carrier event back.
	var all []wire.Entry
	for after := uint64(0); ; {
		page, err := r.store.Entries(after, 1000, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		after = page[len(page)-1].Seq
	}
	path := filepath.Join(t.TempDir(), "rebuilt.db")
	var entries iter.Seq2[wire.Entry, error] = func(yield func(wire.Entry, error) bool) {
		for _, e := range all {
			if !yield(e, nil) {
				return
			}
		}
	}
	if _, err := journal.Rebuild(path, &journal.Options{Site: "sz01", Agent: "pack02", Clock: r.clk}, journal.Restore{JournalID: r.store.JournalID(), Entries: entries}); err != nil {
		t.Fatal(err)
	}
	rb, err := journal.Open(path, &journal.Options{Site: "sz01", Agent: "pack02", Clock: r.clk})
	if err != nil {
		t.Fatal(err)
	}
	defer rb.Close()
	ro, ok, err := rb.Order("A1")
	if err != nil || !ok || ro.Tracking.Event != "delivered" || !ro.Tracking.At.Equal(o.Tracking.At) || ro.State != order.PickedUp {
		t.Fatalf("rebuilt order %+v %v %v", ro, ok, err)
	}
}

// An agent that cannot read a message type (as agents of the previous release cannot read
// tracking) journals a signed one as a malformed message, consumes its hseq and goes on with the
// next message: the downlink does not stop.
func TestUnknownTypeDoesNotStopTheDownlink(t *testing.T) {
	r := newRig(t)
	es := r.applyAuthenticated(`{"type":"carrier_news","hseq":1,"order_id":"A1","waybill":"SF1234567890123","event":"delivered","at":"2026-01-22T20:00:00+08:00"}`)
	if len(es) != 1 || es[0].Kind != wire.KindReject || es[0].Reason != string(order.ReasonMalformed) || r.in.CatchupSince() != 1 {
		t.Fatalf("unknown type: %+v, hseq %d", es, r.in.CatchupSince())
	}
	es = r.applyAuthenticated(fmt.Sprintf(orderA, 2))
	if len(es) != 1 || es[0].Kind != wire.KindIntake || r.in.CatchupSince() != 2 {
		t.Fatalf("the next message: %+v, hseq %d", es, r.in.CatchupSince())
	}
}
