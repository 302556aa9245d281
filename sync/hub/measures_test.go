package hub_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"wedge/internal/clock"
	"wedge/internal/mail"
	"wedge/internal/mail/mailtest"
	"wedge/internal/testbroker"
	"wedge/sync/hub"
	"wedge/sync/hub/central"
	"wedge/sync/wire"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files of testdata/")

func wt(s string) string { return s[:len("2026-01-22T01:00:00")] + ".000Z" }

// paidOrder is an order message paid at paid (UTC, "2026-01-22T01:00:00").
func paidOrder(id, paid string) *wire.OrderMsg {
	m := orderMsg(id[2:])
	m.OrderID, m.PaidAt = id, wt(paid)
	return m
}

// measuresEnv is a hub that writes its daily report at 10:00 Shanghai and mails it to srv.
func measuresEnv(t *testing.T, srv *mailtest.Server) *env {
	e := &env{t: t, broker: testbroker.Start(t, nil), dir: t.TempDir(), clk: clock.NewFake(t0), logs: &logSink{}}
	e.extra = func(o *hub.Options) {
		o.Measures.ReportAt = "10:00"
		o.Measures.Mailer = mail.Config{Host: srv.Host(), Port: srv.Port(), From: "hub@example.com", To: []string{"ops@example.com"}}
		o.Measures.Tick = -1 // the clock's timers are then the report's and the dispatcher's (the tests wait for them)
	}
	e.startHub("wedge-hub-measures")
	return e
}

// The network fixture, all on 2026-01-22 (Asia/Shanghai), site sz01, hub clock from 08:00Z:
//
//	O-K1 paid 01:00Z; printed on pack01 (01:30Z); pack01 goes offline; the courier's handover is
//	     scanned on pack02 at 03:00Z (2 h: on time), and pack02's journal reaches the hub at
//	     10:00Z, hours later. The KPI takes the scan's time.
//	O-K2 paid 02:00Z; printed and handed over on pack01, the handover confirmed by hand at
//	     07:00Z (5 h: late; a manual confirmation).
//	pack01 also refused a scan of O-K1 (wrong_state) at 03:00Z.
func TestCentralMeasuresOnTheHub(t *testing.T) {
	srv := mailtest.Start(t)
	e := measuresEnv(t, srv)
	pc1 := newAgent(t, e.broker.URL(), "sz01", "pack01")
	pc2 := newAgent(t, e.broker.URL(), "sz01", "pack02")
	wb1, wb2 := "SF1234567890123", "SF1234567890124"
	j1 := chain("j1",
		wire.Entry{Kind: wire.KindIntake, OrderID: "O-K1", To: "pending_allocation", Trigger: wire.TriggerHub, Order: paidOrder("O-K1", "2026-01-22T01:00:00"), At: wt("2026-01-22T01:05:00")},
		wire.Entry{Kind: wire.KindStep, OrderID: "O-K1", From: "pending_allocation", To: "waybill_printed", Waybill: wb1, Carrier: "sf", Trigger: wire.TriggerPrint, At: wt("2026-01-22T01:30:00")},
		wire.Entry{Kind: wire.KindIntake, OrderID: "O-K2", To: "pending_allocation", Trigger: wire.TriggerHub, Order: paidOrder("O-K2", "2026-01-22T02:00:00"), At: wt("2026-01-22T02:05:00")},
		wire.Entry{Kind: wire.KindStep, OrderID: "O-K2", From: "pending_allocation", To: "waybill_printed", Waybill: wb2, Carrier: "sf", Trigger: wire.TriggerPrint, At: wt("2026-01-22T02:30:00")},
		wire.Entry{Kind: wire.KindReject, OrderID: "O-K1", Reason: "wrong_state", Trigger: wire.TriggerScan, At: wt("2026-01-22T03:00:00")},
		wire.Entry{Kind: wire.KindStep, OrderID: "O-K2", From: "waybill_printed", To: "picked_up", Waybill: wb2, Trigger: wire.TriggerManual,
			Operator: "李四", Detail: "扫描枪故障 scanner broken", At: wt("2026-01-22T07:00:00")},
	)
	pc1.send("j1", j1...)
	pc1.waitAck(1)

	e.clk.Advance(2 * time.Hour) // 10:00Z: pack02 is back online
	j2 := chain("j2",
		wire.Entry{Kind: wire.KindIntake, OrderID: "O-K1", To: "pending_allocation", Trigger: wire.TriggerHub, Order: paidOrder("O-K1", "2026-01-22T01:00:00"), At: wt("2026-01-22T01:06:00")},
		wire.Entry{Kind: wire.KindMerge, OrderID: "O-K1", To: "waybill_printed", Waybill: wb1, Trigger: wire.TriggerHub, At: wt("2026-01-22T01:31:00")},
		wire.Entry{Kind: wire.KindStep, OrderID: "O-K1", From: "waybill_printed", To: "picked_up", Waybill: wb1, Trigger: wire.TriggerScan, Station: "handover-2", At: wt("2026-01-22T03:00:00")},
	)
	pc2.send("j2", j2...)
	pc2.waitAck(1)
	if o := e.order("O-K1"); o.State != "picked_up" || o.History[len(o.History)-1].ReceivedAt != wt("2026-01-22T10:00:00") {
		t.Fatalf("fixture: O-K1 = %+v (its handover must reach the hub at 10:00Z)", o)
	}

	var kpi central.KPIReport
	getJSON(t, e.hub, "/v1/kpi?from=2026-01-22&to=2026-01-22&by=site", http.StatusOK, &kpi)
	if len(kpi.Rows) != 1 || kpi.Rows[0] != (central.Row{Key: "sz01", Orders: 2, PickedOnTime: 1, Late: 1, Rate: 0.5, Level: "bad"}) || kpi.Goal != 0.92 || kpi.Warn != 0.85 {
		t.Fatalf("kpi = %+v", kpi)
	}
	var late []central.LateOrder
	getJSON(t, e.hub, "/v1/kpi/late?site=sz01&from=2026-01-22&to=2026-01-22", http.StatusOK, &late)
	if len(late) != 1 || late[0].OrderID != "O-K2" || late[0].Agent != "pack01" || late[0].Hours != 5 {
		t.Fatalf("late = %+v", late)
	}
	var an central.AnomalyReport
	getJSON(t, e.hub, "/v1/anomalies?from=2026-01-22&to=2026-01-22", http.StatusOK, &an)
	if len(an.Series) != 2 || an.Series[0] != (central.CauseDay{Day: "2026-01-22", Cause: central.CauseManualUntraced, Count: 1}) ||
		an.Series[1] != (central.CauseDay{Day: "2026-01-22", Cause: central.CauseStateDesync, Count: 1}) || len(an.Causes) != 5 {
		t.Fatalf("anomalies = %+v", an)
	}

	// Consistency: pack01 last journaled O-K1 as printed, the hub has it picked up.
	e.clk.Advance(11 * time.Minute)
	var cons central.Consistency
	getJSON(t, e.hub, "/v1/consistency?site=sz01", http.StatusOK, &cons)
	if cons.Compared != 2 || cons.Agree != 1 || len(cons.Orders) != 1 || cons.Orders[0].OrderID != "O-K1" || cons.Level != "bad" {
		t.Fatalf("consistency = %+v", cons)
	}
	// pack01 merges the hub's 已揽收: they agree again.
	j1b := chain("j1", append(j1, wire.Entry{Kind: wire.KindMerge, OrderID: "O-K1", To: "picked_up", Waybill: wb1, Trigger: wire.TriggerHub, At: wt("2026-01-22T10:12:00")})...)
	pc1.send("j1", j1b[len(j1):]...)
	pc1.waitAck(2)
	e.clk.Advance(11 * time.Minute)
	getJSON(t, e.hub, "/v1/consistency", http.StatusOK, &cons)
	if cons.Compared != 2 || cons.Agree != 2 || cons.Ratio != 1 || cons.Level != "ok" {
		t.Fatalf("consistency after the merge = %+v", cons)
	}
	// The merge did not move the KPI: O-K1 is still on time at pack02's scan.
	getJSON(t, e.hub, "/v1/kpi?by=day", http.StatusOK, &kpi)
	if kpi.Total.PickedOnTime != 1 || kpi.Total.Late != 1 || len(kpi.Rows) != 1 || kpi.Rows[0].Key != "2026-01-22" {
		t.Fatalf("kpi by day = %+v", kpi)
	}

	checkDailyReport(t, e, srv)
}

// checkDailyReport: nothing before 10:00 Shanghai on the 23rd; at 10:00 the 22nd's report is
// stored, served as CSV (golden), HTML and mailed.
func checkDailyReport(t *testing.T, e *env, srv *mailtest.Server) {
	code, _ := do(t, e.hub, http.MethodGet, "/v1/reports/daily/2026-01-22", tokenFor(t, e.hub), nil)
	if code != http.StatusNotFound {
		t.Fatalf("report before 10:00: %d", code)
	}
	waitFor(t, "the report's timer", func() bool { return e.clk.Waiters() >= 2 }) // the report's and the outbox dispatcher's
	e.clk.Set(time.Date(2026, 1, 23, 1, 59, 0, 0, time.UTC))                      // 09:59 Shanghai
	e.clk.Advance(time.Minute)                                                    // 10:00
	waitFor(t, "the e-mailed report", func() bool { return len(srv.Messages()) == 1 })
	code, csv := do(t, e.hub, http.MethodGet, "/v1/reports/daily/2026-01-22?format=csv", tokenFor(t, e.hub), nil)
	if code != http.StatusOK {
		t.Fatalf("csv: %d %s", code, csv)
	}
	golden := filepath.Join("testdata", "daily-2026-01-22.csv")
	if *updateGolden {
		if err := os.WriteFile(golden, csv, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil || string(csv) != string(want) {
		t.Fatalf("CSV differs from %s (%v):\n%s\nwant\n%s", golden, err, csv, want)
	}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://"+e.hub.Addr()+"/v1/reports/daily/2026-01-22", nil)
	req.Header.Set("Authorization", "Bearer "+tokenFor(t, e.hub))
	req.Header.Set("Accept", "text/csv")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" {
		t.Fatalf("Accept: text/csv: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	_, page := do(t, e.hub, http.MethodGet, "/v1/reports/daily/2026-01-22", tokenFor(t, e.hub), nil)
	if !strings.Contains(string(page), "每日一致性报告 2026-01-22") || !strings.Contains(string(page), "100.00%") {
		t.Fatalf("html:\n%s", page)
	}
	m := srv.Messages()[0]
	if len(m.To) != 1 || m.To[0] != "ops@example.com" || !strings.Contains(m.Data, "filename=daily-2026-01-22.csv") ||
		!strings.Contains(m.Data, base64.StdEncoding.EncodeToString(want)[:60]) {
		t.Fatalf("mail:\n%s", m.Data)
	}
	if code, _ := do(t, e.hub, http.MethodGet, "/v1/reports/daily/22-01-2026", tokenFor(t, e.hub), nil); code != http.StatusBadRequest {
		t.Errorf("bad date: %d", code)
	}
}

// The presale watch: the hub notes when the balance_paid message was posted; an order no PC moved
// into 待分仓 within 48 h is 疑似异常, one that got there counts in the average.
func TestPresaleWatchOnTheHub(t *testing.T) {
	e := newEnv(t)
	dep := func(id string) wire.OrderMsg {
		m := *orderMsg(id[2:])
		m.OrderID, m.Payment = id, "deposit"
		return m
	}
	var pr postResp
	postJSON(t, e.hub, "/v1/orders", map[string]any{"site": "sz01", "orders": []wire.OrderMsg{dep("O-P1"), dep("O-P2"), dep("O-P3")}}, http.StatusOK, &pr)
	e.clk.Advance(time.Hour) // 09:00Z: both balances are paid
	postJSON(t, e.hub, "/v1/orders", map[string]any{"site": "sz01", "orders": []wire.OrderMsg{
		{Type: wire.TypeBalancePaid, OrderID: "O-P1"}, {Type: wire.TypeBalancePaid, OrderID: "O-P2"}}}, http.StatusOK, &pr)
	pc := newAgent(t, e.broker.URL(), "sz01", "pack01")
	pc.send("j1", chain("j1",
		wire.Entry{Kind: wire.KindIntake, OrderID: "O-P1", To: "awaiting_balance", Trigger: wire.TriggerHub, Order: ptr(dep("O-P1")), At: wt("2026-01-22T08:01:00")},
		wire.Entry{Kind: wire.KindStep, OrderID: "O-P1", From: "awaiting_balance", To: "pending_allocation", Trigger: wire.TriggerHub, At: wt("2026-01-22T11:00:00")},
	)...)
	pc.waitAck(1)
	e.clk.Advance(49 * time.Hour)
	var p central.Presale
	getJSON(t, e.hub, "/v1/presale?site=sz01", http.StatusOK, &p)
	if p.Deposits != 3 || p.BalancePaid != 2 || p.Reached != 1 || p.AvgHoursToPending != 2 || len(p.AwaitingBalance) != 1 || p.AwaitingBalance[0].OrderID != "O-P3" {
		t.Fatalf("presale = %+v", p)
	}
	if len(p.Suspect) != 1 || p.Suspect[0].OrderID != "O-P2" || p.Suspect[0].BalancePaidAt != wt("2026-01-22T09:00:00") || p.Suspect[0].Hours != 49 {
		t.Fatalf("suspect = %+v", p.Suspect)
	}
}

func ptr[T any](v T) *T { return &v }

// flakyMailer fails its first send, then delivers through next.
type flakyMailer struct {
	next  hub.Mailer
	calls atomic.Int32
}

func (f *flakyMailer) Send(ctx context.Context, m mail.Message) error {
	if f.calls.Add(1) == 1 {
		return errors.New("relay unreachable")
	}
	return f.next.Send(ctx, m)
}

// A report whose e-mail fails is stored at once and mailed by the outbox's retry after its backoff
// (30 s by default), once; the row says it was sent after two tries.
func TestDailyReportMailRetried(t *testing.T) {
	srv := mailtest.Start(t)
	fm := &flakyMailer{next: mail.Config{Host: srv.Host(), Port: srv.Port(), From: "hub@example.com", To: []string{"ops@example.com"}}}
	e := &env{t: t, broker: testbroker.Start(t, nil), dir: t.TempDir(), clk: clock.NewFake(t0), logs: &logSink{}}
	e.extra = func(o *hub.Options) { o.Measures.Mailer, o.Measures.Tick = fm, -1 } // report_at: the default, 10:00 Shanghai; no rules' timer
	e.startHub("wedge-hub-mail-retry")
	waitFor(t, "the report's timer", func() bool { return e.clk.Waiters() >= 2 }) // the report's and the dispatcher's
	e.clk.Set(time.Date(2026, 1, 23, 2, 0, 0, 0, time.UTC))
	waitFor(t, "the first, failed send", func() bool { return fm.calls.Load() == 1 })
	if code, body := do(t, e.hub, http.MethodGet, "/v1/reports/daily/2026-01-22?format=json", tokenFor(t, e.hub), nil); code != http.StatusOK ||
		!strings.Contains(string(body), `"day":"2026-01-22"`) {
		t.Fatalf("report not stored after the failed send: %d %s", code, body)
	}
	advanceUntil(t, e.clk, 5*time.Second, "the retried e-mail, recorded", func() bool {
		ns := reportNotices(t, e.hub)
		return len(ns) == 1 && ns[0].State == hub.OutboxSent
	})
	e.clk.Advance(time.Hour)
	ns := reportNotices(t, e.hub)
	if len(srv.Messages()) != 1 || fm.calls.Load() != 2 || len(ns) != 1 || ns[0].State != hub.OutboxSent || ns[0].Attempts != 2 {
		t.Errorf("mailed %d times, %d sends, rows %+v", len(srv.Messages()), fm.calls.Load(), ns)
	}
}

// The hub's own anomalies are counted in the hour it saw them: a broken chain (evidence), a
// malformed batch.
func TestHubSideAnomaliesCounted(t *testing.T) {
	e := newEnv(t)
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	entries := chain("j1", spine("O-A1")...)
	entries[2].Station = "edited" // its hash no longer matches
	a.send("j1", entries...)
	a.waitAck(1)
	a.publish(wire.TopicEvents("sz01", "pack01"), []byte("{not json"))
	waitFor(t, "the malformed batch counted", func() bool { return e.stats().MalformedDropped == 1 })
	var an central.AnomalyReport
	getJSON(t, e.hub, "/v1/anomalies?from=2026-01-22&to=2026-01-22&site=sz01", http.StatusOK, &an)
	want := []central.KindCount{{Kind: central.KindChainBreak, Cause: central.CauseManualUntraced, Count: 1},
		{Kind: central.KindMalformed, Cause: central.CauseFieldMapping, Count: 1}}
	if len(an.Kinds) != 2 || an.Kinds[0] != want[0] || an.Kinds[1] != want[1] {
		t.Fatalf("kinds = %+v", an.Kinds)
	}
	if len(an.BySite) != 2 || an.BySite[0].Site != "sz01" {
		t.Errorf("by site = %+v", an.BySite)
	}
}

// Bad query parameters get a clear 400 in both languages; an empty hub answers with empty lists.
func TestMeasuresBadInputAndEmptyHub(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/v1/kpi?by=weekday", "/v1/kpi?from=2026-13-01", "/v1/kpi/late?to=yesterday",
		"/v1/anomalies?from=2026-01-23&to=2026-01-22", "/v1/reports/daily/today"} {
		code, body := do(t, e.hub, http.MethodGet, path, tokenFor(t, e.hub), nil)
		if code != http.StatusBadRequest || !strings.Contains(string(body), `"zh"`) {
			t.Errorf("GET %s: %d %s, want 400", path, code, body)
		}
	}
	var kpi map[string]any
	getJSON(t, e.hub, "/v1/kpi", http.StatusOK, &kpi)
	if kpi["by"] != "site" || kpi["rows"] == nil || len(kpi["rows"].([]any)) != 0 {
		t.Errorf("empty kpi = %v", kpi)
	}
	var an map[string]any
	getJSON(t, e.hub, "/v1/anomalies", http.StatusOK, &an)
	if an["series"] == nil || an["by_site"] == nil || len(an["causes"].([]any)) != 5 {
		t.Errorf("empty anomalies = %v", an)
	}
	var c map[string]any
	getJSON(t, e.hub, "/v1/consistency", http.StatusOK, &c)
	if c["orders"] == nil || c["ratio"] != 1.0 {
		t.Errorf("empty consistency = %v", c)
	}
	var p map[string]any
	getJSON(t, e.hub, "/v1/presale", http.StatusOK, &p)
	if p["suspect"] == nil || p["awaiting_balance"] == nil {
		t.Errorf("empty presale = %v", p)
	}
}

// A hub that was down at 10:00 writes the missed report when it starts; a first start does not
// invent a report for a day without anything in it.
func TestDailyReportCaughtUpAtStart(t *testing.T) {
	// 2026-01-22 16:00 Shanghai: the 21st had nothing, no report. No periodic rules: the report's
	// timer is then the clock's only one.
	e := &env{t: t, broker: testbroker.Start(t, nil), dir: t.TempDir(), clk: clock.NewFake(t0), logs: &logSink{}}
	e.extra = func(o *hub.Options) { o.Measures.Tick = -1 }
	e.startHub("wedge-hub-test")
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	a.send("j1", chain("j1", spine("O-R1")...)...)
	a.waitAck(1)
	token := tokenFor(t, e.hub)
	waitFor(t, "the report loop asleep (its start-up catch-up done)", func() bool { return e.clk.Waiters() >= 1 })
	if code, _ := do(t, e.hub, http.MethodGet, "/v1/reports/daily/2026-01-21", token, nil); code != http.StatusNotFound {
		t.Fatalf("report for an empty day before the first start: %d", code)
	}
	e.stopHub()
	e.clk.Set(time.Date(2026, 1, 23, 3, 0, 0, 0, time.UTC)) // 11:00 Shanghai: the 10:00 report was missed
	e.startHub("wedge-hub-test")
	var rep central.DailyReport
	waitFor(t, "the missed report", func() bool {
		code, body := do(t, e.hub, http.MethodGet, "/v1/reports/daily/2026-01-22?format=json", tokenFor(t, e.hub), nil)
		return code == http.StatusOK && json.Unmarshal(body, &rep) == nil
	})
	if rep.Total.OrdersIn != 1 || rep.Total.PerState["picked_up"] != 1 || len(rep.Sites) != 1 {
		t.Errorf("report = %+v", rep)
	}
}

// Bad measures options stop New with ErrOptions; report_at off starts no report and stops cleanly.
func TestMeasuresOptions(t *testing.T) {
	b := testbroker.Start(t, nil)
	for _, bad := range []hub.MeasuresOptions{{ReportAt: "25:00"}, {Options: central.Options{SiteZones: map[string]string{"S": "Mars/Base"}}},
		{Options: central.Options{ConsistencyGoal: 0.9, ConsistencyWarn: 0.95}}} {
		_, err := hub.New(context.Background(), hub.Options{BrokerURL: b.URL(), DataDir: t.TempDir(), Listen: "127.0.0.1:0", Measures: bad})
		if !errors.Is(err, hub.ErrOptions) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	clk := clock.NewFake(t0)
	h := startHub(t, b.URL(), t.TempDir(), "wedge-hub-off", clk, nil, func(o *hub.Options) {
		o.Measures.ReportAt, o.Measures.Tick = "off", -1 // (and the periodic rules off: no timer of theirs either)
	})
	if clk.Waiters() != 0 {
		t.Error("a report timer with report_at off")
	}
	if err := h.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A day's report reads the orders still open and those finished since shortly before the day, not
// every order ever stored: an order picked up four days earlier is neither read nor compared again,
// an order still waiting since then is (it is stuck), and the day's own order counts.
func TestDailyReportReadsTheDaysOrders(t *testing.T) {
	e := &env{t: t, broker: testbroker.Start(t, nil), dir: t.TempDir(), clk: clock.NewFake(t0), logs: &logSink{}}
	e.extra = func(o *hub.Options) { o.Measures.Tick = -1 }
	e.startHub("wedge-hub-test")
	pc1 := newAgent(t, e.broker.URL(), "sz01", "pack01")
	pc1.send("j1", chain("j1", append(spine("O-OLD"), spine("O-OPEN")[0])...)...) // the 22nd: one picked up, one left waiting
	pc1.waitAck(1)

	e.clk.Set(time.Date(2026, 1, 26, 2, 0, 0, 0, time.UTC)) // 10:00 on the 26th, Shanghai
	day := spine("O-NEW")
	for i := range day {
		day[i].At = wire.Time(e.clk.Now().Add(time.Duration(i) * time.Minute))
		if day[i].Waybill != "" {
			day[i].Waybill = "SF1234567890124"
		}
	}
	pc2 := newAgent(t, e.broker.URL(), "sz01", "pack02")
	pc2.send("j2", chain("j2", day...)...)
	pc2.waitAck(1)
	if o := e.order("O-NEW"); o.State != "picked_up" {
		t.Fatalf("fixture: O-NEW = %+v", o)
	}

	e.clk.Set(time.Date(2026, 1, 26, 20, 0, 0, 0, time.UTC)) // 04:00 on the 27th: everything settled
	if err := e.hub.WriteDailyReport(context.Background(), "2026-01-26"); err != nil {
		t.Fatal(err)
	}
	var rep central.DailyReport
	code, body := do(t, e.hub, http.MethodGet, "/v1/reports/daily/2026-01-26?format=json", tokenFor(t, e.hub), nil)
	if code != http.StatusOK || json.Unmarshal(body, &rep) != nil {
		t.Fatalf("report: %d %s", code, body)
	}
	// Compared: O-NEW and O-OPEN; O-OLD, finished on the 22nd, was the 22nd's report's.
	if rep.Total.OrdersIn != 1 || rep.Total.Stuck != 1 || rep.Total.Compared != 2 || rep.Total.Agree != 2 {
		t.Errorf("report total = %+v", rep.Total)
	}
}
