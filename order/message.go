package order

import (
	"fmt"
	"strconv"
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
// happened: intake, step or merge (applied), reject (refused, with reason), or none (an idempotent
// repeat).
func DecideMsg(o Order, known bool, m wire.OrderMsg, env MsgEnv) Decision {
	id := m.ID()
	base := wire.Entry{OrderID: id, Trigger: wire.TriggerHub, Code: MsgCode(m.HSeq), At: wire.Time(env.At)}
	if m.Type == wire.TypeOrder {
		msg := m
		msg.OrderID = id
		base.Order = &msg // the hub and sibling agents can rebuild the order (or see what was refused)
	}
	if !known {
		o = Order{}
	}
	nothing := Decision{Outcome: Outcome{Result: AlreadyDone, From: o.State, To: o.State, Order: o}}
	refuse := func(o Order, r Reason, detail string) Decision {
		e := base
		e.Kind, e.Reason, e.Detail = wire.KindReject, string(r), Excerpt(detail, 4*MaxIntakeExcerpt)
		e.From, e.To = string(o.State), string(o.State)
		return Decision{Outcome: Outcome{Result: Rejected, Reason: r, From: o.State, To: o.State, Order: o, Detail: detail}, Entry: e}
	}
	store := func(before, after Order, e wire.Entry) Decision {
		res := Accepted
		return Decision{Outcome: Outcome{Result: res, From: before.State, To: after.State, Order: after, Waybill: e.Waybill}, Store: true, Entry: e}
	}
	unknown := func(what string) Decision {
		return refuse(Order{}, ReasonUnknownOrder, what+" for an order this agent does not know")
	}

	switch m.Type {
	case wire.TypeOrder:
		n := FromMsg(m)
		// The contract judges the normalised values, the ones that are stored and printed.
		if env.Contract != nil {
			if err := env.Contract(n.Channel, n.ChannelOrderNo); err != nil {
				return refuse(Order{}, ReasonContract, err.Error())
			}
		}
		if known {
			if o.Channel == "" && o.ChannelOrderNo == "" && o.BuyerID == "" {
				// A skeleton made from a sibling's state: fill in the data, keep the state.
				f := o
				f.Channel, f.ChannelOrderNo, f.BuyerID, f.OrderedAt, f.PaidAt, f.SKUs, f.Payment, f.Recipient =
					n.Channel, n.ChannelOrderNo, n.BuyerID, n.OrderedAt, n.PaidAt, n.SKUs, n.Payment, n.Recipient
				if f.Carrier == "" {
					f.Carrier = n.Carrier
				}
				if f.AssignedWaybill == "" {
					f.AssignedWaybill = n.AssignedWaybill
				}
				e := base
				e.Kind, e.From, e.To, e.Waybill, e.Carrier, e.Detail = wire.KindIntake, string(o.State), string(o.State), f.AssignedWaybill, f.Carrier, "order data for a known order"
				return store(o, f, e)
			}
			if diff := SameIdentity(o, n); diff != "" {
				return refuse(o, ReasonConflict, fmt.Sprintf("order id %s already holds different data (%s)", id, diff))
			}
			return nothing
		}
		if env.ChannelNoOwnerID != "" && n.ChannelOrderNo != "" && env.ChannelNoOwnerID != id {
			// Another id for the same channel order number: the same order entered twice (missing
			// cross-channel dedup). Refuse; the hub sees it.
			return refuse(Order{}, ReasonConflict, fmt.Sprintf("channel_order_no %s already belongs to order %s", n.ChannelOrderNo, env.ChannelNoOwnerID))
		}
		n = n.Receive(InitialState(n.Payment, env.Held), env.At)
		e := base
		e.Kind, e.To, e.Waybill, e.Carrier = wire.KindIntake, string(n.State), n.AssignedWaybill, n.Carrier
		return store(Order{}, n, e)

	case wire.TypeBalancePaid, wire.TypeCancel:
		if !known {
			return unknown(m.Type)
		}
		req := Request{Action: ActBalancePaid, Hold: env.Held, At: env.At}
		if m.Type == wire.TypeCancel {
			req = Request{Action: ActCancel, Note: m.Reason, At: env.At}
		}
		out := Apply(o, req)
		switch out.Result {
		case AlreadyDone:
			return nothing
		case Rejected:
			return refuse(o, out.Reason, out.Detail)
		}
		e := base
		e.Kind, e.From, e.To, e.Waybill, e.Carrier, e.Detail = wire.KindStep, string(out.From), string(out.To), out.Order.Waybill, out.Order.Carrier, Excerpt(m.Reason, MaxIntakeExcerpt)
		return Decision{Outcome: out, Store: true, Entry: e}

	case wire.TypeWaybill:
		if !known {
			return unknown("waybill")
		}
		wb := waybill.Normalize(m.Waybill)
		carrier := NormalizeCode(m.Carrier)
		if carrier == "" {
			carrier = o.Carrier
		}
		if err := waybill.Validate(carrier, wb); err != nil {
			return refuse(o, ReasonWaybillInvalid, err.Error())
		}
		if o.Waybill != "" && o.Waybill != wb {
			return refuse(o, ReasonWaybillMismatch, fmt.Sprintf("already printed with waybill %s; refusing %s", o.Waybill, wb))
		}
		if o.AssignedWaybill == wb && o.Carrier == carrier {
			return nothing
		}
		if o.State == Cancelled {
			return refuse(o, ReasonCancelled, "waybill for a cancelled order")
		}
		n := o
		n.AssignedWaybill, n.Carrier = wb, carrier
		e := base
		e.Kind, e.Waybill, e.Carrier, e.From, e.To = wire.KindIntake, wb, carrier, string(o.State), string(o.State)
		e.Detail = "waybill assigned"
		return store(o, n, e)

	case wire.TypeState:
		to, err := ParseState(m.State)
		if err != nil {
			return refuse(Order{}, ReasonUnsupported, err.Error())
		}
		if !known {
			o = Order{ID: id, State: AwaitingBalance, ReceivedAt: env.At, StateSince: env.At}
		}
		if known && o.State == Held && to == PendingAllocation {
			// A sibling's 待分仓 does not release an order this agent holds behind its open breaker.
			return nothing
		}
		out := Merge(o, to, m.Waybill, env.At)
		switch out.Result {
		case Rejected:
			return refuse(o, out.Reason, out.Detail)
		case AlreadyDone:
			if known {
				return nothing
			}
			out.Order = o
			out.Order.State = to // a minimal record in a pre-backlog state
		}
		if m.Carrier != "" && out.Order.Carrier == "" {
			out.Order.Carrier = NormalizeCode(m.Carrier)
		}
		e := base
		e.Kind, e.To, e.Waybill, e.Carrier = wire.KindMerge, string(out.Order.State), out.Order.Waybill, out.Order.Carrier
		if known {
			e.From = string(o.State)
		} else {
			e.Detail = "order first heard of through another agent's state"
		}
		return store(o, out.Order, e)
	}
	return refuse(Order{}, ReasonUnsupported, "unknown message type "+m.Type)
}

// MaxIntakeExcerpt bounds what a downlink message puts into a journal entry's detail.
const MaxIntakeExcerpt = 200

// Malformed is the reject entry for a downlink element or payload that cannot be read: the error
// and an excerpt of the raw bytes, so the hub sees what was refused.
func Malformed(at time.Time, hseq uint64, err error, raw []byte) wire.Entry {
	return wire.Entry{Kind: wire.KindReject, Trigger: wire.TriggerHub, Reason: string(ReasonMalformed), Code: MsgCode(hseq),
		Detail: Excerpt(err.Error(), MaxIntakeExcerpt) + " | payload: " + Excerpt(string(raw), MaxIntakeExcerpt), At: wire.Time(at)}
}
