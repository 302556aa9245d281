package order

import (
	"fmt"
	"strings"
	"time"

	"wedge/order/waybill"
	"wedge/sync/wire"
)

// Carrier events on the PC. The hub relays every carrier event of an order to the order's site (a
// tracking message, wire.TypeTracking). Each agent journals it once, as a note entry with trigger
// carrier that moves nothing (reason NoteCarrierPrefix + the event, the carrier's time first in its
// detail), and keeps the latest one on the order (Order.Tracking) for the console. Only the hub's
// first_scan message, under carrier_first_scan, makes an order 已揽收 (FirstScan): an in_transit or
// delivered event never does, whatever order the events arrive in.

// CarrierEvent is one carrier event of an order's waybill, at the carrier's time.
type CarrierEvent struct {
	Event   string    `json:"event"` // wire.Carrier*
	Carrier string    `json:"carrier,omitempty"`
	Waybill string    `json:"waybill,omitempty"`
	At      time.Time `json:"at"`
}

// NoteCarrierPrefix starts the reason of a carrier event's note entry: "carrier_in_transit".
const NoteCarrierPrefix = "carrier_"

// CarrierEventLabel is what the console shows for a carrier event, Chinese first.
func CarrierEventLabel(event string) Message {
	switch event {
	case wire.CarrierAccepted:
		return Message{"快递已接单", "accepted by the carrier"}
	case wire.CarrierFirstScan:
		return Message{"已揽件（首扫）", "first scan by the courier"}
	case wire.CarrierInTransit:
		return Message{"运输中", "in transit"}
	case wire.CarrierDelivered:
		return Message{"已签收", "delivered"}
	case wire.CarrierException:
		return Message{"快递异常", "carrier exception"}
	}
	return Message{event, event}
}

// carrierRank breaks ties between events at the same carrier time, in the order a parcel goes.
func carrierRank(event string) int {
	switch event {
	case wire.CarrierAccepted:
		return 1
	case wire.CarrierFirstScan:
		return 2
	case wire.CarrierInTransit:
		return 3
	case wire.CarrierException:
		return 4
	case wire.CarrierDelivered:
		return 5
	}
	return 0
}

// Later reports whether e is later than cur (by the carrier's time, then by the event's place in
// a parcel's way), so that events arriving out of order keep the latest one on the order.
func (e CarrierEvent) Later(cur CarrierEvent) bool {
	if cur.Event == "" || e.At.After(cur.At) {
		return true
	}
	return e.At.Equal(cur.At) && carrierRank(e.Event) > carrierRank(cur.Event)
}

// CarrierNote is the note entry of carrier event ev on base (order id, code, agent time): trigger
// carrier, reason NoteCarrierPrefix + event, the carrier's time first in the detail.
func CarrierNote(base wire.Entry, ev CarrierEvent) wire.Entry {
	e := base
	e.Kind, e.Trigger, e.Reason = wire.KindNote, wire.TriggerCarrier, NoteCarrierPrefix+ev.Event
	e.Waybill, e.Carrier = ev.Waybill, ev.Carrier
	l := CarrierEventLabel(ev.Event)
	e.Detail = fmt.Sprintf("%s %s / %s (carrier's time)", wire.Time(ev.At), l.ZH, l.EN)
	return e
}

// ParseCarrierNote reads a carrier event back from its note entry; ok is false for any other entry.
func ParseCarrierNote(e wire.Entry) (ev CarrierEvent, ok bool) {
	event, isCarrier := strings.CutPrefix(e.Reason, NoteCarrierPrefix)
	if e.Kind != wire.KindNote || e.Trigger != wire.TriggerCarrier || !isCarrier || !wire.ValidCarrierEvent(event) {
		return ev, false
	}
	first, _, _ := strings.Cut(e.Detail, " ")
	at, err := wire.ParseTime(first)
	if err != nil || at.IsZero() {
		return ev, false
	}
	return CarrierEvent{Event: event, Carrier: e.Carrier, Waybill: e.Waybill, At: at}, true
}

// WithCarrierEvent is o keeping ev when it is later than the event o holds (see Later); changed
// says whether it is.
func (o Order) WithCarrierEvent(ev CarrierEvent) (n Order, changed bool) {
	if !ev.Later(o.Tracking) {
		return o, false
	}
	o.Tracking = ev
	return o, true
}

// tracking: the hub relays a carrier event (wire.TypeTracking). Every agent journals it once (the
// hub sequence makes a replay a no-op; an event equal to the one the order holds writes nothing),
// also for an order it does not know yet, so the order's trace shows it; the state never changes.
func (d msgDecision) tracking() Decision {
	at, err := wire.ParseTime(d.m.At)
	if err != nil { // Validate passed: only a caller that skipped it gets here
		return d.refuse(d.o, ReasonMalformed, err.Error())
	}
	ev := CarrierEvent{Event: d.m.Event, Carrier: NormalizeCode(d.m.Carrier), Waybill: waybill.Normalize(d.m.Waybill), At: at}
	e := CarrierNote(d.base, ev)
	if !d.known {
		return Decision{Outcome: Outcome{Result: Recorded, Waybill: ev.Waybill, Detail: "carrier event for an order not known here"}, Entry: e}
	}
	if t := d.o.Tracking; t.Event == ev.Event && t.Waybill == ev.Waybill && t.At.Equal(ev.At) {
		return d.nothing()
	}
	e.From, e.To = string(d.o.State), string(d.o.State)
	if e.Carrier == "" {
		e.Carrier = d.o.Carrier
	}
	n, changed := d.o.WithCarrierEvent(ev)
	out := Outcome{Result: Recorded, From: d.o.State, To: d.o.State, Order: n, Waybill: ev.Waybill, Detail: "carrier event " + ev.Event}
	return Decision{Outcome: out, Store: changed, Entry: e}
}
