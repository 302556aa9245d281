package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"wedge/internal/clock"
	"wedge/order"
	"wedge/sync/wire"
)

// storedOrderDoc is order id's record as hub.db holds it (nil when none).
func storedOrderDoc(t *testing.T, h *Hub, id string) []byte {
	t.Helper()
	var doc []byte
	if err := h.db.View(context.Background(), func(tx Tx) error {
		raw, err := tx.Order(id)
		doc = bytes.Clone(raw)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return doc
}

// The intake entry of an order the hub posted carries the posted data back: the record is not
// rewritten (its bytes, updated_at included, stay as the POST stored them), while the entry is
// stored, indexed under its agent and acked as any. An intake entry whose data differs still
// updates the record.
func TestIntakeOfPostedOrderLeavesRecord(t *testing.T) {
	h, rec := ownerOnly(t)
	fake := h.clk.(*clock.Fake)
	posted := wire.OrderMsg{Type: wire.TypeOrder, OrderID: "TB1", Channel: "taobao", ChannelOrderNo: "4000000001", BuyerID: "b1",
		OrderedAt: wire.Time(t0), PaidAt: wire.Time(t0), SKUs: []string{"SKU-1"}, Payment: "full", Carrier: "sf"}
	other := posted
	other.OrderID, other.ChannelOrderNo = "TB2", "4000000002"
	p := &postReq{site: "sz01", msgs: []wire.OrderMsg{posted, other}, reply: make(chan postResult, 1)}
	h.commit([]item{{kind: kindPost, topic: "POST /v1/orders", post: p}})
	res := <-p.reply
	if res.err != nil || len(res.hseqs) != 2 {
		t.Fatalf("post: %+v", res)
	}
	before := storedOrderDoc(t, h, "TB1")
	beforeOther := storedOrderDoc(t, h, "TB2")

	fake.Advance(time.Minute) // a rewrite would change updated_at
	// What the agent journals: the downlink's message (with its hseq) in its intake entry; TB2's
	// carries a recipient the hub did not have.
	down1, down2 := posted, other
	down1.HSeq, down2.HSeq = res.hseqs[0], res.hseqs[1]
	down2.RecipientName = "张三"
	var entries []wire.Entry
	prev := ""
	for i, m := range []wire.OrderMsg{down1, down2} {
		e := wire.Entry{JournalID: "j1", Seq: uint64(i + 1), At: wire.Time(t0.Add(time.Minute)), Kind: wire.KindIntake,
			OrderID: m.OrderID, To: "pending_allocation", Order: &m}
		e.Seal(prev)
		prev = e.Hash
		entries = append(entries, e)
	}
	b, _ := json.Marshal(wire.Batch{Site: "sz01", Agent: "pc01", JournalID: "j1", Events: entries})
	h.commit([]item{{kind: kindBatch, topic: wire.TopicEvents("sz01", "pc01"), payload: b}})

	if got := storedOrderDoc(t, h, "TB1"); !bytes.Equal(got, before) {
		t.Fatalf("the record of a posted order was rewritten by its unchanged intake entry:\nbefore %s\n after %s", before, got)
	}
	after := storedOrderDoc(t, h, "TB2")
	if bytes.Equal(after, beforeOther) || !bytes.Contains(after, []byte("张三")) {
		t.Fatalf("an intake entry with new data did not update the record: %s", after)
	}
	if s := h.Stats(); s.EventsIngested != 2 {
		t.Fatalf("events ingested = %d, want 2", s.EventsIngested)
	}
	var acked bool
	for _, m := range rec.msgs {
		var a wire.Ack
		if m.topic == wire.TopicAck("sz01", "pc01") && json.Unmarshal(m.payload, &a) == nil && a.AckedSeq == 2 {
			acked = true
		}
	}
	if !acked {
		t.Fatal("the batch was not acked up to seq 2")
	}
	if err := h.db.View(context.Background(), func(tx Tx) error {
		for _, id := range []string{"TB1", "TB2"} {
			ix, err := tx.OrderIndexOf(id)
			if err != nil {
				return err
			}
			if ix == nil || ix.Agent != "pc01" || ix.State != "pending_allocation" {
				t.Errorf("index row of %s = %+v, want agent pc01 in pending_allocation", id, ix)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// A group reads an order's record once: the copy it hands out shares nothing an append could
// write through.
func TestGroupOrderCopiesAreClipped(t *testing.T) {
	h, _ := ownerOnly(t)
	p := &postReq{site: "sz01", msgs: []wire.OrderMsg{{Type: wire.TypeOrder, OrderID: "TB1", SKUs: []string{"a", "b"}}}, reply: make(chan postResult, 1)}
	h.commit([]item{{kind: kindPost, topic: "POST /v1/orders", post: p}})
	if res := <-p.reply; res.err != nil {
		t.Fatal(res.err)
	}
	if err := h.db.Update(context.Background(), func(tx Tx) error {
		g := &group{h: h, tx: tx, now: t0}
		r1, known, err := g.order("TB1")
		if err != nil || !known {
			t.Fatalf("order: %v, known %v", err, known)
		}
		r1.Order.SKUs = append(r1.Order.SKUs, "x")
		r2, _, _ := g.order("TB1")
		if len(r2.Order.SKUs) != 2 || cap(r2.Order.SKUs) != 2 {
			t.Fatalf("second read's SKUs = %v (cap %d), want the stored two", r2.Order.SKUs, cap(r2.Order.SKUs))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// orderUnchanged compares every field of order.Order: each one set on its own (and each
// sub-field of a struct field) makes two orders differ.
func TestOrderUnchangedSeesEveryField(t *testing.T) {
	base := order.Order{SKUs: []string{"a"}}
	if !orderUnchanged(base, order.Order{SKUs: []string{"a"}}) {
		t.Fatal("equal orders reported changed")
	}
	typ := reflect.TypeOf(base)
	for i := range typ.NumField() {
		f := typ.Field(i)
		var paths [][]int
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Time{}) {
			for j := range f.Type.NumField() {
				paths = append(paths, []int{i, j})
			}
		} else {
			paths = append(paths, []int{i})
		}
		for _, path := range paths {
			o := base
			o.SKUs = slices.Clone(base.SKUs)
			v := reflect.ValueOf(&o).Elem().FieldByIndex(path)
			setNonZero(t, v)
			if orderUnchanged(base, o) {
				t.Errorf("a change of order.Order field %s (index %v) is not seen", f.Name, path)
			}
		}
	}
}

func setNonZero(t *testing.T, v reflect.Value) {
	t.Helper()
	switch v.Kind() {
	case reflect.String:
		v.SetString(v.String() + "x")
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Uint64, reflect.Uint32, reflect.Uint:
		v.SetUint(v.Uint() + 1)
	case reflect.Int64, reflect.Int:
		v.SetInt(v.Int() + 1)
	case reflect.Slice:
		v.Set(reflect.Append(v, reflect.ValueOf("y")))
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			v.Set(reflect.ValueOf(t0))
			return
		}
		t.Fatalf("nested struct %s: extend the test", v.Type())
	default:
		t.Fatalf("field kind %s: extend the test", v.Kind())
	}
}
