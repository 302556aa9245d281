package central

import (
	"sort"
	"time"

	"wedge/order"
	"wedge/sync/wire"
)

// 伪完成 (false completion): the warehouse handed a parcel over, but the courier's first scan of
// its waybill did not follow within the limit (12 h by default): the parcel may still be in the
// warehouse, or the handover was recorded without a courier. It is an anomaly of the cause
// logistics_gap (KindFalseCompletion), listed per site while it is open.

// DefaultFalseCompletionAfter is the default limit between the handover and the first scan.
const DefaultFalseCompletionAfter = 12 * time.Hour

// FalseCompletion is one order handed over without a carrier first scan by Due.
type FalseCompletion struct {
	OrderID string      `json:"order_id"`
	Site    string      `json:"site"`
	Waybill string      `json:"waybill"`
	Carrier string      `json:"carrier,omitempty"`
	State   order.State `json:"state"`
	// HandedOverAt is the earliest handover (Handover), at the time of the PC that scanned it; Due
	// is HandedOverAt plus the limit.
	HandedOverAt time.Time `json:"handed_over_at"`
	Due          time.Time `json:"due"`
	// Who handed it over: the PC, its station, the scanner or device, the operator signed in.
	Agent    string `json:"agent,omitempty"`
	Station  string `json:"station,omitempty"`
	Device   string `json:"device,omitempty"`
	Operator string `json:"operator,omitempty"`
	// FirstScanAt is the carrier's first scan when it came after Due (Resolved); zero while open.
	FirstScanAt time.Time `json:"first_scan_at,omitzero"`
	Resolved    bool      `json:"resolved,omitempty"`
}

// Handover is the order's earliest handover in its history: a step to 已揽收 (the handover scan
// or a manual confirmation, under the handover_scan policy) or a handed_over note (the handover
// recorded under carrier_first_scan). Merges are not handovers (their time is when another PC
// learned the state).
func Handover(o Order) (Entry, bool) {
	var first Entry
	found := false
	for _, e := range o.History {
		hand := e.Kind == wire.KindStep && e.To == string(order.PickedUp) ||
			e.Kind == wire.KindNote && e.Reason == order.NoteHandedOver
		if !hand || e.At.IsZero() {
			continue
		}
		if !found || e.At.Before(first.At) {
			first, found = e, true
		}
	}
	return first, found
}

// FalseCompletions finds the 伪完成 among orders at now: every order handed over at least
// limit(site) ago (zero or less: DefaultFalseCompletionAfter) whose waybill had no carrier first
// scan by then. One still without a first scan is open; one whose first scan came after its due
// time is returned Resolved (it was an anomaly all the same). Sorted by handover time, then order
// id.
func FalseCompletions(orders []Order, limit func(site string) time.Duration, now time.Time) []FalseCompletion {
	var out []FalseCompletion
	for _, o := range orders {
		h, ok := Handover(o)
		if !ok {
			continue
		}
		after := DefaultFalseCompletionAfter
		if limit != nil {
			if d := limit(o.Site); d > 0 {
				after = d
			}
		}
		due := h.At.Add(after)
		if now.Before(due) || !o.FirstScanAt.IsZero() && !o.FirstScanAt.After(due) {
			continue
		}
		f := FalseCompletion{OrderID: o.ID, Site: o.Site, Waybill: o.Waybill, Carrier: o.Carrier, State: o.State,
			HandedOverAt: h.At, Due: due, Agent: h.Agent, Station: h.Station, Device: h.Device, Operator: h.Operator}
		if !o.FirstScanAt.IsZero() {
			f.FirstScanAt, f.Resolved = o.FirstScanAt, true
		}
		out = append(out, f)
	}
	sort.Slice(out, func(i, k int) bool {
		if !out[i].HandedOverAt.Equal(out[k].HandedOverAt) {
			return out[i].HandedOverAt.Before(out[k].HandedOverAt)
		}
		return out[i].OrderID < out[k].OrderID
	})
	return out
}
