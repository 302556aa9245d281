package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"wedge/internal/pki"
	"wedge/internal/testbroker"
	"wedge/sync/wire"
)

func mustWedge(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errs := wedge(t, args...)
	if code != exitOK {
		t.Fatalf("wedge %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// waitOutput waits until out contains marker (the command is running) or the command exits.
func waitOutput(t *testing.T, what string, out, errb *syncBuf, done <-chan int, marker string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), marker) {
		select {
		case code := <-done:
			t.Fatalf("%s exited early with %d: %s", what, code, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never printed %q: %s", what, marker, errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	s := out.String()
	return strings.Fields(s[strings.Index(s, marker)+len(marker):])[0]
}

// The whole transport as an IT team sets it up: `wedge certs` makes the CA, the broker, hub and
// agent certificates and the mosquitto config; mosquitto runs that config; `wedge hub` and
// `wedge run` connect with their certificates; an order posted to the hub reaches the agent on its
// site's downlink, the agent journals it and sends it up, and the hub acknowledges it.
func TestCertsEndToEndWithHubAndAgent(t *testing.T) {
	dir := t.TempDir()
	ca, brokerDir, hubDir, pcDir := filepath.Join(dir, "ca"), filepath.Join(dir, "broker"), filepath.Join(dir, "hub"), filepath.Join(dir, "pc")
	mustWedge(t, "certs", "init", "--dir", ca, "--name", "e2e")
	mustWedge(t, "certs", "issue", "--dir", ca, "--broker", "127.0.0.1,localhost", "--out", brokerDir)
	mustWedge(t, "certs", "issue", "--dir", ca, "--hub", "hub1", "--out", hubDir)
	out := mustWedge(t, "certs", "issue", "--dir", ca, "--agent", "sz01/pack09", "--out", pcDir)
	if !strings.Contains(out, "site: sz01") || !strings.Contains(out, "agent.sz01.pack09.key") {
		t.Errorf("issue --agent output lacks the config snippet:\n%s", out)
	}
	sites := filepath.Join(dir, "sites.yaml")
	os.WriteFile(sites, []byte("hubs: [hub1]\nsites:\n  sz01: [pack09]\n"), 0o644)

	b := testbroker.Start(t, &testbroker.Options{Config: func(port int) string {
		code, out, errs := wedge(t, "certs", "mosquitto", "--dir", ca, "--sites", sites, "--out", brokerDir,
			"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--broker-dir", brokerDir)
		if code != exitOK || errs != "" { // errs: cross-check notes; everything is issued and listed
			t.Fatalf("certs mosquitto: %d\n%s%s", code, out, errs)
		}
		conf, err := os.ReadFile(filepath.Join(brokerDir, pki.FileMosquittoCfg))
		if err != nil {
			t.Fatal(err)
		}
		return string(conf)
	}})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var hout, herr syncBuf
	hubDone := make(chan int, 1)
	go func() {
		hubDone <- runCtx(ctx, []string{"hub", "--broker", b.TLSURL(), "--data", filepath.Join(dir, "hubdata"),
			"--listen", "127.0.0.1:0", "--ca", filepath.Join(hubDir, "ca.crt"),
			"--cert", filepath.Join(hubDir, "hub.hub1.crt"), "--key", filepath.Join(hubDir, "hub.hub1.key"),
			"--bootstrap-token-file", filepath.Join(dir, "hub-admin.token")}, &hout, &herr)
	}()
	hubURL := strings.TrimSuffix(waitOutput(t, "wedge hub", &hout, &herr, hubDone, "listening on "), ",")
	hubToken, err := os.ReadFile(filepath.Join(dir, "hub-admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	hubAPI := hubAPIClient{base: hubURL, token: strings.TrimSpace(string(hubToken))}

	cfg := filepath.Join(pcDir, "wedge.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`site: sz01
agent: pack09
data_dir: data
broker:
  url: %q
  ca: ca.crt
  cert: agent.sz01.pack09.crt
  key: agent.sz01.pack09.key
  accept_unsigned: true   # this test is about the transport; signatures are tested in agent/e2e
api: {listen: "127.0.0.1:0"}
stations:
  - {name: dock-1, role: handover}
`, b.TLSURL())), 0o644)
	var aout, aerr syncBuf
	agentDone := make(chan int, 1)
	go func() { agentDone <- runCtx(ctx, []string{"run", "--config", cfg}, &aout, &aerr) }()
	agentURL := waitOutput(t, "wedge run", &aout, &aerr, agentDone, "running; API ")

	// Twice: the first order may also reach the agent by the catch-up replay that it requests on
	// connect (on its direct topic); the hub handles that request before the first order's
	// journal batch (same publisher, in order), so the second order can only come on the site's
	// orders topic.
	roundTrip(t, hubAPI, agentURL, "O-tls-1", func() string { return herr.String() + "\nagent:\n" + aerr.String() + "\nbroker:\n" + b.Log() })
	roundTrip(t, hubAPI, agentURL, "O-tls-2", func() string { return herr.String() + "\nagent:\n" + aerr.String() + "\nbroker:\n" + b.Log() })
	cancel()
	if code := <-agentDone; code != exitOK {
		t.Errorf("wedge run stop: %d: %s", code, aerr.String())
	}
	if code := <-hubDone; code != exitOK {
		t.Errorf("wedge hub stop: %d: %s", code, herr.String())
	}
}

func TestCertsCommandLine(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca")
	for _, args := range [][]string{
		{"certs"},
		{"certs", "nope"},
		{"certs", "init"},
		{"certs", "init", "--dir", ca, "extra"},
		{"certs", "issue", "--dir", ca},
		{"certs", "issue", "--dir", ca, "--agent", "s/a", "--hub", "h"},
		{"certs", "issue", "--dir", ca, "--agent", "nosite"},
		{"certs", "issue", "--dir", ca, "--agent", "s/a"}, // no CA yet
		{"certs", "revoke", "--dir", ca},
		{"certs", "mosquitto", "--dir", ca},
	} {
		if code, _, errs := wedge(t, args...); code != exitUsage || errs == "" {
			t.Errorf("wedge %v: exit %d, stderr %q; want usage error with a message", args, code, errs)
		}
	}

	mustWedge(t, "certs", "init", "--dir", ca)
	if code, _, errs := wedge(t, "certs", "init", "--dir", ca); code != exitUsage || !strings.Contains(errs, "already") {
		t.Errorf("second init: %d %q", code, errs)
	}
	out := filepath.Join(dir, "out")
	mustWedge(t, "certs", "issue", "--dir", ca, "--agent", "s1/a1", "--out", out)
	// Issuing again into the same directory refuses before signing anything.
	if code, _, errs := wedge(t, "certs", "issue", "--dir", ca, "--agent", "s1/a1", "--out", out); code != exitUsage || !strings.Contains(errs, "exists") {
		t.Errorf("issue over existing files: %d %q", code, errs)
	}
	if code, _, errs := wedge(t, "certs", "issue", "--dir", ca, "--agent", "s1/a+b", "--out", out); code != exitUsage || !strings.Contains(errs, "invalid name") {
		t.Errorf("issue with a bad name: %d %q", code, errs)
	}
	mustWedge(t, "certs", "issue", "--dir", ca, "--agent", "s1/a1", "--out", filepath.Join(dir, "out2")) // a rotation
	mustWedge(t, "certs", "issue", "--dir", ca, "--hub", "h1", "--out", out)
	s, err := pki.Open(ca, pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(s.Records()); n != 3 {
		t.Fatalf("%d certificates in the index, want 3 (the refused issues signed nothing)", n)
	}
	hubSerial := s.Records()[2].Serial

	list := mustWedge(t, "certs", "list", "--dir", ca)
	if strings.Count(list, "s1/a1") != 2 || !strings.Contains(list, hubSerial) || strings.Contains(list, "revoked") {
		t.Errorf("list:\n%s", list)
	}
	if o := mustWedge(t, "certs", "revoke", "--dir", ca, "--cn", "s1/a1"); strings.Count(o, "revoked agent") != 2 {
		t.Errorf("revoke --cn:\n%s", o)
	}
	if o := mustWedge(t, "certs", "revoke", "--dir", ca, "--cn", "s1/a1"); !strings.Contains(o, "already revoked") {
		t.Errorf("revoke --cn again:\n%s", o)
	}
	if code, _, _ := wedge(t, "certs", "revoke", "--dir", ca, "--serial", "0123"); code != exitUsage {
		t.Errorf("revoke unknown serial: %d", code)
	}
	if o := mustWedge(t, "certs", "crl", "--dir", ca); !strings.Contains(o, "2 个已吊销 revoked") {
		t.Errorf("crl: %s", o)
	}

	// The sites file lists a1 (now revoked) and a2 (never issued); h1 is fine; no broker cert yet.
	sites := filepath.Join(dir, "sites.yaml")
	os.WriteFile(sites, []byte("hubs: [h1]\nsites:\n  s1: [a1, a2]\n"), 0o644)
	mq := filepath.Join(dir, "mq")
	code, stdout, notes := wedge(t, "certs", "mosquitto", "--dir", ca, "--sites", sites, "--out", mq)
	if code != exitOK {
		t.Fatalf("mosquitto: %d %s %s", code, stdout, notes)
	}
	for _, want := range []string{`"s1/a1" 在 sites`, `"s1/a2" 在 sites`, "no valid broker certificate"} {
		if !strings.Contains(notes, want) {
			t.Errorf("mosquitto notes lack %q:\n%s", want, notes)
		}
	}
	if strings.Contains(notes, "hub:h1") {
		t.Errorf("hub:h1 is issued and listed, but noted:\n%s", notes)
	}
	for _, f := range []string{pki.FileMosquittoCfg, pki.FileACL, pki.FileCACert, pki.FileCRL} {
		if _, err := os.Stat(filepath.Join(mq, f)); err != nil {
			t.Errorf("mosquitto did not write %s: %v", f, err)
		}
	}
	os.WriteFile(sites, []byte("hubs: [h1]\nsites:\n  s1: [a1, a1]\n"), 0o644)
	if code, _, errs := wedge(t, "certs", "mosquitto", "--dir", ca, "--sites", sites, "--out", mq); code != exitUsage || !strings.Contains(errs, "sites.yaml:3: sites.s1[1]") {
		t.Errorf("bad sites file: %d %q", code, errs)
	}
}

// roundTrip posts an order for sz01/pack09 to the hub and waits until the agent has journaled it
// (it arrived on the downlink) and the hub has acknowledged that entry (it went up on the uplink).
func roundTrip(t *testing.T, hub hubAPIClient, agentURL, orderID string, logs func() string) {
	t.Helper()
	body, _ := json.Marshal(wire.OrdersRequest{Site: "sz01", Orders: []wire.OrderMsg{{Type: wire.TypeOrder, OrderID: orderID,
		Channel: "taobao", ChannelOrderNo: "TB20261125" + strings.ReplaceAll(orderID, "-", ""), BuyerID: "b1", OrderedAt: "2026-11-25T08:00:00.000Z", Payment: "full"}}})
	deadline := time.Now().Add(60 * time.Second)
	posted := false
	for {
		if !posted {
			// The hub answers 503 until it is connected.
			if resp, err := hub.do("POST", "/v1/orders", body); err == nil {
				resp.Body.Close()
				posted = resp.StatusCode/100 == 2
			}
		}
		var intake uint64
		var order struct{ History []wire.Entry }
		if resp, err := http.Get(agentURL + "/api/v1/orders/" + orderID); err == nil {
			if resp.StatusCode == 200 {
				json.NewDecoder(resp.Body).Decode(&order)
			}
			resp.Body.Close()
		}
		for _, e := range order.History {
			if e.Kind == wire.KindIntake {
				intake = e.Seq
			}
		}
		var agents []struct {
			Site, Agent string
			AckedSeq    uint64 `json:"acked_seq"`
			Online      bool
		}
		if resp, err := hub.do("GET", "/v1/agents", nil); err == nil {
			json.NewDecoder(resp.Body).Decode(&agents)
			resp.Body.Close()
		}
		if intake > 0 && len(agents) == 1 && agents[0].Site == "sz01" && agents[0].Agent == "pack09" && agents[0].AckedSeq >= intake && agents[0].Online {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not make the round trip over TLS (posted %v, intake seq %d, agents %+v)\nhub:\n%s", orderID, posted, intake, agents, logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// hubAPIClient calls the hub's API with a bearer token.
type hubAPIClient struct{ base, token string }

func (c hubAPIClient) do(method, path string, body []byte) (*http.Response, error) {
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	return http.DefaultClient.Do(req)
}
