package hubconfig

import (
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"wedge/internal/msgtmpl"
)

// Notify is hub.yaml's notify: section: the channels notifications go through, and each site's
// rules (the site "*" applies to sites without their own). Absent: no notifications.
type Notify struct {
	Channels map[string]Channel   `yaml:"channels"`
	Sites    map[string]SiteRules `yaml:"sites"`
	// Dispatcher tuning; "" = the hub's defaults (lease 2m, backoff 30s doubling to 1h, 10 tries,
	// poll 5s).
	Lease       string `yaml:"lease"`
	Backoff     string `yaml:"backoff"`
	MaxBackoff  string `yaml:"max_backoff"`
	MaxAttempts int    `yaml:"max_attempts"`
	Poll        string `yaml:"poll"`
}

// Tracking is hub.yaml's tracking: section.
type Tracking struct {
	// Kuaidi100SaltFile holds the salt of the Kuaidi100 subscriptions; pushes to
	// POST /v1/tracking/kuaidi100 must be signed with it. "" = that route is off.
	Kuaidi100SaltFile string `yaml:"kuaidi100_salt_file"`
}

// Channel types.
const (
	ChannelWebhook = "webhook"
	ChannelSMS     = "sms"
	ChannelEmail   = "email"
)

// Channel is one way out. A webhook POSTs signed JSON to URL with the secret in SecretFile; an
// SMS gateway is reached with Method (default POST) on URL with Headers and Body, templates over
// the SMS fields (phone, order_id, channel_order_no, waybill, text, id), the body's values escaped
// with Escape (json, the default; form; raw). An e-mail channel sends to To (default smtp.to)
// through the relay of smtp:, which must then be set.
type Channel struct {
	Type       string            `yaml:"type"`
	URL        string            `yaml:"url"`
	SecretFile string            `yaml:"secret_file"`
	Method     string            `yaml:"method"`
	Headers    map[string]string `yaml:"headers"`
	Body       string            `yaml:"body"`
	Escape     string            `yaml:"escape"`
	Timeout    string            `yaml:"timeout"` // one try; "" = 10s (e-mail: 30s)
	To         []string          `yaml:"to"`      // e-mail recipients
}

// SiteRules are one site's rules; an absent rule is off.
type SiteRules struct {
	Reminder        *Reminder   `yaml:"reminder"`
	Breaker         *Breaker    `yaml:"breaker"`
	FalseCompletion *Reminder   `yaml:"false_completion"` // 伪完成: after (default 12h), channel, text
	KPIWarning      *KPIWarning `yaml:"kpi_warning"`      // the site's KPI of the day under its warning level
}

// KPIWarning tells the site's supervisors once when the site's pickup KPI of the day (orders paid
// today in the site's zone whose deadline has passed) falls under Warn with at least MinOrders
// counted; again only after it came back to Warn or above, or on the next day. Warn and Goal: 0 =
// measures.pickup_warn and pickup_goal (default 0.85 and 0.92); MinOrders: 0 = 20. Text is a
// template over site, day, rate, warn, goal, within, counted, on_time, late, open; "" = the
// default wording.
type KPIWarning struct {
	Channel   string  `yaml:"channel"`
	Warn      float64 `yaml:"warn"`
	Goal      float64 `yaml:"goal"`
	MinOrders int     `yaml:"min_orders"`
	Text      string  `yaml:"text"`
}

// Defaults of a kpi_warning rule that measures: does not override.
const (
	DefaultPickupGoal   = 0.92
	DefaultPickupWarn   = 0.85
	DefaultKPIMinOrders = 20
)

// Reminder texts the customer once when the order has waited After (default 30m) since it first
// entered 暂停进入 or 待分仓. Text is a template over order_id, channel_order_no, waybill, site;
// "" = the default wording.
type Reminder struct {
	After   string `yaml:"after"`
	Channel string `yaml:"channel"`
	Text    string `yaml:"text"`
}

// Breaker tells the site's supervisors when a PC's breaker opens or closes. Opened and Closed are
// templates over site, agent, at; "" = the default texts.
type Breaker struct {
	Channel string `yaml:"channel"`
	Opened  string `yaml:"opened"`
	Closed  string `yaml:"closed"`
}

// Duration parses one of the section's durations ("" = 0, the hub's default); Load has checked it.
func Duration(s string) time.Duration {
	d, _ := time.ParseDuration(s)
	return d
}

func (c *Config) validateNotify(v *validator) {
	n := c.Notify
	if n == nil {
		return
	}
	for _, f := range []struct{ name, val string }{{"lease", n.Lease}, {"backoff", n.Backoff}, {"max_backoff", n.MaxBackoff}, {"poll", n.Poll}} {
		checkDuration(v, []any{"notify", f.name}, f.val)
	}
	if n.MaxAttempts < 0 {
		v.failf([]any{"notify", "max_attempts"}, "%d: want 1 or more (0 = the default, 10)", n.MaxAttempts)
	}
	for _, name := range sortedKeys(n.Channels) {
		c.validateChannel(v, name, n.Channels[name])
	}
	for _, site := range sortedKeys(n.Sites) {
		c.validateSite(v, site, n.Sites[site])
	}
}

func (c *Config) validateChannel(v *validator, name string, ch Channel) {
	at := func(f ...any) []any { return append([]any{"notify", "channels", name}, f...) }
	checkDuration(v, at("timeout"), ch.Timeout)
	switch ch.Type {
	case ChannelWebhook:
		if u, err := url.Parse(ch.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.failf(at("url"), "%q: want an http:// or https:// URL", ch.URL)
		}
		if ch.SecretFile == "" {
			v.failf(at("secret_file"), "a webhook needs the file of its shared signing secret")
		}
	case ChannelSMS:
		if ch.URL == "" {
			v.failf(at("url"), "an SMS gateway needs a URL")
		}
		checkTemplate(v, at("url"), ch.URL, msgtmpl.SMSFields)
		checkTemplate(v, at("body"), ch.Body, msgtmpl.SMSFields)
		for _, h := range sortedKeys(ch.Headers) {
			checkTemplate(v, at("headers", h), ch.Headers[h], msgtmpl.SMSFields)
		}
		if ch.Method != "" && !slices.Contains([]string{http.MethodPost, http.MethodPut, http.MethodGet}, ch.Method) {
			v.failf(at("method"), "%q: want POST, PUT or GET", ch.Method)
		}
		if _, ok := msgtmpl.Escapes[ch.Escape]; ch.Escape != "" && !ok {
			v.failf(at("escape"), "%q: want json, form or raw", ch.Escape)
		}
	case ChannelEmail:
		if c.SMTP.Host == "" {
			v.failf(at("type"), "an e-mail channel needs the SMTP relay: set smtp.host (and smtp.from, smtp.to)")
		}
		for i, to := range ch.To {
			if !strings.Contains(to, "@") || strings.ContainsAny(to, "\r\n ") {
				v.failf(at("to", i), "%q is not an e-mail address", to)
			}
		}
	default:
		v.failf(at("type"), "%q: want webhook, sms or email", ch.Type)
	}
}

func (c *Config) validateSite(v *validator, site string, r SiteRules) {
	at := func(f ...any) []any { return append([]any{"notify", "sites", site}, f...) }
	channel := func(path []any, name string) {
		if _, ok := c.Notify.Channels[name]; !ok {
			v.failf(path, "%q: no such channel under notify.channels", name)
		}
	}
	if r.Reminder != nil {
		checkDuration(v, at("reminder", "after"), r.Reminder.After)
		channel(at("reminder", "channel"), r.Reminder.Channel)
		checkTemplate(v, at("reminder", "text"), r.Reminder.Text, msgtmpl.OrderFields)
	}
	if r.FalseCompletion != nil {
		checkDuration(v, at("false_completion", "after"), r.FalseCompletion.After)
		channel(at("false_completion", "channel"), r.FalseCompletion.Channel)
		checkTemplate(v, at("false_completion", "text"), r.FalseCompletion.Text, msgtmpl.OrderFields)
	}
	if k := r.KPIWarning; k != nil {
		channel(at("kpi_warning", "channel"), k.Channel)
		checkTemplate(v, at("kpi_warning", "text"), k.Text, msgtmpl.KPIFields)
		goal, warn := cmpOr(k.Goal, c.Measures.PickupGoal, DefaultPickupGoal), cmpOr(k.Warn, c.Measures.PickupWarn, DefaultPickupWarn)
		switch {
		case k.Warn < 0 || k.Warn > 1:
			v.failf(at("kpi_warning", "warn"), "%g: want a share between 0 and 1, e.g. 0.85 (0 = measures.pickup_warn)", k.Warn)
		case k.Goal < 0 || k.Goal > 1:
			v.failf(at("kpi_warning", "goal"), "%g: want a share between 0 and 1, e.g. 0.92 (0 = measures.pickup_goal)", k.Goal)
		case warn > goal:
			v.failf(at("kpi_warning", "warn"), "warn %g is above goal %g: want 0 < warn ≤ goal ≤ 1", warn, goal)
		}
		if k.MinOrders < 0 {
			v.failf(at("kpi_warning", "min_orders"), "%d: want 1 or more (0 = the default, %d)", k.MinOrders, DefaultKPIMinOrders)
		}
	}
	if r.Breaker != nil {
		channel(at("breaker", "channel"), r.Breaker.Channel)
		checkTemplate(v, at("breaker", "opened"), r.Breaker.Opened, msgtmpl.BreakerFields)
		checkTemplate(v, at("breaker", "closed"), r.Breaker.Closed, msgtmpl.BreakerFields)
	}
}

// cmpOr is the first of vs that is not zero.
func cmpOr(vs ...float64) float64 {
	for _, v := range vs {
		if v != 0 {
			return v
		}
	}
	return 0
}

func checkDuration(v *validator, path []any, s string) {
	if s == "" {
		return
	}
	if d, err := time.ParseDuration(s); err != nil || d <= 0 {
		v.failf(path, "%q: want a positive duration such as 30s, 30m or 1h", s)
	}
}

func checkTemplate(v *validator, path []any, s string, fields []string) {
	if _, err := msgtmpl.Parse(s, fields); err != nil {
		v.failf(path, "%s", strings.TrimPrefix(err.Error(), "msgtmpl: "))
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
