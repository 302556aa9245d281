package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"wedge/internal/mail/mailtest"
	"wedge/sync/hub"
	"wedge/sync/hub/hubconfig"
)

// hub.yaml's notify: and tracking: sections become the hub's options; an unreadable secret is an
// error at start, not a silent unsigned webhook.
func TestHubNotifyFromConfig(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "hook.secret"), []byte("s3cret\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "k100.salt"), []byte("salt\n"), 0o600)
	yaml := `notify:
  backoff: 1m
  channels:
    sup: {type: webhook, url: "https://ops.example.com/h", secret_file: hook.secret}
    sms: {type: sms, url: "https://gw.example.com/s", body: '{"p":"{{phone}}","t":"{{text}}"}'}
  sites:
    "*": {reminder: {after: 20m, channel: sms}, breaker: {channel: sup}, false_completion: {after: 6h, channel: sup}}
    sz01: {kpi_warning: {channel: sup, warn: 0.8, min_orders: 10, text: "{{site}} {{rate}} < {{warn}}"}}
tracking: {kuaidi100_salt_file: k100.salt}
measures: {tick: 2m}
`
	p := filepath.Join(dir, "hub.yaml")
	os.WriteFile(p, []byte(yaml), 0o600)
	cfg, err := hubconfig.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	n, err := hubNotify(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := n.Sites["*"]
	if len(n.Channels) != 2 || n.Backoff != time.Minute || r.Reminder == nil || r.Reminder.After != 20*time.Minute || r.Breaker == nil ||
		r.FalseCompletion == nil || r.FalseCompletion.After != 6*time.Hour {
		t.Fatalf("notify options = %+v", n)
	}
	if k := n.Sites["sz01"].KPIWarning; k == nil || k.Channel != "sup" || k.Warn != 0.8 || k.Goal != 0 || k.MinOrders != 10 ||
		k.Text == nil || k.Text.Render(map[string]string{"site": "sz01", "rate": "80.0%", "warn": "85.0%"}, nil) != "sz01 80.0% < 85.0%" {
		t.Fatalf("sz01's kpi_warning = %+v", n.Sites["sz01"])
	}
	if tick := hubMeasures(cfg).Tick; tick != 2*time.Minute {
		t.Fatalf("measures.tick = %s, want 2m", tick)
	}
	if tr, err := hubTracking(cfg); err != nil || tr.Kuaidi100Salt != "salt" {
		t.Fatalf("tracking = %+v, %v", tr, err)
	}
	os.Remove(filepath.Join(dir, "hook.secret"))
	if _, err := hubNotify(cfg); err == nil || !strings.Contains(err.Error(), "notify.channels.sup") {
		t.Fatalf("missing secret: %v", err)
	}
}

// An e-mail channel goes through the relay of smtp: to its own recipients.
func TestHubEmailChannelFromConfig(t *testing.T) {
	srv := mailtest.Start(t)
	dir := t.TempDir()
	yaml := fmt.Sprintf(`smtp: {host: %s, port: %d, from: hub@example.com, to: [report@example.com]}
notify:
  channels:
    mail: {type: email, to: [ops@example.com]}
  sites:
    "*": {breaker: {channel: mail}}
`, srv.Host(), srv.Port())
	p := filepath.Join(dir, "hub.yaml")
	os.WriteFile(p, []byte(yaml), 0o600)
	cfg, err := hubconfig.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	n, err := hubNotify(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = n.Channels["mail"].Deliver(context.Background(), hub.Notice{ID: "wn-1", OutboxKey: hub.OutboxKey{Site: "sz01", Order: "pack01", Rule: "breaker"},
		Kind: hub.NoticeBreakerOpened, Text: "积压熔断已打开"})
	if m := srv.Messages(); err != nil || len(m) != 1 || len(m[0].To) != 1 || m[0].To[0] != "ops@example.com" || m[0].From != "hub@example.com" {
		t.Fatalf("Deliver = %v; the relay got %+v", err, m)
	}
}
