package hub_test

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"wedge/internal/clock"
	"wedge/internal/testbroker"
	"wedge/internal/testpg"
	"wedge/sync/apitoken"
	"wedge/sync/hub"
)

const k100Salt = "salt-of-the-subscription"

func trackingEnv(t *testing.T) *env {
	e := &env{t: t, broker: testbroker.Start(t, nil), dir: t.TempDir(), clk: clock.NewFake(t0), logs: &logSink{}}
	e.extra = func(o *hub.Options) { o.Tracking = &hub.TrackingOptions{Kuaidi100Salt: k100Salt} }
	e.startHub("wedge-hub-test")
	return e
}

func trackingOf(t *testing.T, h *hub.Hub, wb string) hub.TrackingSummary {
	t.Helper()
	var s hub.TrackingSummary
	getJSON(t, h, "/v1/tracking/"+wb, http.StatusOK, &s)
	return s
}

// Carrier events for a printed order: stored with the order found by waybill, idempotent,
// delivered before the first scan tolerated; unknown waybills recorded and said so; malformed
// events refused with 400; the scope is tracking:write.
func TestTrackingEvents(t *testing.T) {
	e := trackingEnv(t)
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	a.send("jp", chain("jp", spine("O-1")[:2]...)...)
	a.waitAck(1)
	tok := newToken(t, e.hub, "kd-bridge", apitoken.TrackingWrite)
	post := func(body string, want int) map[string]any {
		t.Helper()
		code, b := do(t, e.hub, http.MethodPost, "/v1/tracking", tok, []byte(body))
		if code != want {
			t.Fatalf("POST %s = %d %s, want %d", body, code, b, want)
		}
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return m
	}
	delivered := `{"carrier":"sf","waybill":"SF1234567890123","event":"delivered","at":"2026-01-22T15:00:00+08:00","raw":{"x":1}}`
	if m := post(delivered, http.StatusOK); m["order_id"] != "O-1" || m["stored"] != 1.0 {
		t.Fatalf("answer = %v", m)
	}
	post(`{"carrier":"SF","waybill":"SF1234567890123","event":"first_scan","at":"2026-01-22T10:00:00+08:00"}`, http.StatusOK)
	if m := post(delivered, http.StatusOK); m["stored"] != 0.0 || m["duplicate"] != true {
		t.Fatalf("repeat answer = %v; want nothing stored", m)
	}
	s := trackingOf(t, e.hub, "SF1234567890123")
	if s.OrderID != "O-1" || !s.Known || len(s.Events) != 2 || s.FirstScanAt == nil || !s.FirstScanAt.Equal(time.Date(2026, 1, 22, 2, 0, 0, 0, time.UTC)) ||
		s.DeliveredAt == nil || s.Last != hub.TrackDelivered || s.Events[0].By != "kd-bridge" || s.Events[0].Raw != nil {
		t.Fatalf("summary = %+v", s)
	}
	if m := post(`{"carrier":"yto","waybill":"YT9999999999","event":"accepted","at":"2026-01-22T10:00:00Z"}`, http.StatusAccepted); m["known"] != false {
		t.Fatalf("unknown waybill answer = %v", m)
	}
	if s := trackingOf(t, e.hub, "YT9999999999"); s.Known || len(s.Events) != 1 {
		t.Fatalf("unknown waybill summary = %+v", s)
	}
	for _, bad := range []string{`{`, `[]`, `{"carrier":"sf","waybill":"SF1","event":"delivered","at":"2026-01-22T10:00:00Z"}`,
		`{"carrier":"sf","waybill":"SF1234567890123","event":"lost","at":"2026-01-22T10:00:00Z"}`,
		`{"carrier":"sf","waybill":"SF1234567890123","event":"delivered","at":"yesterday"}`,
		`{"carrier":"","waybill":"SF1234567890123","event":"delivered","at":"2026-01-22T10:00:00Z"}`,
		`{"carrier":"sf","waybill":"SF1234567890123","event":"delivered","at":"2026-01-22T10:00:00Z","extra":1}`} {
		post(bad, http.StatusBadRequest)
	}
	if code, _ := do(t, e.hub, http.MethodPost, "/v1/tracking", newToken(t, e.hub, "reader", apitoken.Read), []byte(delivered)); code != http.StatusForbidden {
		t.Fatalf("POST with a read token = %d, want 403", code)
	}
	if code, _ := do(t, e.hub, http.MethodGet, "/v1/tracking/NOPE00000000", tokenFor(t, e.hub), nil); code != http.StatusNotFound {
		t.Fatalf("GET of a waybill never seen = %d, want 404", code)
	}
}

// k100Form is a push's form body, signed as Kuaidi100 signs: upper-case hex MD5(param + salt).
func k100Form(param, salt string) []byte {
	sum := md5.Sum([]byte(param + salt))
	return []byte(url.Values{"param": {param}, "sign": {strings.ToUpper(hex.EncodeToString(sum[:]))}}.Encode())
}

// Kuaidi100 pushes: signed with the salt, the first scan from statusCode 103 (or implied by a
// later state), the whole trace pushed again changes nothing, bad sign 403, malformed 400.
func TestKuaidi100Push(t *testing.T) {
	e := trackingEnv(t)
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	a.send("jp", chain("jp", spine("O-1")[:2]...)...)
	a.waitAck(1)
	push := `{"status":"polling","message":"","lastResult":{"state":"0","ischeck":"0","com":"shunfeng","nu":"SF1234567890123","data":[
		{"context":"快件在【深圳转运中心】","ftime":"2026-01-22 18:00:00","statusCode":"1002"},
		{"context":"顺丰速运 已收取快件","ftime":"2026-01-22 16:30:00","statusCode":"103"},
		{"context":"已下单","ftime":"2026-01-22 09:00:00","statusCode":"101"}]}}`
	k100 := func(body []byte, want int) map[string]any {
		t.Helper()
		code, b := do(t, e.hub, http.MethodPost, "/v1/tracking/kuaidi100", "", body)
		if code != want {
			t.Fatalf("push = %d %s, want %d", code, b, want)
		}
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return m
	}
	if m := k100(k100Form(push, k100Salt), http.StatusOK); m["result"] != true || m["returnCode"] != "200" {
		t.Fatalf("answer = %v", m)
	}
	k100(k100Form(push, k100Salt), http.StatusOK) // updateall: the same trace again
	s := trackingOf(t, e.hub, "SF1234567890123")
	if len(s.Events) != 2 || s.FirstScanAt == nil || !s.FirstScanAt.Equal(time.Date(2026, 1, 22, 8, 30, 0, 0, time.UTC)) ||
		s.Last != hub.TrackInTransit || s.Events[0].Carrier != "sf" || s.Events[0].Implied {
		t.Fatalf("summary = %+v", s)
	}
	implied := strings.Replace(strings.Replace(push, "SF1234567890123", "SF7777777777777", 1), `"statusCode":"103"`, `"statusCode":""`, 1)
	k100(k100Form(implied, k100Salt), http.StatusOK)
	if s := trackingOf(t, e.hub, "SF7777777777777"); s.FirstScanAt == nil || !s.FirstScanAt.Equal(time.Date(2026, 1, 22, 1, 0, 0, 0, time.UTC)) || s.Known {
		t.Fatalf("implied first scan = %+v; want the oldest entry, waybill unknown", s)
	}
	k100(k100Form(push, "wrong salt"), http.StatusForbidden)
	k100([]byte("sign=x"), http.StatusBadRequest)
	for _, bad := range []string{`{`, `{"lastResult":{"state":"0","com":"shunfeng","nu":""}}`, `{"lastResult":{"state":"99","com":"shunfeng","nu":"SF1234567890123"}}`,
		`{"lastResult":{"state":"0","com":"shunfeng","nu":"SF1234567890123","data":[{"ftime":"22/01/2026"}]}}`} {
		k100(k100Form(bad, k100Salt), http.StatusBadRequest)
	}
}

func TestTrackingOnPostgres(t *testing.T) {
	srv := testpg.Start(t)
	for name, run := range map[string]func(*testing.T){"TrackingEvents": TestTrackingEvents, "Kuaidi100Push": TestKuaidi100Push} {
		t.Run(name, func(t *testing.T) {
			envStore = pgStores(t, srv)
			defer func() { envStore = nil }()
			run(t)
		})
	}
}
