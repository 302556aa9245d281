package kpi

import (
	"errors"
	"testing"
	"time"
	_ "time/tzdata"

	"wedge/order"
)

func sh(t *testing.T, s string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v.UTC() // the agent's clock is UTC
}

func find(rs []Rate, period string) (Rate, bool) {
	for _, r := range rs {
		if r.Period == period {
			return r, true
		}
	}
	return Rate{}, false
}

func TestDenominatorAndDays(t *testing.T) {
	// Pretend the PC runs in New York: the site's days must not move.
	old := time.Local
	time.Local, _ = time.LoadLocation("America/New_York")
	defer func() { time.Local = old }()

	c, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	now := sh(t, "2026-11-12 10:00")
	p := func(id, paid, picked string, st order.State) order.Order {
		o := order.Order{ID: id, State: st, PaidAt: sh(t, paid)}
		if picked != "" {
			o.PickedUpAt = sh(t, picked)
		}
		return o
	}
	orders := []order.Order{
		p("late-night-met", "2026-11-11 23:30", "2026-11-12 03:00", order.PickedUp),  // day 11, night shift of 11
		p("late-night-late", "2026-11-11 23:30", "2026-11-12 03:31", order.PickedUp), // day 11, missed
		p("exact-deadline", "2026-11-11 09:00", "2026-11-11 13:00", order.PickedUp),  // met at exactly 4 h
		p("open-overdue", "2026-11-11 12:00", "", order.PendingAllocation),           // counted, missed
		p("held-overdue", "2026-11-11 13:00", "", order.Held),                        // counted, missed
		p("running", "2026-11-12 08:30", "", order.WaybillPrinted),                   // pending, not counted
		p("cancelled", "2026-11-11 10:00", "", order.Cancelled),                      // excluded
		p("presale", "2026-11-11 10:00", "", order.AwaitingBalance),                  // excluded
		{ID: "unpaid", State: order.PendingAllocation},                               // excluded
		p("early-morning", "2026-11-12 07:59", "2026-11-12 09:00", order.PickedUp),   // day 12, night shift of 11
	}
	rep := c.Compute(orders, now)
	if rep.Zone != "Asia/Shanghai" || rep.Goal != 0.92 || rep.Warn != 0.85 {
		t.Fatalf("report header %+v", rep)
	}
	d11, ok := find(rep.Days, "2026-11-11")
	if !ok || d11.Counted != 5 || d11.Met != 2 || d11.Pending != 0 || d11.Level != LevelBad {
		t.Fatalf("day 11 = %+v", d11)
	}
	if !d11.Start.Equal(sh(t, "2026-11-11 00:00")) || !d11.End.Equal(sh(t, "2026-11-12 00:00")) {
		t.Fatalf("day bounds %v %v", d11.Start, d11.End)
	}
	d12, _ := find(rep.Days, "2026-11-12")
	if d12.Counted != 1 || d12.Met != 1 || d12.Pending != 1 || d12.Rate != 1 || d12.Level != LevelOK {
		t.Fatalf("day 12 = %+v", d12)
	}
	n11, ok := find(rep.Shifts, "2026-11-11 night")
	if !ok || n11.Counted != 3 || n11.Met != 2 || n11.ShiftZH != "夜班" {
		t.Fatalf("night of 11 = %+v", n11)
	}
	if !n11.Start.Equal(sh(t, "2026-11-11 20:00")) || !n11.End.Equal(sh(t, "2026-11-12 08:00")) {
		t.Fatalf("night bounds %v %v", n11.Start, n11.End)
	}
	if dd, _ := find(rep.Shifts, "2026-11-11 day"); dd.Counted != 3 || dd.Met != 1 {
		t.Fatalf("day shift of 11 = %+v", dd)
	}
	if len(rep.Days) != 2 || rep.Days[0].Period != "2026-11-11" {
		t.Fatalf("days not sorted: %+v", rep.Days)
	}
	day, shift := c.Current(rep, now)
	if day.Period != "2026-11-12" || shift.Period != "2026-11-12 day" || shift.Pending != 1 {
		t.Fatalf("current = %+v / %+v", day, shift)
	}
}

func TestLevels(t *testing.T) {
	c, _ := New(&Options{Goal: 0.9, Warn: 0.8})
	for _, tc := range []struct {
		n    int
		r    float64
		want string
	}{{0, 0, LevelNone}, {10, 0.9, LevelOK}, {10, 0.85, LevelWarn}, {10, 0.8, LevelWarn}, {10, 0.79, LevelBad}} {
		if got := c.Level(tc.n, tc.r); got != tc.want {
			t.Errorf("Level(%d, %g) = %s, want %s", tc.n, tc.r, got, tc.want)
		}
	}
}

func TestDSTZoneDays(t *testing.T) {
	// A zone with DST: the 2026-10-25 day in Berlin is 25 hours long; shifts are wall-clock times.
	c, err := New(&Options{Zone: "Europe/Berlin", Shifts: []Shift{{Name: "early", Start: "06:00", End: "18:00"}, {Name: "late", Start: "18:00", End: "06:00"}}})
	if err != nil {
		t.Fatal(err)
	}
	loc := c.Location()
	paid := time.Date(2026, 10, 25, 23, 30, 0, 0, loc)
	rep := c.Compute([]order.Order{{ID: "x", State: order.PickedUp, PaidAt: paid.UTC(), PickedUpAt: paid.Add(time.Hour).UTC()}}, paid.Add(5*time.Hour))
	d := rep.Days[0]
	if d.Period != "2026-10-25" || d.End.Sub(d.Start) != 25*time.Hour {
		t.Fatalf("DST day = %+v (%s long)", d, d.End.Sub(d.Start))
	}
	if s := rep.Shifts[0]; s.Period != "2026-10-25 late" || s.End.Sub(s.Start) != 12*time.Hour {
		t.Fatalf("shift = %+v", s)
	}
}

func TestBadConfig(t *testing.T) {
	for _, o := range []Options{
		{Zone: "Mars/Olympus"},
		{Goal: 0.8, Warn: 0.9},
		{Goal: 1.2},
		{Shifts: []Shift{{Name: "day", Start: "08:00", End: "20:00"}}},                                          // gap
		{Shifts: []Shift{{Name: "a", Start: "00:00", End: "13:00"}, {Name: "b", Start: "12:00", End: "00:00"}}}, // overlap
		{Shifts: []Shift{{Name: "a", Start: "25:00", End: "01:00"}}},
		{Shifts: []Shift{{Start: "00:00", End: "00:00"}}},
	} {
		if _, err := New(&o); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%+v) = %v, want ErrConfig", o, err)
		}
	}
	if _, err := New(&Options{Shifts: []Shift{{Name: "all", Start: "06:00", End: "06:00"}}}); err != nil {
		t.Errorf("one 24-hour shift refused: %v", err)
	}
}
