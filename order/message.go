package order

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"wedge/order/waybill"
	"wedge/sync/wire"
)

// MsgEnv is what a downlink message's decision needs besides the order: the time, whether intake is
// held by an open breaker, the data contract, and who already owns the message's channel order
// number (the caller looks it up; "" for nobody).
type MsgEnv struct {
	At               time.Time
	Held             bool
	Contract         func(channel, orderNo string) error // nil: every order passes
	ChannelNoOwnerID string
}

// MsgCode is the code a downlink message leaves in its entries: "hseq:N", or "" without a sequence.
func MsgCode(hseq uint64) string {
	if hseq == 0 {
		return ""
	}
	return "hseq:" + strconv.FormatUint(hseq, 10)
}

// DecideMsg decides a valid downlink message m (wire.OrderMsg.Validate passed) for the order it
// names: o is that order as stored, known whether it exists. The decision's entry kind says what
// happened: intake, update, intercept, step or merge (applied), reject (refused, with reason), or
// none (an idempotent repeat).
func DecideMsg(o Order, known bool, m wire.OrderMsg, env MsgEnv) Decision {
	if !known {
		o = Order{}
	}
	d := msgDecision{o: o, known: known, m: m, env: env, id: m.ID()}
	d.base = wire.Entry{OrderID: d.id, Trigger: wire.TriggerHub, Code: MsgCode(m.HSeq), At: wire.Time(env.At)}
	switch m.Type {
	case wire.TypeOrder:
		msg := m
		msg.OrderID = d.id
		d.base.Order = &msg // the hub and sibling agents can rebuild the order (or see what was refused)
		return d.order()
	case wire.TypeBalancePaid, wire.TypeCancel:
		return d.step()
	case wire.TypeWaybill:
		return d.waybill()
	case wire.TypeState:
		return d.state()
	case wire.TypeIntercept:
		return d.intercept()
	case wire.TypeFirstScan:
		return d.firstScan()
	case wire.TypeTracking:
		return d.tracking()
	}
	return d.refuse(Order{}, ReasonUnsupported, "unknown message type "+m.Type)
}

// msgDecision is one downlink message being decided: the order as stored and the message's entry
// skeleton.
type msgDecision struct {
	o     Order
	known bool
	m     wire.OrderMsg
	env   MsgEnv
	id    string
	base  wire.Entry
}

func (d msgDecision) nothing() Decision {
	return Decision{Outcome: Outcome{Result: AlreadyDone, From: d.o.State, To: d.o.State, Order: d.o}}
}

func (d msgDecision) refuse(o Order, r Reason, detail string) Decision {
	e := d.base
	e.Kind, e.Reason, e.Detail = wire.KindReject, string(r), Excerpt(detail, 4*MaxIntakeExcerpt)
	e.From, e.To = string(o.State), string(o.State)
	return Decision{Outcome: Outcome{Result: Rejected, Reason: r, From: o.State, To: o.State, Order: o, Detail: detail}, Entry: e}
}

func (d msgDecision) store(before, after Order, e wire.Entry) Decision {
	return Decision{Outcome: Outcome{Result: Accepted, From: before.State, To: after.State, Order: after, Waybill: e.Waybill}, Store: true, Entry: e}
}

func (d msgDecision) unknown(what string) Decision {
	return d.refuse(Order{}, ReasonUnknownOrder, what+" for an order this agent does not know")
}

// order: a new order, data for a skeleton, an identical repeat, or a conflict.
func (d msgDecision) order() Decision {
	o := d.o
	n := FromMsg(d.m)
	// The contract judges the normalised values, the ones that are stored and printed.
	if d.env.Contract != nil {
		if err := d.env.Contract(n.Channel, n.ChannelOrderNo); err != nil {
			return d.refuse(Order{}, ReasonContract, err.Error())
		}
	}
	if d.known {
		if o.Channel == "" && o.ChannelOrderNo == "" && o.BuyerID == "" {
			// A skeleton made from a sibling's state: fill in the data, keep the state.
			f := o
			f.Channel, f.ChannelOrderNo, f.BuyerID, f.OrderedAt, f.PaidAt, f.SKUs, f.Payment, f.Recipient =
				n.Channel, n.ChannelOrderNo, n.BuyerID, n.OrderedAt, n.PaidAt, n.SKUs, n.Payment, n.Recipient
			f.RecipientName, f.RecipientPhone, f.RecipientAddress = n.RecipientName, n.RecipientPhone, n.RecipientAddress
			// Which version the label printed elsewhere was made from is known (its label
			// version); whether this version changed the address is not: assume it did.
			f.Version, f.AddressVersion = max(f.Version, n.Version), max(f.AddressVersion, n.Version)
			f = f.refresh()
			if f.Carrier == "" {
				f.Carrier = n.Carrier
			}
			if f.AssignedWaybill == "" {
				f.AssignedWaybill = n.AssignedWaybill
			}
			e := d.base
			e.Kind, e.From, e.To, e.Waybill, e.Carrier, e.Detail = wire.KindIntake, string(o.State), string(o.State), f.AssignedWaybill, f.Carrier, "order data for a known order"
			return d.store(o, f, e)
		}
		if d.m.Version != 0 {
			if d.m.Version <= o.Version {
				return d.nothing() // an older or the same version: nothing to change
			}
			return d.update()
		}
		if diff := SameIdentity(o, n); diff != "" {
			return d.refuse(o, ReasonConflict, fmt.Sprintf("order id %s already holds different data (%s)", d.id, diff))
		}
		return d.nothing()
	}
	if d.env.ChannelNoOwnerID != "" && n.ChannelOrderNo != "" && d.env.ChannelNoOwnerID != d.id {
		// Another id for the same channel order number: the same order entered twice (missing
		// cross-channel dedup). Refuse; the hub sees it.
		return d.refuse(Order{}, ReasonConflict, fmt.Sprintf("channel_order_no %s already belongs to order %s", n.ChannelOrderNo, d.env.ChannelNoOwnerID))
	}
	n = n.Receive(InitialState(n.Payment, d.env.Held), d.env.At)
	e := d.base
	e.Kind, e.To, e.Waybill, e.Carrier = wire.KindIntake, string(n.State), n.AssignedWaybill, n.Carrier
	return d.store(Order{}, n, e)

}

// step: balance paid or cancel, through Apply.
func (d msgDecision) step() Decision {
	o := d.o
	if !d.known {
		return d.unknown(d.m.Type)
	}
	req := Request{Action: ActBalancePaid, Hold: d.env.Held, At: d.env.At}
	if d.m.Type == wire.TypeCancel {
		req = Request{Action: ActCancel, Note: d.m.Reason, At: d.env.At}
	}
	out := Apply(o, req)
	switch out.Result {
	case AlreadyDone:
		return d.nothing()
	case Rejected:
		return d.refuse(o, out.Reason, out.Detail)
	}
	e := d.base
	e.Kind, e.From, e.To, e.Waybill, e.Carrier, e.Detail = wire.KindStep, string(out.From), string(out.To), out.Order.Waybill, out.Order.Carrier, Excerpt(d.m.Reason, MaxIntakeExcerpt)
	return Decision{Outcome: out, Store: true, Entry: e}

}

// waybill: the hub assigns (or re-sends) the order's waybill.
func (d msgDecision) waybill() Decision {
	o := d.o
	if !d.known {
		return d.unknown("waybill")
	}
	wb := waybill.Normalize(d.m.Waybill)
	carrier := NormalizeCode(d.m.Carrier)
	if carrier == "" {
		carrier = o.Carrier
	}
	if err := waybill.Validate(carrier, wb); err != nil {
		return d.refuse(o, ReasonWaybillInvalid, err.Error())
	}
	if o.Waybill != "" && o.Waybill != wb {
		return d.refuse(o, ReasonWaybillMismatch, fmt.Sprintf("already printed with waybill %s; refusing %s", o.Waybill, wb))
	}
	if o.AssignedWaybill == wb && o.Carrier == carrier {
		return d.nothing()
	}
	if o.State == Cancelled {
		return d.refuse(o, ReasonCancelled, "waybill for a cancelled order")
	}
	n := o
	n.AssignedWaybill, n.Carrier = wb, carrier
	e := d.base
	e.Kind, e.Waybill, e.Carrier, e.From, e.To = wire.KindIntake, wb, carrier, string(o.State), string(o.State)
	e.Detail = "waybill assigned"
	return d.store(o, n, e)

}

// state: a state another agent or the hub reached, merged forward only, with the label version and
// the intercept it brings.
func (d msgDecision) state() Decision {
	o := d.o
	to, err := ParseState(d.m.State)
	if err != nil {
		return d.refuse(Order{}, ReasonUnsupported, err.Error())
	}
	if !d.known {
		o = Order{ID: d.id, State: AwaitingBalance, ReceivedAt: d.env.At, StateSince: d.env.At}
	}
	var out Outcome
	if d.known && o.State == Held && to == PendingAllocation {
		// A sibling's 待分仓 does not release an order this agent holds behind its open breaker.
		out = done(o, "")
	} else {
		out = Merge(o, to, d.m.Waybill, d.env.At)
	}
	switch out.Result {
	case Rejected:
		return d.refuse(o, out.Reason, out.Detail)
	case AlreadyDone:
		out.Order = o
		if !d.known {
			out.Order.State = to // a minimal record in a pre-backlog state
		}
	}
	n := out.Order
	var marks []string
	if m, ok := MergeLabel(n, d.m.LabelVersion); ok {
		n = m
		marks = append(marks, fmt.Sprintf("label version %d", n.LabelVersion))
	}
	if d.m.Intercept != "" {
		if m, ok := MergeIntercept(n, d.m.InterceptID, d.m.Intercept, d.env.At); ok {
			n = m
			marks = append(marks, "intercept "+n.Intercept.Status)
		}
	}
	if d.known && out.Result == AlreadyDone && len(marks) == 0 {
		return d.nothing()
	}
	if d.m.Carrier != "" && n.Carrier == "" {
		n.Carrier = NormalizeCode(d.m.Carrier)
	}
	e := d.base
	e.Kind, e.To, e.Waybill, e.Carrier = wire.KindMerge, string(n.State), n.Waybill, n.Carrier
	e.LabelVersion = n.LabelVersion
	if len(marks) > 0 {
		e.InterceptID, e.Intercept = n.Intercept.ID, n.Intercept.Status
	}
	if d.known {
		e.From = string(o.State)
	} else {
		e.Detail = "order first heard of through another agent's state"
	}
	if len(marks) > 0 {
		e.Detail = strings.TrimPrefix(e.Detail+"; from another agent: "+strings.Join(marks, ", "), "; ")
		if n.LabelOutdated != o.LabelOutdated {
			e.Detail += fmt.Sprintf("; label outdated: %t", n.LabelOutdated)
		}
	}
	return d.store(o, n, e)
}

// MaxIntakeExcerpt bounds what a downlink message puts into a journal entry's detail.
const MaxIntakeExcerpt = 200

// Malformed is the reject entry for a downlink element or payload that cannot be read: the error
// and an excerpt of the raw bytes, so the hub sees what was refused.
func Malformed(at time.Time, hseq uint64, err error, raw []byte) wire.Entry {
	return wire.Entry{Kind: wire.KindReject, Trigger: wire.TriggerHub, Reason: string(ReasonMalformed), Code: MsgCode(hseq),
		Detail: Excerpt(MaskText(err.Error()), MaxIntakeExcerpt) + " | payload: " + Excerpt(MaskText(string(raw)), MaxIntakeExcerpt), At: wire.Time(at)}
}
