package hub

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"wedge/order"
	"wedge/sync/wire"
)

// vrig drives the owner's commit directly: posts and batches, one transaction each.
type vrig struct {
	t    *testing.T
	h    *Hub
	rec  *recorder
	seq  uint64
	prev string
}

func newVRig(t *testing.T) *vrig {
	h, rec := ownerOnly(t)
	t.Cleanup(func() { h.db.Close() })
	return &vrig{t: t, h: h, rec: rec}
}

func (r *vrig) post(msgs ...wire.OrderMsg) postResult {
	r.t.Helper()
	for i := range msgs {
		msgs[i].OrderID = msgs[i].ID()
	}
	p := &postReq{site: "sz01", msgs: msgs, reply: make(chan postResult, 1)}
	r.h.commit([]item{{kind: kindPost, post: p}})
	res := <-p.reply
	if res.err != nil {
		r.t.Fatal(res.err)
	}
	return res
}

func (r *vrig) entry(e wire.Entry) {
	r.t.Helper()
	r.seq++
	e.JournalID, e.Seq, e.At = "j1", r.seq, wire.Time(t0)
	e.Seal(r.prev)
	r.prev = e.Hash
	b, _ := json.Marshal(wire.Batch{Site: "sz01", Agent: "pack01", JournalID: "j1", Events: []wire.Entry{e}})
	r.h.commit([]item{{kind: kindBatch, topic: wire.TopicEvents("sz01", "pack01"), payload: b}})
}

// downlink returns the downlink messages published since the last call.
func (r *vrig) downlink() []wire.OrderMsg {
	r.rec.mu.Lock()
	defer r.rec.mu.Unlock()
	var out []wire.OrderMsg
	for _, p := range r.rec.msgs {
		if p.topic != wire.TopicOrders("sz01") {
			continue
		}
		msgs, _, err := wire.ParseDownlink(p.payload)
		if err != nil {
			r.t.Fatal(err)
		}
		out = append(out, msgs...)
	}
	r.rec.msgs = nil
	return out
}

func (r *vrig) get(id string) orderResponse {
	r.t.Helper()
	w := httptest.NewRecorder()
	r.h.routes().ServeHTTP(w, authed(r.t, r.h, httptest.NewRequest(http.MethodGet, "/v1/orders/"+id, nil)))
	var v orderResponse
	if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &v) != nil {
		r.t.Fatalf("GET %s: %d %s", id, w.Code, w.Body)
	}
	return v
}

func hubOrder(v uint64, addr string) wire.OrderMsg {
	return wire.OrderMsg{Type: wire.TypeOrder, OrderID: "V1", Version: v, Channel: "tmall", ChannelOrderNo: "TM-1", BuyerID: "b1",
		OrderedAt: wire.Time(t0), SKUs: []string{"S1"}, Carrier: "sf", Waybill: "SF1234567890123",
		RecipientName: "张三", RecipientPhone: "13812345678", RecipientAddress: addr}
}

// The hub gives every order message a version that only increases, publishes it with the message,
// keeps every version, and never lets an older version (posted late, or in a lagging agent's
// intake entry) overwrite a newer one.
func TestHubOrderVersions(t *testing.T) {
	r := newVRig(t)
	const a1, a2, a3 = "深圳市南山区科苑路8号", "深圳市福田区华强北路1号", "深圳市宝安区新安街道1号"
	res := r.post(hubOrder(0, a1))
	r.post(hubOrder(0, a1)) // a repeat: same version
	r.post(hubOrder(0, a2)) // a change: the next
	r.post(hubOrder(5, a3)) // given by the order system
	r.post(hubOrder(4, a1)) // late: published (agents ignore it), not applied
	if len(res.versions) != 1 || res.versions[0] != 1 {
		t.Fatalf("first post versions %v", res.versions)
	}
	var got []uint64
	for _, m := range r.downlink() {
		got = append(got, m.Version)
	}
	if want := []uint64{1, 1, 2, 5, 4}; !slices.Equal(got, want) {
		t.Fatalf("published versions %v, want %v", got, want)
	}
	// A lagging agent's intake entry of version 1 does not take the order back.
	m1 := hubOrder(1, a1)
	r.entry(wire.Entry{Kind: wire.KindIntake, OrderID: "V1", To: string(order.PendingAllocation), Order: &m1})
	r.entry(wire.Entry{Kind: wire.KindUpdate, OrderID: "V1", To: string(order.PendingAllocation), Order: &m1})
	v := r.get("V1")
	if v.Version != 5 || len(v.Versions) != 4 {
		t.Fatalf("GET: version %d, %d versions stored", v.Version, len(v.Versions))
	}
	for i, want := range []struct {
		v    uint64
		addr string
	}{{1, a1}, {2, a2}, {4, a1}, {5, a3}} {
		if v.Versions[i].Version != want.v || v.Versions[i].RecipientAddress != want.addr {
			t.Errorf("stored version %d: %+v, want %d %s", i, v.Versions[i], want.v, want.addr)
		}
	}
	if o := r.order("V1"); o.RecipientAddress != a3 || o.Version != 5 || o.AddressVersion != 5 {
		t.Fatalf("hub record %+v", o)
	}
}

// An intercept is recorded on the hub's order under its hseq; the agents' reprints and
// resolutions change the hub's record and are published to the site as state messages with the
// label version and the intercept; a repeat publishes nothing.
func TestHubLabelAndInterceptMarks(t *testing.T) {
	r := newVRig(t)
	r.post(hubOrder(0, "深圳市南山区科苑路8号"))
	r.entry(wire.Entry{Kind: wire.KindStep, OrderID: "V1", From: string(order.PendingAllocation), To: string(order.WaybillPrinted),
		Waybill: "SF1234567890123", LabelVersion: 1})
	st := r.downlink()
	if n := len(st); n != 2 || st[1].Type != wire.TypeState || st[1].LabelVersion != 1 || st[1].State != string(order.WaybillPrinted) {
		t.Fatalf("print: %+v", st)
	}
	res := r.post(wire.OrderMsg{Type: wire.TypeIntercept, OrderID: "V1", Reason: "buyer asked"})
	if o := r.order("V1"); o.Intercept.Status != wire.InterceptRequested || o.Intercept.ID != res.hseqs[0] || o.Intercept.Reason != "buyer asked" {
		t.Fatalf("intercept at the hub %+v (hseq %v)", o.Intercept, res.hseqs)
	}
	r.downlink()
	// The agent's own intercept entry (it applied the message) changes nothing at the hub.
	r.entry(wire.Entry{Kind: wire.KindIntercept, OrderID: "V1", InterceptID: res.hseqs[0], Intercept: wire.InterceptRequested})
	if d := r.downlink(); len(d) != 0 {
		t.Fatalf("echo of the request published %+v", d)
	}
	r.entry(wire.Entry{Kind: wire.KindIntercept, OrderID: "V1", Trigger: wire.TriggerManual, InterceptID: res.hseqs[0], Intercept: wire.InterceptReleased})
	d := r.downlink()
	if len(d) != 1 || d[0].Type != wire.TypeState || d[0].Intercept != wire.InterceptReleased || d[0].InterceptID != res.hseqs[0] || d[0].LabelVersion != 1 {
		t.Fatalf("release: %+v", d)
	}
	r.entry(wire.Entry{Kind: wire.KindReprint, OrderID: "V1", Waybill: "SF1234567890123", LabelVersion: 3})
	d = r.downlink()
	if len(d) != 1 || d[0].LabelVersion != 3 || d[0].State != string(order.WaybillPrinted) || d[0].Intercept != wire.InterceptReleased {
		t.Fatalf("reprint: %+v", d)
	}
	r.entry(wire.Entry{Kind: wire.KindMerge, OrderID: "V1", To: string(order.WaybillPrinted), Waybill: "SF1234567890123", LabelVersion: 3})
	if d := r.downlink(); len(d) != 0 {
		t.Fatalf("a sibling's merge of what the hub has published %+v", d)
	}
	if v := r.get("V1"); v.LabelVersion != 3 || v.Intercept == nil || v.Intercept.Status != wire.InterceptReleased {
		t.Fatalf("GET %+v", v)
	}
}

func (r *vrig) order(id string) order.Order {
	r.t.Helper()
	var o order.Order
	err := r.h.db.View(context.Background(), func(tx Tx) error {
		rec, ok, err := loadOrder(tx, id)
		if !ok && err == nil {
			r.t.Fatalf("order %s unknown", id)
		}
		o = rec.Order
		return err
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return o
}
