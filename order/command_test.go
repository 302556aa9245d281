package order

import (
	"errors"
	"testing"
	"time"
)

func TestThresholdsDefaultsAndValidation(t *testing.T) {
	if th := (Thresholds{}).WithDefaults(); th != (Thresholds{200, 8 * time.Minute, 0.8, time.Minute}) {
		t.Fatalf("defaults = %+v", th)
	}
	for _, th := range []Thresholds{{MaxBacklog: -1}, {MaxAvgWait: -time.Second}, {CloseRatio: 1.5}, {CloseRatio: -0.1}, {CloseAfter: -1}} {
		if err := th.WithDefaults().Validate(); !errors.Is(err, ErrThresholds) {
			t.Errorf("Validate(%+v) = %v, want ErrThresholds", th, err)
		}
	}
}

func TestParseCommand(t *testing.T) {
	c, th, err := ParseCommand([]byte(`{"type":"breaker_thresholds","id":"c-1","by":"ops","reason":"双十一","max_backlog":300,"max_avg_wait":"10m"}`))
	if err != nil || c.ID != "c-1" || th.MaxBacklog != 300 || th.MaxAvgWait != 10*time.Minute || th.CloseRatio != DefaultCloseRatio || th.CloseAfter != DefaultCloseAfter {
		t.Fatalf("ParseCommand = %+v %+v %v", c, th, err)
	}
	for _, bad := range []string{``, `[]`, `{"type":"reboot"}`, `{"type":"breaker_thresholds","max_avg_wait":"soon"}`,
		`{"type":"breaker_thresholds","max_backlog":-1}`, `{"type":"breaker_thresholds","close_ratio":2}`,
		`{"type":"breaker_thresholds","extra":1}`, `{"type":"breaker_thresholds","close_after":"-1m"}`} {
		if _, _, err := ParseCommand([]byte(bad)); !errors.Is(err, ErrThresholds) {
			t.Errorf("ParseCommand(%s) = %v, want ErrThresholds", bad, err)
		}
	}
}

func FuzzParseCommand(f *testing.F) {
	f.Add([]byte(`{"type":"breaker_thresholds","max_backlog":300}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, th, err := ParseCommand(b)
		if err == nil && th.Validate() != nil {
			t.Fatalf("accepted invalid thresholds %+v", th)
		}
	})
}
