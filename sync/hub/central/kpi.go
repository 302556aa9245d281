package central

import (
	"fmt"
	"math"
	"sort"
	"time"

	"wedge/order"
	"wedge/order/kpi"
	"wedge/sync/wire"
)

// Pickup is when and where an order was handed to the courier.
type Pickup struct {
	At       time.Time
	Site     string
	Agent    string
	Station  string
	Operator string
	// Source says where At comes from: SourceCarrierFirstScan or SourceHandoverScan.
	Source string
}

// Pickup sources.
const (
	SourceCarrierFirstScan = "carrier_first_scan" // the courier's first scan (carrier tracking)
	SourceHandoverScan     = "handover_scan"      // the warehouse's handover scan (the fallback)
)

// PickupFunc finds an order's pickup in its record and history; false when none is known. It is
// the one place that decides which time is "picked up", so that it can be replaced
// (Options.Pickup; default CarrierFirstScan).
type PickupFunc func(o Order) (Pickup, bool)

// CarrierFirstScan is the pickup as the courier saw it: the carrier's first scan of the order's
// waybill (Order.FirstScanAt) when the hub has one, else HandoverScan. The site, PC and station
// are the handover scan's when there is one (who handed the parcel over).
func CarrierFirstScan(o Order) (Pickup, bool) {
	p, ok := HandoverScan(o)
	if o.FirstScanAt.IsZero() {
		return p, ok
	}
	p.At, p.Source = o.FirstScanAt, SourceCarrierFirstScan
	if p.Site == "" {
		p.Site = o.Site
	}
	return p, true
}

// HandoverScan is the pickup as the warehouse saw it: the earliest handover step (an entry of kind
// step to 已揽收, from a scan or a recorded manual confirmation) in the order's history, at the time
// the PC that scanned journaled it. Merge entries are not handovers (their time is when another PC
// learned the state), and neither is the hub's record's picked-up time, which is the time of
// whichever entry reached the hub first.
func HandoverScan(o Order) (Pickup, bool) {
	var p Pickup
	found := false
	for _, e := range o.History {
		if e.Kind != wire.KindStep || e.To != string(order.PickedUp) || e.At.IsZero() {
			continue
		}
		if !found || e.At.Before(p.At) {
			p = Pickup{At: e.At, Site: e.Site, Agent: e.Agent, Station: e.Station, Operator: e.Operator, Source: SourceHandoverScan}
			found = true
		}
	}
	return p, found
}

// Ways to group the KPI.
const (
	BySite    = "site"
	ByChannel = "channel"
	ByCarrier = "carrier"
	ByDay     = "day"
	ByShift   = "shift"
)

// Row is the pickup KPI of one group. Orders = PickedOnTime + Late + Open: orders paid in the
// period that count (kpi: paid, not awaiting the balance, not cancelled) and those still inside
// their deadline (Open, not in the rate). NoScanTime counts orders the hub has as 已揽收 without a
// handover scan in their history: their pickup time is unknown, so they are left out of the rate.
type Row struct {
	Key          string  `json:"key"`
	Orders       int     `json:"orders"`
	PickedOnTime int     `json:"picked_on_time"`
	Late         int     `json:"late"`
	Open         int     `json:"open"`
	NoScanTime   int     `json:"no_scan_time"`
	Rate         float64 `json:"rate"`
	Level        string  `json:"level"` // ok | warn | bad | none (nothing counted)
}

// KPIReport is GET /v1/kpi.
type KPIReport struct {
	Goal   float64 `json:"goal"`
	Warn   float64 `json:"warn"`
	Within string  `json:"within"`
	By     string  `json:"by"`
	From   string  `json:"from,omitempty"`
	To     string  `json:"to,omitempty"`
	Rows   []Row   `json:"rows"`
	Total  Row     `json:"total"`
	// PickupSources counts the picked-up orders of Total (on time and late) by where their pickup
	// time came from.
	PickupSources PickupSources `json:"pickup_sources"`
}

// PickupSources counts pickups by source.
type PickupSources struct {
	CarrierFirstScan int `json:"carrier_first_scan"`
	HandoverScan     int `json:"handover_scan"`
}

func (s *PickupSources) add(j judged) {
	if !j.picked || !j.counted {
		return
	}
	if j.pickup.Source == SourceCarrierFirstScan {
		s.CarrierFirstScan++
	} else {
		s.HandoverScan++
	}
}

// LateOrder is one order that missed (or is past) its pickup deadline.
type LateOrder struct {
	OrderID  string  `json:"order_id"`
	Site     string  `json:"site"`
	Channel  string  `json:"channel,omitempty"`
	Carrier  string  `json:"carrier,omitempty"`
	PaidAt   string  `json:"paid_at"`
	PickedAt string  `json:"picked_at,omitempty"` // "" : not picked up yet
	Hours    float64 `json:"hours"`               // picked (or now) − paid, two decimals
	Agent    string  `json:"agent,omitempty"`     // the PC that scanned the handover
	Station  string  `json:"station,omitempty"`
	// PickupSource says where PickedAt comes from (carrier_first_scan, or handover_scan when the
	// hub has no carrier first scan of the waybill); "" when not picked up.
	PickupSource string `json:"pickup_source,omitempty"`
}

// judged is one order's KPI verdict.
type judged struct {
	o                     Order
	counted, met, pending bool
	noScan                bool
	pickup                Pickup
	picked                bool
	calc                  *kpi.Calculator
	kpiOrder              order.Order
}

// judge classifies o at now with the pickup time from the history.
func (m *Measures) judge(o Order, now time.Time) judged {
	c := m.calc(o.Site)
	p, picked := m.pickup(o)
	ko := order.Order{ID: o.ID, State: o.State, PaidAt: o.PaidAt}
	if picked {
		ko.PickedUpAt = p.At
	}
	j := judged{o: o, pickup: p, picked: picked, calc: c, kpiOrder: ko}
	if o.State == order.PickedUp && !picked && !o.PaidAt.IsZero() {
		j.noScan = true
		return j
	}
	j.counted, j.met, j.pending = c.Classify(ko, now)
	return j
}

// relevant reports whether o is in scope: the site filter and the paid day in the site's zone.
func (m *Measures) relevant(o Order, site, from, to string) bool {
	if o.PaidAt.IsZero() || (site != "" && o.Site != site) {
		return false
	}
	return inDays(o.PaidAt, m.calc(o.Site).Location(), from, to)
}

// periodKey memoizes the day or shift of a payment minute in one zone.
type periodKey struct {
	calc   *kpi.Calculator
	minute int64
}

// key is the group of j; periods memoizes day and shift keys (order/kpi works them out).
func (j judged) key(by string, periods map[periodKey]string) string {
	switch by {
	case BySite:
		return j.o.Site
	case ByChannel:
		return j.o.Channel
	case ByCarrier:
		return j.o.Carrier
	}
	pk := periodKey{j.calc, j.o.PaidAt.Unix() / 60}
	if k, ok := periods[pk]; ok {
		return k
	}
	k := j.period(by)
	periods[pk] = k
	return k
}

// period is the day or shift order/kpi puts j's payment in.
func (j judged) period(by string) string {
	probe := j.kpiOrder
	probe.State, probe.PickedUpAt = order.PickedUp, probe.PaidAt // counted, so that Compute reports its period
	r := j.calc.Compute([]order.Order{probe}, probe.PaidAt)
	if by == ByShift && len(r.Shifts) == 1 {
		return r.Shifts[0].Period
	}
	if len(r.Days) == 1 {
		return r.Days[0].Period
	}
	return ""
}

// KPI is the pickup KPI of the orders paid from..to (days, "" = open) at site ("" = all), grouped
// by by, at now.
func (m *Measures) KPI(orders []Order, by, site, from, to string, now time.Time) (KPIReport, error) {
	switch by {
	case BySite, ByChannel, ByCarrier, ByDay, ByShift:
	default:
		return KPIReport{}, fmt.Errorf("%w: by %q (want site, channel, carrier, day or shift)", ErrConfig, by)
	}
	goal, warn := m.Goal()
	rep := KPIReport{Goal: goal, Warn: warn, Within: m.within().String(), By: by, From: from, To: to, Rows: []Row{}, Total: Row{Key: "total"}}
	rows := map[string]*Row{}
	periods := map[periodKey]string{}
	for _, o := range orders {
		if !m.relevant(o, site, from, to) {
			continue
		}
		j := m.judge(o, now)
		if !j.counted && !j.pending && !j.noScan {
			continue
		}
		k := j.key(by, periods)
		r := rows[k]
		if r == nil {
			r = &Row{Key: k}
			rows[k] = r
		}
		r.add(j)
		rep.Total.add(j)
		rep.PickupSources.add(j)
	}
	for _, r := range rows {
		rep.Rows = append(rep.Rows, m.finish(*r))
	}
	sort.Slice(rep.Rows, func(i, k int) bool { return rep.Rows[i].Key < rep.Rows[k].Key })
	rep.Total = m.finish(rep.Total)
	return rep, nil
}

func (m *Measures) within() time.Duration {
	if m.o.Within > 0 {
		return m.o.Within
	}
	return kpi.DefaultWithin
}

func (r *Row) add(j judged) {
	switch {
	case j.noScan:
		r.NoScanTime++
	case j.pending:
		r.Open++
	case j.met:
		r.PickedOnTime++
	default:
		r.Late++
	}
	r.Orders = r.PickedOnTime + r.Late + r.Open + r.NoScanTime
}

func (m *Measures) finish(r Row) Row {
	counted := r.PickedOnTime + r.Late
	if counted > 0 {
		r.Rate = float64(r.PickedOnTime) / float64(counted)
	}
	r.Level = m.network.Level(counted, r.Rate)
	return r
}

// Late lists the orders paid from..to at site ("" = all) that missed their deadline at now
// (picked up late, or not picked up and past it), oldest payment first.
func (m *Measures) Late(orders []Order, site, from, to string, now time.Time) []LateOrder {
	out := []LateOrder{}
	for _, o := range orders {
		if !m.relevant(o, site, from, to) {
			continue
		}
		j := m.judge(o, now)
		if !j.counted || j.met {
			continue
		}
		end := now
		l := LateOrder{OrderID: o.ID, Site: o.Site, Channel: o.Channel, Carrier: o.Carrier, PaidAt: wire.Time(o.PaidAt)}
		if j.picked {
			end = j.pickup.At
			l.PickedAt, l.Agent, l.Station, l.PickupSource = wire.Time(j.pickup.At), j.pickup.Agent, j.pickup.Station, j.pickup.Source
		}
		l.Hours = math.Round(end.Sub(o.PaidAt).Hours()*100) / 100
		out = append(out, l)
	}
	sort.Slice(out, func(i, k int) bool {
		if out[i].PaidAt != out[k].PaidAt {
			return out[i].PaidAt < out[k].PaidAt
		}
		return out[i].OrderID < out[k].OrderID
	})
	return out
}
