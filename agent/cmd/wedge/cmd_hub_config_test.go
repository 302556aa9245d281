package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"wedge/internal/mail"
	"wedge/internal/testbroker"
	"wedge/internal/webauth/password"
	"wedge/sync/hub/hubconfig"
	"wedge/sync/hub/hubconsole"
)

// --check validates hub.yaml and exits: a bad file is a usage error naming file, line and field; a
// good one (with a readable signing key) passes; a signing key that cannot be read fails the check.
func TestHubConfigCheck(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("broker:\n  url: http://mq\napi: {metrics_auth: public}\n"), 0o644)
	code, _, errs := wedge(t, "hub", "--config", bad, "--check")
	if code != exitUsage || !strings.Contains(errs, bad+":2: broker.url: scheme \"http\"") || !strings.Contains(errs, bad+":3: api.metrics_auth") {
		t.Errorf("bad file: exit %d\n%s", code, errs)
	}
	if code, _, _ := wedge(t, "hub", "--new-signing-key", filepath.Join(dir, "hub.key")); code != exitOK {
		t.Fatalf("new signing key: %d", code)
	}
	good := filepath.Join(dir, "hub.yaml")
	os.WriteFile(good, []byte("signing_key: hub.key\nlog: {format: json}\n"), 0o644)
	if code, out, errs := wedge(t, "hub", "--config", good, "--check"); code != exitOK || !strings.Contains(out, "configuration ok") {
		t.Errorf("good file: exit %d %q %q", code, out, errs)
	}
	if code, _, errs := wedge(t, "hub", "--config", good, "--check", "--signing-key", filepath.Join(dir, "missing.key")); code != exitUsage || !strings.Contains(errs, "signing key") {
		t.Errorf("a --signing-key flag must override the file: exit %d %q", code, errs)
	}
	if code, _, errs := wedge(t, "hub", "--config", filepath.Join(dir, "none.yaml"), "--check"); code != exitUsage || !strings.Contains(errs, "none.yaml") {
		t.Errorf("missing file: exit %d %q", code, errs)
	}
}

// The hub runs from hub.yaml: its relative paths are resolved against the file's directory, and a
// flag given explicitly overrides the file (here the file's listen address cannot be bound).
func TestHubRunsFromConfigFile(t *testing.T) {
	b := testbroker.Start(t, nil)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "hub.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`data_dir: data
broker: {url: %q, client_id: wedge-hub-cfg}
api:
  listen: "256.0.0.1:8480"
  bootstrap_token_file: admin.token
  allowed_hosts: [hub.example]
`, b.URL())), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var hout, herr syncBuf
	hubDone := make(chan int, 1)
	go func() {
		hubDone <- runCtx(ctx, []string{"hub", "--config", cfg, "--listen", "127.0.0.1:0"}, &hout, &herr)
	}()
	hubURL := strings.TrimSuffix(waitOutput(t, "wedge hub", &hout, &herr, hubDone, "listening on "), ",")
	raw, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		t.Fatalf("bootstrap_token_file not resolved against the config dir: %v", err)
	}
	if got := apiStatus(t, hubURL+"/v1/tokens", strings.TrimSpace(string(raw))); got != http.StatusOK {
		t.Fatalf("bootstrap token: %d", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "hub.db")); err != nil {
		t.Errorf("data_dir not resolved against the config dir: %v", err)
	}
	req, _ := http.NewRequest("GET", hubURL+"/healthz", nil)
	req.Host = "hub.example"
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("api.allowed_hosts: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	// metrics_auth defaults to read: /metrics needs the token; --metrics-auth open is tested in sync/hub.
	if got := apiStatus(t, hubURL+"/metrics", ""); got != http.StatusUnauthorized {
		t.Errorf("GET /metrics without a token: %d", got)
	}
	if got := apiStatus(t, hubURL+"/metrics", strings.TrimSpace(string(raw))); got != http.StatusOK {
		t.Errorf("GET /metrics with the admin token: %d", got)
	}
	cancel()
	if code := <-hubDone; code != exitOK {
		t.Errorf("hub exit %d: %s", code, herr.String())
	}
}

// console: in hub.yaml becomes the hub's console options; --check reads the session key file and
// refuses one that is missing or too short.
func TestHubConfigConsole(t *testing.T) {
	dir := t.TempDir()
	hash, err := password.HashIter("hq-pw", password.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "hub.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`console:
  users:
    - {name: alice, role: supervisor, password_hash: %q}
    - {name: hq, role: viewer, password_hash: %q}
  session_key_file: console.key
  allowed_origins: ["https://hq.example"]
`, hash, hash)), 0o644)
	if code, _, errs := wedge(t, "hub", "--config", cfg, "--check"); code != exitUsage || !strings.Contains(errs, "console.session_key_file") {
		t.Errorf("missing key file: exit %d %q", code, errs)
	}
	key := filepath.Join(dir, "console.key")
	os.WriteFile(key, []byte("short\n"), 0o600)
	if code, _, errs := wedge(t, "hub", "--config", cfg, "--check"); code != exitUsage || !strings.Contains(errs, "at least 32") {
		t.Errorf("short key: exit %d %q", code, errs)
	}
	os.WriteFile(key, []byte(strings.Repeat("k", 48)+"\n"), 0o600)
	if code, out, errs := wedge(t, "hub", "--config", cfg, "--check"); code != exitOK || !strings.Contains(out, "configuration ok") {
		t.Fatalf("good console: exit %d %q %q", code, out, errs)
	}
	c, err := hubconfig.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	o, err := hubConsoleOptions(c)
	if err != nil || o == nil || len(o.Users) != 2 || o.Users[0] != (hubconsole.User{Name: "alice", Role: "supervisor", PasswordHash: hash}) ||
		string(o.SessionKey) != strings.Repeat("k", 48) || len(o.AllowedOrigins) != 1 {
		t.Fatalf("console options %+v, %v", o, err)
	}
	if o, err := hubConsoleOptions(hubconfig.Defaults()); o != nil || err != nil {
		t.Fatalf("no users: %+v %v, want no console", o, err)
	}
}

func TestHubMeasuresFromConfig(t *testing.T) {
	c, err := hubconfig.Parse("hub.yaml", []byte(`
sites: {ur01: {zone: Asia/Urumqi}}
measures: {pickup_within: 3h, presale_limit: 24h, report_at: "09:30", pickup_goal: 0.95, pickup_warn: 0.9}
smtp: {host: smtp.example.com, from: hub@example.com, to: [ops@example.com], starttls: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	m := hubOptions(c).Measures
	mc, ok := m.Mailer.(mail.Config)
	if m.SiteZones["ur01"] != "Asia/Urumqi" || m.Within != 3*time.Hour || m.PresaleLimit != 24*time.Hour || m.ReportAt != "09:30" ||
		m.Goal != 0.95 || m.Warn != 0.9 || !ok || mc.Host != "smtp.example.com" || !mc.StartTLS || mc.To[0] != "ops@example.com" {
		t.Errorf("measures = %+v", m)
	}
	if d := hubOptions(hubconfig.Defaults()).Measures; d.Mailer != nil || d.ReportAt != "" {
		t.Errorf("defaults = %+v", d)
	}
}
