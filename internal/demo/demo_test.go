package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"wedge/agent/config"
	"wedge/order"
	"wedge/sync/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// hubOrder is the part of GET /v1/orders/{id} the test reads.
type hubOrder struct {
	OrderID string `json:"order_id"`
	State   string `json:"state"`
	Waybill string `json:"waybill"`
	History []struct {
		wire.Entry
		Agent string `json:"agent"`
	} `json:"history"`
}

func getJSON(t *testing.T, c *http.Client, url string, v any) int {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
	}
	return resp.StatusCode
}

// hubGet is getJSON of the hub's path with the demo's hub token.
func hubGet(t *testing.T, c *http.Client, d *Demo, path string, v any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, d.HubURL()+path, nil)
	req.Header.Set("Authorization", "Bearer "+d.HubToken())
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
	return resp.StatusCode
}

// needPty skips where the simulated scanners cannot run.
func needPty(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the demo's simulated scanners need Linux pseudo-terminals")
	}
}

// fastOptions run the demo quickly on free ports.
func fastOptions(dir string) Options {
	return Options{DataDir: dir, Rate: 600, Burst: 3, HubListen: "127.0.0.1:0", PackListen: "127.0.0.1:0", DockListen: "127.0.0.1:0",
		ScanGap: 10 * time.Millisecond, HandoverDelay: 100 * time.Millisecond, Mistakes: 0.2, Seed: 42}
}

// TestDemoOrdersReachPickedUp runs the demo in-process and checks, through the hub's HTTP API,
// that orders went 待分仓 → 已打单 → 已揽收 with their history (printed by pack01's emulated
// printer on the order code alone), and that bad input, operator mistakes and the printer's
// paper-out faults were refused with reasons.
func TestDemoOrdersReachPickedUp(t *testing.T) {
	needPty(t)
	dir := t.TempDir()
	d, err := Start(context.Background(), fastOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			d.Stop(context.Background())
		}
	}()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	// The hub's API needs the demo's token: the generator posts with it, and the view shows it.
	if resp, err := c.Get(d.HubURL() + "/v1/stats"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("hub API without a token: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	var hdr strings.Builder
	d.header(&hdr)
	if d.HubToken() == "" || !strings.Contains(hdr.String(), d.HubToken()) {
		t.Fatalf("the view does not show the hub token:\n%s", hdr.String())
	}
	// The demo's two PCs agree on every shared setting: the hub sees one settings hash, the one of
	// their configuration files (`wedge config hash`).
	type agentSettings struct {
		Agent          string `json:"agent"`
		SettingsHash   string `json:"settings_hash"`
		SettingsDiffer bool   `json:"settings_differ"`
	}
	var agents []agentSettings
	for wait := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		agents = nil
		hubGet(t, c, d, "/v1/agents", &agents)
		if len(agents) == 2 && agents[0].SettingsHash != "" && agents[1].SettingsHash != "" {
			break
		}
		if time.Now().After(wait) {
			t.Fatalf("the hub never saw both agents' settings hashes: %+v", agents)
		}
	}
	packCfg, err := config.Load(d.pack.cfgFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	if agents[0].SettingsHash != agents[1].SettingsHash || agents[0].SettingsHash != packCfg.SettingsHash() || agents[0].SettingsDiffer || agents[1].SettingsDiffer {
		t.Errorf("the demo's agents disagree on their settings: %+v (pack01's file: %s)", agents, packCfg.SettingsHash())
	}

	var picked, contract *hubOrder
	var stationReject, printerFault *hubOrder
	deadline := time.Now().Add(40 * time.Second)
	malformed := func() bool { // both agents refused the faulty publisher's message: the hub did not sign it
		s := d.Snapshot()
		return s.Agents[0].Refused > 0 && s.Agents[1].Refused > 0
	}
	for time.Now().Before(deadline) && (picked == nil || contract == nil || stationReject == nil || printerFault == nil || d.Snapshot().Totals.HubRefused == 0 || !malformed()) {
		time.Sleep(500 * time.Millisecond)
		for id, kind := range d.Records() {
			var o hubOrder
			if hubGet(t, c, d, "/v1/orders/"+id, &o) != http.StatusOK {
				continue
			}
			switch {
			case kind == "normal" && o.State == string(order.PickedUp) && picked == nil:
				picked = &o
			case kind == "contract" && len(o.History) > 0 && contract == nil:
				contract = &o
			}
			for _, e := range o.History {
				if e.Kind == wire.KindReject && e.Trigger == wire.TriggerScan && stationReject == nil {
					stationReject = &o
				}
				if e.Kind == wire.KindReject && e.Reason == string(order.ReasonPrinterFault) && printerFault == nil {
					printerFault = &o
				}
			}
		}
	}
	snap := d.Snapshot()
	if picked == nil {
		t.Fatalf("no order reached 已揽收 at the hub; hub states %v, totals %+v, events %v", snap.HubStates, snap.Totals, snap.Events)
	}
	if snap.HubStates[string(order.PickedUp)] == 0 {
		t.Errorf("hub stats count no picked_up orders: %v", snap.HubStates)
	}

	// The picked-up order's history: intake, print at pack01 by its printer for the signed-in
	// operator (trigger print: the printer confirmed the label), handover at dock01.
	var printed, handed bool
	for _, e := range picked.History {
		if e.Kind != wire.KindStep {
			continue
		}
		switch {
		case e.From == string(order.PendingAllocation) && e.To == string(order.WaybillPrinted):
			printed = e.Agent == "pack01" && e.Operator == "OP-LI07" && e.Device == PrinterName && e.Trigger == wire.TriggerPrint && e.Job != "" && e.Waybill == picked.Waybill
		case e.From == string(order.WaybillPrinted) && e.To == string(order.PickedUp):
			handed = e.Agent == "dock01" && e.Operator == "OP-WANG12" && e.Device == "scan-d1" && e.Waybill == picked.Waybill
		}
	}
	if !printed || !handed || picked.Waybill == "" {
		t.Errorf("order %s history lacks the print (%v) or handover (%v) step by the operators: %+v", picked.OrderID, printed, handed, picked.History)
	}

	if contract == nil {
		t.Errorf("no contract-breaking order shows a history at the hub (records %d)", len(d.Records()))
	} else {
		found := false
		for _, e := range contract.History {
			found = found || (e.Kind == wire.KindReject && e.Reason == string(order.ReasonContract))
		}
		if !found || contract.State != "" && contract.State != string(order.PendingAllocation) {
			t.Errorf("contract-breaking order %s: state %q, history %+v", contract.OrderID, contract.State, contract.History)
		}
	}
	if stationReject == nil {
		t.Errorf("no station rejection (operator mistake) reached the hub")
	}
	if printerFault == nil {
		t.Errorf("no printer_fault rejection reached the hub (paper out %d times)", snap.Totals.PaperOut)
	} else {
		// The order whose label failed was printed once the paper was back.
		var o hubOrder
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if hubGet(t, c, d, "/v1/orders/"+printerFault.OrderID, &o) == http.StatusOK && o.Waybill != "" {
				break
			}
		}
		if o.Waybill == "" || o.State == string(order.PendingAllocation) {
			t.Errorf("order %s refused for paper out was not printed after the reload: state %q", printerFault.OrderID, o.State)
		}
	}
	if snap.Totals.PaperOut == 0 || snap.Labels == 0 || snap.Labels < snap.Totals.Printed {
		t.Errorf("printer: %d labels out, %d orders printed, %d paper outs", snap.Labels, snap.Totals.Printed, snap.Totals.PaperOut)
	}
	if snap.Totals.HubRefused == 0 {
		t.Errorf("the hub refused no malformed message")
	}
	// Signatures on: the hub took every batch of both agents as theirs.
	if hs := d.hub.Stats(); hs.Unverified != 0 || hs.SignatureRefused != 0 || hs.EventsIngested == 0 {
		t.Errorf("hub: %d entries ingested, %d unverified, %d batches refused for their signature", hs.EventsIngested, hs.Unverified, hs.SignatureRefused)
	}
	if !malformed() {
		t.Errorf("the agents refused no malformed downlink message (faulty publisher sent %d): %+v", snap.Totals.Malformed, snap.Agents)
	}
	if snap.Totals.Rejected == 0 {
		t.Errorf("no rejected scans")
	}

	if err := d.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	stopped = true
	for _, f := range []string{"pack01.yaml", "dock01.yaml", "hub/hub.db", "pack01/wedge.db", "dock01/wedge.db"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("a caller's data directory must be kept: %v", err)
		}
	}
}

// TestRunPlain runs the command for a few seconds with a plain view and checks its output and its
// clean stop; the temporary data directory is removed.
func TestRunPlain(t *testing.T) {
	needPty(t)
	var out, errb bytes.Buffer
	code := Run(context.Background(), []string{"--duration", "5s", "--rate", "300", "--scan-gap", "10ms", "--handover-delay", "100ms",
		"--hub-listen", "127.0.0.1:0", "--pack-listen", "127.0.0.1:0", "--dock-listen", "127.0.0.1:0", "--seed", "7"}, &out, &errb)
	if code != ExitOK {
		t.Fatalf("exit %d, stderr %s\nstdout %s", code, errb.String(), out.String())
	}
	s := out.String()
	for _, want := range []string{"中心 hub API      http://127.0.0.1:", "/api/v1/status", "面单打印机 printer prn-p1 → tcp 127.0.0.1:", "待分仓 pending_allocation", "已揽收 picked_up", "pack01 未同步 unsynced", "已停止 stopped"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "\x1b[") {
		t.Errorf("plain output has ANSI escapes")
	}
	// A status line a second (at least two in 5 s, start-up included, even on a loaded machine),
	// each starting with the time.
	status := regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d .* 扫码 scans \d+ 拒绝 rejected \d+$`).FindAllString(s, -1)
	if len(status) < 2 {
		t.Errorf("%d status lines, want one a second:\n%s", len(status), s)
	}
	m := regexp.MustCompile(`数据 data +(\S+) \(`).FindStringSubmatch(s)
	if m == nil || !strings.HasPrefix(filepath.Base(m[1]), "wedge-demo-") {
		t.Fatalf("output names no temporary data directory:\n%s", s)
	}
	if _, err := os.Stat(m[1]); !os.IsNotExist(err) {
		t.Errorf("temporary data directory %s left behind (%v)", m[1], err)
	}
}

func TestRunHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Run(context.Background(), []string{"-h"}, &out, &errb); code != ExitOK {
		t.Errorf("-h: exit %d", code)
	}
	for _, want := range []string{"wedge demo [flags]", "-burst", "-duration", "-rate"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, errb.String())
		}
	}
}

func TestRunUsage(t *testing.T) {
	for _, args := range [][]string{{"--nope"}, {"extra"}, {"--burst", "-1"}, {"--duration", "-1s"}} {
		var out, errb bytes.Buffer
		if code := Run(context.Background(), args, &out, &errb); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, ExitUsage)
		}
		if errb.Len() == 0 {
			t.Errorf("%v: no message on stderr", args)
		}
	}
}

// TestBurstAndResume dispatches a burst, stops the demo while most of it is still in 待分仓, and
// starts it again on the same data directory: the operators resume from the agents' journals and
// every order of the burst reaches 已揽收 at the hub.
func TestBurstAndResume(t *testing.T) {
	needPty(t)
	dir := t.TempDir()
	o := fastOptions(dir)
	o.Rate, o.Burst, o.Mistakes, o.ScanGap = -1, 20, -1, 300*time.Millisecond
	d, err := Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); d.Snapshot().Totals.Printed == 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	ids := d.Records()
	printed := d.Snapshot().Totals.Printed
	if err := d.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 20 || printed >= 20 {
		t.Fatalf("burst of 20 made %d orders, %d printed before the stop: nothing left to resume", len(ids), printed)
	}

	o.Burst, o.ScanGap = 0, 5*time.Millisecond
	d, err = Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop(context.Background())
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	left := ids
	for deadline := time.Now().Add(40 * time.Second); len(left) > 0 && time.Now().Before(deadline); {
		time.Sleep(300 * time.Millisecond)
		next := map[string]string{}
		for id, kind := range left {
			var h hubOrder
			if hubGet(t, c, d, "/v1/orders/"+id, &h) != http.StatusOK || h.State != string(order.PickedUp) {
				next[id] = kind
			}
		}
		left = next
	}
	if len(left) > 0 {
		t.Fatalf("%d of 20 orders did not reach 已揽收 after the restart: %v; totals %+v", len(left), left, d.Snapshot().Totals)
	}
}

// TestBurstTripsBreakerAndConsoleLogin dispatches a burst of 201 orders, one above the breaker's
// max_backlog: pack01's breaker opens, orders that arrive next are held (暂停进入), and the view
// shows both (full and plain); the console printed in the header signs in as demo / demo.
func TestBurstTripsBreakerAndConsoleLogin(t *testing.T) {
	needPty(t)
	o := fastOptions(t.TempDir())
	o.Burst, o.Rate, o.Mistakes = 201, 600, -1
	d, err := Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop(context.Background())
	var s Snapshot
	for deadline := time.Now().Add(40 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if s = d.Snapshot(); s.Breaker.Open && s.Breaker.Held > 0 {
			break
		}
	}
	if !s.Breaker.Open || s.Breaker.Held == 0 || s.Breaker.MaxBacklog != 200 || s.Breaker.Why != "backlog" {
		t.Fatalf("after a burst of 201 the breaker is %+v, want open with held orders", s.Breaker)
	}
	var full, plain bytes.Buffer
	d.renderFull(&full, s, time.Now())
	d.renderLine(&plain, s, 0)
	for _, out := range []string{full.String(), plain.String()} {
		if !strings.Contains(out, "积压熔断 breaker pack01: 打开 OPEN") || !regexp.MustCompile(`暂停进入 held [1-9]\d*`).MatchString(out) {
			t.Errorf("view lacks the open breaker and held count:\n%s", out)
		}
	}
	events := ""
	for _, e := range s.Events {
		events += e.line() + "\n"
	}
	if !strings.Contains(events, "积压熔断打开") {
		t.Errorf("no breaker-open event:\n%s", events)
	}

	// The console the header names, and its demo / demo login.
	var hdr strings.Builder
	d.header(&hdr)
	m := regexp.MustCompile(`主管看板 console  (http://\S+/console/)  \(登录 login demo / demo\)`).FindStringSubmatch(hdr.String())
	if m == nil || m[1] != "http://"+d.pack.a.APIAddr()+"/console/" {
		t.Fatalf("header names no pack01 console with its login:\n%s", hdr.String())
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Transport: tr, Jar: jar, Timeout: 30 * time.Second}
	var sess struct {
		User string `json:"user"`
		CSRF string `json:"csrf"`
	}
	if code := getJSON(t, c, m[1]+"api/session", &sess); code != http.StatusOK || sess.CSRF == "" {
		t.Fatalf("GET session: %d %+v", code, sess)
	}
	login := func(password string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, m[1]+"api/login", strings.NewReader(`{"user":"demo","password":"`+password+`"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Wedge-CSRF", sess.CSRF)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v struct {
			User string `json:"user"`
		}
		json.NewDecoder(resp.Body).Decode(&v)
		return resp.StatusCode, v.User
	}
	if code, _ := login("wrong"); code != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", code)
	}
	if code, user := login(ConsolePassword); code != http.StatusOK || user != ConsoleUser {
		t.Fatalf("demo / demo login: %d %q", code, user)
	}

	// The hub's central console the header names, its hq login, and the agents it shows.
	if !strings.Contains(hdr.String(), "中心控制台 central console  "+d.HubConsoleURL()+"  (登录 login hq / demo)") {
		t.Fatalf("header names no central console with its login:\n%s", hdr.String())
	}
	req, _ := http.NewRequest(http.MethodPost, d.HubConsoleURL()+"api/login", strings.NewReader(`{"user":"hq","password":"`+HQPassword+`"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var hq struct{ User, Role string }
	json.NewDecoder(resp.Body).Decode(&hq)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || hq.User != HQUser || hq.Role != "supervisor" {
		t.Fatalf("central console login: %d %+v", resp.StatusCode, hq)
	}
	var agents []struct{ Agent string }
	if code := getJSON(t, c, d.HubConsoleURL()+"api/v1/agents", &agents); code != http.StatusOK || len(agents) != 2 {
		t.Fatalf("central console agents: %d %+v", code, agents)
	}
}
