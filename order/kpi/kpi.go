// Package kpi computes 【已揽收】达成时效达标率, the share of orders picked up within 4 hours of
// payment, per day and per shift, with days and shifts in the site's time zone (default
// Asia/Shanghai) whatever the zone of the PC. Pure computation over []order.Order, beside the order
// rules so that the agent's board and the hub compute the same numbers.
//
// Which orders count. An order belongs to the period (day, shift) in which it was paid (PaidAt,
// in the site's zone). It is counted in the denominator when it was paid (PaidAt set), is not
// awaiting its balance and not cancelled, and either was picked up (PickedUpAt set) or its deadline
// PaidAt + Within has passed at now. It is met when PickedUpAt − PaidAt ≤ Within. Orders still
// inside their deadline and not yet picked up are reported as Pending and not counted, so the rate
// of a running day is never flattered by orders that simply have not failed yet. Held orders
// (breaker open) do count: the breaker does not stop the customer's clock.
//
// Binaries must import _ "time/tzdata" so time.LoadLocation works on machines without zoneinfo
// (Windows PCs); tests here import it too.
package kpi

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"wedge/order"
)

// ErrConfig means bad options (zone, goal/warn levels or shifts).
var ErrConfig = errors.New("kpi: invalid configuration")

// Defaults.
const (
	DefaultZone   = "Asia/Shanghai"
	DefaultWithin = 4 * time.Hour
	DefaultGoal   = 0.92
	DefaultWarn   = 0.85
)

// Shift is a part of the day, "HH:MM"–"HH:MM" in the site's zone; End ≤ Start means it runs past
// midnight and belongs to the day it started on.
type Shift struct {
	Name   string `json:"name"`    // stable code, e.g. "day"
	NameZH string `json:"name_zh"` // e.g. "白班"
	Start  string `json:"start"`
	End    string `json:"end"`
}

// DefaultShifts: day 08:00–20:00, night 20:00–08:00.
var DefaultShifts = []Shift{{"day", "白班", "08:00", "20:00"}, {"night", "夜班", "20:00", "08:00"}}

// Options; zero fields mean the defaults above.
type Options struct {
	Zone   string        // IANA zone of the site
	Within time.Duration // the pickup deadline after payment
	Goal   float64       // target rate (0.92)
	Warn   float64       // warning level (0.85), below Goal
	Shifts []Shift       // must cover the 24 hours exactly once
}

// Levels of a rate.
const (
	LevelNone = "none" // nothing counted yet
	LevelOK   = "ok"   // ≥ goal
	LevelWarn = "warn" // ≥ warn, < goal
	LevelBad  = "bad"  // < warn
)

// Rate is the KPI of one period.
type Rate struct {
	Period  string    `json:"period"`          // "2026-11-11" or "2026-11-11 night"
	Day     string    `json:"day"`             // the day (site zone) the period belongs to
	Shift   string    `json:"shift,omitempty"` // shift name, "" for whole days
	ShiftZH string    `json:"shift_zh,omitempty"`
	Start   time.Time `json:"start"` // period bounds (site zone)
	End     time.Time `json:"end"`
	Counted int       `json:"counted"` // denominator
	Met     int       `json:"met"`     // picked up within the deadline
	Pending int       `json:"pending"` // still inside the deadline, not counted
	Rate    float64   `json:"rate"`    // Met/Counted, 0 when nothing counted
	Level   string    `json:"level"`
}

// Report is the KPI over a set of orders.
type Report struct {
	Zone   string  `json:"zone"`
	Goal   float64 `json:"goal"`
	Warn   float64 `json:"warn"`
	Days   []Rate  `json:"days"`   // oldest first
	Shifts []Rate  `json:"shifts"` // oldest first
}

// Calculator holds validated options.
type Calculator struct {
	loc    *time.Location
	within time.Duration
	goal   float64
	warn   float64
	shifts []shift
}

type shift struct {
	Shift
	start, end int // minutes of the day
}

func parseHM(s string) (int, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return 0, fmt.Errorf("%w: time of day %q (want HH:MM)", ErrConfig, s)
	}
	return hh*60 + mm, nil
}

// New validates opts (nil = defaults).
func New(opts *Options) (*Calculator, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Zone == "" {
		o.Zone = DefaultZone
	}
	if o.Within == 0 {
		o.Within = DefaultWithin
	}
	if o.Goal == 0 {
		o.Goal = DefaultGoal
	}
	if o.Warn == 0 {
		o.Warn = DefaultWarn
	}
	if len(o.Shifts) == 0 {
		o.Shifts = DefaultShifts
	}
	loc, err := time.LoadLocation(o.Zone)
	if err != nil {
		return nil, fmt.Errorf("%w: zone %q: %v", ErrConfig, o.Zone, err)
	}
	if o.Within < 0 || !(o.Goal > 0 && o.Goal <= 1) || !(o.Warn > 0 && o.Warn <= o.Goal) {
		return nil, fmt.Errorf("%w: within %s, goal %g, warn %g (want 0 < warn ≤ goal ≤ 1)", ErrConfig, o.Within, o.Goal, o.Warn)
	}
	c := &Calculator{loc: loc, within: o.Within, goal: o.Goal, warn: o.Warn}
	var cover [24 * 60]int
	for _, s := range o.Shifts {
		if strings.TrimSpace(s.Name) == "" {
			return nil, fmt.Errorf("%w: shift without a name", ErrConfig)
		}
		a, err := parseHM(s.Start)
		if err != nil {
			return nil, err
		}
		b, err := parseHM(s.End)
		if err != nil {
			return nil, err
		}
		for m := a; ; m = (m + 1) % (24 * 60) {
			cover[m]++
			if (m+1)%(24*60) == b {
				break
			}
		}
		c.shifts = append(c.shifts, shift{s, a, b})
	}
	for m, n := range cover {
		if n != 1 {
			return nil, fmt.Errorf("%w: shifts must cover each minute of the day once; %02d:%02d is covered %d times", ErrConfig, m/60, m%60, n)
		}
	}
	return c, nil
}

// Location is the site's zone.
func (c *Calculator) Location() *time.Location { return c.loc }

// Level classifies a rate.
func (c *Calculator) Level(counted int, rate float64) string {
	switch {
	case counted == 0:
		return LevelNone
	case rate >= c.goal:
		return LevelOK
	case rate >= c.warn:
		return LevelWarn
	}
	return LevelBad
}

// dayStart is local midnight of the day containing t.
func (c *Calculator) dayStart(t time.Time) time.Time {
	l := t.In(c.loc)
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, c.loc)
}

// at is the instant minute m of the day d (local midnight), through wall-clock arithmetic so that
// DST days are right.
func (c *Calculator) at(d time.Time, m int) time.Time {
	return time.Date(d.Year(), d.Month(), d.Day(), m/60, m%60, 0, 0, c.loc)
}

// shiftOf returns the shift of t and the day the shift started on.
func (c *Calculator) shiftOf(t time.Time) (shift, time.Time) {
	l := t.In(c.loc)
	m := l.Hour()*60 + l.Minute()
	d := c.dayStart(t)
	for _, s := range c.shifts {
		if s.start < s.end {
			if m >= s.start && m < s.end {
				return s, d
			}
			continue
		}
		if m >= s.start {
			return s, d
		}
		if m < s.end {
			return s, d.AddDate(0, 0, -1)
		}
	}
	return c.shifts[0], d // unreachable: New checked the cover
}

// Classify tells whether o counts at now and whether it met the deadline.
func (c *Calculator) Classify(o order.Order, now time.Time) (counted, met, pending bool) {
	if o.PaidAt.IsZero() || o.State == order.AwaitingBalance || o.State == order.Cancelled {
		return false, false, false
	}
	deadline := o.PaidAt.Add(c.within)
	if !o.PickedUpAt.IsZero() {
		return true, !o.PickedUpAt.After(deadline), false
	}
	if now.After(deadline) {
		return true, false, false
	}
	return false, false, true
}

// Compute returns the KPI of orders at now, per day and per shift.
func (c *Calculator) Compute(orders []order.Order, now time.Time) Report {
	days := map[string]*Rate{}
	shifts := map[string]*Rate{}
	add := func(m map[string]*Rate, key string, mk func() *Rate, counted, met, pending bool) {
		r := m[key]
		if r == nil {
			r = mk()
			m[key] = r
		}
		if counted {
			r.Counted++
		}
		if met {
			r.Met++
		}
		if pending {
			r.Pending++
		}
	}
	for _, o := range orders {
		counted, met, pending := c.Classify(o, now)
		if !counted && !pending {
			continue
		}
		d := c.dayStart(o.PaidAt)
		dk := d.Format("2006-01-02")
		add(days, dk, func() *Rate {
			return &Rate{Period: dk, Day: dk, Start: d, End: d.AddDate(0, 0, 1)}
		}, counted, met, pending)
		s, sd := c.shiftOf(o.PaidAt)
		sdk := sd.Format("2006-01-02")
		add(shifts, sdk+" "+s.Name, func() *Rate {
			end := c.at(sd, s.end)
			if s.end <= s.start {
				end = c.at(sd.AddDate(0, 0, 1), s.end)
			}
			return &Rate{Period: sdk + " " + s.Name, Day: sdk, Shift: s.Name, ShiftZH: s.NameZH, Start: c.at(sd, s.start), End: end}
		}, counted, met, pending)
	}
	rep := Report{Zone: c.loc.String(), Goal: c.goal, Warn: c.warn, Days: c.finish(days), Shifts: c.finish(shifts)}
	return rep
}

func (c *Calculator) finish(m map[string]*Rate) []Rate {
	out := make([]Rate, 0, len(m))
	for _, r := range m {
		if r.Counted > 0 {
			r.Rate = float64(r.Met) / float64(r.Counted)
		}
		r.Level = c.Level(r.Counted, r.Rate)
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}

// Current returns, from rep, the rates of the day and of the shift that contain now (zero Rates
// with LevelNone if nothing was paid in them yet).
func (c *Calculator) Current(rep Report, now time.Time) (day, shift Rate) {
	dk := c.dayStart(now).Format("2006-01-02")
	s, sd := c.shiftOf(now)
	sk := sd.Format("2006-01-02") + " " + s.Name
	day = Rate{Period: dk, Day: dk, Level: LevelNone}
	shift = Rate{Period: sk, Day: sd.Format("2006-01-02"), Shift: s.Name, ShiftZH: s.NameZH, Level: LevelNone}
	for _, r := range rep.Days {
		if r.Period == dk {
			day = r
		}
	}
	for _, r := range rep.Shifts {
		if r.Period == sk {
			shift = r
		}
	}
	return day, shift
}
