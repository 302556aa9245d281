package config

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"wedge/internal/webauth/password"
)

// Defaults of the supervision settings (breaker, overdue, KPI).
const (
	DefaultMaxBacklog   = 200
	DefaultMaxAvgWait   = 8 * time.Minute
	DefaultCloseRatio   = 0.8
	DefaultCloseAfter   = time.Minute
	DefaultOverdueAfter = 30 * time.Minute
	DefaultLatencyAlert = 10 * time.Minute
	DefaultKPIZone      = "Asia/Shanghai"
	DefaultKPIWithin    = 4 * time.Hour
	DefaultKPIGoal      = 0.92
	DefaultKPIWarn      = 0.85
)

// Breaker is the backlog circuit breaker. The hub can change the thresholds at run time
// (command topic); such a change is journaled and survives a restart.
type Breaker struct {
	MaxBacklog int      `yaml:"max_backlog"`  // opens above this many orders in 待分仓 (default 200)
	MaxAvgWait Duration `yaml:"max_avg_wait"` // or above this average wait (default 8m)
	CloseRatio float64  `yaml:"close_ratio"`  // closes below this share of both limits (default 0.8)
	CloseAfter Duration `yaml:"close_after"`  // held that long without interruption (default 1m)
}

// Intake is the watch on how late orders reach the PC: the time from an order's payment (paid_at)
// to its intake here. The console alerts when the median of the last 10 minutes passes
// LatencyAlert.
type Intake struct {
	LatencyAlert Duration `yaml:"latency_alert"` // default 10m
}

// KPI is the pickup KPI: the share of orders picked up within Within of payment.
type KPI struct {
	Zone   string     `yaml:"zone"`   // IANA zone of the site's days and shifts (default Asia/Shanghai)
	Within Duration   `yaml:"within"` // default 4h
	Goal   float64    `yaml:"goal"`   // default 0.92
	Warn   float64    `yaml:"warn"`   // default 0.85, below goal
	Shifts []KPIShift `yaml:"shifts"` // default day 08:00–20:00, night 20:00–08:00
}

// KPIShift is one shift ("HH:MM" bounds in the site zone). An end not after the start means the
// shift runs past midnight; it belongs to the day it started on.
type KPIShift struct {
	Name   string `yaml:"name"`
	NameZH string `yaml:"name_zh"`
	Start  string `yaml:"start"`
	End    string `yaml:"end"`
}

// DefaultKPIShifts returns the default shifts: day 08:00–20:00, night 20:00–08:00.
func DefaultKPIShifts() []KPIShift {
	return []KPIShift{{Name: "day", NameZH: "白班", Start: "08:00", End: "20:00"}, {Name: "night", NameZH: "夜班", Start: "20:00", End: "08:00"}}
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

// validateSupervise checks the breaker thresholds, the overdue alert, the intake latency alert, the
// KPI settings and the
// console users' password hashes.
func (c *Config) validateSupervise(v *validator) {
	b := c.Breaker
	if b.MaxBacklog < 0 {
		v.failf([]any{"breaker", "max_backlog"}, "must be positive, got %d", b.MaxBacklog)
	}
	if b.MaxAvgWait < 0 {
		v.failf([]any{"breaker", "max_avg_wait"}, "must be positive, got %s", b.MaxAvgWait.D())
	}
	if b.CloseRatio < 0 || b.CloseRatio > 1 {
		v.failf([]any{"breaker", "close_ratio"}, "must be in (0, 1], got %g", b.CloseRatio)
	}
	if b.CloseAfter < 0 {
		v.failf([]any{"breaker", "close_after"}, "must not be negative, got %s", b.CloseAfter.D())
	}
	if c.OverdueAfter < 0 {
		v.failf([]any{"overdue_after"}, "must be positive, got %s", c.OverdueAfter.D())
	}
	if c.Intake.LatencyAlert < 0 {
		v.failf([]any{"intake", "latency_alert"}, "must be positive, got %s", c.Intake.LatencyAlert.D())
	}
	k := c.KPI
	if _, err := time.LoadLocation(k.Zone); err != nil {
		v.failf([]any{"kpi", "zone"}, "%q is not an IANA time zone (e.g. Asia/Shanghai)", k.Zone)
	}
	if k.Within < 0 {
		v.failf([]any{"kpi", "within"}, "must be positive, got %s", k.Within.D())
	}
	switch {
	case k.Goal < 0 || k.Goal > 1:
		v.failf([]any{"kpi", "goal"}, "must be a share in (0, 1], got %g", k.Goal)
	case k.Warn < 0 || k.Warn > k.Goal:
		v.failf([]any{"kpi", "warn"}, "must be in (0, goal], got %g", k.Warn)
	default:
		validateShifts(v, k.Shifts)
	}
	for _, name := range slices.Sorted(maps.Keys(c.Console.Users)) {
		if password.Validate(c.Console.Users[name]) != nil {
			v.failf([]any{"console", "users", name}, "not a password hash: create one with `wedge console hash-password`")
		}
	}
}

// validateShifts checks that every shift has a name and HH:MM bounds, and that together they cover
// each minute of the day exactly once (a shift whose end is not after its start runs past midnight).
func validateShifts(v *validator, shifts []KPIShift) {
	const day = 24 * 60
	var cover [day]int
	ok := true
	for i, s := range shifts {
		at := func(f string) []any { return []any{"kpi", "shifts", i, f} }
		if strings.TrimSpace(s.Name) == "" {
			v.failf(at("name"), "required")
			ok = false
		}
		start, err1 := minuteOfDay(s.Start)
		if err1 != nil {
			v.failf(at("start"), "%v", err1)
		}
		end, err2 := minuteOfDay(s.End)
		if err2 != nil {
			v.failf(at("end"), "%v", err2)
		}
		if err1 != nil || err2 != nil {
			ok = false
			continue
		}
		for m := start; ; m = (m + 1) % day {
			cover[m]++
			if (m+1)%day == end {
				break
			}
		}
	}
	if !ok {
		return
	}
	for m, n := range cover {
		if n != 1 {
			v.failf([]any{"kpi", "shifts"}, "the shifts must cover each minute of the day exactly once; %02d:%02d is covered %d times", m/60, m%60, n)
			return
		}
	}
}

// minuteOfDay parses "HH:MM" (00:00–23:59).
func minuteOfDay(s string) (int, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return 0, fmt.Errorf("%q is not a time of day (want HH:MM, e.g. \"08:00\")", s)
	}
	return hh*60 + mm, nil
}
