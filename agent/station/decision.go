package station

import (
	"context"

	"wedge/agent/journal"
	"wedge/order"
	"wedge/order/waybill"
	"wedge/sync/wire"
)

// Decision is one change decided at a station: the order domain's decision and, when the outcome's
// own message does not say enough, the operator's message.
type Decision struct {
	order.Decision
	Message *order.Message // nil: Outcome.Message()
}

// Decide applies req to order o on behalf of src (order.Decide).
func Decide(o order.Order, req order.Request, src order.Source) Decision {
	return Decision{Decision: order.Decide(o, req, src)}
}

// Refuse is the rejection, with reason r, of a scan about order o (zero if none) that no rule of
// the flow decides (order.Refuse); wb is normalized.
func Refuse(o order.Order, r order.Reason, wb, detail string, src order.Source) Decision {
	return Decision{Decision: order.Refuse(o, r, waybill.Normalize(wb), detail, src)}
}

// Note is the decision to journal a note about order o (zero if none) that leaves it as it is: an
// accepted scan the operator reads msg for. Callers adjust the result or the entry's kind (a
// repeat, a reprint) on the returned value.
func Note(o order.Order, wb, detail string, msg order.Message, src order.Source) Decision {
	e := src.Entry()
	e.Kind, e.OrderID, e.From, e.To, e.Waybill, e.Carrier = wire.KindNote, o.ID, string(o.State), string(o.State), wb, o.Carrier
	e.Detail = order.Excerpt(detail, order.MaxExcerpt)
	out := order.Outcome{Result: order.Accepted, From: o.State, To: o.State, Order: o, Waybill: wb}
	return Decision{Decision: order.Decision{Outcome: out, Entry: e}, Message: &msg}
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

// Commit commits the decision that decide makes inside one journal transaction (journal.Tx.Commit)
// and returns res answered by it, after the commit. A failed commit acknowledges nothing:
// Failed(res, err).
func Commit(ctx context.Context, store *journal.Store, res Result, decide func(tx *journal.Tx) Decision) Result {
	var d Decision
	err := store.Do(ctx, func(tx *journal.Tx) error {
		d = decide(tx)
		d.Decision = tx.Commit(d.Decision)
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
