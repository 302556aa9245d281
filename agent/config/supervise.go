package config

import (
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"wedge/internal/webauth/password"
	"wedge/order/kpi"
)

// Defaults of the issue-5 settings (breaker, overdue, KPI, console).
const (
	DefaultMaxBacklog   = 200
	DefaultMaxAvgWait   = 8 * time.Minute
	DefaultCloseRatio   = 0.8
	DefaultCloseAfter   = time.Minute
	DefaultOverdueAfter = 30 * time.Minute
	DefaultKPIZone      = "Asia/Shanghai"
	DefaultKPIWithin    = 4 * time.Hour
	DefaultKPIGoal      = 0.92
	DefaultKPIWarn      = 0.85
)

// Breaker is the backlog circuit breaker (issue 5). The hub can change the thresholds at run time
// (command topic); such a change is journaled and survives a restart.
type Breaker struct {
	MaxBacklog int      `yaml:"max_backlog"`  // opens above this many orders in 待分仓 (default 200)
	MaxAvgWait Duration `yaml:"max_avg_wait"` // or above this average wait (default 8m)
	CloseRatio float64  `yaml:"close_ratio"`  // closes below this share of both limits (default 0.8)
	CloseAfter Duration `yaml:"close_after"`  // held that long without interruption (default 1m)
}

// KPI is the pickup KPI: the share of orders picked up within Within of payment.
type KPI struct {
	Zone   string     `yaml:"zone"`   // IANA zone of the site's days and shifts (default Asia/Shanghai)
	Within Duration   `yaml:"within"` // default 4h
	Goal   float64    `yaml:"goal"`   // default 0.92
	Warn   float64    `yaml:"warn"`   // default 0.85, below goal
	Shifts []KPIShift `yaml:"shifts"` // default day 08:00–20:00, night 20:00–08:00
}

// KPIShift is one shift ("HH:MM" bounds in the site zone).
type KPIShift struct {
	Name   string `yaml:"name"`
	NameZH string `yaml:"name_zh"`
	Start  string `yaml:"start"`
	End    string `yaml:"end"`
}

// Console is the supervisor console, served on the API server at /console/ (so it binds where
// api.listen binds: localhost by default).
type Console struct {
	// Users maps supervisor names to password hashes made by `wedge console hash-password`.
	// Without users the console is a read-only board.
	Users map[string]string `yaml:"users"`
	// SessionKeyFile holds the key (≥ 32 bytes) that signs session cookies; empty: a random key per
	// start (logins end with a restart).
	SessionKeyFile string `yaml:"session_key_file"`
	// AllowedOrigins are extra Origin values accepted for WebSocket and state-changing requests.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// SecureCookies sets the Secure attribute behind a TLS proxy.
	SecureCookies bool `yaml:"secure_cookies"`
}

// KPIOptions returns the kpi package options for the configuration.
func (c *Config) KPIOptions() kpi.Options {
	o := kpi.Options{Zone: c.KPI.Zone, Within: c.KPI.Within.D(), Goal: c.KPI.Goal, Warn: c.KPI.Warn}
	for _, s := range c.KPI.Shifts {
		o.Shifts = append(o.Shifts, kpi.Shift{Name: s.Name, NameZH: s.NameZH, Start: s.Start, End: s.End})
	}
	return o
}

// SessionKey reads console.session_key_file (nil when not set).
func (c *Config) SessionKey() ([]byte, error) {
	if c.Console.SessionKeyFile == "" {
		return nil, nil
	}
	b, err := os.ReadFile(c.Console.SessionKeyFile)
	if err != nil {
		return nil, err
	}
	return []byte(strings.TrimSpace(string(b))), nil
}

func (c *Config) validateSupervise(v *validator) {
	b := &c.Breaker
	if b.MaxBacklog == 0 {
		b.MaxBacklog = DefaultMaxBacklog
	} else if b.MaxBacklog < 0 {
		v.failf([]any{"breaker", "max_backlog"}, "must be positive, got %d", b.MaxBacklog)
	}
	if b.MaxAvgWait == 0 {
		b.MaxAvgWait = Duration(DefaultMaxAvgWait)
	} else if b.MaxAvgWait < 0 {
		v.failf([]any{"breaker", "max_avg_wait"}, "must be positive, got %s", b.MaxAvgWait.D())
	}
	if b.CloseRatio == 0 {
		b.CloseRatio = DefaultCloseRatio
	} else if b.CloseRatio < 0 || b.CloseRatio > 1 {
		v.failf([]any{"breaker", "close_ratio"}, "must be in (0, 1], got %g", b.CloseRatio)
	}
	if b.CloseAfter == 0 {
		b.CloseAfter = Duration(DefaultCloseAfter)
	} else if b.CloseAfter < 0 {
		v.failf([]any{"breaker", "close_after"}, "must not be negative, got %s", b.CloseAfter.D())
	}
	if c.OverdueAfter == 0 {
		c.OverdueAfter = Duration(DefaultOverdueAfter)
	} else if c.OverdueAfter < 0 {
		v.failf([]any{"overdue_after"}, "must be positive, got %s", c.OverdueAfter.D())
	}
	k := &c.KPI
	if k.Zone == "" {
		k.Zone = DefaultKPIZone
	}
	if _, err := time.LoadLocation(k.Zone); err != nil {
		v.failf([]any{"kpi", "zone"}, "%q is not an IANA time zone (e.g. Asia/Shanghai)", k.Zone)
	}
	if k.Within == 0 {
		k.Within = Duration(DefaultKPIWithin)
	} else if k.Within < 0 {
		v.failf([]any{"kpi", "within"}, "must be positive, got %s", k.Within.D())
	}
	if k.Goal == 0 {
		k.Goal = DefaultKPIGoal
	}
	if k.Warn == 0 {
		k.Warn = DefaultKPIWarn
	}
	switch {
	case k.Goal < 0 || k.Goal > 1:
		v.failf([]any{"kpi", "goal"}, "must be a share in (0, 1], got %g", k.Goal)
	case k.Warn < 0 || k.Warn > k.Goal:
		v.failf([]any{"kpi", "warn"}, "must be in (0, goal], got %g", k.Warn)
	default:
		if _, err := kpi.New(&kpi.Options{Zone: k.Zone, Within: k.Within.D(), Goal: k.Goal, Warn: k.Warn, Shifts: c.KPIOptions().Shifts}); err != nil && len(k.Shifts) > 0 {
			v.failf([]any{"kpi", "shifts"}, "%v", err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.Console.Users)) {
		if password.Validate(c.Console.Users[name]) != nil {
			v.failf([]any{"console", "users", name}, "not a password hash: create one with `wedge console hash-password`")
		}
	}
}
