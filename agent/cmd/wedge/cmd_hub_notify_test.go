package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
tracking: {kuaidi100_salt_file: k100.salt}
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
	if tr, err := hubTracking(cfg); err != nil || tr.Kuaidi100Salt != "salt" {
		t.Fatalf("tracking = %+v, %v", tr, err)
	}
	os.Remove(filepath.Join(dir, "hook.secret"))
	if _, err := hubNotify(cfg); err == nil || !strings.Contains(err.Error(), "notify.channels.sup") {
		t.Fatalf("missing secret: %v", err)
	}
}
