package intake_test

import (
	"encoding/json"
	"strings"
	"testing"

	"wedge/order"
	"wedge/sync/wire"
)

func vOrder(hseq, version uint64, name, phone, addr string) string {
	b, _ := json.Marshal(wire.OrderMsg{Type: wire.TypeOrder, HSeq: hseq, Version: version, OrderID: "V1", Channel: "tmall",
		ChannelOrderNo: "401234567890123", BuyerID: "b-1", OrderedAt: "2026-01-22T07:00:00Z", SKUs: []string{"S1"}, Carrier: "sf",
		Waybill: "SF1234567890123", RecipientName: name, RecipientPhone: phone, RecipientAddress: addr})
	return string(b)
}

func msg(m wire.OrderMsg) string {
	b, _ := json.Marshal(m)
	return string(b)
}

// A changed order does not vanish: a higher version is applied and journaled as an update entry
// with the changed fields old → new (personal data masked), kept across a restart; an older or
// equal version writes nothing. After 已打单 the address change outdates the label, and another
// agent's reprint at the new version (a state message) makes it current again.
func TestIntakeOrderVersions(t *testing.T) {
	r := newRig(t)
	one(t, r.apply(vOrder(1, 1, "张三", "13812345678", "广东省深圳市南山区科苑路8号")), wire.KindIntake, "")
	one(t, r.apply(msg(wire.OrderMsg{Type: wire.TypeState, HSeq: 2, OrderID: "V1", State: string(order.WaybillPrinted), Waybill: "SF1234567890123", LabelVersion: 1})),
		wire.KindMerge, "")
	e := one(t, r.apply(vOrder(3, 2, "张三", "13812345678", "广东省深圳市福田区华强北路1号")), wire.KindUpdate, "")
	if !strings.Contains(e.Detail, `recipient_address "广东省深圳市南山区****" → "广东省深圳市福田区****"`) || !strings.Contains(e.Detail, "outdated") ||
		strings.Contains(e.Detail, "华强北") || e.Order == nil || e.Order.Version != 2 || e.Code != "hseq:3" {
		t.Fatalf("update entry %+v", e)
	}
	if es := r.apply(vOrder(4, 1, "李四", "13900000000", "北京市朝阳区1号")); len(es) != 0 {
		t.Fatalf("an older version wrote %+v", es)
	}
	if es := r.apply(vOrder(5, 2, "李四", "13900000000", "北京市朝阳区1号")); len(es) != 0 {
		t.Fatalf("the same version wrote %+v", es)
	}
	r.store.Close()
	r.open()
	o, _ := r.order("V1")
	if o.Version != 2 || o.RecipientAddress != "广东省深圳市福田区华强北路1号" || !o.LabelOutdated || o.LabelVersion != 1 {
		t.Fatalf("after a restart: %+v", o)
	}
	e = one(t, r.apply(msg(wire.OrderMsg{Type: wire.TypeState, HSeq: 6, OrderID: "V1", State: string(order.WaybillPrinted), Waybill: "SF1234567890123", LabelVersion: 2})),
		wire.KindMerge, "")
	if o, _ := r.order("V1"); o.LabelOutdated || o.LabelVersion != 2 || e.LabelVersion != 2 {
		t.Fatalf("after the reprint elsewhere: %+v / %+v", o, e)
	}
	if r.in.CatchupSince() != 6 {
		t.Fatalf("hseq %d", r.in.CatchupSince())
	}
}

// An intercept is journaled and flags the order; its replay writes nothing; a sibling's release
// reaches this agent in a state message; an intercept for an order not known here beyond a gap is
// refused but not consumed, so the catch-up applies it after the order.
func TestIntakeIntercept(t *testing.T) {
	r := newRig(t)
	one(t, r.apply(vOrder(1, 1, "张三", "13812345678", "广东省深圳市南山区科苑路8号")), wire.KindIntake, "")
	ic := msg(wire.OrderMsg{Type: wire.TypeIntercept, HSeq: 2, OrderID: "V1", Reason: "buyer asked"})
	e := one(t, r.apply(ic), wire.KindIntercept, "")
	if e.InterceptID != 2 || e.Intercept != wire.InterceptRequested || !strings.Contains(e.Detail, "buyer asked") {
		t.Fatalf("intercept entry %+v", e)
	}
	if o, _ := r.order("V1"); !o.Intercepted() {
		t.Fatalf("order %+v", o)
	}
	if es := r.apply(ic); len(es) != 0 {
		t.Fatalf("replay wrote %+v", es)
	}
	one(t, r.apply(msg(wire.OrderMsg{Type: wire.TypeState, HSeq: 3, OrderID: "V1", State: string(order.PendingAllocation), InterceptID: 2, Intercept: wire.InterceptReleased})),
		wire.KindMerge, "")
	if o, _ := r.order("V1"); o.Intercepted() || o.Intercept.Status != wire.InterceptReleased {
		t.Fatalf("after the release elsewhere %+v", o.Intercept)
	}

	one(t, r.apply(msg(wire.OrderMsg{Type: wire.TypeIntercept, HSeq: 6, OrderID: "V2"})), wire.KindReject, order.ReasonUnknownOrder)
	if r.in.CatchupSince() != 3 {
		t.Fatalf("hseq %d", r.in.CatchupSince())
	}
	v2 := strings.ReplaceAll(strings.ReplaceAll(vOrder(4, 1, "王五", "13700000000", "上海市浦东新区1号"), `"V1"`, `"V2"`), "401234567890123", "401234567890999")
	one(t, r.apply(v2), wire.KindIntake, "")
	r.apply(msg(wire.OrderMsg{Type: wire.TypeBalancePaid, HSeq: 5, OrderID: "V1"}))
	one(t, r.apply(msg(wire.OrderMsg{Type: wire.TypeIntercept, HSeq: 6, OrderID: "V2"})), wire.KindIntercept, "")
	if o, _ := r.order("V2"); !o.Intercepted() || r.in.CatchupSince() != 6 {
		t.Fatalf("V2 %+v, hseq %d", o.Intercept, r.in.CatchupSince())
	}
}
