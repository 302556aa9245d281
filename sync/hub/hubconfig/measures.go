package hubconfig

import (
	"strings"
	"time"
)

// The central measures' part of hub.yaml: the sites' time zones, the goals and the daily report,
// and the SMTP relay the report (and supervisors' e-mail) goes through.

// Site is one warehouse in sites:.
type Site struct {
	// Zone is the site's IANA time zone (days and shifts of its KPI); "" = measures.zone.
	Zone string `yaml:"zone"`
	// Pickup is the site's pickup policy: handover_scan ("" and the default: 已揽收 on the
	// handover scan) or carrier_first_scan (已揽收 on the courier's first scan; the handover scan
	// only records the handover).
	Pickup string `yaml:"pickup"`
}

// Measures configure the central measures (measures:). Zero fields take the defaults of
// sync/hub/central.
type Measures struct {
	Zone         string  `yaml:"zone"`          // the network's zone (daily report), default Asia/Shanghai
	PickupGoal   float64 `yaml:"pickup_goal"`   // 0.92
	PickupWarn   float64 `yaml:"pickup_warn"`   // 0.85
	PickupWithin string  `yaml:"pickup_within"` // a Go duration, default 4h
	// ConsistencyGoal and ConsistencyWarn (0.9995, 0.998).
	ConsistencyGoal float64 `yaml:"consistency_goal"`
	ConsistencyWarn float64 `yaml:"consistency_warn"`
	PresaleLimit    string  `yaml:"presale_limit"` // a Go duration, default 48h
	ReportAt        string  `yaml:"report_at"`     // "HH:MM" in the network's zone, default 10:00; "off"
	// Tick is how often the hub's periodic rules run (the sites' KPI warnings, 伪完成 counted as
	// anomalies): a Go duration, default 5m.
	Tick string `yaml:"tick"`
}

// TickDuration is measures.tick (0 = the hub's default); validateMeasures checked it.
func (m Measures) TickDuration() time.Duration {
	d, _ := time.ParseDuration(m.Tick)
	return d
}

// SMTP is the mail relay (smtp:); without host no e-mail is sent.
type SMTP struct {
	Host         string   `yaml:"host"`
	Port         int      `yaml:"port"` // default 587 with starttls, else 25
	From         string   `yaml:"from"`
	To           []string `yaml:"to"`
	Username     string   `yaml:"username"`
	PasswordFile string   `yaml:"password_file"`
	StartTLS     bool     `yaml:"starttls"`
}

// Durations of measures: (validated by validateMeasures).
func (m Measures) Durations() (pickupWithin, presaleLimit time.Duration) {
	pickupWithin, _ = time.ParseDuration(m.PickupWithin)
	presaleLimit, _ = time.ParseDuration(m.PresaleLimit)
	return pickupWithin, presaleLimit
}

func (c *Config) validateMeasures(v *validator) {
	m := c.Measures
	zone := func(path []any, z string) {
		if z != "" {
			if _, err := time.LoadLocation(z); err != nil {
				v.failf(path, "%q is not a time zone (e.g. Asia/Shanghai)", z)
			}
		}
	}
	zone([]any{"measures", "zone"}, m.Zone)
	for name, s := range c.Sites {
		zone([]any{"sites", name, "zone"}, s.Zone)
		switch s.Pickup {
		case "", "handover_scan", "carrier_first_scan":
		default:
			v.failf([]any{"sites", name, "pickup"}, "%q: want handover_scan or carrier_first_scan", s.Pickup)
		}
	}
	for _, d := range []struct{ key, val string }{{"pickup_within", m.PickupWithin}, {"presale_limit", m.PresaleLimit}, {"tick", m.Tick}} {
		if t, err := time.ParseDuration(d.val); d.val != "" && (err != nil || t <= 0) {
			v.failf([]any{"measures", d.key}, "%q: want a positive duration such as 4h", d.val)
		}
	}
	for _, l := range []struct {
		key        string
		goal, warn float64
	}{{"pickup", m.PickupGoal, m.PickupWarn}, {"consistency", m.ConsistencyGoal, m.ConsistencyWarn}} {
		if l.goal < 0 || l.goal > 1 || l.warn < 0 || l.warn > 1 || l.goal > 0 && l.warn > l.goal {
			v.failf([]any{"measures", l.key + "_warn"}, "goal %g, warn %g: want 0 < warn ≤ goal ≤ 1", l.goal, l.warn)
		}
	}
	if at := m.ReportAt; at != "" && at != "off" {
		if _, err := time.Parse("15:04", at); err != nil {
			v.failf([]any{"measures", "report_at"}, "%q: want HH:MM or off", at)
		}
	}
	c.validateSMTP(v)
}

func (c *Config) validateSMTP(v *validator) {
	s := c.SMTP
	if s.Host == "" {
		if s.From != "" || len(s.To) > 0 {
			v.failf([]any{"smtp", "host"}, "is required with smtp.from or smtp.to")
		}
		return
	}
	if !strings.Contains(s.From, "@") {
		v.failf([]any{"smtp", "from"}, "%q is not an e-mail address", s.From)
	}
	if len(s.To) == 0 {
		v.failf([]any{"smtp", "to"}, "needs at least one recipient")
	}
	for i, to := range s.To {
		if !strings.Contains(to, "@") || strings.ContainsAny(to, "\r\n ") {
			v.failf([]any{"smtp", "to", i}, "%q is not an e-mail address", to)
		}
	}
	if s.Port < 0 || s.Port > 65535 {
		v.failf([]any{"smtp", "port"}, "%d: want 1–65535", s.Port)
	}
	pair(v, "smtp", "username", s.Username, "password_file", s.PasswordFile)
}
