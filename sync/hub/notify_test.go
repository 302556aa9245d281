package hub_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"wedge/internal/clock"
	"wedge/internal/msgtmpl"
	"wedge/internal/testbroker"
	"wedge/internal/testpg"
	"wedge/sync/apitoken"
	"wedge/sync/hub"
	"wedge/sync/wire"
)

const hookSecret = "s3cret-shared-with-the-receiver"

// receiver is an httptest webhook and SMS gateway: it verifies signatures, answers 500 while down,
// and counts the deliveries it answered 2xx per idempotency key.
type receiver struct {
	t    *testing.T
	srv  *httptest.Server
	clk  clock.Clock
	down atomic.Bool

	mu     sync.Mutex
	ok     map[string]int // idempotency key → 2xx answers
	tries  int
	bodies []string
}

func newReceiver(t *testing.T, clk clock.Clock) *receiver {
	r := &receiver{t: t, clk: clk, ok: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	key := strings.Trim(req.Header.Get(hub.HeaderIdempotencyKey), `"`)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tries++
	if key == "" {
		r.t.Errorf("%s without an Idempotency-Key", req.URL.Path)
	}
	if req.URL.Path == "/hook" {
		if err := hub.VerifyWebhook([]byte(hookSecret), req.Header.Get(hub.HeaderSignature), body, r.clk.Now(), time.Hour); err != nil {
			r.t.Errorf("webhook signature: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
	}
	if r.down.Load() {
		http.Error(w, "down", http.StatusInternalServerError)
		return
	}
	r.ok[key]++
	r.bodies = append(r.bodies, string(body))
	w.WriteHeader(http.StatusOK)
}

func (r *receiver) counts() (map[string]int, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := map[string]int{}
	for k, v := range r.ok {
		m[k] = v
	}
	return m, append([]string(nil), r.bodies...)
}

// notifyOptions sends reminders as SMS to rcv's /sms and breaker notices to its /hook.
func notifyOptions(t *testing.T, rcv *receiver, clk clock.Clock) *hub.NotifyOptions {
	hook, err := hub.NewWebhook(hub.WebhookOptions{URL: rcv.srv.URL + "/hook", Secret: []byte(hookSecret), Clock: clk, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	sms, err := hub.NewSMS(hub.SMSOptions{URL: msgtmpl.MustParse(rcv.srv.URL+"/sms", hub.SMSFields),
		Headers: map[string]*msgtmpl.Template{"Content-Type": msgtmpl.MustParse("application/json", hub.SMSFields)},
		Body:    msgtmpl.MustParse(`{"to":"{{phone}}","text":"{{text}}","ref":"{{id}}"}`, hub.SMSFields)})
	if err != nil {
		t.Fatal(err)
	}
	return &hub.NotifyOptions{
		Channels: map[string]hub.Channel{"hook": hook, "sms": sms},
		Sites: map[string]hub.SiteRules{"*": {
			Reminder: &hub.ReminderRule{Channel: "sms"},
			Breaker:  &hub.BreakerRule{Channel: "hook"},
		}},
		Poll: time.Second, Lease: time.Minute, Backoff: 10 * time.Second, MaxBackoff: time.Minute, MaxAttempts: 1000,
	}
}

func newNotifyEnv(t *testing.T) (*env, *receiver) {
	clk := clock.NewFake(t0)
	rcv := newReceiver(t, clk)
	e := &env{t: t, broker: nil, dir: t.TempDir(), clk: clk, logs: &logSink{}}
	e.extra = func(o *hub.Options) { o.Notify = notifyOptions(t, rcv, clk) }
	return e, rcv
}

type notificationsResp struct {
	Notifications []hub.NotificationView `json:"notifications"`
}

func notifications(t *testing.T, h *hub.Hub, query string) []hub.NotificationView {
	t.Helper()
	var r notificationsResp
	getJSON(t, h, "/v1/notifications"+query, http.StatusOK, &r)
	return r.Notifications
}

// advanceUntil moves the fake clock a step at a time until cond holds (the dispatcher polls on it).
func advanceUntil(t *testing.T, clk *clock.Fake, step time.Duration, what string, cond func() bool) {
	t.Helper()
	waitFor(t, what, func() bool {
		if cond() {
			return true
		}
		clk.Advance(step)
		return false
	})
}

const phone = "13812345678"

func phoneOrder(no string) *wire.OrderMsg {
	m := orderMsg(no)
	m.RecipientPhone = phone
	m.RecipientName = "张三"
	return m
}

// One reminder per overdue order although two PCs of the site journal it; a printed order's
// pending reminder is cancelled; an order awaiting its balance is not counted until paid.
func TestReminderOncePerOrderAcrossTwoPCs(t *testing.T) {
	e, rcv := newNotifyEnv(t)
	e.broker = testbroker.Start(t, nil)
	e.startHub("wedge-hub-test")
	pack := newAgent(t, e.broker.URL(), "sz01", "pack01")
	hand := newAgent(t, e.broker.URL(), "sz01", "hand01")
	at := func(d time.Duration) string { return wire.Time(t0.Add(d)) }
	pack.send("jp", chain("jp",
		wire.Entry{Kind: wire.KindIntake, OrderID: "O-1", To: "pending_allocation", Order: phoneOrder("1"), At: at(0)},
		wire.Entry{Kind: wire.KindIntake, OrderID: "O-2", To: "pending_allocation", Order: phoneOrder("2"), At: at(time.Second)},
		wire.Entry{Kind: wire.KindIntake, OrderID: "O-3", To: "awaiting_balance", Order: phoneOrder("3"), At: at(2 * time.Second)},
	)...)
	pack.waitAck(1)
	// The other PC journals the same order (held first, earlier: the due time moves earlier), and
	// prints O-2 before its reminder is due.
	hand.send("jh", chain("jh",
		wire.Entry{Kind: wire.KindIntake, OrderID: "O-1", To: "pending_allocation", Order: phoneOrder("1"), At: at(-5 * time.Minute)},
		wire.Entry{Kind: wire.KindStep, OrderID: "O-2", From: "pending_allocation", To: "waybill_printed", Waybill: "SF1234567890123", At: at(10 * time.Minute)},
	)...)
	hand.waitAck(1)
	var ns []hub.NotificationView
	waitFor(t, "O-1 pending and O-2 cancelled", func() bool {
		ns = notifications(t, e.hub, "?site=sz01")
		return len(ns) == 2 && ns[0].State == hub.OutboxPending && ns[1].State == hub.OutboxCancelled
	})
	if ns[0].Subject != "O-1" || !ns[0].Due.Equal(t0.Add(25*time.Minute)) || ns[0].Phone != "138****5678" || ns[0].Text != hub.DefaultReminderText {
		t.Fatalf("O-1's reminder = %+v; want due 25m after the earliest entry, phone masked, the default text", ns[0])
	}
	if ns[1].Subject != "O-2" || !strings.Contains(ns[1].Cancelled, "waybill_printed") {
		t.Fatalf("O-2's reminder = %+v; want it cancelled because the order was printed", ns[1])
	}
	advanceUntil(t, e.clk, time.Minute, "O-1's reminder sent", func() bool {
		ns := notifications(t, e.hub, "?state=sent")
		return len(ns) == 1 && ns[0].Subject == "O-1"
	})
	ok, bodies := rcv.counts()
	if len(ok) != 1 || ok[hub.IdempotencyKey(hub.OutboxKey{Site: "sz01", Order: "O-1", Rule: hub.NoticeReminder})] != 1 {
		t.Fatalf("gateway got %v; want one SMS for O-1", ok)
	}
	if want := `{"to":"` + phone + `","text":"` + hub.DefaultReminderText + `"`; !strings.HasPrefix(bodies[0], want) {
		t.Fatalf("SMS body = %s; want it to start with %s", bodies[0], want)
	}
	// The whole phone is in no API answer, no log line.
	code, body := do(t, e.hub, http.MethodGet, "/v1/notifications", tokenFor(t, e.hub), nil)
	if code != http.StatusOK || strings.Contains(string(body), phone) {
		t.Fatalf("GET /v1/notifications = %d, %s; the phone must be masked", code, body)
	}
	if e.logs.contains(phone) {
		t.Fatal("a log line carries the whole phone number")
	}
	if _, m := do(t, e.hub, http.MethodGet, "/metrics", tokenFor(t, e.hub), nil); strings.Contains(string(m), phone) ||
		!strings.Contains(string(m), `wedge_hub_notifications_total{kind="reminder",result="sent"} 1`) {
		t.Fatal("GET /metrics: want the reminder counted and no phone")
	}
}

// Breaker notices reach the supervisors' webhook signed; a receiver that answers 500 for a while
// gets every notice once it is back; across a hub restart nothing recorded as sent is sent again
// and nothing is lost.
func TestBreakerNoticesSurviveReceiverDownAndRestart(t *testing.T) {
	e, rcv := newNotifyEnv(t)
	e.broker = testbroker.Start(t, nil)
	e.startHub("wedge-hub-test")
	rcv.down.Store(true)
	agents := []*agent{newAgent(t, e.broker.URL(), "sz01", "pack01"), newAgent(t, e.broker.URL(), "sz01", "pack02")}
	status := func(a *agent, open bool, at time.Duration) {
		b, _ := json.Marshal(wire.Status{State: "online", Site: a.site, Agent: a.name, BreakerOpen: open, At: wire.Time(t0.Add(at))})
		a.publish(wire.TopicStatus(a.site, a.name), b)
	}
	for i, a := range agents {
		status(a, true, time.Duration(i)*time.Second)
		status(a, true, time.Duration(i)*time.Second+time.Millisecond) // no change: no notice
	}
	waitFor(t, "two pending notices", func() bool { return len(notifications(t, e.hub, "?state=pending")) == 2 })
	advanceUntil(t, e.clk, 10*time.Second, "three failed tries each", func() bool {
		ns := notifications(t, e.hub, "?state=pending")
		return len(ns) == 2 && ns[0].Attempts >= 3 && ns[1].Attempts >= 3
	})
	rcv.down.Store(false)
	advanceUntil(t, e.clk, 10*time.Second, "both sent after the receiver came back", func() bool {
		return len(notifications(t, e.hub, "?state=sent")) == 2
	})
	// Restart the hub on the same store; more notices come (the breakers close).
	e.stopHub()
	e.startHub("wedge-hub-test")
	for i, a := range agents {
		status(a, false, time.Minute+time.Duration(i)*time.Second)
	}
	advanceUntil(t, e.clk, 10*time.Second, "four sent", func() bool { return len(notifications(t, e.hub, "?state=sent")) == 4 })
	ok, bodies := rcv.counts()
	if len(ok) != 4 {
		t.Fatalf("receiver got %d distinct notices, want 4: %v", len(ok), ok)
	}
	for k, n := range ok {
		if n != 1 {
			t.Errorf("notice %s answered 2xx %d times; a recorded success must not be sent again", k, n)
		}
	}
	if code, m := do(t, e.hub, http.MethodGet, "/metrics", tokenFor(t, e.hub), nil); code != http.StatusOK ||
		!strings.Contains(string(m), `wedge_hub_notifications_total{kind="breaker_closed",result="sent"} 2`) {
		t.Errorf("GET /metrics = %d, want the restarted hub's two sent breaker_closed notices counted", code)
	}
	var b hub.WebhookBody
	if err := json.Unmarshal([]byte(bodies[0]), &b); err != nil || b.Kind != hub.NoticeBreakerOpened || b.Site != "sz01" || b.ID == "" {
		t.Fatalf("webhook body = %s (%v)", bodies[0], err)
	}
}

// A 4xx other than 408/429 fails the notice at once; no phone fails an SMS reminder at once.
func TestNoticeRefusedFailsAtOnce(t *testing.T) {
	e, rcv := newNotifyEnv(t)
	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"error":"bad template"}`, http.StatusBadRequest)
	}))
	defer refuse.Close()
	e.extra = func(o *hub.Options) {
		o.Notify = notifyOptions(t, rcv, e.clk)
		hook, _ := hub.NewWebhook(hub.WebhookOptions{URL: refuse.URL, Secret: []byte("x")})
		o.Notify.Channels["hook"] = hook
	}
	e.broker = testbroker.Start(t, nil)
	e.startHub("wedge-hub-test")
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	b, _ := json.Marshal(wire.Status{State: "online", BreakerOpen: true, At: wire.Time(t0)})
	a.publish(wire.TopicStatus("sz01", "pack01"), b)
	a.send("jp", chain("jp", wire.Entry{Kind: wire.KindIntake, OrderID: "O-1", To: "held", Order: orderMsg("1"), At: wire.Time(t0)})...)
	a.waitAck(1)
	advanceUntil(t, e.clk, time.Minute, "both failed", func() bool { return len(notifications(t, e.hub, "?state=failed")) == 2 })
	for _, n := range notifications(t, e.hub, "?state=failed") {
		if n.Attempts != 1 || n.LastError == "" {
			t.Errorf("failed notice = %+v; want one try and the reason", n)
		}
	}
}

func TestNotificationsQueryChecked(t *testing.T) {
	e, _ := newNotifyEnv(t)
	e.broker = testbroker.Start(t, nil)
	e.startHub("wedge-hub-test")
	for _, q := range []string{"?state=done", "?site=a/b"} {
		if code, body := do(t, e.hub, http.MethodGet, "/v1/notifications"+q, tokenFor(t, e.hub), nil); code != http.StatusBadRequest {
			t.Errorf("GET /v1/notifications%s = %d %s, want 400", q, code, body)
		}
	}
}

// The notification tests again with the hub's state in PostgreSQL (claims with SKIP LOCKED).
func TestNotifyOnPostgres(t *testing.T) {
	srv := testpg.Start(t)
	for _, c := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"ReminderOncePerOrderAcrossTwoPCs", TestReminderOncePerOrderAcrossTwoPCs},
		{"BreakerNoticesSurviveReceiverDownAndRestart", TestBreakerNoticesSurviveReceiverDownAndRestart},
		{"NoticeRefusedFailsAtOnce", TestNoticeRefusedFailsAtOnce},
		{"ReminderCancelledByCancelAndIntercept", TestReminderCancelledByCancelAndIntercept},
		{"FalseCompletionNotice", TestFalseCompletionNotice},
	} {
		t.Run(c.name, func(t *testing.T) {
			envStore = pgStores(t, srv)
			defer func() { envStore = nil }()
			c.run(t)
		})
	}
}

// Two replicas on one PostgreSQL store both receive every agent status (status is not a shared
// subscription) and both run a dispatcher: each notice is queued once and sent once.
func TestTwoReplicasSendEachNoticeOnce(t *testing.T) {
	srv := testpg.Start(t)
	stores := pgStores(t, srv)
	b := testbroker.Start(t, nil)
	clk := clock.NewFake(t0)
	rcv := newReceiver(t, clk)
	opts := func() func(o *hub.Options) {
		return func(o *hub.Options) { o.Store, o.Notify = stores(t), notifyOptions(t, rcv, clk) }
	}
	h1 := startHub(t, b.URL(), t.TempDir(), "wedge-hub-r1", clk, nil, opts())
	startHub(t, b.URL(), t.TempDir(), "wedge-hub-r2", clk, nil, opts())
	const agents = 8
	for i := range agents {
		a := newAgent(t, b.URL(), "sz01", fmt.Sprintf("pack%02d", i))
		st, _ := json.Marshal(wire.Status{State: "online", BreakerOpen: true, At: wire.Time(t0.Add(time.Duration(i) * time.Second))})
		a.publish(wire.TopicStatus(a.site, a.name), st)
	}
	advanceUntil(t, clk, time.Second, "every notice sent", func() bool {
		return len(notifications(t, h1, "?state=sent")) == agents
	})
	ok, _ := rcv.counts()
	if len(ok) != agents {
		t.Fatalf("receiver got %d distinct notices, want %d", len(ok), agents)
	}
	for k, n := range ok {
		if n != 1 {
			t.Errorf("notice %s delivered %d times", k, n)
		}
	}
	if ns := notifications(t, h1, ""); len(ns) != agents {
		t.Errorf("%d notices stored, want %d (one per status change, not per replica)", len(ns), agents)
	}
}

// A pending reminder is cancelled when the order is cancelled (an agent's entry) or intercepted
// (the order system's intercept through POST /v1/orders); held time counts toward the reminder.
func TestReminderCancelledByCancelAndIntercept(t *testing.T) {
	e, rcv := newNotifyEnv(t)
	e.broker = testbroker.Start(t, nil)
	e.startHub("wedge-hub-test")
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	at := func(d time.Duration) string { return wire.Time(t0.Add(d)) }
	a.send("jp", chain("jp",
		wire.Entry{Kind: wire.KindIntake, OrderID: "O-4", To: "pending_allocation", Order: phoneOrder("4"), At: at(0)},
		wire.Entry{Kind: wire.KindIntake, OrderID: "O-5", To: "held", Order: phoneOrder("5"), At: at(0)},
		wire.Entry{Kind: wire.KindStep, OrderID: "O-5", From: "held", To: "cancelled", At: at(time.Minute)},
		wire.Entry{Kind: wire.KindIntake, OrderID: "O-6", To: "held", Order: phoneOrder("6"), At: at(0)},
		wire.Entry{Kind: wire.KindStep, OrderID: "O-6", From: "held", To: "pending_allocation", At: at(10 * time.Minute)},
		wire.Entry{Kind: wire.KindIntake, OrderID: "O-7", To: "awaiting_balance", Order: phoneOrder("7"), At: at(0)},
		wire.Entry{Kind: wire.KindStep, OrderID: "O-7", From: "awaiting_balance", To: "pending_allocation", At: at(20 * time.Minute)},
	)...)
	a.waitAck(1)
	var r postResp
	postJSON(t, e.hub, "/v1/orders", map[string]any{"site": "sz01", "orders": []wire.OrderMsg{{Type: wire.TypeIntercept, OrderID: "O-4", Reason: "buyer asked"}}}, http.StatusOK, &r)
	var ns []hub.NotificationView
	waitFor(t, "O-4 and O-5 cancelled", func() bool {
		ns = notifications(t, e.hub, "")
		return len(ns) == 4 && ns[0].State == hub.OutboxCancelled && ns[1].State == hub.OutboxCancelled
	})
	if ns[0].Subject != "O-4" || ns[0].Cancelled == "" || ns[1].Subject != "O-5" || ns[2].Subject != "O-6" || ns[2].State != hub.OutboxPending {
		t.Fatalf("notifications = %+v", ns)
	}
	if !ns[2].Due.Equal(t0.Add(30 * time.Minute)) {
		t.Fatalf("O-6 due %s; want 30 min from entering 暂停进入 (held time counts)", ns[2].Due)
	}
	if ns[3].Subject != "O-7" || !ns[3].Due.Equal(t0.Add(50*time.Minute)) {
		t.Fatalf("O-7 = %+v; want due 30 min after the balance was paid (待付尾款 time does not count)", ns[3])
	}
	advanceUntil(t, e.clk, time.Minute, "O-6 and O-7 sent", func() bool { return len(notifications(t, e.hub, "?state=sent")) == 2 })
	if ok, _ := rcv.counts(); len(ok) != 2 {
		t.Fatalf("gateway got %v; want O-6's and O-7's reminders", ok)
	}
}

// 伪完成: an order handed over without a carrier first scan within the rule's time is reported to
// the supervisors; one whose first scan arrives in time (or came before the handover) is not.
func TestFalseCompletionNotice(t *testing.T) {
	e, rcv := newNotifyEnv(t)
	e.extra = func(o *hub.Options) {
		o.Notify = notifyOptions(t, rcv, e.clk)
		r := o.Notify.Sites["*"]
		r.FalseCompletion = &hub.FalseCompletionRule{Channel: "hook"}
		o.Notify.Sites["*"] = r
	}
	e.broker = testbroker.Start(t, nil)
	e.startHub("wedge-hub-test")
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	handover := func(id, wb string) []wire.Entry {
		return []wire.Entry{
			{Kind: wire.KindIntake, OrderID: id, To: "pending_allocation", Order: orderMsg(id[2:])},
			{Kind: wire.KindStep, OrderID: id, From: "pending_allocation", To: "waybill_printed", Waybill: wb, Carrier: "sf"},
			{Kind: wire.KindStep, OrderID: id, From: "waybill_printed", To: "picked_up", Waybill: wb},
		}
	}
	tok := newToken(t, e.hub, "carrier", apitoken.TrackingWrite)
	scan := func(wb string) {
		body := `{"carrier":"sf","waybill":"` + wb + `","event":"first_scan","at":"` + wire.Time(t0.Add(time.Hour)) + `"}`
		if code, b := do(t, e.hub, http.MethodPost, "/v1/tracking", tok, []byte(body)); code != http.StatusOK && code != http.StatusAccepted {
			t.Fatalf("POST /v1/tracking = %d %s", code, b)
		}
	}
	scan("SF3000000000003") // before its handover
	var all []wire.Entry
	for _, o := range [][2]string{{"O-1", "SF1000000000001"}, {"O-2", "SF2000000000002"}, {"O-3", "SF3000000000003"}} {
		all = append(all, handover(o[0], o[1])...)
	}
	a.send("jp", chain("jp", all...)...)
	a.waitAck(1)
	checks := func(state string) (subjects []string) {
		for _, n := range notifications(t, e.hub, "?state="+state) {
			if n.Kind == hub.NoticeFalseCompletion {
				subjects = append(subjects, n.Subject)
			}
		}
		return subjects
	}
	waitFor(t, "two checks queued", func() bool { return len(checks("pending")) == 2 })
	scan("SF2000000000002")
	waitFor(t, "O-2's check cancelled", func() bool { c := checks("cancelled"); return len(c) == 1 && c[0] == "O-2" })
	advanceUntil(t, e.clk, 30*time.Minute, "O-1's 伪完成 notice sent", func() bool {
		c := checks("sent")
		return len(c) == 1 && c[0] == "O-1"
	})
	if _, bodies := rcv.counts(); len(bodies) != 1 || !strings.Contains(bodies[0], "SF1000000000001") || !strings.Contains(bodies[0], "伪完成") {
		t.Fatalf("webhook got %v; want O-1's 伪完成 notice only (the reminders were cancelled by the prints)", bodies)
	}
}

// A hub stopped while a notice is in flight releases its claim: the restarted hub sends it at once
// (same idempotency key), without waiting for the lease to run out.
func TestGracefulStopReleasesClaim(t *testing.T) {
	e, rcv := newNotifyEnv(t)
	var hung atomic.Int32
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hung.Add(1) == 1 {
			_, _ = io.Copy(io.Discard, r.Body) // read the body, so the server notices the client leave
			<-r.Context().Done()               // the first try never gets an answer
			return
		}
		rcv.serve(w, r)
	}))
	t.Cleanup(hang.Close) // after the hub's stop (cleanups run last first): Close waits for the hung request
	e.extra = func(o *hub.Options) {
		o.Notify = notifyOptions(t, rcv, e.clk)
		o.Notify.Lease = 24 * time.Hour
		hook, _ := hub.NewWebhook(hub.WebhookOptions{URL: hang.URL + "/hook", Secret: []byte(hookSecret), Clock: e.clk, Timeout: time.Hour})
		o.Notify.Channels["hook"] = hook
	}
	e.broker = testbroker.Start(t, nil)
	e.startHub("wedge-hub-test")
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	b, _ := json.Marshal(wire.Status{State: "online", BreakerOpen: true, At: wire.Time(t0)})
	a.publish(wire.TopicStatus("sz01", "pack01"), b)
	waitFor(t, "the first try in flight", func() bool { return hung.Load() == 1 })
	e.stopHub()
	e.startHub("wedge-hub-test") // the clock does not move: only a released claim can be taken
	waitFor(t, "the notice sent by the restarted hub", func() bool { return len(notifications(t, e.hub, "?state=sent")) == 1 })
	if ok, _ := rcv.counts(); len(ok) != 1 {
		t.Fatalf("receiver got %v", ok)
	}
}
