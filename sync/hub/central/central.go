// Package central computes the head office's measures over the hub's records: the pickup KPI
// (【已揽收】达成时效达标率) across sites, channels, carriers, days and shifts; the attribution of
// anomalies to the five causes; the consistency between the state each PC journaled and the hub's
// own; the presale watch; and the daily report. It is pure computation over Order and Entry values
// (the hub loads them from its store), so every number is testable without a store or a clock.
//
// Times. Every time a measure uses is the time of an event as the PC that saw it journaled it
// (an entry's own At): never the time the hub received an entry, nor the time another PC merged a
// state it learned from the hub. The one exception is the pickup: the carrier's first scan of the
// waybill, at the carrier's time, when the hub has one (CarrierFirstScan). Days and shifts are in each site's zone (Options.SiteZones,
// default Options.Zone, Asia/Shanghai).
package central

import (
	"errors"
	"fmt"
	"time"

	_ "time/tzdata" // zones on machines without zoneinfo

	"wedge/order"
	"wedge/order/kpi"
)

// ErrConfig means bad options.
var ErrConfig = errors.New("central: invalid configuration")

// Defaults.
const (
	DefaultConsistencyGoal = 0.9995
	DefaultConsistencyWarn = 0.998
	DefaultSettle          = 10 * time.Minute
	DefaultPresaleLimit    = 48 * time.Hour
	DefaultReportAt        = "10:00"
)

// Options; zero fields take the defaults.
type Options struct {
	Zone      string            // the network's zone (daily report, default sites): default kpi.DefaultZone
	SiteZones map[string]string // per-site zone
	Within    time.Duration     // pickup deadline after payment (4 h)
	Goal      float64           // pickup KPI goal (0.92)
	Warn      float64           // pickup KPI warning level (0.85)
	Shifts    []kpi.Shift       // kpi.DefaultShifts
	// ConsistencyGoal and ConsistencyWarn grade the state consistency ratio (99.95 %, 99.8 %).
	ConsistencyGoal, ConsistencyWarn float64
	// Settle: an order the hub changed less than Settle ago is not compared yet (the PCs' merges
	// of the hub's rebroadcast are on their way). Default 10 min.
	Settle time.Duration
	// PresaleLimit: an order whose balance was paid and that did not reach 待分仓 within it is
	// 疑似异常 (default 48 h).
	PresaleLimit time.Duration
	// Pickup finds an order's pickup (nil = CarrierFirstScan: the carrier's first scan, else the
	// handover scan).
	Pickup PickupFunc
}

// Entry is one stored journal entry of an order's history.
type Entry struct {
	Site, Agent, Journal string
	Seq                  uint64
	Kind                 string // wire.Kind*
	From, To             string
	Trigger              string
	Reason, Detail       string
	Operator, Station    string
	Device               string    // the scanner or device the entry names ("" = none)
	At                   time.Time // the entry's own time: the PC's clock when it journaled the event
	ReceivedAt           time.Time // when the hub stored it (hub clock): never used as an event time
}

// Order is the hub's record of one order with its history (entries of every PC, by At).
type Order struct {
	ID, Site, Channel, Carrier, Payment string
	State                               order.State
	PaidAt                              time.Time
	CreatedAt, UpdatedAt                time.Time // hub clock
	BalancePaidAt                       time.Time // when the hub was told the balance was paid (presale)
	// FirstScanAt is the carrier's first scan of the order's waybill (carrier tracking, the
	// carrier's own clock); zero when the hub has none.
	FirstScanAt time.Time
	History     []Entry
	// Waybill is the waybill bound to the order ("" = none printed yet).
	Waybill string
}

// Measures holds validated options.
type Measures struct {
	o       Options
	network *kpi.Calculator
	sites   map[string]*kpi.Calculator
	pickup  PickupFunc
	// goal and warn of the pickup KPI with their defaults (kpi fills them in).
	goal, warn float64
}

// New validates opts (nil = defaults).
func New(opts *Options) (*Measures, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Zone == "" {
		o.Zone = kpi.DefaultZone
	}
	if o.ConsistencyGoal == 0 {
		o.ConsistencyGoal = DefaultConsistencyGoal
	}
	if o.ConsistencyWarn == 0 {
		o.ConsistencyWarn = DefaultConsistencyWarn
	}
	if o.Settle == 0 {
		o.Settle = DefaultSettle
	}
	if o.PresaleLimit == 0 {
		o.PresaleLimit = DefaultPresaleLimit
	}
	if !(o.ConsistencyWarn > 0 && o.ConsistencyWarn <= o.ConsistencyGoal && o.ConsistencyGoal <= 1) || o.Settle < 0 || o.PresaleLimit < 0 {
		return nil, fmt.Errorf("%w: consistency goal %g, warn %g, settle %s, presale limit %s", ErrConfig,
			o.ConsistencyGoal, o.ConsistencyWarn, o.Settle, o.PresaleLimit)
	}
	calc := func(zone string) (*kpi.Calculator, error) {
		c, err := kpi.New(&kpi.Options{Zone: zone, Within: o.Within, Goal: o.Goal, Warn: o.Warn, Shifts: o.Shifts})
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		return c, nil
	}
	m := &Measures{o: o, sites: map[string]*kpi.Calculator{}, pickup: o.Pickup}
	var err error
	if m.network, err = calc(o.Zone); err != nil {
		return nil, err
	}
	for site, zone := range o.SiteZones {
		if m.sites[site], err = calc(zone); err != nil {
			return nil, fmt.Errorf("site %s: %w", site, err)
		}
	}
	if m.pickup == nil {
		m.pickup = CarrierFirstScan
	}
	r := m.network.Compute(nil, time.Time{}) // the report header carries the levels kpi settled on
	m.goal, m.warn = r.Goal, r.Warn
	return m, nil
}

// calc is the KPI calculator of a site (its zone).
func (m *Measures) calc(site string) *kpi.Calculator {
	if c := m.sites[site]; c != nil {
		return c
	}
	return m.network
}

// Location is the network's zone.
func (m *Measures) Location() *time.Location { return m.network.Location() }

// SiteLocation is a site's zone.
func (m *Measures) SiteLocation(site string) *time.Location { return m.calc(site).Location() }

// Goal and Warn are the pickup KPI's levels.
func (m *Measures) Goal() (goal, warn float64) { return m.goal, m.warn }

// Day is a calendar day "YYYY-MM-DD".
const Day = "2006-01-02"

// ParseDay parses a day in loc.
func ParseDay(s string, loc *time.Location) (time.Time, error) {
	return time.ParseInLocation(Day, s, loc)
}

// inDays reports whether t's local day (loc) is within [from, to] ("" = unbounded).
func inDays(t time.Time, loc *time.Location, from, to string) bool {
	d := t.In(loc).Format(Day)
	return (from == "" || d >= from) && (to == "" || d <= to)
}
