package console_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"wedge/agent/breaker"
	"wedge/agent/console"
	"wedge/agent/console/consoletest"
	"wedge/order"
	"wedge/sync/wire"
)

// outDir is where screenshots go: testdata/out (ignored by git), kept as test output.
func outDir(t *testing.T) string {
	d := filepath.Join("testdata", "out")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// css marks a selector as CSS (a plain string would be a DOM search).
func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

func TestBrowser(t *testing.T) {
	exe := consoletest.Chromium(t)
	e := newEnv(t, nil)
	ctx := consoletest.Browser(t, exe, 1400, 900)
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	defer cancelT()
	shot := func(name string) {
		buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 = PNG
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		p := filepath.Join(outDir(t), name)
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot %s", p)
		if name == "console.png" && os.Getenv("WEDGE_UPDATE_DOCS") == "1" {
			os.WriteFile(filepath.Join("..", "..", "docs", "img", "console.png"), buf, 0o644)
		}
	}

	// The console loads and goes live.
	if err := chromedp.Do(ctx, chromedp.Navigate(e.srv.URL+"/"), chromedp.WaitVisible(css(`#conn.ok`))); err != nil {
		t.Fatal(err)
	}
	title, _ := chromedp.Run(ctx, chromedp.Text(css(`header h1 span`)))
	if title != "主管看板" {
		t.Fatalf("default language: title %q", title)
	}

	// Some live scans, then the breaker trips.
	for i, s := range []console.Scan{
		{Station: "print-1", Device: "scanner-a", Operator: "李四", Code: "TB20261111001", Result: "accepted", Message: order.Message{ZH: "成功", EN: "OK"}},
		{Station: "handover-1", Device: "scanner-b", Operator: "张三", Code: "SF1234567890123", Result: "rejected", Reason: order.ReasonNotPrinted, Message: order.ReasonNotPrinted.Message(order.PendingAllocation)},
	} {
		s.At = time.Now().Add(time.Duration(i) * time.Second)
		e.c.Publish(console.ScanEvent(s))
	}
	clk := e.clk
	br, _ := breaker.New(breaker.Options{Clock: clk})
	tr := br.Observe(201, 5*time.Minute)
	b := board()
	b.Counts[order.PendingAllocation] = 201
	b.Backlog.Backlog = 201
	b.Breaker = br.State()
	e.src.SetBoard(b)
	e.c.Publish(console.BoardEvent(b))
	e.c.Publish(console.AlertEvent(console.BreakerAlert(tr)))
	popup := `.popup[data-kind="breaker"]`
	pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
	err := chromedp.Do(pctx, chromedp.WaitVisible(css(popup)))
	pcancel()
	if err != nil {
		t.Fatalf("breaker popup not shown within 2 s: %v", err)
	}
	text, _ := chromedp.Run(ctx, chromedp.Text(css(popup+" h3")))
	state, _ := chromedp.Run(ctx, chromedp.Text(css(`#breaker-state`)))
	if !strings.Contains(text, "积压熔断") || !strings.Contains(text, "201") || state != "已熔断" {
		t.Fatalf("popup %q, breaker state %q", text, state)
	}
	shot("console.png")

	// Acknowledging (read-only viewer: this screen) closes it.
	if err := chromedp.Do(ctx, chromedp.Click(css(popup+" button.ack")), chromedp.WaitNotPresent(css(popup))); err != nil {
		t.Fatal(err)
	}

	// Supervisor login, then a reset with a reason reaches the Source.
	err = chromedp.Do(ctx,
		chromedp.Click(css(`#login-btn`)), chromedp.WaitVisible(css(`#login-user`)),
		chromedp.SendKeys(css(`#login-user`), "wang"), chromedp.SendKeys(css(`#login-pass`), "secret-1"),
		chromedp.Click(css(`#login-submit`)), chromedp.WaitVisible(css(`#reset-btn`)),
		chromedp.Click(css(`#reset-btn`)), chromedp.WaitVisible(css(`#reset-reason`)),
		chromedp.SendKeys(css(`#reset-reason`), "加派人手"), chromedp.Click(css(`#reset-submit`)))
	if err != nil {
		t.Fatal(err)
	}
	if call := nextCall(t, ctx, e.src.Calls, "the reset"); call != "reset wang 加派人手" {
		t.Fatalf("source got %q", call)
	}
	// A popup a supervisor acknowledges is acknowledged for everyone (and journaled by the Source).
	e.c.Publish(console.AlertEvent(console.PrinterFaultAlert(time.Now(), "zebra-1", "head open")))
	pf := `.popup[data-kind="printer_fault"]`
	if err := chromedp.Do(ctx, chromedp.WaitVisible(css(pf)), chromedp.Click(css(pf+" button.ack")), chromedp.WaitNotPresent(css(pf))); err != nil {
		t.Fatal(err)
	}
	if call := nextCall(t, ctx, e.src.Calls, "the acknowledgement"); !strings.HasPrefix(call, "ack ") {
		t.Fatalf("source got %q", call)
	}

	// Search an order, see its history, confirm its next step by hand (operator + reason).
	e.src.AddOrder(console.OrderView{Order: order.Order{ID: "O9", ChannelOrderNo: "TB123", State: order.PendingAllocation, AssignedWaybill: "SF1234567890123", Carrier: "SF"},
		History: []wire.Entry{{Seq: 3, Kind: wire.KindIntake, OrderID: "O9", To: "pending_allocation", Trigger: wire.TriggerHub, At: wire.Time(t0)}}})
	err = chromedp.Do(ctx,
		chromedp.SendKeys(css(`#search-code`), "TB123"), chromedp.Click(css(`#search-form button`)),
		chromedp.WaitVisible(css(`#confirm-btn`)), chromedp.Click(css(`#confirm-btn`)), chromedp.WaitVisible(css(`#confirm-operator`)),
		chromedp.SendKeys(css(`#confirm-operator`), "李四"), chromedp.SendKeys(css(`#confirm-note`), "扫描枪故障，人工核对"),
		chromedp.Click(css(`#confirm-submit`)))
	if err != nil {
		t.Fatal(err)
	}
	if call := nextCall(t, ctx, e.src.Calls, "the confirmation"); call != "confirm O9" {
		t.Fatalf("source got %q", call)
	}
	if c := e.src.Confirms(); len(c) != 1 || c[0].By != "wang" || c[0].Operator != "李四" || c[0].Note != "扫描枪故障，人工核对" {
		t.Fatalf("confirms = %+v", c)
	}
	// The refreshed search shows the new state.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("search-result").textContent.includes("已打单")`)); err != nil {
		t.Fatal(err)
	}

	// English toggle.
	if err := chromedp.Do(ctx, chromedp.Click(css(`#lang-btn`))); err != nil {
		t.Fatal(err)
	}
	title, _ = chromedp.Run(ctx, chromedp.Text(css(`header h1 span`)))
	conn, _ := chromedp.Run(ctx, chromedp.Text(css(`#conn.ok`)))
	if title != "Supervisor console" || conn != "live" {
		t.Fatalf("English title %q, connection %q", title, conn)
	}
	shot("console-en-supervisor.png")
}

// nextCall is the next call the browser made on the console's source; the test fails if none
// comes before ctx ends.
func nextCall(t *testing.T, ctx context.Context, calls <-chan string, what string) string {
	t.Helper()
	select {
	case call := <-calls:
		return call
	case <-ctx.Done():
		t.Fatalf("%s never reached the source", what)
		return ""
	}
}
