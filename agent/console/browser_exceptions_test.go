package console_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"wedge/agent/console"
	"wedge/agent/console/consoletest"
	"wedge/order"
	"wedge/sync/wire"
)

// The exception queue in a real browser: the intercepted parcels are listed (what to do, zh
// first); a supervisor resolves one with an action, an operator and a note, it reaches the source
// and the list follows.
func TestBrowserExceptionQueue(t *testing.T) {
	exe := consoletest.Chromium(t)
	e := newEnv(t, nil)
	e.src.AddOrder(console.OrderView{Order: order.Order{ID: "X1", ChannelOrderNo: "TB1", State: order.WaybillPrinted, Waybill: "SF1234567890123",
		Intercept: order.Intercept{ID: 7, Status: wire.InterceptRequested, Reason: "买家要求拦截", At: t0}}})
	e.src.AddOrder(console.OrderView{Order: order.Order{ID: "X2", State: order.PickedUp,
		Intercept: order.Intercept{ID: 8, Status: wire.InterceptAfterPickup, At: t0}}})
	ctx := consoletest.Browser(t, exe, 1400, 900)
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	row := `tr.exception[data-order="X1"]`
	if err := chromedp.Do(ctx, chromedp.Navigate(e.srv.URL+"/"), chromedp.WaitVisible(css(`#conn.ok`)), chromedp.WaitVisible(css(row))); err != nil {
		t.Fatal(err)
	}
	text, _ := chromedp.Run(ctx, chromedp.Text(css(`#exceptions`)))
	if !strings.Contains(text, "异常件架") || !strings.Contains(text, "拦截请求在揽收之后：请联系快递拦截") || !strings.Contains(text, "买家要求拦截") {
		t.Fatalf("queue text %q", text)
	}
	err := chromedp.Do(ctx,
		chromedp.Click(css(`#login-btn`)), chromedp.WaitVisible(css(`#login-user`)),
		chromedp.SendKeys(css(`#login-user`), "wang"), chromedp.SendKeys(css(`#login-pass`), "secret-1"),
		chromedp.Click(css(`#login-submit`)), chromedp.WaitVisible(css(row+` .resolve-btn`)))
	if err != nil {
		t.Fatal(err)
	}
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err == nil {
		os.WriteFile(filepath.Join(outDir(t), "console-exceptions.png"), buf, 0o644)
	}
	err = chromedp.Do(ctx,
		chromedp.Click(css(row+` .resolve-btn`)), chromedp.WaitVisible(css(`#resolve-operator`)),
		chromedp.SetValue(css(`#resolve-action`), order.ResolveReturnToStock),
		chromedp.SendKeys(css(`#resolve-operator`), "李四"), chromedp.SendKeys(css(`#resolve-note`), "买家已取消"),
		chromedp.Click(css(`#resolve-submit`)))
	if err != nil {
		t.Fatal(err)
	}
	if call := nextCall(t, ctx, e.src.Calls, "the resolution"); call != "resolve X1 return_to_stock" {
		t.Fatalf("source got %q", call)
	}
	if r := e.src.Resolves(); len(r) != 1 || r[0].By != "wang" || r[0].Operator != "李四" || r[0].Note != "买家已取消" {
		t.Fatalf("resolves %+v", r)
	}
	if err := chromedp.Do(ctx, chromedp.WaitNotPresent(css(row))); err != nil {
		t.Fatal(err)
	}
}
