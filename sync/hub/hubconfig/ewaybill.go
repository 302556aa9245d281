package hubconfig

import (
	"net/url"
	"slices"
	"time"

	"wedge/order/waybill"
	"wedge/sync/wire"
)

// EWaybillKuaidi100 is the one provider kind: 快递100 e-waybill V2.
const EWaybillKuaidi100 = "kuaidi100"

// Defaults of the ewaybill section (the hub's own defaults, written out).
const (
	DefaultEWaybillRetryMin    = "5s"
	DefaultEWaybillRetryMax    = "10m"
	DefaultEWaybillTimeout     = "30s"
	DefaultEWaybillConcurrency = 4
)

// EWaybill is the ewaybill section: where the hub obtains e-waybill numbers for posted orders that
// arrive without one (docs/PROTOCOL.md, "E-waybill numbers"). Absent (provider "") = never.
type EWaybill struct {
	// Provider is the kind: "kuaidi100", or "" for none.
	Provider string `yaml:"provider"`
	// URL is the API endpoint ("" = the provider's public one).
	URL string `yaml:"url"`
	// KeyFile and SecretFile hold the API key and the signing secret (one line each).
	KeyFile    string `yaml:"key_file"`
	SecretFile string `yaml:"secret_file"`
	// PrintType is Kuaidi100's printType; only "NON" (the number only) is supported.
	PrintType string `yaml:"print_type"`
	// Sites limits the feature to these sites (empty: all).
	Sites []string `yaml:"sites"`
	// RetryMin, RetryMax and Timeout are Go durations (defaults 5s, 10m, 30s).
	RetryMin string `yaml:"retry_min"`
	RetryMax string `yaml:"retry_max"`
	Timeout  string `yaml:"timeout"`
	// Concurrency is how many provider calls one hub makes at once (1–32, default 4).
	Concurrency int `yaml:"concurrency"`
	// Sender is the shipper on every label.
	Sender EWaybillParty `yaml:"sender"`
	// Carriers are the accounts by wedge carrier code (order/waybill: zto, sf …). An order of a
	// carrier not listed is published as posted.
	Carriers map[string]EWaybillAccount `yaml:"carriers"`
}

// EWaybillParty is a sender.
type EWaybillParty struct {
	Name    string `yaml:"name"`
	Mobile  string `yaml:"mobile"`
	Company string `yaml:"company"`
	Address string `yaml:"address"`
}

// EWaybillAccount is one carrier's account fields as Kuaidi100 names them; which are required
// depends on the carrier. The secret ones are read from files.
type EWaybillAccount struct {
	PartnerID         string `yaml:"partner_id"`
	PartnerKeyFile    string `yaml:"partner_key_file"`
	PartnerSecretFile string `yaml:"partner_secret_file"`
	PartnerName       string `yaml:"partner_name"`
	Code              string `yaml:"code"`
	Net               string `yaml:"net"` // platform account: cainiao, taobao, jdalpha …
	ExpType           string `yaml:"exp_type"`
	PayType           string `yaml:"pay_type"`
	TempID            string `yaml:"temp_id"`
}

// Durations returns retry_min, retry_max and timeout (valid after Parse).
func (e EWaybill) Durations() (retryMin, retryMax, timeout time.Duration) {
	p := func(s string) time.Duration { d, _ := time.ParseDuration(s); return d }
	return p(e.RetryMin), p(e.RetryMax), p(e.Timeout)
}

func (e *EWaybill) setDefaults() {
	if e.Provider == "" {
		return
	}
	for _, f := range []struct {
		p *string
		d string
	}{{&e.RetryMin, DefaultEWaybillRetryMin},
		{&e.RetryMax, DefaultEWaybillRetryMax}, {&e.Timeout, DefaultEWaybillTimeout}, {&e.PrintType, "NON"}} {
		if *f.p == "" {
			*f.p = f.d
		}
	}
	if e.Concurrency == 0 {
		e.Concurrency = DefaultEWaybillConcurrency
	}
}

// resolvePaths applies abs to the section's file paths.
func (e *EWaybill) resolvePaths(abs func(*string)) {
	abs(&e.KeyFile)
	abs(&e.SecretFile)
	for c, a := range e.Carriers {
		abs(&a.PartnerKeyFile)
		abs(&a.PartnerSecretFile)
		e.Carriers[c] = a
	}
}

func (c *Config) validateEWaybill(v *validator) {
	e := c.EWaybill
	at := func(k ...any) []any { return append([]any{"ewaybill"}, k...) }
	switch e.Provider {
	case "":
		if len(e.Carriers) > 0 || e.KeyFile != "" {
			v.failf(at("provider"), "missing: accounts are configured but no provider (want kuaidi100)")
		}
		return
	case EWaybillKuaidi100:
	default:
		v.failf(at("provider"), "%q: want kuaidi100", e.Provider)
	}
	if e.URL != "" {
		if u, err := url.Parse(e.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			v.failf(at("url"), "%q is not an http(s) URL", e.URL)
		}
	}
	if e.KeyFile == "" {
		v.failf(at("key_file"), "required: the file holding the API key")
	}
	if e.SecretFile == "" {
		v.failf(at("secret_file"), "required: the file holding the signing secret")
	}
	if e.PrintType != "NON" {
		v.failf(at("print_type"), "%q: only NON (the number only; labels are printed at the PCs) is supported", e.PrintType)
	}
	for i, s := range e.Sites {
		if !wire.ValidName(s) {
			v.failf(at("sites", i), "%q is not a site name (1–64 of A-Z a-z 0-9 _ -)", s)
		}
	}
	for _, f := range []struct{ k, s string }{{"retry_min", e.RetryMin}, {"retry_max", e.RetryMax}, {"timeout", e.Timeout}} {
		if d, err := time.ParseDuration(f.s); err != nil || d <= 0 {
			v.failf(at(f.k), "%q: want a positive duration such as \"30s\"", f.s)
		}
	}
	if lo, hi, _ := e.Durations(); lo > 0 && hi > 0 && hi < lo {
		v.failf(at("retry_max"), "%s is less than retry_min %s", e.RetryMax, e.RetryMin)
	}
	if e.Concurrency < 1 || e.Concurrency > 32 {
		v.failf(at("concurrency"), "%d: want 1 to 32", e.Concurrency)
	}
	if len(e.Carriers) == 0 {
		v.failf(at("carriers"), "required: at least one carrier account (e.g. zto)")
	}
	codes := make([]string, 0, len(e.Carriers))
	for code := range e.Carriers {
		codes = append(codes, code)
	}
	slices.Sort(codes)
	for _, code := range codes {
		if _, ok := waybill.Lookup(code); !ok || code == "s10" || code == "cainiao" {
			v.failf(at("carriers", code), "unknown carrier %q for kuaidi100 (want one of sf, zto, yto, yunda, sto, jd, ems, jt, chinapost, deppon)", code)
		}
	}
}
