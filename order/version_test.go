package order_test

import (
	"strings"
	"testing"

	"wedge/order"
	"wedge/sync/wire"
)

const (
	vName, vPhone, vAddr    = "张三丰", "13812345678", "广东省深圳市南山区科技园科苑路8号"
	vName2, vPhone2, vAddr2 = "李四", "13998765432", "广东省深圳市福田区华强北路1号"
	vWaybill                = "SF1234567890123"
)

// vMsg is version v of order V1, with the recipient given.
func vMsg(v uint64, name, phone, addr string) wire.OrderMsg {
	return wire.OrderMsg{Type: wire.TypeOrder, OrderID: "V1", Version: v, Channel: "tmall", ChannelOrderNo: "401234567890123",
		BuyerID: "b1", OrderedAt: "2026-11-11T00:00:00Z", SKUs: []string{"S1"}, Carrier: "sf", Waybill: vWaybill,
		RecipientName: name, RecipientPhone: phone, RecipientAddress: addr}
}

// take applies m to o (known when o has an id) and returns the decision.
func take(t *testing.T, o order.Order, m wire.OrderMsg) order.Decision {
	t.Helper()
	return order.DecideMsg(o, o.ID != "", m, order.MsgEnv{At: t0})
}

// printedV1 is order V1 received at version 1 and printed.
func printedV1(t *testing.T) order.Order {
	t.Helper()
	d := take(t, order.Order{}, vMsg(1, vName, vPhone, vAddr))
	o := d.Outcome.Order
	if o.Version != 1 || o.AddressVersion != 0 || o.RecipientName != vName || o.RecipientPhone != vPhone || o.RecipientAddress != vAddr {
		t.Fatalf("intake at version 1: %+v", o)
	}
	out := order.Apply(o, order.Request{Action: order.ActPrint, At: t0})
	if out.Result != order.Accepted || out.Order.LabelVersion != 1 || out.Order.LabelOutdated {
		t.Fatalf("print: %+v", out)
	}
	return out.Order
}

// An update before the label is printed: applied, journaled old → new with the personal data
// masked, nothing outdated (the next label prints the new data).
func TestUpdateBeforePrint(t *testing.T) {
	o := take(t, order.Order{}, vMsg(1, vName, vPhone, vAddr)).Outcome.Order
	d := take(t, o, vMsg(2, vName2, vPhone2, vAddr2))
	n := d.Outcome.Order
	if !d.Store || d.Entry.Kind != wire.KindUpdate || d.Entry.Order == nil || d.Entry.Order.Version != 2 {
		t.Fatalf("update decision %+v", d)
	}
	if n.Version != 2 || n.AddressVersion != 2 || n.RecipientName != vName2 || n.RecipientPhone != vPhone2 || n.RecipientAddress != vAddr2 || n.LabelOutdated {
		t.Fatalf("updated order %+v", n)
	}
	for _, want := range []string{"version 1 → 2", `recipient_name "张**" → "李**"`, `recipient_phone "138****5678" → "139****5432"`,
		`recipient_address "广东省深圳市南山区****" → "广东省深圳市福田区****"`} {
		if !strings.Contains(d.Entry.Detail, want) {
			t.Errorf("detail lacks %q: %s", want, d.Entry.Detail)
		}
	}
	for _, secret := range []string{vPhone, vPhone2, vName, vName2, "科苑路", "华强北"} {
		if strings.Contains(d.Entry.Detail, secret) {
			t.Errorf("detail carries personal data %q: %s", secret, d.Entry.Detail)
		}
	}
}

// A lower or equal version changes nothing and journals nothing.
func TestOlderVersionIsNoOp(t *testing.T) {
	o := take(t, order.Order{}, vMsg(3, vName, vPhone, vAddr)).Outcome.Order
	for _, v := range []uint64{1, 2, 3} {
		if d := take(t, o, vMsg(v, vName2, vPhone2, vAddr2)); d.Store || d.Journaled() || d.Outcome.Order.RecipientAddress != vAddr {
			t.Fatalf("version %d over 3: %+v", v, d)
		}
	}
}

// After 已打单 a change of the address or recipient makes the label outdated: the handover
// refuses label_outdated until a reprint at the new version (MergeLabel) or a supervisor's
// manual confirmation; a change of anything else leaves the label as it is.
func TestUpdateAfterPrintOutdatesLabel(t *testing.T) {
	p := printedV1(t)
	// SKUs only: not outdated.
	m := vMsg(2, vName, vPhone, vAddr)
	m.SKUs = []string{"S1", "S2"}
	d := take(t, p, m)
	if d.Entry.Kind != wire.KindUpdate || d.Outcome.Order.LabelOutdated || d.Outcome.Order.AddressVersion != 0 || !strings.Contains(d.Entry.Detail, `skus "S1" → "S1,S2"`) {
		t.Fatalf("sku change: %+v", d)
	}
	// The phone alone: outdated.
	p2 := d.Outcome.Order
	d = take(t, p2, vMsg(3, vName, vPhone2, vAddr))
	o := d.Outcome.Order
	if !o.LabelOutdated || o.AddressVersion != 3 || o.LabelVersion != 1 || !strings.Contains(d.Entry.Detail, "outdated") || d.Entry.LabelVersion != 1 {
		t.Fatalf("phone change after print: %+v / %s", o, d.Entry.Detail)
	}
	// Handover refused, with the reason's message naming the print station.
	out := order.Apply(o, order.Request{Action: order.ActPickup, Waybill: vWaybill, At: t0})
	if out.Result != order.Rejected || out.Reason != order.ReasonLabelOutdated || !strings.Contains(out.Message().ZH, "面单已过期") {
		t.Fatalf("pickup with an outdated label: %+v", out)
	}
	// A supervisor's manual confirmation lets it through, and says so.
	man := order.Apply(o, order.Request{Action: order.ActPickup, Manual: true, Operator: "OP-SUP", Note: "address corrected by hand", At: t0})
	if man.Result != order.Accepted || man.To != order.PickedUp || !strings.Contains(man.Detail, "supervisor") {
		t.Fatalf("manual pickup: %+v", man)
	}
	if e := order.OutcomeEntry(wire.Entry{}, man); !strings.Contains(e.Detail, "supervisor") {
		t.Fatalf("manual pickup entry %+v", e)
	}
	// A reprint at version 3 clears it; one at an older version does not.
	if n, ok := order.MergeLabel(o, 2); !ok || !n.LabelOutdated {
		t.Fatalf("reprint of version 2: %v %+v", ok, n)
	}
	n, ok := order.MergeLabel(o, 3)
	if !ok || n.LabelOutdated || n.LabelVersion != 3 {
		t.Fatalf("reprint of version 3: %v %+v", ok, n)
	}
	if _, ok := order.MergeLabel(n, 3); ok {
		t.Fatal("the same label version again changed the order")
	}
	if out := order.Apply(n, order.Request{Action: order.ActPickup, Waybill: vWaybill, At: t0}); out.Result != order.Accepted {
		t.Fatalf("pickup after the reprint: %+v", out)
	}
}

// A label printed from the data before an update that committed meanwhile is outdated at once.
func TestPrintOfAnOlderVersion(t *testing.T) {
	o := take(t, order.Order{}, vMsg(1, vName, vPhone, vAddr)).Outcome.Order
	o = take(t, o, vMsg(2, vName, vPhone, vAddr2)).Outcome.Order
	out := order.Apply(o, order.Request{Action: order.ActPrint, LabelVersion: 1, At: t0})
	if out.Result != order.Accepted || !out.Order.LabelOutdated || out.Order.LabelVersion != 1 {
		t.Fatalf("print of version 1 over version 2: %+v", out.Order)
	}
	if e := order.OutcomeEntry(wire.Entry{}, out); e.LabelVersion != 1 {
		t.Fatalf("print entry label version %d", e.LabelVersion)
	}
}

// An update may not change the order's identity (another order: conflict), and never rebinds a
// printed label's carrier or waybill (recorded, not applied).
func TestUpdateLimits(t *testing.T) {
	p := printedV1(t)
	m := vMsg(2, vName, vPhone, vAddr)
	m.BuyerID = "someone-else"
	if d := take(t, p, m); d.Entry.Kind != wire.KindReject || d.Entry.Reason != string(order.ReasonConflict) || d.Store {
		t.Fatalf("identity change: %+v", d)
	}
	m = vMsg(2, vName, vPhone, vAddr2)
	m.Carrier, m.Waybill = "zto", "73123456789012"
	d := take(t, p, m)
	o := d.Outcome.Order
	if !d.Store || o.Carrier != "sf" || o.AssignedWaybill != vWaybill || o.Waybill != vWaybill || o.RecipientAddress != vAddr2 || !o.LabelOutdated {
		t.Fatalf("carrier change after print: %+v", o)
	}
	if !strings.Contains(d.Entry.Detail, "not applied") || !strings.Contains(d.Entry.Detail, "73123456789012") {
		t.Fatalf("detail %s", d.Entry.Detail)
	}
	// Before print the new carrier and waybill apply.
	o = take(t, order.Order{}, vMsg(1, vName, vPhone, vAddr)).Outcome.Order
	if n := take(t, o, m).Outcome.Order; n.Carrier != "zto" || n.AssignedWaybill != "73123456789012" {
		t.Fatalf("carrier change before print: %+v", n)
	}
}

// A version with no change still raises the version and leaves a trace.
func TestUpdateWithoutChange(t *testing.T) {
	o := take(t, order.Order{}, vMsg(1, vName, vPhone, vAddr)).Outcome.Order
	d := take(t, o, vMsg(2, vName, vPhone, vAddr))
	if !d.Store || d.Entry.Kind != wire.KindUpdate || d.Outcome.Order.Version != 2 || !strings.Contains(d.Entry.Detail, "no field changed") {
		t.Fatalf("%+v", d)
	}
}

// The hub's version numbers and its record: a new order gets 1, a repeat keeps the version, a
// change gets the next one, a given version is kept; MergeData never goes back to an older version.
func TestAssignVersionAndMergeData(t *testing.T) {
	m := vMsg(0, vName, vPhone, vAddr)
	if v := order.AssignVersion(order.Order{}, false, m); v != 1 {
		t.Fatalf("new order: %d", v)
	}
	o := order.FromMsg(vMsg(1, vName, vPhone, vAddr))
	if v := order.AssignVersion(o, true, m); v != 1 {
		t.Fatalf("repeat: %d", v)
	}
	if v := order.AssignVersion(o, true, vMsg(0, vName, vPhone, vAddr2)); v != 2 {
		t.Fatalf("change: %d", v)
	}
	if v := order.AssignVersion(o, true, vMsg(7, vName, vPhone, vAddr2)); v != 7 {
		t.Fatalf("given: %d", v)
	}
	n := order.MergeData(o, vMsg(2, vName, vPhone, vAddr2))
	if n.Version != 2 || n.AddressVersion != 2 || n.RecipientAddress != vAddr2 {
		t.Fatalf("merge of version 2: %+v", n)
	}
	if back := order.MergeData(n, vMsg(1, vName, vPhone, vAddr)); back.RecipientAddress != vAddr2 || back.Version != 2 {
		t.Fatalf("merge of an older version went back: %+v", back)
	}
}

// Another agent's print or reprint reaches this one as a state message with the label version:
// merged forward only, and the outdated flag follows.
func TestStateMessageMergesLabelVersion(t *testing.T) {
	o := take(t, order.Order{}, vMsg(1, vName, vPhone, vAddr)).Outcome.Order
	o = take(t, o, vMsg(2, vName, vPhone, vAddr2)).Outcome.Order
	st := wire.OrderMsg{Type: wire.TypeState, OrderID: "V1", State: string(order.WaybillPrinted), Waybill: vWaybill, LabelVersion: 1, HSeq: 5}
	d := take(t, o, st)
	if d.Outcome.Order.State != order.WaybillPrinted || !d.Outcome.Order.LabelOutdated || d.Entry.Kind != wire.KindMerge || d.Entry.LabelVersion != 1 {
		t.Fatalf("print elsewhere of version 1: %+v", d)
	}
	p := d.Outcome.Order
	st.LabelVersion, st.HSeq = 2, 6
	d = take(t, p, st)
	if !d.Store || d.Outcome.Order.LabelOutdated || d.Outcome.Order.LabelVersion != 2 || d.Entry.Kind != wire.KindMerge ||
		!strings.Contains(d.Entry.Detail, "label version 2") {
		t.Fatalf("reprint elsewhere of version 2: %+v", d)
	}
	st.LabelVersion = 1
	if d := take(t, d.Outcome.Order, st); d.Store || d.Journaled() {
		t.Fatalf("an older label version went back: %+v", d)
	}
}

// A state message that arrives before the update: the order learns it is printed with label
// version 1, then the update of the address makes the label outdated all the same.
func TestUpdateAfterMergedPrint(t *testing.T) {
	o := take(t, order.Order{}, vMsg(1, vName, vPhone, vAddr)).Outcome.Order
	o = take(t, o, wire.OrderMsg{Type: wire.TypeState, OrderID: "V1", State: string(order.WaybillPrinted), Waybill: vWaybill, LabelVersion: 1}).Outcome.Order
	d := take(t, o, vMsg(2, vName2, vPhone, vAddr))
	if !d.Outcome.Order.LabelOutdated {
		t.Fatalf("%+v", d.Outcome.Order)
	}
}

// A reprint from the current data replaces an outdated label: a reprint entry with the label
// version, the order stored current; a reprint of a current label changes nothing but still
// leaves its entry.
func TestReprinted(t *testing.T) {
	o := take(t, printedV1(t), vMsg(2, vName, vPhone, vAddr2)).Outcome.Order
	src := order.Source{Station: "print-1", Trigger: wire.TriggerScan, At: t0}
	d := order.Reprinted(o, vWaybill, o.Version, "label reprinted", src)
	if !d.Store || d.Outcome.Order.LabelOutdated || d.Entry.Kind != wire.KindReprint || d.Entry.LabelVersion != 2 ||
		!strings.Contains(d.Entry.Detail, "outdated label (version 1) is replaced by version 2") || d.Entry.To != string(order.WaybillPrinted) {
		t.Fatalf("%+v", d)
	}
	again := order.Reprinted(d.Outcome.Order, vWaybill, 2, "label reprinted", src)
	if again.Store || !again.Journaled() || again.Entry.Detail != "label reprinted" {
		t.Fatalf("%+v", again)
	}
}

// A label printed by an agent that reports no label version (an older release, or one that got
// the order without a version) is current for an order whose recipient and address never
// changed: the first version is not a change. It becomes outdated only after a real change.
func TestUnversionedLabelIsCurrentUntilAChange(t *testing.T) {
	o := take(t, order.Order{}, vMsg(1, vName, vPhone, vAddr)).Outcome.Order
	o.State = order.WaybillPrinted // merged from the sibling that printed it
	if n, _ := order.MergeLabel(o, 0); n.LabelOutdated {
		t.Fatalf("label of version 0 on an unchanged order is outdated: %+v", n)
	}
	n := take(t, o, vMsg(2, vName, vPhone, vAddr2)).Outcome.Order
	if !n.LabelOutdated || n.AddressVersion != 2 {
		t.Fatalf("after an address change the unversioned label should be outdated: %+v", n)
	}
}
