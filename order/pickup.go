package order

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"wedge/order/waybill"
	"wedge/sync/wire"
)

// Pickup policy: what makes an order 已揽收.
//
// Under handover_scan (the default) the handover scan at a PC moves 已打单 → 已揽收. Under
// carrier_first_scan the handover scan only records the handover (a note entry, the order keeps
// 已打单 with HandedOverAt set, the operator hears MsgHandoverRecorded), and the order becomes
// 已揽收 when the courier's first logistics scan of its bound waybill arrives (FirstScan, a hub
// first_scan message): a valid e-waybill number and the courier's own scan, not the warehouse's word.

// PickupPolicy is a site's pickup policy.
type PickupPolicy string

// The policies.
const (
	PickupHandoverScan     PickupPolicy = "handover_scan"      // 已揽收 on the handover scan (default)
	PickupCarrierFirstScan PickupPolicy = "carrier_first_scan" // 已揽收 on the courier's first scan
)

// ErrPickupPolicy means an unknown pickup policy, or a pickup policy command that cannot be read.
var ErrPickupPolicy = errors.New("order: invalid pickup policy")

// ParsePickupPolicy parses a policy code; "" is the default, handover_scan.
func ParsePickupPolicy(s string) (PickupPolicy, error) {
	switch p := PickupPolicy(strings.TrimSpace(s)); p {
	case "":
		return PickupHandoverScan, nil
	case PickupHandoverScan, PickupCarrierFirstScan:
		return p, nil
	}
	return "", fmt.Errorf("%w: %q (want %s or %s)", ErrPickupPolicy, s, PickupHandoverScan, PickupCarrierFirstScan)
}

// CommandPickup is the type of the hub command that sets the site's pickup policy on one agent:
//
//	{"type":"pickup_policy","id":"c-43","by":"ops-zhang","reason":"以快递首扫为准","pickup":"carrier_first_scan"}
const CommandPickup = "pickup_policy"

// NoteHandedOver is the reason of the note entry that records a handover under carrier_first_scan.
const NoteHandedOver = "handed_over"

// MsgHandoverRecorded is what the operator hears for a handover scan under carrier_first_scan.
var MsgHandoverRecorded = Message{ZH: "交接已记录，等待快递首扫", EN: "handover recorded, waiting for the courier's first scan"}

// CommandType returns the type of a command payload ("" when it cannot be read), to route it to
// its parser.
func CommandType(payload []byte) string {
	var c struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(payload, &c) != nil {
		return ""
	}
	return c.Type
}

// ParsePickupCommand decodes and validates a pickup policy command strictly (unknown fields and
// breaker fields are refused; pickup is required). Errors wrap ErrPickupPolicy.
func ParsePickupCommand(payload []byte) (Command, PickupPolicy, error) {
	var c Command
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Command{}, "", fmt.Errorf("%w: command: %v", ErrPickupPolicy, err)
	}
	if c.Type != CommandPickup {
		return Command{}, "", fmt.Errorf("%w: command type %q (want %s)", ErrPickupPolicy, c.Type, CommandPickup)
	}
	if c.MaxBacklog != 0 || c.MaxAvgWait != "" || c.CloseRatio != 0 || c.CloseAfter != "" {
		return Command{}, "", fmt.Errorf("%w: breaker fields in a %s command", ErrPickupPolicy, CommandPickup)
	}
	if strings.TrimSpace(c.Pickup) == "" {
		return Command{}, "", fmt.Errorf("%w: pickup is required", ErrPickupPolicy)
	}
	p, err := ParsePickupPolicy(c.Pickup)
	if err != nil {
		return Command{}, "", err
	}
	return c, p, nil
}

// ParseAnyCommand validates a hub command of any known type with that type's parser, so the hub
// accepts exactly what an agent can apply.
func ParseAnyCommand(payload []byte) (Command, error) {
	if CommandType(payload) == CommandPickup {
		c, _, err := ParsePickupCommand(payload)
		return c, err
	}
	c, _, err := ParseCommand(payload)
	return c, err
}

// HandedOver reports whether a handover was recorded here under carrier_first_scan and the
// courier's first scan has not moved the order yet.
func (o Order) HandedOver() bool { return o.State == WaybillPrinted && !o.HandedOverAt.IsZero() }

// recordHandover is the outcome of a valid handover scan under carrier_first_scan: the order keeps
// 已打单 and gains the handed_over mark (the first handover's time is kept on a repeat).
func recordHandover(o Order, wb string, at time.Time) Outcome {
	n := o
	n.SKUs = append([]string(nil), o.SKUs...)
	detail := "handover recorded, waiting for the courier's first scan"
	if n.HandedOverAt.IsZero() {
		n.HandedOverAt = at
	} else {
		detail = "repeat handover scan, still waiting for the courier's first scan"
	}
	return Outcome{Result: Recorded, From: o.State, To: o.State, Order: n, Waybill: wb, Detail: detail}
}

// FirstScan decides the courier's first scan of waybill wb (a hub first_scan message) for o, at
// at (the carrier's scan time). Only the agent holding the handed_over mark journals the step (a
// step entry with src's trigger, wire.TriggerCarrier); the other agents of the site journal
// nothing and merge the state from that step. A first scan of another waybill than the bound one
// is a journaled rejection at that agent; a repeat, or an order already 已揽收, is AlreadyDone.
func FirstScan(o Order, wb string, at time.Time, src Source) Decision {
	wb = waybill.Normalize(wb)
	switch {
	case o.State == PickedUp:
		return Decision{Outcome: done(o, wb)}
	case !o.HandedOver():
		return Decision{Outcome: done(o, wb)} // not handed over here: another agent journals it
	case wb != o.Waybill:
		out := reject(o, ReasonWaybillMismatch, wb, fmt.Sprintf("courier's first scan of %s, bound waybill is %s", wb, o.Waybill))
		return Decision{Outcome: out, Entry: OutcomeEntry(src.Entry(), out)}
	}
	n := enter(o, PickedUp, at)
	n.PickedUpAt = at
	out := accept(o, n, wb)
	out.Detail = fmt.Sprintf("courier's first scan at %s; handed over at %s", wire.Time(at), wire.Time(o.HandedOverAt))
	return Decision{Outcome: out, Store: true, Entry: OutcomeEntry(src.Entry(), out)}
}

// firstScan: the hub relays the courier's first scan (wire.TypeFirstScan). An order this agent
// does not know, or did not hand over, journals nothing here (FirstScan).
func (d msgDecision) firstScan() Decision {
	if !d.known {
		return d.nothing()
	}
	at, err := wire.ParseTime(d.m.At)
	if err != nil { // Validate passed: only a caller that skipped it gets here
		return d.refuse(d.o, ReasonMalformed, err.Error())
	}
	src := Source{Trigger: wire.TriggerCarrier, Code: MsgCode(d.m.HSeq), At: d.env.At}
	return FirstScan(d.o, d.m.Waybill, at, src)
}
