package devices_test

import (
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"wedge/agent/config"
	"wedge/agent/devices"
	"wedge/drivers/profile"
	"wedge/drivers/scanner"
	"wedge/drivers/scanner/scannertest"
	"wedge/internal/clock"
)

// Noise (a frame the driver rejects as unreadable or overlong) gets the bad beep, so the operator
// scans again; a burst of it gets one beep per NoiseBeepGap, not one per rejected frame. A
// disconnect is no noise and gets none.
func TestNoiseGetsTheBadBeep(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 11, 9, 0, 0, 0, time.UTC))
	sc := scannertest.NewFake("ser-1", nil, clk)
	rec := startDevices(t, clk, "  - {name: ser-1, station: print-1, transport: serial, port: /dev/ttyFAKE0, profile: generic-serial-cr}\n", devices.Options{
		OpenScanner: func(config.Device, profile.Profile, *slog.Logger) (scanner.Scanner, error) { return sc, nil },
	}).rec
	beeps := func(n int, what string) []scanner.Outcome {
		t.Helper()
		eventually(t, what, func() bool { return len(sc.Feedbacks()) == n })
		return sc.Feedbacks()
	}
	for i := range 50 { // a burst: one beep
		sc.PushErr(fmt.Errorf("scanner %q: %w: frame %d", "ser-1", scanner.ErrNoise, i))
	}
	sc.PushErr(fmt.Errorf("scanner %q: %w", "ser-1", scanner.ErrOverlong))
	sc.PushErr(fmt.Errorf("scanner %q: %w", "ser-1", scanner.ErrDisconnected))
	sc.Push(scanner.Read{Text: "OP-li"})
	if got := beeps(2, "the noise beep and the badge's"); !slices.Equal(got, []scanner.Outcome{scanner.Bad, scanner.Good}) {
		t.Fatalf("beeps %v, want one bad for the burst, then good for the badge", got)
	}
	if n := len(rec.Results()); n != 1 {
		t.Fatalf("%d reads reached the station, want the badge only", n)
	}
	// Noise again, a gap later: beeps again.
	clk.Advance(devices.NoiseBeepGap)
	sc.PushErr(fmt.Errorf("scanner %q: %w", "ser-1", scanner.ErrOverlong))
	if got := beeps(3, "the next noise beep"); got[2] != scanner.Bad {
		t.Fatalf("beeps %v, want bad last", got)
	}
	clk.Advance(devices.NoiseBeepGap)
	sc.PushErr(fmt.Errorf("scanner %q: %w", "ser-1", scanner.ErrDisconnected))
	sc.Push(scanner.Read{Text: "OP-wang"})
	if got := beeps(4, "the second badge's beep"); got[3] != scanner.Good {
		t.Fatalf("beeps %v: a disconnect beeped", got)
	}
}
