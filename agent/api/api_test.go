package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"wedge/agent/api"
	"wedge/agent/journal"
	"wedge/agent/station"
	"wedge/drivers/scanner"
	"wedge/internal/clock"
	"wedge/order"
	"wedge/sync/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	token = "s3cret"
	wbSF  = "SF1234567890123"
)

type fakeSync struct{ ack time.Time }

func (f fakeSync) Connected() bool    { return true }
func (f fakeSync) LastAck() time.Time { return f.ack }

type rig struct {
	t     *testing.T
	srv   *httptest.Server
	store *journal.Store
	a     *api.API
	print *station.Station

	mu     sync.Mutex
	manual []station.Result // what Options.OnResult received
}

func (r *rig) hooked() []station.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]station.Result(nil), r.manual...)
}

func newRig(t *testing.T, tok string) *rig {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 1, 22, 8, 0, 0, 0, time.UTC))
	store, err := journal.Open(filepath.Join(t.TempDir(), "wedge.db"), &journal.Options{Site: "sz01", Agent: "pack02", Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	err = store.Do(context.Background(), func(tx *journal.Tx) error {
		tx.PutOrder(order.Order{ID: "1001", Channel: "tmall", ChannelOrderNo: "401234567890123", Carrier: "sf", AssignedWaybill: wbSF, State: order.PendingAllocation})
		tx.PutOrder(order.Order{ID: "1002", Carrier: "sf", State: order.PendingAllocation})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, store: store}
	r.print = station.New(station.Config{Name: "print-1", Role: station.RolePrint}, store, station.Options{Clock: clk, OnResult: func(res station.Result) { r.a.Record(res) }})
	r.a = api.New(api.Options{
		Info: api.Info{Site: "sz01", Agent: "pack02", Version: "test"}, Token: tok, Store: store,
		Stations: []*station.Station{r.print}, Sync: fakeSync{ack: clk.Now()}, Clock: clk,
		OnResult: func(res station.Result) {
			r.mu.Lock()
			r.manual = append(r.manual, res)
			r.mu.Unlock()
		},
		Devices: func() []api.Device {
			return []api.Device{{Name: "scan-p1", Kind: "scanner", Station: "print-1", Health: scanner.Health{Connected: true, Reads: 3}}}
		},
	})
	r.srv = httptest.NewServer(r.a)
	t.Cleanup(func() {
		r.srv.Close()
		r.print.Close()
		store.Close()
	})
	return r
}

func (r *rig) do(method, path, tok string, body any) (int, map[string]any) {
	r.t.Helper()
	var rd io.Reader
	if s, ok := body.(string); ok {
		rd = strings.NewReader(s)
	} else if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, r.srv.URL+path, rd)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		r.t.Fatalf("%s %s: content type %q", method, path, ct)
	}
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		r.t.Fatalf("%s %s: body is not JSON: %v", method, path, err)
	}
	return resp.StatusCode, m
}

func errCode(t *testing.T, m map[string]any) string {
	t.Helper()
	e, ok := m["error"].(map[string]any)
	if !ok || e["zh"] == "" || e["en"] == "" {
		t.Fatalf("not an error body: %v", m)
	}
	return e["code"].(string)
}

func TestHealthAndStatus(t *testing.T) {
	r := newRig(t, token)
	if code, m := r.do("GET", "/healthz", "", nil); code != 200 || m["ok"] != true {
		t.Fatalf("healthz: %d %v", code, m)
	}
	r.do("POST", "/api/v1/scan", token, map[string]string{"station": "print-1", "code": "OP-wang"})
	code, m := r.do("GET", "/api/v1/status", "", nil)
	if code != 200 {
		t.Fatalf("status: %d", code)
	}
	if m["site"] != "sz01" || m["journal_id"] == "" || m["broker_connected"] != true || m["last_seq"].(float64) < 1 {
		t.Errorf("status: %v", m)
	}
	if m["unsynced"].(float64) != m["last_seq"].(float64) {
		t.Errorf("unsynced %v with last_seq %v and nothing acked", m["unsynced"], m["last_seq"])
	}
	backlog := m["backlog"].(map[string]any)
	if backlog["pending_allocation"].(float64) != 2 || backlog["picked_up"].(float64) != 0 {
		t.Errorf("backlog: %v", backlog)
	}
	st := m["stations"].([]any)[0].(map[string]any)
	if st["name"] != "print-1" || st["operator"] != "OP-wang" {
		t.Errorf("stations: %v", st)
	}
	if d := m["devices"].([]any); len(d) != 1 {
		t.Errorf("devices: %v", d)
	}
	if rec := m["recent"].([]any); len(rec) != 1 || rec[0].(map[string]any)["kind"] != "operator" {
		t.Errorf("recent: %v", rec)
	}
}

func TestAuth(t *testing.T) {
	r := newRig(t, token)
	for _, c := range []struct {
		tok  string
		code int
		err  string
	}{{"", 401, "unauthorized"}, {"wrong", 403, "forbidden"}} {
		code, m := r.do("POST", "/api/v1/orders/1001/confirm", c.tok, map[string]string{"operator": "OP-a", "note": "n"})
		if code != c.code || errCode(t, m) != c.err {
			t.Errorf("confirm with token %q: %d %v", c.tok, code, m)
		}
		code, m = r.do("POST", "/api/v1/scan", c.tok, map[string]string{"station": "print-1", "code": "1001"})
		if code != c.code || errCode(t, m) != c.err {
			t.Errorf("scan with token %q: %d %v", c.tok, code, m)
		}
	}
	if o, _, _ := r.store.Order("1001"); o.State != order.PendingAllocation {
		t.Fatal("an unauthorised request changed an order")
	}
	if r.store.LastSeq() != 0 {
		t.Fatal("an unauthorised request was journaled")
	}
	// No token configured: state-changing requests are off.
	r2 := newRig(t, "")
	if code, m := r2.do("POST", "/api/v1/scan", "anything", map[string]string{"station": "print-1", "code": "1001"}); code != 403 || errCode(t, m) != "token_not_configured" {
		t.Errorf("without a configured token: %d %v", code, m)
	}
}

func TestScanConfirmAndOrder(t *testing.T) {
	r := newRig(t, token)
	code, m := r.do("POST", "/api/v1/scan", token, map[string]string{"station": "print-1", "code": "401234567890123", "device": "tablet"})
	if code != 200 || m["good"] != true || m["device"] != "api" || m["seq"].(float64) < 1 {
		t.Fatalf("scan: %d %v", code, m)
	}
	code, m = r.do("POST", "/api/v1/scan", token, map[string]string{"station": "print-1", "code": wbSF})
	if code != 200 || m["outcome"] != "accepted" || m["to"] != "waybill_printed" {
		t.Fatalf("scan waybill: %d %v", code, m)
	}
	code, m = r.do("POST", "/api/v1/scan", token, map[string]string{"station": "print-1", "code": "zzz"})
	if code != 200 || m["good"] != false || m["reason"] != "unknown_code" || m["message"].(map[string]any)["zh"] == "" {
		t.Fatalf("rejected scan: %d %v", code, m)
	}
	// Manual confirmation by waybill: the next step is the pickup.
	code, m = r.do("POST", "/api/v1/orders/"+wbSF+"/confirm", token, map[string]string{"operator": "OP-boss", "note": "courier app down"})
	if code != 200 || m["to"] != "picked_up" || m["outcome"] != "accepted" {
		t.Fatalf("confirm: %d %v", code, m)
	}
	code, m = r.do("POST", "/api/v1/orders/1002/confirm", token, map[string]string{"operator": "OP-boss"})
	if code != 409 || m["reason"] != "manual_incomplete" {
		t.Fatalf("confirm without note: %d %v", code, m)
	}
	code, m = r.do("GET", "/api/v1/orders/401234567890123", "", nil)
	if code != 200 {
		t.Fatalf("order: %d", code)
	}
	o := m["order"].(map[string]any)
	h := m["history"].([]any)
	if o["order_id"] != "1001" || o["state"] != "picked_up" || m["state_zh"] != "已揽收" || len(h) != 3 {
		t.Fatalf("order view: %v (%d history)", m, len(h))
	}
	last := h[2].(map[string]any)
	if last["trigger"] != "manual" || last["operator"] != "OP-boss" || last["detail"] != "courier app down" {
		t.Fatalf("manual entry: %v", last)
	}
}

// The order view is read without a token: the recipient's name, phone and address leave it masked,
// in the record and in the history's order messages.
func TestOrderViewMasksPersonalData(t *testing.T) {
	r := newRig(t, token)
	err := r.store.Do(context.Background(), func(tx *journal.Tx) error {
		tx.PutOrder(order.Order{ID: "1003", Carrier: "sf", State: order.PendingAllocation,
			RecipientName: "张三丰", RecipientPhone: "13812345678", RecipientAddress: "广东省深圳市南山区科技园路1号"})
		tx.Append(wire.Entry{Kind: wire.KindIntake, OrderID: "1003", Trigger: wire.TriggerHub,
			Order: &wire.OrderMsg{Type: wire.TypeOrder, OrderID: "1003", RecipientName: "张三丰", RecipientPhone: "13812345678", RecipientAddress: "广东省深圳市南山区科技园路1号"}})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	code, m := r.do("GET", "/api/v1/orders/1003", "", nil)
	if code != 200 {
		t.Fatalf("order: %d", code)
	}
	body := fmt.Sprint(m)
	for _, secret := range []string{"13812345678", "张三丰", "科技园路1号"} {
		if strings.Contains(body, secret) {
			t.Fatalf("order view shows %q: %v", secret, m)
		}
	}
	if o := m["order"].(map[string]any); o["recipient_phone"] != "138****5678" {
		t.Fatalf("masked phone: %v", o["recipient_phone"])
	}
}

func TestErrors(t *testing.T) {
	r := newRig(t, token)
	cases := []struct {
		method, path string
		body         any
		status       int
		code         string
	}{
		{"GET", "/api/v1/orders/nope", nil, 404, "unknown_order"},
		{"POST", "/api/v1/orders/nope/confirm", map[string]string{"operator": "a", "note": "b"}, 404, "unknown_order"},
		{"POST", "/api/v1/scan", map[string]string{"station": "nope", "code": "x"}, 404, "unknown_station"},
		{"POST", "/api/v1/scan", map[string]string{"station": "print-1"}, 400, "bad_request"},
		{"POST", "/api/v1/scan", `{"station":`, 400, "bad_request"},
		{"POST", "/api/v1/scan", `{"station":"print-1","code":"x","extra":1}`, 400, "bad_request"},
		{"GET", "/api/v2/whatever", nil, 404, "not_found"},
		{"GET", "/api/v1/scan", nil, 405, "method_not_allowed"},
		{"DELETE", "/api/v1/orders/1001", nil, 405, "method_not_allowed"},
	}
	for _, c := range cases {
		status, m := r.do(c.method, c.path, token, c.body)
		if status != c.status || errCode(t, m) != c.code {
			t.Errorf("%s %s: %d %v, want %d %s", c.method, c.path, status, m, c.status, c.code)
		}
	}
}

// Manual confirmations reach Options.OnResult (the agent's console feed and metrics) before the
// answer, accepted and refused alike, with their journal entry; a confirmation that committed
// nothing (unknown order) does not, and software scans reach it only through their station.
func TestConfirmReachesOnResult(t *testing.T) {
	r := newRig(t, token)
	if code, m := r.do("POST", "/api/v1/scan", token, map[string]string{"station": "print-1", "code": "401234567890123"}); code != 200 {
		t.Fatalf("scan: %d %v", code, m)
	}
	if got := r.hooked(); len(got) != 0 {
		t.Fatalf("a scan reached the API's hook: %+v", got)
	}
	if code, m := r.do("POST", "/api/v1/orders/1001/confirm", token, map[string]string{"operator": "OP-boss", "note": "打印机坏了，手写面单"}); code != 200 || m["to"] != "waybill_printed" {
		t.Fatalf("confirm: %d %v", code, m)
	}
	if code, m := r.do("POST", "/api/v1/orders/1002/confirm", token, map[string]string{"operator": "OP-boss"}); code != 409 {
		t.Fatalf("confirm without note: %d %v", code, m)
	}
	if code, m := r.do("POST", "/api/v1/orders/nope/confirm", token, map[string]string{"operator": "a", "note": "b"}); code != 404 {
		t.Fatalf("unknown order: %d %v", code, m)
	}
	got := r.hooked()
	if len(got) != 2 {
		t.Fatalf("hook got %d results, want 2: %+v", len(got), got)
	}
	ok, bad := got[0], got[1]
	if !ok.Good() || ok.Entry.Kind != wire.KindStep || ok.Entry.Trigger != wire.TriggerManual || ok.Entry.OrderID != "1001" ||
		ok.Entry.To != string(order.WaybillPrinted) || ok.Operator != "OP-boss" || ok.Entry.Seq == 0 {
		t.Fatalf("accepted confirmation: %+v", ok)
	}
	if bad.Good() || bad.Outcome.Reason != order.ReasonManualIncomplete || bad.Entry.Trigger != wire.TriggerManual || bad.Entry.Seq <= ok.Entry.Seq {
		t.Fatalf("refused confirmation: %+v", bad)
	}
}
