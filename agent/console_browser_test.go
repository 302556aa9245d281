package agent_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"wedge/agent"
	"wedge/agent/console/consoletest"
	"wedge/internal/testbroker"
	"wedge/internal/webauth/password"
	"wedge/order"
	"wedge/sync/wire"
)

// TestConsoleBreakerInBrowser is the console's end-to-end test: a real mosquitto, the reference hub and
// an agent; a real headless chromium shows the agent's console. 201 orders dispatched through the
// hub trip the breaker, the popup appears within 2 s, acknowledging works, orders arriving while it
// is open are held, a supervisor's reset closes it and the held orders appear in 待分仓.
// Screenshots go to testdata/out (WEDGE_SCREENSHOTS overrides).
func TestConsoleBreakerInBrowser(t *testing.T) {
	exe := consoletest.Chromium(t)
	b := testbroker.Start(t, nil)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := startHub(t, ctx, b.URL(), dir, "hub-console")

	hash, err := password.Hash("secret-1")
	if err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf("site: sz01\nagent: pack01\ndata_dir: %s\nbroker: {url: %q, hub_keys: [%q]}\napi: {listen: \"127.0.0.1:0\", token: tok}\n"+
		"stations:\n  - {name: print-1, role: print}\nconsole:\n  users: {wang: %q}\n", filepath.Join(dir, "pack01"), b.URL(), rigHubPub, hash)
	cfg := writeConfig(t, filepath.Join(dir, "pack01.yaml"), yaml, nil)
	a := runAgent(t, ctx, cfg, agent.Deps{})

	n := 0
	dispatch := func(count int) {
		for count > 0 {
			k := min(count, 50)
			var msgs []wire.OrderMsg
			for range k {
				n++
				id := fmt.Sprintf("C%04d", n)
				msgs = append(msgs, wire.OrderMsg{Type: wire.TypeOrder, OrderID: id, Channel: "jd", ChannelOrderNo: "JD0000000000" + id, BuyerID: "b",
					OrderedAt: "2026-11-11T00:00:00Z", SKUs: []string{"S1"}, Carrier: "sf"})
			}
			if code := postOrders(t, h, msgs...); code/100 != 2 {
				t.Fatalf("hub POST /v1/orders: %d", code)
			}
			count -= k
		}
	}

	out := os.Getenv("WEDGE_SCREENSHOTS")
	if out == "" {
		out = filepath.Join("testdata", "out")
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	bctx := consoletest.Browser(t, exe, 1400, 1000)
	bctx, cancelT := context.WithTimeout(bctx, 120*time.Second)
	defer cancelT()
	shot := func(name string) {
		buf, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(out, name), buf, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot %s", filepath.Join(out, name))
	}
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	count := func(st order.State) string {
		return fmt.Sprintf(`(document.querySelector('#counts tr[data-state="%s"] td:last-child')||{}).textContent`, st)
	}

	// The console loads from the agent's API server and goes live.
	if err := chromedp.Do(bctx, chromedp.Navigate("http://"+a.APIAddr()+"/console"), chromedp.WaitVisible(css(`#conn.ok`))); err != nil {
		t.Fatal(err)
	}
	// It shows the settings it applies and where they come from.
	// Read the row's text in one evaluation: the panel re-renders when a snapshot arrives, so a node
	// found by one call can be gone by the next.
	rowJS := `(document.querySelector('#settings tr[data-field="breaker.max_backlog"]')||{}).textContent||""`
	var row string
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var err error
		row, err = chromedp.Run(bctx, chromedp.Evaluate[string](rowJS))
		if err == nil && strings.Contains(row, "200") && strings.Contains(row, "默认值") {
			break
		}
		if time.Now().After(end) {
			t.Errorf("settings row of breaker.max_backlog: %q %v", row, err)
			break
		}
	}

	// 201 orders through the hub trip the breaker; the popup shows within 2 s of the trip.
	dispatch(201)
	eventually(t, "the breaker opens", func() bool { return a.Supervisor().Breaker().Open() })
	popup := `.popup[data-kind="breaker"]`
	pctx, pcancel := context.WithTimeout(bctx, 2*time.Second)
	err = chromedp.Do(pctx, chromedp.WaitVisible(css(popup)))
	pcancel()
	if err != nil {
		t.Fatalf("breaker popup not shown within 2 s: %v", err)
	}
	text, _ := chromedp.Run(bctx, chromedp.Text(css(popup+" h3")))
	if !strings.Contains(text, "201") {
		t.Fatalf("popup %q does not say 201", text)
	}

	// The hub learns from the retained status that intake is paused.
	eventually(t, "the hub sees breaker_open", func() bool {
		var as []struct {
			Agent   string `json:"agent"`
			Breaker bool   `json:"breaker_open"`
		}
		if _, err := hubGetJSON(t, h, "/v1/agents", &as); err != nil {
			return false
		}
		for _, x := range as {
			if x.Breaker {
				return true
			}
		}
		return false
	})

	// Orders arriving while it is open are held, not in the backlog.
	dispatch(7)
	eventually(t, "7 orders held", func() bool { return a.Store().Counts()[order.Held] == 7 })

	// Prometheus and the KPI are on the same API server.
	httpGet := func(path string) string {
		resp, err := http.Get("http://" + a.APIAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %s %s", path, resp.Status, buf.String())
		}
		return buf.String()
	}
	eventually(t, "metrics show the open breaker and 7 held", func() bool {
		m := httpGet("/metrics")
		return strings.Contains(m, "wedge_breaker_open 1") && strings.Contains(m, "wedge_held_orders 7")
	})
	if k := httpGet("/api/v1/kpi"); !strings.Contains(k, `"zone":"Asia/Shanghai"`) {
		t.Fatalf("kpi: %s", k)
	}
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](count(order.Held)+` === "7"`)); err != nil {
		t.Fatalf("board never showed 7 held: %v", err)
	}
	shot("agent-console-breaker.png")

	// Acknowledging closes the popup.
	if err := chromedp.Do(bctx, chromedp.Click(css(popup+" button.ack")), chromedp.WaitNotPresent(css(popup))); err != nil {
		t.Fatal(err)
	}

	// A supervisor logs in and resets with a reason: the held orders enter 待分仓.
	err = chromedp.Do(bctx,
		chromedp.Click(css(`#login-btn`)), chromedp.WaitVisible(css(`#login-user`)),
		chromedp.SendKeys(css(`#login-user`), "wang"), chromedp.SendKeys(css(`#login-pass`), "secret-1"),
		chromedp.Click(css(`#login-submit`)), chromedp.WaitVisible(css(`#reset-btn`)),
		chromedp.Click(css(`#reset-btn`)), chromedp.WaitVisible(css(`#reset-reason`)),
		chromedp.SendKeys(css(`#reset-reason`), "加派人手"), chromedp.Click(css(`#reset-submit`)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](count(order.PendingAllocation)+` === "208" && `+count(order.Held)+` === "0"`)); err != nil {
		c := a.Store().Counts()
		t.Fatalf("board never showed 208 in 待分仓 and none held (store counts %v): %v", c, err)
	}
	if a.Supervisor().Breaker().Open() {
		t.Fatal("breaker still open after the reset")
	}
	shot("agent-console-reset.png")

	// The journal has the reset (manual, with who and why) and one release step per held order.
	es, err := a.Store().Entries(0, 10000, 1<<26)
	if err != nil {
		t.Fatal(err)
	}
	var resets, releases int
	for _, e := range es {
		switch {
		case e.Kind == wire.KindBreaker && e.Trigger == wire.TriggerManual && e.Operator == "wang":
			resets++
		case e.Kind == wire.KindStep && e.From == string(order.Held) && e.To == string(order.PendingAllocation):
			releases++
		}
	}
	if resets != 1 || releases != 7 {
		t.Fatalf("journal: %d resets by wang, %d releases; want 1 and 7", resets, releases)
	}
}
