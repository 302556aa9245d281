package order_test

import (
	"errors"
	"testing"
	"time"

	"wedge/order"
	"wedge/sync/wire"
)

func printedOrder() order.Order {
	return order.Order{ID: "O-1", Carrier: "sf", Waybill: "SF1234567890123", State: order.WaybillPrinted, StateSince: t0, PrintedAt: t0}
}

func TestParsePickupPolicy(t *testing.T) {
	for in, want := range map[string]order.PickupPolicy{"": order.PickupHandoverScan, "handover_scan": order.PickupHandoverScan,
		" carrier_first_scan ": order.PickupCarrierFirstScan} {
		if p, err := order.ParsePickupPolicy(in); err != nil || p != want {
			t.Errorf("ParsePickupPolicy(%q) = %q, %v", in, p, err)
		}
	}
	if _, err := order.ParsePickupPolicy("courier"); !errors.Is(err, order.ErrPickupPolicy) {
		t.Fatalf("unknown policy: %v", err)
	}
}

func TestParsePickupCommand(t *testing.T) {
	c, p, err := order.ParsePickupCommand([]byte(`{"type":"pickup_policy","id":"c-9","by":"ops","reason":"以快递首扫为准","pickup":"carrier_first_scan"}`))
	if err != nil || p != order.PickupCarrierFirstScan || c.ID != "c-9" || c.By != "ops" {
		t.Fatalf("ParsePickupCommand = %+v %q %v", c, p, err)
	}
	for _, bad := range []string{``, `{"type":"pickup_policy"}`, `{"type":"pickup_policy","pickup":"later"}`,
		`{"type":"pickup_policy","pickup":"handover_scan","max_backlog":3}`, `{"type":"pickup_policy","pickup":"handover_scan","x":1}`,
		`{"type":"breaker_thresholds","pickup":"handover_scan"}`} {
		if _, _, err := order.ParsePickupCommand([]byte(bad)); !errors.Is(err, order.ErrPickupPolicy) {
			t.Errorf("ParsePickupCommand(%s) = %v, want ErrPickupPolicy", bad, err)
		}
	}
	// A breaker command cannot carry a policy, and ParseAnyCommand routes by type.
	if _, _, err := order.ParseCommand([]byte(`{"type":"breaker_thresholds","pickup":"carrier_first_scan"}`)); !errors.Is(err, order.ErrThresholds) {
		t.Fatalf("breaker command with pickup: %v", err)
	}
	if c, err := order.ParseAnyCommand([]byte(`{"type":"pickup_policy","pickup":"handover_scan"}`)); err != nil || c.Pickup != "handover_scan" {
		t.Fatalf("ParseAnyCommand(pickup) = %+v %v", c, err)
	}
	if c, err := order.ParseAnyCommand([]byte(`{"type":"breaker_thresholds","max_backlog":5}`)); err != nil || c.MaxBacklog != 5 {
		t.Fatalf("ParseAnyCommand(breaker) = %+v %v", c, err)
	}
	if _, err := order.ParseAnyCommand([]byte(`{"type":"reboot"}`)); err == nil {
		t.Fatal("ParseAnyCommand accepted an unknown type")
	}
}

// Under handover_scan (and the zero policy) the handover scan is the pickup, as before.
func TestHandoverScanPolicyPicksUp(t *testing.T) {
	src := order.Source{Station: "pack-1", Device: "sc-1", Operator: "w1", Trigger: wire.TriggerScan, At: t0.Add(time.Hour)}
	for _, p := range []order.PickupPolicy{"", order.PickupHandoverScan} {
		d := order.Decide(printedOrder(), order.Request{Action: order.ActPickup, Waybill: "SF1234567890123", Pickup: p, At: src.At}, src)
		if d.Outcome.Result != order.Accepted || d.Outcome.Order.State != order.PickedUp || d.Entry.Kind != wire.KindStep {
			t.Fatalf("policy %q: %+v", p, d)
		}
	}
}

// Under carrier_first_scan the handover scan records the handover: a note entry naming who, where
// and when, the order still 已打单 with the mark, a distinct "good" message; a repeat keeps the
// first handover's time.
func TestCarrierPolicyRecordsHandover(t *testing.T) {
	at := t0.Add(time.Hour)
	src := order.Source{Station: "pack-1", Device: "sc-1", Operator: "w1", Trigger: wire.TriggerScan, Code: "SF1234567890123", At: at}
	req := order.Request{Action: order.ActPickup, Waybill: "sf1234567890123", Pickup: order.PickupCarrierFirstScan, At: at}
	d := order.Decide(printedOrder(), req, src)
	o := d.Outcome.Order
	if d.Outcome.Result != order.Recorded || !d.Outcome.Result.Good() || !d.Store || o.State != order.WaybillPrinted ||
		!o.HandedOverAt.Equal(at) || !o.HandedOver() || !o.PickedUpAt.IsZero() {
		t.Fatalf("handover under carrier_first_scan: %+v", d)
	}
	e := d.Entry
	if e.Kind != wire.KindNote || e.Reason != order.NoteHandedOver || e.OrderID != "O-1" || e.Station != "pack-1" || e.Device != "sc-1" ||
		e.Operator != "w1" || e.From != "waybill_printed" || e.To != "waybill_printed" || e.Waybill != "SF1234567890123" || e.At != wire.Time(at) {
		t.Fatalf("handover entry %+v", e)
	}
	if m := d.Outcome.Message(); m != order.MsgHandoverRecorded {
		t.Fatalf("message %+v", m)
	}
	d2 := order.Decide(o, order.Request{Action: order.ActPickup, Waybill: "SF1234567890123", Pickup: order.PickupCarrierFirstScan, At: at.Add(time.Minute)}, src)
	if d2.Outcome.Result != order.Recorded || !d2.Outcome.Order.HandedOverAt.Equal(at) {
		t.Fatalf("repeat handover: %+v", d2)
	}
	// The waybill rule still holds: a wrong waybill is refused and records nothing.
	d3 := order.Decide(printedOrder(), order.Request{Action: order.ActPickup, Waybill: "SF9999999999999", Pickup: order.PickupCarrierFirstScan, At: at}, src)
	if d3.Outcome.Result != order.Rejected || d3.Outcome.Reason != order.ReasonWaybillMismatch || d3.Store || !d3.Outcome.Order.HandedOverAt.IsZero() {
		t.Fatalf("wrong waybill: %+v", d3)
	}
}

// The courier's first scan moves a handed-over order to 已揽收 with a carrier step at the carrier's
// time; without the mark (another PC handed it over, or nobody did) nothing is journaled here.
func TestFirstScan(t *testing.T) {
	handed := printedOrder()
	handed.HandedOverAt = t0.Add(time.Hour)
	scanAt := t0.Add(3 * time.Hour)
	src := order.Source{Station: "hub", Trigger: wire.TriggerCarrier, Code: "h-7", At: scanAt}

	d := order.FirstScan(handed, "sf1234567890123", scanAt, src)
	if d.Outcome.Result != order.Accepted || !d.Store || d.Outcome.Order.State != order.PickedUp || !d.Outcome.Order.PickedUpAt.Equal(scanAt) ||
		d.Entry.Kind != wire.KindStep || d.Entry.Trigger != wire.TriggerCarrier || d.Entry.From != "waybill_printed" || d.Entry.To != "picked_up" {
		t.Fatalf("first scan: %+v", d)
	}
	if again := order.FirstScan(d.Outcome.Order, "SF1234567890123", scanAt, src); again.Journaled() || again.Store || again.Outcome.Result != order.AlreadyDone {
		t.Fatalf("repeat first scan: %+v", again)
	}
	if other := order.FirstScan(printedOrder(), "SF1234567890123", scanAt, src); other.Journaled() || other.Store {
		t.Fatalf("first scan without the mark: %+v", other)
	}
	bad := order.FirstScan(handed, "SF9999999999999", scanAt, src)
	if bad.Outcome.Result != order.Rejected || bad.Outcome.Reason != order.ReasonWaybillMismatch || bad.Store || bad.Entry.Kind != wire.KindReject {
		t.Fatalf("first scan of another waybill: %+v", bad)
	}
	// A sibling's merge of the step clears nothing it should keep and never moves back.
	m := order.Merge(handed, order.PickedUp, "SF1234567890123", scanAt)
	if m.Order.State != order.PickedUp {
		t.Fatalf("merge: %+v", m)
	}
}
