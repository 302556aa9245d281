package station

import (
	"context"

	"wedge/agent/journal"
	"wedge/order"
	"wedge/order/waybill"
	"wedge/sync/wire"
)

// Decision is one change decided at a station: the flow's outcome, its (unsealed) journal entry and,
// when the outcome's own message does not say enough, the operator's message.
type Decision struct {
	Outcome order.Outcome
	Entry   wire.Entry
	Message *order.Message // nil: Outcome.Message()
}

// Decide is the decision for a flow outcome, its entry made by OutcomeEntry's rules.
func Decide(base wire.Entry, out order.Outcome) Decision {
	return Decision{Outcome: out, Entry: OutcomeEntry(base, out)}
}

// Reject is the decision for a rejection the station makes itself, about order o (zero if none).
func Reject(base wire.Entry, o order.Order, r order.Reason, wb, detail string) Decision {
	return Decide(base, order.Outcome{Result: order.Rejected, Reason: r, From: o.State, To: o.State, Order: o, Waybill: waybill.Normalize(wb), Detail: detail})
}

// Note is the decision to journal a note about order o (zero if none) that leaves it as it is: an
// accepted scan the operator reads msg for. Callers adjust the result or the entry's kind (a
// repeat, a reprint) on the returned value.
func Note(base wire.Entry, o order.Order, wb, detail string, msg order.Message) Decision {
	out := order.Outcome{Result: order.Accepted, From: o.State, To: o.State, Order: o, Waybill: wb}
	e := base
	e.Kind, e.OrderID, e.From, e.To, e.Waybill, e.Carrier = wire.KindNote, o.ID, string(o.State), string(o.State), wb, o.Carrier
	e.Detail = Excerpt(detail)
	return Decision{Outcome: out, Entry: e, Message: &msg}
}

// append journals d in tx: it appends the entry and stores the order when the entry is a step. It
// returns d with the sealed entry.
func (d Decision) append(tx *journal.Tx) Decision {
	d.Entry = tx.Append(d.Entry)
	if d.Entry.Kind == wire.KindStep {
		tx.PutOrder(d.Outcome.Order)
	}
	return d
}

// fill is res answered by the committed d.
func (d Decision) fill(res Result) Result {
	res.Outcome, res.Kind, res.Entry = d.Outcome, d.Entry.Kind, d.Entry
	res.Message = d.Outcome.Message()
	if d.Message != nil {
		res.Message = *d.Message
	}
	return res
}

// Commit journals the decision that decide makes inside one journal transaction and returns res
// answered by it, after the commit. A failed commit acknowledges nothing: Failed(res, err).
func Commit(ctx context.Context, store *journal.Store, res Result, decide func(tx *journal.Tx) Decision) Result {
	var d Decision
	err := store.Do(ctx, func(tx *journal.Tx) error {
		d = decide(tx).append(tx)
		return nil
	})
	if err != nil {
		return Failed(res, err)
	}
	return d.fill(res)
}

// Failed is res for a read that was not recorded: its error, a rejection, and the operator told to
// scan again.
func Failed(res Result, err error) Result {
	res.Err = err
	res.Outcome = order.Outcome{Result: order.Rejected}
	res.Message = order.NoticeSystemError.Message(order.NoticeArgs{})
	return res
}
