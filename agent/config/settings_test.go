package config

import (
	"crypto/ed25519"
	"fmt"
	"slices"
	"strings"
	"testing"

	"wedge/internal/webauth/password"
	"wedge/sync/wire"
)

// fullYAML sets every field of the configuration (console user hash filled in by the test).
const fullYAML = `site: sz01
agent: pack01
data_dir: /var/lib/wedge
profiles_dir: /etc/wedge/profiles
pair_window: 20s
operator_pattern: "^OP-[A-Z0-9]{2,8}$"
reprint_code: AGAIN
contract: {default_order_no_pattern: "^[A-Za-z0-9]{14,64}$"}
strict_channels: true
channels:
  Tmall: {order_no_pattern: "^[0-9]{12,20}$"}
  jd: {order_no_pattern: "^[0-9]{12,16}$"}
broker: {url: "ssl://mq:8883", ca: /etc/ca.pem, cert: /etc/a.pem, key: /etc/a.key, username: pack01, password: pw, hub_keys: [%q], hub_keys_file: /etc/wedge/hub.pub, accept_unsigned: true}
api: {listen: "0.0.0.0:8470", token: tok, allowed_hosts: [pack01.lan]}
log: {level: debug, format: json}
stations:
  - {name: print-1, role: print}
devices:
  - {name: scan-1, kind: scanner, station: print-1, transport: hid, profile: generic-hid-pos, match: {vid: "0C2E", pid: "0B8F", serial: "S1", usb_path: "1-1.2", interface: 0}}
  - {name: prn-1, kind: printer, station: print-1, transport: tcp, address: "10.0.0.5:9100", port: "", profile: zebra-zd421, proxy_listen: "127.0.0.1:9101", proxy_filter: "^SF", label_size: 100x180}
breaker: {max_backlog: 300, max_avg_wait: 10m, close_ratio: 0.7, close_after: 2m}
overdue_after: 20m
kpi:
  zone: Asia/Shanghai
  within: 3h
  goal: 0.95
  warn: 0.9
  shifts:
    - {name: day, name_zh: 白班, start: "08:00", end: "20:00"}
    - {name: night, name_zh: 夜班, start: "20:00", end: "08:00"}
console:
  users: {zhang: %q}
  session_key_file: /etc/wedge/console.key
  allowed_origins: ["https://pack01.lan"]
  secure_cookies: true
signing_key: /etc/wedge/agent.key
intake: {latency_alert: 15m}
`

func fullConfig(t *testing.T) *Config {
	t.Helper()
	h, err := password.HashIter("pw", 10000)
	if err != nil {
		t.Fatal(err)
	}
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse("full.yaml", fmt.Appendf(nil, fullYAML, wire.FormatPublicKey(pub), h), nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Every field of the configuration is either shared or per PC, never both, and every entry of the
// two lists names a field: a new field cannot slip into the hash (or out of it) unnoticed.
func TestSettingsListsCoverEveryField(t *testing.T) {
	c := fullConfig(t)
	used := map[string]bool{}
	for _, s := range c.Settings() {
		var in []string
		for _, p := range append(slices.Clone(sharedFields), perPCFields...) {
			if matchPattern(p, strings.Split(patternName(s.Field), ".")) {
				in = append(in, p)
				used[p] = true
			}
		}
		if len(in) != 1 {
			t.Errorf("%s is in %d lists of shared and per-PC fields (%v), want exactly one", s.Field, len(in), in)
		}
	}
	for _, p := range append(slices.Clone(sharedFields), perPCFields...) {
		if !used[p] {
			t.Errorf("%q names no field of the configuration", p)
		}
	}
	for _, p := range secretFields {
		if !slices.Contains(perPCFields, p) {
			t.Errorf("secret %q is not per PC", p)
		}
	}
}

// patternName turns a field name into the dotted form of the lists: devices[0].match.vid → devices[].match.vid.
func patternName(field string) string {
	var b strings.Builder
	skip := false
	for _, r := range field {
		switch {
		case r == '[':
			b.WriteString("[]")
			skip = true
		case r == ']':
			skip = false
		case !skip:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestSettingsLinesAndSecrets(t *testing.T) {
	c := fullConfig(t)
	got := map[string]Setting{}
	for _, s := range c.Settings() {
		got[s.Field] = s
	}
	for field, want := range map[string]Setting{
		"site":                              {Value: "sz01", Line: 1, Shared: true},
		"breaker.max_avg_wait":              {Value: "10m0s", Line: 21, Shared: true},
		"breaker.close_ratio":               {Value: "0.7", Line: 21, Shared: true},
		"channels.tmall.order_no_pattern":   {Value: "^[0-9]{12,20}$", Line: 11, Shared: true},
		"kpi.shifts[1].start":               {Value: "20:00", Line: 30, Shared: true},
		"strict_channels":                   {Value: "true", Line: 9, Shared: true},
		"api.token":                         {Value: "tok", Line: 14, Secret: true},
		"devices[0].match.interface":        {Value: "0", Line: 19},
		"contract.default_order_no_pattern": {Value: "^[A-Za-z0-9]{14,64}$", Line: 8, Shared: true},
		"intake.latency_alert":              {Value: "15m0s", Line: 37, Shared: true},
	} {
		if s := got[field]; s.Value != want.Value || s.Line != want.Line || s.Shared != want.Shared || s.Secret != want.Secret {
			t.Errorf("%s: %+v, want %+v", field, s, want)
		}
	}
	if s := got["console.users.zhang"]; !s.Secret || s.Shared {
		t.Errorf("console user: %+v", s)
	}

	d, err := Parse("min.yaml", []byte("site: s\nagent: a\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range d.Settings() {
		if s.Field == "site" && s.Line != 1 || s.Field != "site" && s.Field != "agent" && s.Line != 0 {
			t.Errorf("%s: line %d", s.Field, s.Line)
		}
		if s.Field == "kpi.shifts[0].name" && s.Value != "day" {
			t.Errorf("default shift: %+v", s)
		}
	}
	if w := (Setting{Line: 0}).Where("w.yaml"); w != "w.yaml (default)" {
		t.Errorf("Where: %q", w)
	}
}

// The hash covers the shared settings after defaults, and nothing else: the same rules written
// differently (defaults spelled out, another order, comments, another PC's name, devices and
// secrets, a channel name in other case) hash alike; any shared value changed hashes differently.
func TestSettingsHash(t *testing.T) {
	base := "site: sz01\nagent: pack01\nchannels:\n  tmall: {order_no_pattern: \"^[0-9]{12,20}$\"}\n"
	hash := func(src string) string {
		t.Helper()
		c, err := Parse("h.yaml", []byte(src), nil)
		if err != nil {
			t.Fatal(err)
		}
		return c.SettingsHash()
	}
	h0 := hash(base)
	if !strings.HasPrefix(h0, "v2:") || len(h0) != 3+32 {
		t.Fatalf("hash %q", h0)
	}
	for _, same := range []string{
		"# another PC\nagent: dock01\nsite: sz01\ndata_dir: /d\napi: {listen: \"0.0.0.0:1\", token: x}\nlog: {level: debug}\nchannels:\n  TMALL: {order_no_pattern: \"^[0-9]{12,20}$\"}\n" +
			"stations: [{name: dock-1, role: handover}]\nbroker: {username: dock01, password: secret}\n",
		base + "breaker: {max_backlog: 200, max_avg_wait: 8m, close_ratio: 0.8, close_after: 60s}\noverdue_after: 30m\npair_window: 30s\n" +
			"contract: {default_order_no_pattern: \"^[A-Za-z0-9]{12,64}$\"}\nkpi: {zone: Asia/Shanghai, within: 4h, goal: 0.92, warn: 0.85}\n",
	} {
		if h := hash(same); h != h0 {
			t.Errorf("same shared settings, hash %s ≠ %s:\n%s", h, h0, same)
		}
	}
	for _, other := range []string{
		base + "breaker: {max_backlog: 201}\n",
		base + "overdue_after: 31m\n",
		base + "strict_channels: true\n",
		base + "contract: {default_order_no_pattern: \"^[A-Za-z0-9]{13,64}$\"}\n",
		base + "  jd: {order_no_pattern: \"^[0-9]{12,16}$\"}\n",
		base + "kpi: {goal: 0.9}\n",
		base + "intake: {latency_alert: 15m}\n",
		base + "broker: {url: \"tcp://10.0.0.1:1883\"}\n",
		strings.Replace(base, "sz01", "sz02", 1),
		strings.Replace(base, "20}", "21}", 1),
	} {
		if h := hash(other); h == h0 {
			t.Errorf("a shared setting changed but the hash did not:\n%s", other)
		}
	}
	c, _ := Parse("h.yaml", []byte(base), nil)
	canon := string(c.SettingsCanonical())
	if !strings.HasPrefix(canon, "wedge-settings v2\nbreaker.close_after=\"1m0s\"\n") || !strings.Contains(canon, "\nchannels.tmall.order_no_pattern=\"^[0-9]{12,20}$\"\n") ||
		strings.Contains(canon, "agent=") {
		t.Errorf("canonical form:\n%s", canon)
	}
}

func TestReportedSettings(t *testing.T) {
	c := fullConfig(t)
	var fields []string
	for _, s := range c.ReportedSettings() {
		fields = append(fields, s.Field)
	}
	got := strings.Join(fields, " ")
	for _, want := range []string{"contract.default_order_no_pattern", "strict_channels", "channels.jd.order_no_pattern", "breaker.max_backlog", "overdue_after", "intake.latency_alert", "kpi.goal", "kpi.warn"} {
		if !slices.Contains(fields, want) {
			t.Errorf("%s not reported: %s", want, got)
		}
	}
	if slices.Contains(fields, "site") || slices.Contains(fields, "api.token") {
		t.Errorf("reported too much: %s", got)
	}
}
