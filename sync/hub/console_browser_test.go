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
	pack.send("jp", chain("jp", spine("O-1001")...)...)
	pack.waitAck(1)

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

	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#lang-btn`))); err != nil {
		t.Fatal(err)
	}
	pollText(t, ctx, "header h1", "Central console")
	pollText(t, ctx, `.site[data-site="sz01"] tr[data-agent="dock01"] .breaker`, "open")
	browserShot(t, ctx, "hub-console-network-en.png")
}
