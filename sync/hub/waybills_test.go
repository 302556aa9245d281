package hub_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"wedge/internal/clock"
	"wedge/internal/testbroker"
	"wedge/internal/testpg"
	"wedge/order/waybill"
	"wedge/sync/apitoken"
	"wedge/sync/hub"
	"wedge/sync/hub/ewaybill"
	"wedge/sync/hub/ewaybill/ewaybilltest"
	"wedge/sync/wire"
)

// newWaybillEnv is newEnv with a Kuaidi100 adapter pointed at a fake server, for zto orders.
func newWaybillEnv(t *testing.T, timeout time.Duration) (*env, *ewaybilltest.Server) {
	t.Helper()
	srv := ewaybilltest.New("k-1", "s-1")
	t.Cleanup(srv.Close)
	p, err := ewaybill.NewKuaidi100(ewaybill.Kuaidi100Options{URL: srv.URL, Key: "k-1", Secret: "s-1",
		Accounts: map[string]ewaybill.Account{"zto": {PartnerID: "p-1", PartnerKey: "pk-1"}},
		Sender:   ewaybill.Party{Name: "仓库", Mobile: "13800000000", Address: "上海市浦东新区1号"}})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, broker: testbroker.Start(t, nil), dir: t.TempDir(), clk: clock.NewFake(t0), logs: &logSink{}}
	e.extra = func(o *hub.Options) {
		o.EWaybill = hub.EWaybillOptions{Provider: p, Carriers: []string{"zto"}, RetryMin: time.Second, RetryMax: time.Minute, Timeout: timeout}
	}
	e.startHub("wedge-hub-test")
	return e, srv
}

// ztoOrder is a posted order of carrier zto without a waybill.
func ztoOrder(no string) wire.OrderMsg {
	m := *orderMsg(no)
	m.Carrier, m.RecipientName, m.RecipientPhone, m.RecipientAddress = "zto", "李四", "13900000000", "北京市海淀区2号"
	return m
}

// post posts msgs to site sz01 and expects them accepted.
func (e *env) post(msgs ...wire.OrderMsg) postResp {
	e.t.Helper()
	var r postResp
	postJSON(e.t, e.hub, "/v1/orders", map[string]any{"site": "sz01", "orders": msgs}, http.StatusOK, &r)
	return r
}

type pendingList struct {
	Pending []hub.PendingWaybill `json:"pending"`
}

func (e *env) pendingWaybills() []hub.PendingWaybill {
	e.t.Helper()
	var l pendingList
	getJSON(e.t, e.hub, "/v1/waybills/pending", http.StatusOK, &l)
	return l.Pending
}

// ordersFor is the order messages the agent received for id.
func ordersFor(a *agent, id string) []wire.OrderMsg {
	var out []wire.OrderMsg
	for _, m := range a.siteMsgs() {
		if m.Type == wire.TypeOrder && m.OrderID == id {
			out = append(out, m)
		}
	}
	return out
}

// An order without a waybill is held, gets its number from the provider and is then published
// once, with the number and the site's next hseq. An order with a waybill and one of a carrier
// without a provider are published at once, as posted.
func TestEWaybillObtainedAndPublished(t *testing.T) {
	e, srv := newWaybillEnv(t, 5*time.Second)
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	withWB := ztoOrder("2")
	withWB.Waybill = "78000000000999"
	other := ztoOrder("3")
	other.Carrier = "yto"
	var r postResp
	postJSON(t, e.hub, "/v1/orders", map[string]any{"site": "sz01", "orders": []wire.OrderMsg{ztoOrder("1"), withWB, other}}, http.StatusOK, &r)
	if r.Accepted != 3 || r.HSeqs[0] != 0 || r.HSeqs[1] != 1 || r.HSeqs[2] != 2 {
		t.Fatalf("response = %+v (the held order gets hseq 0)", r)
	}
	waitFor(t, "the held order published with its number", func() bool { return len(ordersFor(a, "O-1")) == 1 })
	got := ordersFor(a, "O-1")[0]
	if issued := srv.Issued(); len(issued) != 1 || got.Waybill != issued[0] || got.HSeq != 3 || got.Carrier != "zto" {
		t.Fatalf("published %+v, issued %v", got, issued)
	}
	if err := waybill.Validate("zto", got.Waybill); err != nil {
		t.Fatal(err)
	}
	if m := ordersFor(a, "O-2"); len(m) != 1 || m[0].Waybill != withWB.Waybill {
		t.Fatalf("order with a waybill = %+v", m)
	}
	if m := ordersFor(a, "O-3"); len(m) != 1 || m[0].Waybill != "" {
		t.Fatalf("order without a provider = %+v", m)
	}
	if srv.Calls() != 1 {
		t.Fatalf("provider asked %d times, want once", srv.Calls())
	}
	p := srv.Params()[0]
	rec, _ := p["recMan"].(map[string]any)
	if p["kuaidicom"] != "zhongtong" || p["partnerId"] != "p-1" || rec["name"] != "李四" || rec["printAddr"] != "北京市海淀区2号" {
		t.Fatalf("param = %v", p)
	}
	var o struct {
		AssignedWaybill string `json:"assigned_waybill"`
	}
	getJSON(t, e.hub, "/v1/orders/O-1", http.StatusOK, &o)
	if o.AssignedWaybill != got.Waybill {
		t.Fatalf("order record's waybill = %q", o.AssignedWaybill)
	}
	if l := e.pendingWaybills(); len(l) != 0 {
		t.Fatalf("pending = %+v", l)
	}
	// The list needs the read scope.
	if code, _ := do(t, e.hub, http.MethodGet, "/v1/waybills/pending", "", nil); code != http.StatusUnauthorized {
		t.Errorf("without a token: %d", code)
	}
	if code, _ := do(t, e.hub, http.MethodGet, "/v1/waybills/pending", newToken(t, e.hub, "erp", apitoken.OrdersWrite), nil); code != http.StatusForbidden {
		t.Errorf("orders:write only: %d", code)
	}
	if code, _ := do(t, e.hub, http.MethodGet, "/v1/waybills/pending", newToken(t, e.hub, "viewer", apitoken.Read), nil); code != http.StatusOK {
		t.Errorf("read scope: %d", code)
	}
}

// The provider is down (HTTP 500): the order is retried with backoff and listed with the last
// error, across a hub restart, and published once the provider recovers.
func TestEWaybillRetriedAcrossRestartUntilProviderRecovers(t *testing.T) {
	e, srv := newWaybillEnv(t, 5*time.Second)
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	srv.SetMode(ewaybilltest.Status5xx, 0)
	e.post(ztoOrder("1"))
	waitFor(t, "two failed attempts listed", func() bool {
		e.clk.Advance(time.Minute)
		l := e.pendingWaybills()
		return len(l) == 1 && l[0].Attempts >= 2
	})
	l := e.pendingWaybills()[0]
	if l.OrderID != "O-1" || l.Permanent || !strings.Contains(l.LastError, "HTTP 500") || l.NextAt == "" {
		t.Fatalf("pending = %+v", l)
	}
	e.stopHub()
	calls := srv.Calls()
	e.startHub("wedge-hub-test")
	waitFor(t, "retried after the restart", func() bool { e.clk.Advance(time.Minute); return srv.Calls() > calls })
	if n := len(ordersFor(a, "O-1")); n != 0 {
		t.Fatalf("published %d times without a waybill", n)
	}
	srv.SetMode(ewaybilltest.OK, 0)
	waitFor(t, "published once the provider recovered", func() bool {
		e.clk.Advance(time.Minute)
		return len(ordersFor(a, "O-1")) == 1
	})
	if m := ordersFor(a, "O-1")[0]; m.Waybill != srv.Issued()[0] || m.HSeq != 1 {
		t.Fatalf("published %+v", m)
	}
	waitFor(t, "pending list empty", func() bool { return len(e.pendingWaybills()) == 0 })
}

// A burst of held orders: each is asked for once (calls run Concurrency at a time) and published
// once with its own number.
func TestEWaybillBurstEachAskedOnce(t *testing.T) {
	e, srv := newWaybillEnv(t, 5*time.Second)
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	var msgs []wire.OrderMsg
	for i := range 10 {
		msgs = append(msgs, ztoOrder(fmt.Sprint(10+i)))
	}
	e.post(msgs...)
	waitFor(t, "all ten published", func() bool { return len(a.siteMsgs()) == 10 })
	seen := map[string]bool{}
	for _, m := range a.siteMsgs() {
		if m.Waybill == "" || seen[m.Waybill] {
			t.Fatalf("number missing or given twice: %+v", m)
		}
		seen[m.Waybill] = true
	}
	if srv.Calls() != 10 {
		t.Fatalf("provider asked %d times for 10 orders", srv.Calls())
	}
}

// A provider that does not answer in time is a retryable failure.
func TestEWaybillTimeoutIsRetried(t *testing.T) {
	e, srv := newWaybillEnv(t, 200*time.Millisecond)
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	srv.SetMode(ewaybilltest.Hang, 0)
	e.post(ztoOrder("1"))
	waitFor(t, "a timeout listed", func() bool {
		l := e.pendingWaybills()
		return len(l) == 1 && l[0].Attempts >= 1
	})
	if l := e.pendingWaybills()[0]; l.Permanent || !strings.Contains(l.LastError, "deadline") {
		t.Fatalf("pending = %+v", l)
	}
	srv.SetMode(ewaybilltest.OK, 0)
	waitFor(t, "published after the timeout", func() bool { e.clk.Advance(time.Minute); return len(ordersFor(a, "O-1")) == 1 })
}

// Stopping the hub during a provider call gives the request back: no attempt counted, and the
// next hub asks at once (the fake clock never moves here, so a lease left behind would block it).
func TestEWaybillStopDuringCallReleasesTheRequest(t *testing.T) {
	e, srv := newWaybillEnv(t, 5*time.Second)
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	srv.SetMode(ewaybilltest.Hang, 0)
	e.post(ztoOrder("1"))
	waitFor(t, "the call in flight", func() bool { return srv.Calls() == 1 })
	e.stopHub()
	srv.SetMode(ewaybilltest.OK, 0)
	e.startHub("wedge-hub-test")
	waitFor(t, "published after the restart", func() bool { return len(ordersFor(a, "O-1")) == 1 })
}

// A refusal and an unusable number are permanent: listed with the reason, never retried, never
// published as printable; a new post of the order with a waybill ends the wait.
func TestEWaybillPermanentFailuresNeverPublished(t *testing.T) {
	e, srv := newWaybillEnv(t, 5*time.Second)
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	srv.SetMode(ewaybilltest.Refuse, 30003)
	e.post(ztoOrder("1"))
	waitFor(t, "the refusal listed", func() bool { l := e.pendingWaybills(); return len(l) == 1 && l[0].Permanent })
	srv.SetMode(ewaybilltest.Invalid, 0)
	e.post(ztoOrder("2"))
	waitFor(t, "the invalid number listed", func() bool { l := e.pendingWaybills(); return len(l) == 2 && l[1].Permanent })
	l := e.pendingWaybills()
	if !strings.Contains(l[0].LastError, "30003") || l[0].NextAt != "" {
		t.Fatalf("refused = %+v", l[0])
	}
	if !strings.Contains(l[1].LastError, "NOT-A-WAYBILL") {
		t.Fatalf("invalid = %+v", l[1])
	}
	calls := srv.Calls()
	srv.SetMode(ewaybilltest.OK, 0)
	for range 5 {
		e.clk.Advance(time.Hour)
	}
	// A marker publication: once it arrives, anything the hub published before it has too.
	e.post(wire.OrderMsg{Type: wire.TypeCancel, OrderID: "O-9"})
	waitFor(t, "the marker", func() bool { return len(a.siteMsgs()) == 1 })
	if srv.Calls() != calls || len(ordersFor(a, "O-1"))+len(ordersFor(a, "O-2")) != 0 {
		t.Fatalf("permanent failures retried (%d → %d calls) or published: %+v", calls, srv.Calls(), a.siteMsgs())
	}
	fixed := ztoOrder("1")
	fixed.Waybill = "78000000000555"
	e.post(fixed)
	waitFor(t, "the order published with the posted waybill", func() bool { return len(ordersFor(a, "O-1")) == 1 })
	if l := e.pendingWaybills(); len(l) != 1 || l[0].OrderID != "O-2" {
		t.Fatalf("pending = %+v", l)
	}
	// A waybill message for a held order publishes the order with it (then the message itself).
	e.post(wire.OrderMsg{Type: wire.TypeWaybill, OrderID: "O-2", Carrier: "zto", Waybill: "78000000000556"})
	waitFor(t, "O-2 published with the posted waybill", func() bool { return len(ordersFor(a, "O-2")) == 1 })
	if m := ordersFor(a, "O-2")[0]; m.Waybill != "78000000000556" || m.Carrier != "zto" {
		t.Fatalf("O-2 = %+v", m)
	}
	// A cancel ends the wait: the order is never published, and the provider not asked again.
	srv.SetMode(ewaybilltest.Refuse, 30003)
	e.post(ztoOrder("5"))
	waitFor(t, "O-5 refused", func() bool { l := e.pendingWaybills(); return len(l) == 1 && l[0].Permanent })
	e.post(wire.OrderMsg{Type: wire.TypeCancel, OrderID: "O-5"})
	if l := e.pendingWaybills(); len(l) != 0 {
		t.Fatalf("pending after the cancel = %+v", l)
	}
	if len(ordersFor(a, "O-5")) != 0 {
		t.Fatal("a cancelled held order was published")
	}
}

// The same behaviour with the hub's state in PostgreSQL.
func TestEWaybillOnPostgres(t *testing.T) {
	srv := testpg.Start(t)
	for name, run := range map[string]func(*testing.T){
		"ObtainedAndPublished":            TestEWaybillObtainedAndPublished,
		"RetriedAcrossRestart":            TestEWaybillRetriedAcrossRestartUntilProviderRecovers,
		"PermanentFailuresNeverPublished": TestEWaybillPermanentFailuresNeverPublished,
		"StopDuringCallReleases":          TestEWaybillStopDuringCallReleasesTheRequest,
	} {
		t.Run(name, func(t *testing.T) {
			envStore = pgStores(t, srv)
			defer func() { envStore = nil }()
			run(t)
		})
	}
}

// A hub restarted without a provider keeps the held orders listed, says so in its log, and still
// releases one posted with a waybill.
func TestEWaybillHeldOrdersWithoutProvider(t *testing.T) {
	e, srv := newWaybillEnv(t, 5*time.Second)
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	srv.SetMode(ewaybilltest.Status5xx, 0)
	e.post(ztoOrder("1"))
	waitFor(t, "a failed attempt", func() bool { l := e.pendingWaybills(); return len(l) == 1 && l[0].Attempts >= 1 })
	e.stopHub()
	e.extra = nil
	e.startHub("wedge-hub-test")
	if !e.logs.contains("no provider is configured") || len(e.pendingWaybills()) != 1 {
		t.Fatal("held orders without a provider are neither logged nor listed")
	}
	e.post(wire.OrderMsg{Type: wire.TypeWaybill, OrderID: "O-1", Carrier: "zto", Waybill: "78000000000557"})
	waitFor(t, "O-1 published with the posted waybill", func() bool { return len(ordersFor(a, "O-1")) == 1 })
	if m := ordersFor(a, "O-1")[0]; m.Waybill != "78000000000557" || len(e.pendingWaybills()) != 0 {
		t.Fatalf("O-1 = %+v, pending %+v", m, e.pendingWaybills())
	}
}
