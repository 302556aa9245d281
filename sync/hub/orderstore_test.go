package hub

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"wedge/order"
	"wedge/sync/wire"
)

// legacyOrderRecord is an order record exactly as the hub wrote it before its records had their own
// type and version (it stored the agent's order.Order as is).
const legacyOrderRecord = `{"site":"sz01","order":{"order_id":"O-legacy-1","channel":"tmall","channel_order_no":"TM-778899",` +
	`"buyer_id":"buyer-42","ordered_at":"2026-01-22T06:00:00.123Z","paid_at":"2026-01-22T07:00:00.123Z","skus":["SKU-A","SKU-B"],` +
	`"payment":"full","recipient":"张**  138****5678 深圳市…","carrier":"sf","assigned_waybill":"SF1234567890123",` +
	`"waybill":"SF1234567890123","state":"waybill_printed","state_since":"2026-01-22T08:10:00.123Z",` +
	`"pending_since":"2026-01-22T08:00:00.123Z","received_at":"2026-01-22T08:00:00.123Z","printed_at":"2026-01-22T08:10:00.123Z"},` +
	`"created_at":"2026-01-22T08:00:00.123Z","updated_at":"2026-01-22T08:10:00.123Z"}`

func legacyOrder() order.Order {
	at := time.Date(2026, 1, 22, 8, 0, 0, 123000000, time.UTC)
	return order.Order{ID: "O-legacy-1", Channel: "tmall", ChannelOrderNo: "TM-778899", BuyerID: "buyer-42",
		OrderedAt: at.Add(-2 * time.Hour), PaidAt: at.Add(-time.Hour), SKUs: []string{"SKU-A", "SKU-B"}, Payment: "full",
		Recipient: "张**  138****5678 深圳市…", Carrier: "sf", AssignedWaybill: "SF1234567890123", Waybill: "SF1234567890123",
		State: order.WaybillPrinted, StateSince: at.Add(10 * time.Minute), PendingSince: at, ReceivedAt: at,
		PrintedAt: at.Add(10 * time.Minute)}
}

// A record written before the version field reads as version 1, field for field.
func TestLegacyOrderRecordDecodes(t *testing.T) {
	rec, err := decodeOrder([]byte("O-legacy-1"), []byte(legacyOrderRecord))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Site != "sz01" || rec.CreatedAt != "2026-01-22T08:00:00.123Z" || rec.UpdatedAt != "2026-01-22T08:10:00.123Z" {
		t.Errorf("record %+v", rec)
	}
	if want := legacyOrder(); !reflect.DeepEqual(rec.Order, want) {
		t.Errorf("order\n got %+v\nwant %+v", rec.Order, want)
	}
}

// A hub whose store holds a legacy record serves it, moves it on with a journal entry, and writes it
// back in the current version without losing a field.
func TestLegacyOrderRecordUpgradedInPlace(t *testing.T) {
	h, rec := ownerOnly(t)
	if err := h.db.(*boltStore).db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bktOrders).Put([]byte("O-legacy-1"), []byte(legacyOrderRecord))
	}); err != nil {
		t.Fatal(err)
	}
	var view orderResponse
	get := func() {
		t.Helper()
		w := httptest.NewRecorder()
		h.routes().ServeHTTP(w, authed(t, h, httptest.NewRequest(http.MethodGet, "/v1/orders/O-legacy-1", nil)))
		if w.Code != http.StatusOK {
			t.Fatalf("GET: %d %s", w.Code, w.Body)
		}
		if err := json.Unmarshal(w.Body.Bytes(), &view); err != nil {
			t.Fatal(err)
		}
	}
	get()
	if view.State != string(order.WaybillPrinted) || view.Waybill != "SF1234567890123" || view.Carrier != "sf" || view.Channel != "tmall" {
		t.Fatalf("legacy order served as %+v", view)
	}

	e := wire.Entry{JournalID: "j1", Seq: 1, Kind: wire.KindStep, OrderID: "O-legacy-1", From: string(order.WaybillPrinted),
		To: string(order.PickedUp), Waybill: "SF1234567890123", At: wire.Time(t0)}
	e.Seal("")
	b, _ := json.Marshal(wire.Batch{Site: "sz01", Agent: "pack01", JournalID: "j1", Events: []wire.Entry{e}})
	h.enqueue(item{kind: kindBatch, topic: wire.TopicEvents("sz01", "pack01"), payload: b})
	path := h.db.(*boltStore).Path()
	go h.run()
	close(h.stopc)
	<-h.done
	if len(rec.msgs) != 2 { // the state rebroadcast and the ack
		t.Fatalf("published %d messages, want a state and an ack", len(rec.msgs))
	}

	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var raw []byte
	_ = db.View(func(tx *bolt.Tx) error {
		raw = append(raw, tx.Bucket(bktOrders).Get([]byte("O-legacy-1"))...)
		return nil
	})
	if !isBinaryRecord(raw) {
		t.Errorf("record not rewritten in version %d (binary): %s", orderVersion, raw)
	}
	got, err := decodeOrder([]byte("O-legacy-1"), raw)
	if err != nil {
		t.Fatal(err)
	}
	want := legacyOrder()
	want.State, want.StateSince, want.PickedUpAt = order.PickedUp, t0, t0
	if !reflect.DeepEqual(got.Order, want) {
		t.Errorf("after pickup\n got %+v\nwant %+v", got.Order, want)
	}
	if got.CreatedAt != "2026-01-22T08:00:00.123Z" || got.UpdatedAt != wire.Time(t0) {
		t.Errorf("created %s updated %s", got.CreatedAt, got.UpdatedAt)
	}
}

// A record from a newer hub is refused with ErrStore, not half-read.
func TestNewerOrderRecordRefused(t *testing.T) {
	newer := orderVersion + 1
	raw := strings.Replace(legacyOrderRecord, `{"site"`, fmt.Sprintf(`{"v":%d,"site"`, newer), 1)
	_, err := decodeOrder([]byte("O-legacy-1"), []byte(raw))
	if !errors.Is(err, ErrStore) || !strings.Contains(err.Error(), fmt.Sprintf("version %d", newer)) {
		t.Fatalf("err = %v, want ErrStore naming version %d", err, newer)
	}
	if _, err := decodeOrder([]byte("O-x"), []byte(`{"order":`)); !errors.Is(err, ErrStore) {
		t.Fatalf("truncated record: err = %v", err)
	}
}

// agentOnly are order.Order fields the hub's record leaves out on purpose: the overdue flag and the
// time the overdue clock starts (QueuedSince) belong to an agent's supervision of its own floor, and
// the handed_over mark (HandedOverAt) to the PC that journaled the handover (the hub has its note),
// and the latest carrier event (Tracking) is the PC's copy of what the hub keeps in its tracking store.
var agentOnly = []string{"Overdue", "QueuedSince", "HandedOverAt", "Tracking"}

// Every field of order.Order survives the hub's record (or is listed as agent-only), and the
// record's JSON names are the hub's schema: a field added to or renamed in order.Order fails here
// instead of silently changing or dropping what the hub stores.
func TestStoredOrderSchema(t *testing.T) {
	var o order.Order
	v := reflect.ValueOf(&o).Elem()
	base := time.Date(2026, 1, 22, 8, 0, 0, 0, time.UTC)
	for i := range v.NumField() {
		f, name := v.Field(i), v.Type().Field(i).Name
		if slices.Contains(agentOnly, name) {
			continue
		}
		switch {
		case f.Kind() == reflect.String:
			f.SetString("x-" + name)
		case f.Type() == reflect.TypeFor[time.Time]():
			f.Set(reflect.ValueOf(base.Add(time.Duration(i) * time.Minute)))
		case f.Type() == reflect.TypeFor[[]string]():
			f.Set(reflect.ValueOf([]string{"a-" + name, "b-" + name}))
		case f.Kind() == reflect.Bool:
			f.SetBool(true)
		case f.Kind() == reflect.Uint64:
			f.SetUint(uint64(100 + i))
		case f.Type() == reflect.TypeFor[order.Intercept]():
			f.Set(reflect.ValueOf(order.Intercept{ID: 7, Status: "x-status", Reason: "x-reason", At: base, By: "x-by", Note: "x-note", ResolvedAt: base.Add(time.Hour)}))
		default:
			t.Fatalf("order.Order.%s has a type (%s) this test cannot fill: extend the test and the hub's record", name, f.Type())
		}
	}
	raw, err := json.Marshal(toStored(orderRec{Site: "sz01", Order: o}))
	if err != nil {
		t.Fatal(err)
	}
	back, err := decodeOrder([]byte(o.ID), raw)
	if err != nil {
		t.Fatal(err)
	}
	bv := reflect.ValueOf(back.Order)
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		if !reflect.DeepEqual(bv.Field(i).Interface(), v.Field(i).Interface()) {
			t.Errorf("order.Order.%s is lost by the hub's record: add it to orderFields (with its own JSON name) or to agentOnly", name)
		}
	}

	var top map[string]json.RawMessage
	var fields map[string]any
	_ = json.Unmarshal(raw, &top)
	_ = json.Unmarshal(top["order"], &fields)
	keys := func(m any) []string {
		var ks []string
		for _, k := range reflect.ValueOf(m).MapKeys() {
			ks = append(ks, k.String())
		}
		slices.Sort(ks)
		return ks
	}
	wantTop := []string{"created_at", "order", "site", "updated_at", "v"}
	wantFields := []string{"assigned_waybill", "buyer_id", "carrier", "channel", "channel_order_no", "order_id", "ordered_at",
		"paid_at", "payment", "pending_since", "picked_up_at", "printed_at", "received_at", "recipient", "skus", "state",
		"state_since", "waybill",
		// record version 2
		"address_version", "intercept", "label_outdated", "label_version", "recipient_address", "recipient_name", "recipient_phone", "version"}
	slices.Sort(wantFields)
	if got := keys(top); !slices.Equal(got, wantTop) {
		t.Errorf("record keys %v, want %v (a new key needs a new record version)", got, wantTop)
	}
	if got := keys(fields); !slices.Equal(got, wantFields) {
		t.Errorf("order keys %v, want %v (a new key needs a new record version)", got, wantFields)
	}
}

// Every order record in the committed hub store of fixture set v1 (written by the hub before its
// records had a version) reads as version 1, and writing it back in the current version loses
// nothing: the JSON is the same apart from the added version field.
func TestFixtureV1OrderRecords(t *testing.T) {
	path := filepath.Join("..", "..", "testdata", "fixtures", "v1", "hub", "hub.db")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("fixture: %v", err)
	}
	db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := 0
	states := map[order.State]int{}
	err = db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bktOrders).ForEach(func(k, raw []byte) error {
			n++
			rec, err := decodeOrder(k, raw)
			if err != nil {
				return err
			}
			if rec.Order.ID != string(k) || !rec.Order.State.Valid() || rec.Site == "" {
				t.Errorf("order %s read as %+v", k, rec)
			}
			states[rec.Order.State]++
			again, _ := json.Marshal(toStored(rec))
			var was, now map[string]any
			_ = json.Unmarshal(raw, &was)
			_ = json.Unmarshal(again, &now)
			if v, ok := was["v"]; ok {
				t.Errorf("order %s: a v1 fixture record has a version field (%v)", k, v)
			}
			was["v"] = float64(orderJSONVersion)
			if !reflect.DeepEqual(was, now) {
				t.Errorf("order %s changes when written back:\n was %s\n now %s", k, raw, again)
			}
			// What this hub writes (binary) reads back as the record read from the fixture.
			bin, err := decodeOrder(k, encodeOrder(rec))
			if err != nil {
				t.Fatalf("order %s in binary: %v", k, err)
			}
			if !reflect.DeepEqual(bin, rec) {
				t.Errorf("order %s changes in binary:\n was %+v\n now %+v", k, rec, bin)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 || len(states) < 5 {
		t.Fatalf("%d orders in %d states: the fixture should hold orders in every state", n, len(states))
	}
}
