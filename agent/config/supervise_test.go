package config_test

import (
	"errors"
	"slices"
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
	if c.Intake.LatencyAlert.D() != 10*time.Minute {
		t.Fatalf("intake latency alert default %s", c.Intake.LatencyAlert.D())
	}
	k := c.KPI
	if k.Zone != "Asia/Shanghai" || k.Within.D() != 4*time.Hour || k.Goal != 0.92 || k.Warn != 0.85 {
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
		{"intake: {latency_alert: -1m}", "t.yaml:3: intake.latency_alert: must be positive"},
		{"intake: {latency_alert: 10}", `t.yaml:3: intake: "10" is not a duration`},
		{"intake: {latency_limit: 10m}", "latency_limit"},
		{"kpi: {zone: Mars/Olympus}", "t.yaml:3: kpi.zone: \"Mars/Olympus\" is not an IANA time zone"},
		{"kpi: {goal: 0.8, warn: 0.9}", "kpi.warn: must be in (0, goal]"},
		{"kpi: {shifts: [{name: day, start: \"08:00\", end: \"12:00\"}]}", "kpi.shifts:"},
		{"console: {users: {zhang: hunter2}}", "console.users.zhang: not a password hash"},
		{"kpi: {shifts: [{name: day, start: \"8am\", end: \"20:00\"}, {name: night, start: \"20:00\", end: \"08:00\"}]}", `t.yaml:3: kpi.shifts[0].start: "8am" is not a time of day`},
		{"kpi: {shifts: [{start: \"08:00\", end: \"08:00\"}]}", "t.yaml:3: kpi.shifts[0].name: required"},
		{"kpi: {shifts: [{name: a, start: \"08:00\", end: \"20:00\"}, {name: b, start: \"19:00\", end: \"08:00\"}]}", "kpi.shifts: the shifts must cover each minute of the day exactly once; 19:00 is covered 2 times"},
	} {
		_, err := config.Parse("t.yaml", []byte("site: s\nagent: a\n"+tc.yaml+"\n"), nil)
		if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

// The KPI shifts default to day and night; one shift from a time back to itself covers the day.
func TestKPIShifts(t *testing.T) {
	c, err := config.Parse("t.yaml", []byte("site: s\nagent: a\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := config.DefaultKPIShifts(); !slices.Equal(c.KPI.Shifts, want) || len(want) != 2 || want[0].Start != "08:00" || want[1].End != "08:00" {
		t.Fatalf("default shifts %+v", c.KPI.Shifts)
	}
	c, err = config.Parse("t.yaml", []byte("site: s\nagent: a\nkpi: {shifts: [{name: all, start: \"06:00\", end: \"06:00\"}]}\n"), nil)
	if err != nil || len(c.KPI.Shifts) != 1 {
		t.Fatalf("one shift over the whole day: %v %+v", err, c.KPI.Shifts)
	}
}

// A console user needs a hash in the form `wedge console hash-password` writes (its own test checks
// that a fresh hash loads); plain or weak ones are refused.
func TestConsoleUserHashes(t *testing.T) {
	const good = "pbkdf2-sha256$600000$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	if _, err := config.Parse("t.yaml", []byte("site: s\nagent: a\nconsole: {users: {zhang: \""+good+"\"}}\n"), nil); err != nil {
		t.Fatalf("well-formed hash refused: %v", err)
	}
	for _, bad := range []string{"", "plain", "sha256$abc", "pbkdf2-sha256$10$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"pbkdf2-sha256$600000$AAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "pbkdf2-sha256$600000$AAAAAAAAAAAAAAAAAAAAAA$A!A"} {
		_, err := config.Parse("t.yaml", []byte("site: s\nagent: a\nconsole: {users: {zhang: \""+bad+"\"}}\n"), nil)
		if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), "console.users.zhang: not a password hash") {
			t.Errorf("hash %q: %v", bad, err)
		}
	}
}
