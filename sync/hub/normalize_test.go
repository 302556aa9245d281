package hub

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"wedge/order"
	"wedge/sync/wire"
)

// orderData is o without its state and the times of its states, nor the version the hub gives a
// posted message: the data a message gives it.
func orderData(o order.Order) order.Order {
	o.State, o.StateSince, o.PendingSince, o.ReceivedAt, o.PrintedAt, o.PickedUpAt = "", time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}
	o.Version, o.AddressVersion = 0, 0
	return o
}

// The hub normalises an order message exactly as order.FromMsg does (the normaliser agent intake
// uses), whether the order is POSTed or arrives in an agent's intake entry: carrier "SF" and "sf",
// a padded channel and unsorted SKUs give the same order. A later waybill message is normalised the
// same way, and the waiting time starts when the order enters 待分仓 (never for a deposit order).
func TestHubNormalisesLikeOrderFromMsg(t *testing.T) {
	upper := wire.OrderMsg{Type: wire.TypeOrder, Channel: "  TMall ", ChannelOrderNo: " TM-1 ", BuyerID: " b1 ",
		OrderedAt: wire.Time(t0.Add(-time.Hour)), SKUs: []string{"SKU-B", " SKU-A"}, Carrier: "SF",
		Waybill: " sf1234567890123", Recipient: "张**  138****5678"}
	lower := upper
	lower.Channel, lower.ChannelOrderNo, lower.BuyerID = "tmall", "TM-1", "b1"
	lower.SKUs, lower.Carrier, lower.Waybill = []string{"SKU-A", "SKU-B"}, "sf", "SF1234567890123"
	deposit := lower
	deposit.Payment = order.PaymentDeposit
	bare := lower // no carrier and no waybill yet: a waybill message brings them
	bare.Carrier, bare.Waybill = "", ""
	waybillMsg := wire.OrderMsg{Type: wire.TypeWaybill, OrderID: "O-bare", Carrier: " SF ", Waybill: " sf1234567890123 "}

	msgs := map[string]wire.OrderMsg{} // order id → message
	with := func(id string, m wire.OrderMsg) wire.OrderMsg {
		m.OrderID = id
		msgs[id] = m
		return m
	}
	posted := []wire.OrderMsg{with("O-post-SF", upper), with("O-post-sf", lower), with("O-post-deposit", deposit), with("O-bare", bare)}
	var entries []wire.Entry
	prev := ""
	for i, id := range []string{"O-intake-SF", "O-intake-sf"} {
		m := with(id, map[int]wire.OrderMsg{0: upper, 1: lower}[i])
		e := wire.Entry{JournalID: "j1", Seq: uint64(i + 1), Kind: wire.KindIntake, OrderID: id, To: string(order.PendingAllocation),
			Order: &m, At: wire.Time(t0)}
		e.Seal(prev)
		prev = e.Hash
		entries = append(entries, e)
	}

	h, _ := ownerOnly(t)
	path := h.db.(*boltStore).Path()
	go h.run()
	post := func(msgs ...wire.OrderMsg) {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"site": "sz01", "orders": msgs})
		w := httptest.NewRecorder()
		h.routes().ServeHTTP(w, authed(t, h, httptest.NewRequest(http.MethodPost, "/v1/orders", bytes.NewReader(body))))
		if w.Code != http.StatusOK {
			t.Fatalf("POST: %d %s", w.Code, w.Body)
		}
	}
	post(posted...)
	post(waybillMsg)
	b, _ := json.Marshal(wire.Batch{Site: "sz01", Agent: "pack01", JournalID: "j1", Events: entries})
	h.enqueue(item{kind: kindBatch, topic: wire.TopicEvents("sz01", "pack01"), payload: b})
	close(h.stopc)
	<-h.done

	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got := map[string]order.Order{}
	if err := db.View(func(tx *bolt.Tx) error {
		for id := range msgs {
			rec, ok, err := loadOrder(boltTx{tx: tx}, id)
			if err != nil || !ok {
				t.Fatalf("order %s: known %v, err %v", id, ok, err)
			}
			got[id] = rec.Order
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	for id, m := range msgs {
		want := order.FromMsg(m)
		if id == "O-bare" {
			want = order.MergeData(want, waybillMsg)
		}
		if g := orderData(got[id]); !reflect.DeepEqual(g, want) {
			t.Errorf("%s at the hub\n got %+v\nwant %+v (order.FromMsg)", id, g, want)
		}
	}
	same := func(a, b string) {
		t.Helper()
		x, y := orderData(got[a]), orderData(got[b])
		x.ID, y.ID = "", ""
		if !reflect.DeepEqual(x, y) {
			t.Errorf("%s and %s differ at the hub:\n%+v\n%+v", a, b, x, y)
		}
	}
	same("O-post-SF", "O-post-sf")
	same("O-intake-SF", "O-intake-sf")
	same("O-post-SF", "O-intake-sf")
	same("O-bare", "O-post-sf")
	if o := got["O-post-sf"]; o.Carrier != "sf" || o.Channel != "tmall" || o.AssignedWaybill != "SF1234567890123" || !reflect.DeepEqual(o.SKUs, []string{"SKU-A", "SKU-B"}) {
		t.Errorf("normalised order %+v", o)
	}

	for _, id := range []string{"O-post-SF", "O-intake-SF"} {
		o := got[id]
		if o.State != order.PendingAllocation || !o.WaitingSince().Equal(t0) || !o.PendingSince.Equal(t0) || !o.ReceivedAt.Equal(t0) {
			t.Errorf("%s: state %s, waiting since %v, pending since %v, received %v; want 待分仓 from %v", id, o.State, o.WaitingSince(), o.PendingSince, o.ReceivedAt, t0)
		}
	}
	if o := got["O-post-deposit"]; o.State != order.AwaitingBalance || !o.PendingSince.IsZero() {
		t.Errorf("deposit order: state %s, pending since %v; want 待付尾款 and not waiting", o.State, o.PendingSince)
	}
}
