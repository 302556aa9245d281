package hub_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"wedge/internal/browsertest"
	"wedge/sync/wire"
)

// browserShot saves a full-page screenshot under testdata/out (ignored by git).
func browserShot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := filepath.Join("testdata", "out")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", p)
}

// pollText waits until the element's text contains want.
func pollText(t *testing.T, ctx context.Context, sel, want string) {
	t.Helper()
	js := `(() => { const e = document.querySelector(` + jsString(sel) + `); return !!e && e.textContent.includes(` + jsString(want) + `); })()`
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("%s never showed %q: %v\npage:\n%s", sel, want, err, text)
	}
}

func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

// The central console in a real headless chromium: a supervisor signs in, sees two sites with their
// agents live (online, version, breaker, the settings marker), sends a breaker threshold command
// that comes back attributed to her, and switches to English.
func TestConsoleBrowser(t *testing.T) {
	exe := browsertest.Chromium(t)
	e := newConsoleEnv(t)
	url := e.broker.URL()
	pack := newAgent(t, url, "sz01", "pack01")
	dock := newAgent(t, url, "sz01", "dock01")
	sh := newAgent(t, url, "sh02", "pack01")
	publishStatus(t, pack, wire.Status{JournalID: "jp", Version: "v1.4.0", SettingsHash: "aaaa", Unsynced: 3})
	publishStatus(t, dock, wire.Status{JournalID: "jd", Version: "v1.4.0", SettingsHash: "bbbb", BreakerOpen: true})
	publishStatus(t, sh, wire.Status{JournalID: "js", Version: "v1.3.9", SettingsHash: "cccc"})
	wb1, wb2 := "SF1234567890123", "SF1234567890124"
	pack.send("jp", chain("jp",
		wire.Entry{Kind: wire.KindIntake, OrderID: "O-K1", To: "pending_allocation", Trigger: wire.TriggerHub, Order: paidOrder("O-K1", "2026-01-22T01:00:00"), At: wt("2026-01-22T01:05:00")},
		wire.Entry{Kind: wire.KindStep, OrderID: "O-K1", From: "pending_allocation", To: "waybill_printed", Waybill: wb1, Carrier: "sf", Station: "print-1", Device: "scan-p1", Operator: "李四", Trigger: wire.TriggerPrint, At: wt("2026-01-22T01:30:00")},
		wire.Entry{Kind: wire.KindIntake, OrderID: "O-K2", To: "pending_allocation", Trigger: wire.TriggerHub, Order: paidOrder("O-K2", "2026-01-22T02:00:00"), At: wt("2026-01-22T02:05:00")},
		wire.Entry{Kind: wire.KindStep, OrderID: "O-K2", From: "pending_allocation", To: "waybill_printed", Waybill: wb2, Carrier: "sf", Trigger: wire.TriggerPrint, At: wt("2026-01-22T02:30:00")},
		wire.Entry{Kind: wire.KindReject, OrderID: "O-K1", Reason: "wrong_state", Trigger: wire.TriggerScan, At: wt("2026-01-22T02:40:00")},
		wire.Entry{Kind: wire.KindStep, OrderID: "O-K1", From: "waybill_printed", To: "picked_up", Waybill: wb1, Station: "handover-1", Device: "scan-d1", Operator: "张三", Trigger: wire.TriggerScan, At: wt("2026-01-22T03:00:00")},
		wire.Entry{Kind: wire.KindStep, OrderID: "O-K2", From: "waybill_printed", To: "picked_up", Waybill: wb2, Trigger: wire.TriggerManual,
			Operator: "李四", Detail: "扫描枪故障 scanner broken", At: wt("2026-01-22T07:00:00")},
		wire.Entry{Kind: wire.KindIntake, OrderID: "O-K3", To: "pending_allocation", Trigger: wire.TriggerHub, Order: paidOrder("O-K3", "2026-01-22T07:30:00"), At: wt("2026-01-22T07:40:00")},
	)...)
	pack.waitAck(1)
	// sh02 handed a parcel over (the handed_over note of carrier_first_scan) 14 h before the hub's
	// clock without a courier's first scan since: 伪完成, in the lists. Paid the day before, it
	// is in none of the day's figures.
	wb3 := "SF1234567890125"
	sh.send("js", chain("js",
		wire.Entry{Kind: wire.KindIntake, OrderID: "O-K4", To: "pending_allocation", Trigger: wire.TriggerHub, Order: paidOrder("O-K4", "2026-01-21T15:00:00"), At: wt("2026-01-21T15:05:00")},
		wire.Entry{Kind: wire.KindStep, OrderID: "O-K4", From: "pending_allocation", To: "waybill_printed", Waybill: wb3, Carrier: "zto", Trigger: wire.TriggerPrint, At: wt("2026-01-21T16:00:00")},
		wire.Entry{Kind: wire.KindNote, OrderID: "O-K4", Reason: "handed_over", Waybill: wb3, Station: "dock-9", Device: "scan-d9", Operator: "王五", Trigger: wire.TriggerScan, At: wt("2026-01-21T18:00:00")},
	)...)
	sh.waitAck(1)

	ctx := browsertest.Browser(t, exe, 1400, 900)
	ctx, cancel := context.WithTimeout(ctx, 120*time.Second)
	defer cancel()
	// Not signed in: the login form, nothing else.
	err := chromedp.Do(ctx, chromedp.Navigate(e.hub.URL()+"/console/"), chromedp.WaitVisible(chromedp.CSS(`#login-user`)))
	if err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#login-user`), "alice"), chromedp.SendKeys(chromedp.CSS(`#login-pass`), "wrong"),
		chromedp.Click(chromedp.CSS(`#login-submit`)))
	if err != nil {
		t.Fatal(err)
	}
	pollText(t, ctx, "#login-error", "用户名或密码错误")
	err = chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`#login-pass`), "alice-pw"), chromedp.Click(chromedp.CSS(`#login-submit`)),
		chromedp.WaitVisible(chromedp.CSS(`#conn.ok`)))
	if err != nil {
		t.Fatal(err)
	}
	pollText(t, ctx, "#who", "alice · 主管")
	pollText(t, ctx, `.site[data-site="sh02"] tr[data-agent="pack01"]`, "v1.3.9")
	pollText(t, ctx, `.site[data-site="sz01"] tr[data-agent="dock01"] .breaker`, "已熔断")
	pollText(t, ctx, `.site[data-site="sz01"] tr[data-agent="pack01"]`, "在线")
	pollText(t, ctx, `.site[data-site="sz01"] tr[data-agent="pack01"] .settings`, "与同仓不一致")
	pollText(t, ctx, `#net-summary`, "2 仓库")
	pollText(t, ctx, `#net-summary`, "已揽收 2")

	// A threshold command from the console comes back in the overview, by console:alice.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`.site[data-site="sz01"] tr[data-agent="dock01"] .cmd-btn`)),
		chromedp.WaitVisible(chromedp.CSS(`#cmd-reason`)),
		chromedp.SetValue(chromedp.CSS(`#cmd-max-backlog`), "350"),
		chromedp.SendKeys(chromedp.CSS(`#cmd-reason`), "双十一加派人手"),
		chromedp.Click(chromedp.CSS(`#cmd-submit`)),
		chromedp.WaitNotVisible(chromedp.CSS(`#cmd-dialog`)))
	if err != nil {
		t.Fatal(err)
	}
	pollText(t, ctx, `.site[data-site="sz01"] tr[data-agent="dock01"]`, "console:alice")
	pollText(t, ctx, `.site[data-site="sz01"] tr[data-agent="dock01"]`, "≤350")
	browserShot(t, ctx, "hub-console-network.png")

	pollText(t, ctx, `.site[data-site="sz01"] .site-backlog`, "待分仓 1 · 平均等待 20m0s")

	// KPI: the network by site, then sz01 with its late order; the late order's trace.
	err = chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#tabs button[data-tab="kpi"]`)),
		chromedp.SetValue(chromedp.CSS(`#kpi-from`), "2026-01-22"), chromedp.SetValue(chromedp.CSS(`#kpi-to`), "2026-01-22"),
		chromedp.Click(chromedp.CSS(`#kpi-form button`)))
	if err != nil {
		t.Fatal(err)
	}
	pollText(t, ctx, `.kpi tr[data-key="sz01"] .rate`, "50.0%")
	pollText(t, ctx, `.kpi tr[data-key="sz01"] .late`, "1")
	browserShot(t, ctx, "hub-console-kpi.png")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`.kpi a.drill[data-site="sz01"]`))); err != nil {
		t.Fatal(err)
	}
	pollText(t, ctx, `#kpi-crumbs`, "sz01")
	pollText(t, ctx, `.late tr[data-order="O-K2"]`, "5")

	// Trace by the waybill: who, where, when, from → to, chain checked.
	err = chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#tabs button[data-tab="trace"]`)),
		chromedp.SendKeys(chromedp.CSS(`#trace-q`), wb1), chromedp.Click(chromedp.CSS(`#trace-form button`)))
	if err != nil {
		t.Fatal(err)
	}
	pollText(t, ctx, `.trace-order[data-order="O-K1"] h2`, wb1)
	pollText(t, ctx, `.trace-order[data-order="O-K1"] tr[data-seq="6"]`, "张三")
	pollText(t, ctx, `.trace-order[data-order="O-K1"] tr[data-seq="6"]`, "sz01/pack01 · handover-1")
	pollText(t, ctx, `.trace-order[data-order="O-K1"] tr[data-seq="6"]`, "waybill_printed → picked_up")
	pollText(t, ctx, `.trace-order[data-order="O-K1"] tr[data-seq="6"] .chain`, "✓")
	browserShot(t, ctx, "hub-console-trace.png")

	// Anomalies by cause: the refused scan and the manual confirmation, in the table and the chart.
	err = chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#tabs button[data-tab="anomalies"]`)),
		chromedp.SetValue(chromedp.CSS(`#anom-from`), "2026-01-22"), chromedp.SetValue(chromedp.CSS(`#anom-to`), "2026-01-22"),
		chromedp.Click(chromedp.CSS(`#anom-form button`)))
	if err != nil {
		t.Fatal(err)
	}
	pollText(t, ctx, `.anomalies tr[data-cause="state_desync"]`, "跨系统状态不同步")
	pollText(t, ctx, `.anomalies tr[data-cause="state_desync"] .count`, "1")
	pollText(t, ctx, `.anomalies tr[data-cause="manual_untraced"] .count`, "1")
	pollText(t, ctx, `#anom-chart g[data-cause="manual_untraced"] .value`, "1")
	browserShot(t, ctx, "hub-console-anomalies.png")

	// Lists: the rejected scans, filtered by site.
	err = chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#tabs button[data-tab="lists"]`)),
		chromedp.SetValue(chromedp.CSS(`#list-kind`), "rejected"), chromedp.SendKeys(chromedp.CSS(`#list-site`), "sz01"),
		chromedp.Click(chromedp.CSS(`#list-form button`)))
	if err != nil {
		t.Fatal(err)
	}
	pollText(t, ctx, `#list-out .list`, "O-K1")
	// 伪完成 at sh02: the parcel, who handed it over where, when the first scan was due.
	err = chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS(`#list-kind`), "false_completion"), chromedp.SetValue(chromedp.CSS(`#list-site`), "sh02"),
		chromedp.Click(chromedp.CSS(`#list-form button`)))
	if err != nil {
		t.Fatal(err)
	}
	pollText(t, ctx, `#list-out .list`, "O-K4")
	for _, want := range []string{wb3, "zto", "dock-9 · scan-d9", "王五", "伪完成", "sh02/pack01"} {
		pollText(t, ctx, `#list-out .list`, want)
	}
	browserShot(t, ctx, "hub-console-false-completion.png")
	// Consistency and presale render their summaries.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#tabs button[data-tab="consistency"]`))); err != nil {
		t.Fatal(err)
	}
	pollText(t, ctx, `#cons-out .summary`, "一致率")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#tabs button[data-tab="presale"]`))); err != nil {
		t.Fatal(err)
	}
	pollText(t, ctx, `#pre-out .summary`, "已付定金 0")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#tabs button[data-tab="network"]`))); err != nil {
		t.Fatal(err)
	}

	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#lang-btn`))); err != nil {
		t.Fatal(err)
	}
	pollText(t, ctx, "header h1", "Central console")
	pollText(t, ctx, `.site[data-site="sz01"] tr[data-agent="dock01"] .breaker`, "open")
	browserShot(t, ctx, "hub-console-network-en.png")

	// A viewer signs in to the same overview, without the command buttons.
	err = chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#logout-btn`)), chromedp.WaitVisible(chromedp.CSS(`#login-user`)),
		chromedp.SetValue(chromedp.CSS(`#login-user`), "vera"), chromedp.SendKeys(chromedp.CSS(`#login-pass`), "vera-pw"),
		chromedp.Click(chromedp.CSS(`#login-submit`)), chromedp.WaitVisible(chromedp.CSS(`#conn.ok`)))
	if err != nil {
		t.Fatal(err)
	}
	pollText(t, ctx, "#who", "vera · viewer")
	pollText(t, ctx, `.site[data-site="sz01"] tr[data-agent="dock01"]`, "console:alice")
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(".cmd-btn").length`))
	if err != nil || n != 0 {
		t.Fatalf("a viewer sees %d command buttons (%v)", n, err)
	}
}
