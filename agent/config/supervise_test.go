package config_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"wedge/agent/config"
)

func TestSuperviseDefaults(t *testing.T) {
	c, err := config.Parse("t.yaml", []byte("site: s\nagent: a\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Breaker.MaxBacklog != 200 || c.Breaker.MaxAvgWait.D() != 8*time.Minute || c.Breaker.CloseRatio != 0.8 ||
		c.Breaker.CloseAfter.D() != time.Minute || c.OverdueAfter.D() != 30*time.Minute {
		t.Fatalf("breaker defaults %+v overdue %s", c.Breaker, c.OverdueAfter.D())
	}
	k := c.KPIOptions()
	if k.Zone != "Asia/Shanghai" || k.Within != 4*time.Hour || k.Goal != 0.92 || k.Warn != 0.85 {
		t.Fatalf("kpi defaults %+v", k)
	}
	if key, err := c.SessionKey(); key != nil || err != nil {
		t.Fatalf("session key %q %v", key, err)
	}
}

func TestSuperviseInvalid(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"breaker: {max_backlog: -1}", "t.yaml:3: breaker.max_backlog: must be positive"},
		{"breaker: {close_ratio: 1.5}", "t.yaml:3: breaker.close_ratio: must be in (0, 1]"},
		{"breaker: {max_avg_wait: -1m}", "breaker.max_avg_wait: must be positive"},
		{"overdue_after: -5m", "t.yaml:3: overdue_after: must be positive"},
		{"kpi: {zone: Mars/Olympus}", "t.yaml:3: kpi.zone: \"Mars/Olympus\" is not an IANA time zone"},
		{"kpi: {goal: 0.8, warn: 0.9}", "kpi.warn: must be in (0, goal]"},
		{"kpi: {shifts: [{name: day, start: \"08:00\", end: \"12:00\"}]}", "kpi.shifts:"},
		{"console: {users: {zhang: hunter2}}", "console.users.zhang: not a password hash"},
	} {
		_, err := config.Parse("t.yaml", []byte("site: s\nagent: a\n"+tc.yaml+"\n"), nil)
		if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
