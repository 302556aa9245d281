package hub_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"wedge/internal/clock"
	"wedge/internal/testbroker"
	"wedge/internal/testpg"
	"wedge/sync/hub"
	"wedge/sync/wire"
)

// tKPI is the KPI tests' start: 06:00 on 2026-01-22 in Shanghai, so that the day has 18 hours
// left for the ticks; the orders are paid 01:00–01:30 local (17:00–17:30Z the day before), all
// past their 4-hour deadline.
var tKPI = time.Date(2026, 1, 21, 22, 0, 0, 0, time.UTC)

// count is how many log lines hold s.
func (l *logSink) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

// rulesHub starts a hub whose periodic rules tick every minute, logging at debug level into logs
// (each tick logs "periodic rules ran"), with rules for every site.
func rulesHub(t *testing.T, b *testbroker.Broker, clk *clock.Fake, rcv *receiver, logs *logSink, clientID string, store func(*testing.T) hub.Store, rules hub.SiteRules) *hub.Hub {
	t.Helper()
	return startHub(t, b.URL(), t.TempDir(), clientID, clk, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		func(o *hub.Options) {
			o.Notify = notifyOptions(t, rcv, clk)
			o.Notify.Sites = map[string]hub.SiteRules{"*": rules}
			o.Notify.Lease = 24 * time.Hour // the ticks move the clock by minutes: a send in flight keeps its claim
			o.Measures.Tick = time.Minute
			o.Measures.ReportAt = "off"
			if store != nil {
				o.Store = store(t)
			}
		})
}

// ticks advances the clock a minute at a time until every hub's log shows n more ticks.
func ticks(t *testing.T, clk *clock.Fake, n int, logs ...*logSink) {
	t.Helper()
	before := make([]int, len(logs))
	for i, l := range logs {
		before[i] = l.count("periodic rules ran")
	}
	advanceUntil(t, clk, time.Minute, fmt.Sprintf("%d ticks", n), func() bool {
		for i, l := range logs {
			if l.count("periodic rules ran") < before[i]+n {
				return false
			}
		}
		return true
	})
}

// kpiOrder journals one order of site sz01 paid at tKPI-5h+paid: intake, print and, when picked
// is not negative, the handover picked after payment.
func kpiOrder(id string, paid, picked time.Duration) []wire.Entry {
	paidAt := tKPI.Add(-5*time.Hour + paid)
	m := orderMsg(id[2:])
	m.OrderID, m.PaidAt = id, wire.Time(paidAt)
	wb := "SF" + strings.Repeat("0", 13-len(id)) + strings.TrimPrefix(id, "O-") + "00"
	out := []wire.Entry{
		{Kind: wire.KindIntake, OrderID: id, To: "pending_allocation", Trigger: wire.TriggerHub, Order: m, At: wire.Time(paidAt.Add(time.Minute))},
		{Kind: wire.KindStep, OrderID: id, From: "pending_allocation", To: "waybill_printed", Waybill: wb, Carrier: "sf", Trigger: wire.TriggerPrint, At: wire.Time(paidAt.Add(2 * time.Minute))},
	}
	if picked >= 0 {
		out = append(out, wire.Entry{Kind: wire.KindStep, OrderID: id, From: "waybill_printed", To: "picked_up", Waybill: wb, Trigger: wire.TriggerScan,
			Station: "handover-1", At: wire.Time(paidAt.Add(picked))})
	}
	return out
}

// kpiNotices are the KPI warnings the receiver answered 2xx, by idempotency key, and their bodies.
func kpiNotices(rcv *receiver) (map[string]int, []hub.WebhookBody) {
	ok, bodies := rcv.counts()
	keys := map[string]int{}
	var out []hub.WebhookBody
	for _, raw := range bodies {
		var b hub.WebhookBody
		if json.Unmarshal([]byte(raw), &b) == nil && b.Kind == hub.NoticeKPIWarning {
			out = append(out, b)
			keys[b.ID] = ok[b.ID]
		}
	}
	return keys, out
}

// A site's KPI of the day under its warning level reaches the supervisors' webhook once: not
// while too few orders are due (1 late of 2), once when it falls under 85 %, not again while it
// stays under, and again after it came back above and fell once more.
func TestKPIWarningNotice(t *testing.T) {
	clk := clock.NewFake(tKPI)
	rcv := newReceiver(t, clk)
	b := testbroker.Start(t, nil)
	logs := &logSink{}
	var store func(*testing.T) hub.Store
	if envStore != nil {
		store = envStore
	}
	h := rulesHub(t, b, clk, rcv, logs, "wedge-hub-kpi", store, hub.SiteRules{KPIWarning: &hub.KPIWarningRule{Channel: "hook", MinOrders: 4}})
	a := newAgent(t, b.URL(), "sz01", "pack01")
	var all []wire.Entry
	batches := 0
	send := func(orders ...[]wire.Entry) {
		t.Helper()
		for _, o := range orders {
			all = append(all, o...)
		}
		a.send("j1", chain("j1", all...)...)
		batches++
		if ack := a.waitAck(batches); ack.AckedSeq != uint64(len(all)) {
			t.Fatalf("ack %+v; want every entry stored (%d)", ack, len(all))
		}
	}
	onTime := func(id string, paid time.Duration) []wire.Entry { return kpiOrder(id, paid, time.Hour) }
	late := func(id string, paid time.Duration) []wire.Entry { return kpiOrder(id, paid, -1) }

	// One on time, one late: 50 %, but only 2 orders due (min 4): nobody is paged.
	send(onTime("O-1", 0), late("O-2", time.Minute))
	ticks(t, clk, 2, logs)
	if keys, _ := kpiNotices(rcv); len(keys) != 0 {
		t.Fatalf("KPI warnings %v with 2 orders due; want none below the minimum of 4", keys)
	}
	// Three more on time: 4 of 5, 80 % < 85 %: one notice.
	send(onTime("O-3", 2*time.Minute), onTime("O-4", 3*time.Minute), onTime("O-5", 4*time.Minute))
	var bodies []hub.WebhookBody
	advanceUntil(t, clk, time.Minute, "the KPI warning sent", func() bool { _, bodies = kpiNotices(rcv); return len(bodies) == 1 })
	text := bodies[0].Text
	for _, want := range []string{"sz01", "揽收时效达标率 80.0%", "低于预警线 85.0%", "目标 92.0%", "已到期 5 单中 4 单", "1 单超时", "2026-01-22",
		"pickup KPI of 2026-01-22 is 80.0%", "4 of the 5 orders", "within 4h of payment", "付款后 4h 内"} {
		if !strings.Contains(text, want) {
			t.Errorf("notice text %q lacks %q", text, want)
		}
	}
	if strings.Index(text, "揽收") > strings.Index(text, "pickup") {
		t.Errorf("notice text %q: Chinese first, then English", text)
	}
	// It stays under: more ticks send nothing more.
	ticks(t, clk, 3, logs)
	if keys, _ := kpiNotices(rcv); len(keys) != 1 {
		t.Fatalf("KPI warnings %v while it stays under; want the first only", keys)
	}
	// Back above (9 of 10 on time, 90 %), then under again (9 of 12, 75 %): a second notice.
	send(onTime("O-6", 5*time.Minute), onTime("O-7", 6*time.Minute), onTime("O-8", 7*time.Minute),
		onTime("O-9", 8*time.Minute), onTime("O-10", 9*time.Minute))
	advanceUntil(t, clk, time.Minute, "the recovery seen", func() bool { return logs.contains("back at or above its warning level") })
	send(late("O-11", 10*time.Minute), late("O-12", 11*time.Minute))
	advanceUntil(t, clk, time.Minute, "the second KPI warning", func() bool { _, bodies = kpiNotices(rcv); return len(bodies) == 2 })
	ticks(t, clk, 2, logs)
	keys, bodies := kpiNotices(rcv)
	if len(keys) != 2 || len(bodies) != 2 {
		t.Fatalf("KPI warnings %v; want two", keys)
	}
	for k, n := range keys {
		if n != 1 {
			t.Errorf("notice %s delivered %d times", k, n)
		}
	}
	if !strings.Contains(bodies[1].Text, "75.0%") || !strings.Contains(bodies[1].Text, "已到期 12 单中 9 单") {
		t.Errorf("second notice %q; want 75.0%% of 12", bodies[1].Text)
	}
	ns := notifications(t, h, "?site=sz01&state=sent")
	if len(ns) != 2 || ns[0].Subject != "kpi:2026-01-22" || ns[0].Kind != hub.NoticeKPIWarning || ns[0].Rule != "kpi_warning#1" || ns[1].Rule != "kpi_warning#2" {
		t.Fatalf("stored notices %+v", ns)
	}
}

// Two replicas on one PostgreSQL store both run the rules' tick: the KPI warning is queued and
// sent once.
func TestKPIWarningTwoReplicasOnce(t *testing.T) {
	srv := testpg.Start(t)
	stores := pgStores(t, srv)
	clk := clock.NewFake(tKPI)
	rcv := newReceiver(t, clk)
	b := testbroker.Start(t, nil)
	rules := hub.SiteRules{KPIWarning: &hub.KPIWarningRule{Channel: "hook", MinOrders: 3, Warn: 0.9, Goal: 0.95}}
	l1, l2 := &logSink{}, &logSink{}
	h1 := rulesHub(t, b, clk, rcv, l1, "wedge-hub-r1", stores, rules)
	rulesHub(t, b, clk, rcv, l2, "wedge-hub-r2", stores, rules)
	a := newAgent(t, b.URL(), "sz01", "pack01")
	var all []wire.Entry
	for i := range 5 {
		picked := time.Hour
		if i == 4 {
			picked = -1
		}
		all = append(all, kpiOrder(fmt.Sprintf("O-%d", i+1), time.Duration(i)*time.Minute, picked)...)
	}
	a.send("j1", chain("j1", all...)...) // 4 of 5: 80 % < 90 %
	a.waitAck(1)
	advanceUntil(t, clk, time.Minute, "the KPI warning sent", func() bool { _, bodies := kpiNotices(rcv); return len(bodies) >= 1 })
	ticks(t, clk, 3, l1, l2)
	keys, bodies := kpiNotices(rcv)
	if len(bodies) != 1 || len(keys) != 1 {
		t.Fatalf("receiver got %d KPI warnings (%v); want one from the two replicas", len(bodies), keys)
	}
	if !strings.Contains(bodies[0].Text, "低于预警线 90.0%（目标 95.0%）") {
		t.Errorf("text %q; want the rule's own levels", bodies[0].Text)
	}
	if ns := notifications(t, h1, "?state=sent"); len(ns) != 1 {
		t.Errorf("%d notices stored, want 1", len(ns))
	}
}

// The periodic rules' tests again with the hub's state in PostgreSQL.
func TestRulesOnPostgres(t *testing.T) {
	srv := testpg.Start(t)
	for _, c := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"KPIWarningNotice", TestKPIWarningNotice},
		{"FalseCompletionListed", TestFalseCompletionListed},
	} {
		t.Run(c.name, func(t *testing.T) {
			envStore = pgStores(t, srv)
			defer func() { envStore = nil }()
			c.run(t)
		})
	}
}
