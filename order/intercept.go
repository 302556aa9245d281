package order

import (
	"fmt"
	"strings"
	"time"

	"wedge/sync/wire"
)

// Intercept is the order system's request to stop an order's parcel (a downlink intercept
// message), and what became of it. It is a flag on the order, not a state: before 已揽收 an open
// intercept stops the parcel wherever it is next scanned (print and handover refuse with
// ReasonIntercepted) until a supervisor resolves it (Resolve); after 已揽收 it is only recorded,
// for the supervisor to contact the carrier. Like the state, it travels between the agents of a
// site through their journal entries and the hub's state messages, and merges the same way on
// every PC (MergeIntercept).
type Intercept struct {
	// ID is the hub sequence of the intercept message: a later intercept has a higher id.
	ID         uint64    `json:"id,omitempty"`
	Status     string    `json:"status,omitempty"` // wire.Intercept*; "" none
	Reason     string    `json:"reason,omitempty"` // the order system's reason
	At         time.Time `json:"at,omitzero"`      // when this agent learned of it
	By         string    `json:"by,omitempty"`     // who resolved it
	Note       string    `json:"note,omitempty"`   // why (the resolution's note)
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
}

// Open reports whether the intercept waits for a supervisor: requested, or requested after pickup.
func (i Intercept) Open() bool {
	return i.Status == wire.InterceptRequested || i.Status == wire.InterceptAfterPickup
}

// Intercepted reports whether o's parcel must be stopped: an intercept was requested before
// 已揽收 and nobody resolved it yet.
func (o Order) Intercepted() bool {
	return o.Intercept.Status == wire.InterceptRequested && o.State != PickedUp && o.State != Cancelled
}

// interceptRank orders the statuses of one intercept: a resolution outranks the request, a cancel
// outranks a release (two supervisors on two PCs: the parcel that was cancelled stays cancelled).
func interceptRank(status string) int {
	switch status {
	case wire.InterceptRequested, wire.InterceptAfterPickup:
		return 1
	case wire.InterceptReleased, wire.InterceptAcknowledged:
		return 2
	case wire.InterceptCancelled, wire.InterceptReturnedToStock:
		return 3
	}
	return 0
}

// interceptAfter reports whether (id, status) is later than o's intercept: a higher id, or the
// same id with a status of higher rank (equal ranks: the larger code, so every PC picks the same).
func interceptAfter(cur Intercept, id uint64, status string) bool {
	if !wire.ValidIntercept(status) {
		return false
	}
	if cur.Status == "" || id > cur.ID {
		return true
	}
	if id < cur.ID {
		return false
	}
	rn, rc := interceptRank(status), interceptRank(cur.Status)
	return rn > rc || rn == rc && status > cur.Status
}

// MergeIntercept applies the intercept (id, status) that another agent or the hub reached, if it
// is later than o's (see interceptAfter); changed reports whether o changed. A request merged into
// an order already picked up or cancelled reads after_pickup or cancelled (refresh).
func MergeIntercept(o Order, id uint64, status string, at time.Time) (n Order, changed bool) {
	if !interceptAfter(o.Intercept, id, status) {
		return o, false
	}
	n = o
	if id != o.Intercept.ID || o.Intercept.Status == "" {
		n.Intercept = Intercept{ID: id, At: at}
	}
	n.Intercept.Status = status
	if interceptRank(status) > 1 && n.Intercept.ResolvedAt.IsZero() {
		n.Intercept.ResolvedAt = at
	}
	n = n.refresh()
	return n, n.Intercept != o.Intercept
}

// MergeLabel raises o's label version to v (another agent printed or reprinted the label at data
// version v, or a supervisor accepted it); changed reports whether o changed.
func MergeLabel(o Order, v uint64) (n Order, changed bool) {
	if v <= o.LabelVersion {
		return o, false
	}
	n = o
	n.LabelVersion = v
	return n.refresh(), true
}

// refresh recomputes what follows from the rest of the order: the label is outdated while 已打单
// with a label older than the last change of the recipient or address; a request to intercept an
// order the courier already has reads after_pickup, one for a cancelled order cancelled.
func (o Order) refresh() Order {
	o.LabelOutdated = o.State == WaybillPrinted && o.LabelVersion < o.AddressVersion
	if o.Intercept.Status == wire.InterceptRequested {
		switch o.State {
		case PickedUp:
			o.Intercept.Status = wire.InterceptAfterPickup
		case Cancelled:
			o.Intercept.Status = wire.InterceptCancelled
		}
	}
	return o
}

// RequestIntercept records the order system's intercept id (the hub sequence of its message)
// with its reason: a new open intercept (after_pickup when the courier has the parcel already),
// unless o holds this intercept or a later one already (ok false: a replay). The agent's intake
// and the hub's record use it alike.
func RequestIntercept(o Order, id uint64, reason string, at time.Time) (n Order, ok bool) {
	if o.Intercept.Status != "" && id <= o.Intercept.ID {
		return o, false
	}
	n = o
	n.Intercept = Intercept{ID: id, Status: wire.InterceptRequested, Reason: Excerpt(strings.TrimSpace(reason), MaxIntakeExcerpt), At: at}
	return n.refresh(), true
}

// intercept: the order system asks to stop the order's parcel (message id = its hub sequence).
func (d msgDecision) intercept() Decision {
	o := d.o
	if !d.known {
		return d.unknown("intercept")
	}
	n, ok := RequestIntercept(o, d.m.HSeq, d.m.Reason, d.env.At)
	if !ok {
		return d.nothing() // a replay, or an older intercept than the one the order holds
	}
	id := d.m.HSeq
	e := d.base
	e.Kind, e.From, e.To, e.Waybill, e.Carrier = wire.KindIntercept, string(o.State), string(o.State), o.Waybill, o.Carrier
	e.InterceptID, e.Intercept = id, n.Intercept.Status
	switch n.Intercept.Status {
	case wire.InterceptAfterPickup:
		e.Detail = "intercept requested after pickup: contact the carrier"
	case wire.InterceptCancelled:
		e.Detail = "intercept requested for a cancelled order: nothing to stop"
	default:
		e.Detail = "intercept requested: stop the parcel at its next scan"
	}
	if n.Intercept.Reason != "" {
		e.Detail += interceptReasonSep + n.Intercept.Reason
	}
	return d.store(o, n, e)
}

// Resolutions a supervisor chooses for an open intercept.
const (
	ResolveRelease       = "release"         // the parcel goes on (the intercept was withdrawn)
	ResolveCancel        = "cancel"          // the order is cancelled (已取消)
	ResolveReturnToStock = "return_to_stock" // cancelled, the goods back to stock (已取消, reason returned_to_stock)
	ResolveAcknowledge   = "acknowledge"     // after pickup: the carrier was contacted
)

// Resolution is a supervisor's decision on an open intercept: one of the Resolve* actions, who
// and why (both required), and when.
type Resolution struct {
	Action   string
	Operator string
	Note     string
	At       time.Time
}

// Resolve decides a supervisor's resolution r of o's open intercept on behalf of src (trigger
// manual): release and acknowledge change only the intercept (an intercept entry); cancel and
// return to stock move the order to 已取消 (a step entry carrying the intercept, reason
// returned_to_stock for the latter). Refused: without operator or note (manual_incomplete),
// without an open intercept (no_intercept), or an action that does not fit (cancel after
// pickup: already_picked_up; acknowledge before pickup, release after: wrong_state).
func Resolve(o Order, r Resolution, src Source) Decision {
	refuse := func(reason Reason, detail string) Decision {
		return Refuse(o, reason, "", detail, src)
	}
	if strings.TrimSpace(r.Operator) == "" || strings.TrimSpace(r.Note) == "" {
		return refuse(ReasonManualIncomplete, "an intercept is resolved with an operator and a note")
	}
	if !o.Intercept.Open() {
		return refuse(ReasonNoIntercept, "no open intercept")
	}
	after := o.Intercept.Status == wire.InterceptAfterPickup
	n := o
	n.Intercept.By, n.Intercept.Note, n.Intercept.ResolvedAt = strings.TrimSpace(r.Operator), Excerpt(strings.TrimSpace(r.Note), MaxExcerpt), r.At
	e := src.Entry()
	e.OrderID, e.Waybill, e.Carrier = o.ID, o.Waybill, o.Carrier
	e.Detail = Excerpt(fmt.Sprintf("%s%s): %s", interceptResolvedHead, r.Action, strings.TrimSpace(r.Note)), MaxExcerpt)
	switch r.Action {
	case ResolveRelease, ResolveAcknowledge:
		if after != (r.Action == ResolveAcknowledge) {
			return refuse(ReasonWrongState, fmt.Sprintf("%s does not apply to an intercept %s", r.Action, o.Intercept.Status))
		}
		n.Intercept.Status = wire.InterceptReleased
		if after {
			n.Intercept.Status = wire.InterceptAcknowledged
		}
		e.Kind, e.From, e.To = wire.KindIntercept, string(o.State), string(o.State)
	case ResolveCancel, ResolveReturnToStock:
		if after {
			return refuse(ReasonAlreadyPickedUp, "the courier has the parcel: contact the carrier, then acknowledge")
		}
		n.Intercept.Status = wire.InterceptCancelled
		if r.Action == ResolveReturnToStock {
			n.Intercept.Status = wire.InterceptReturnedToStock
			e.Reason = wire.InterceptReturnedToStock
		}
		out := Apply(n, Request{Action: ActCancel, Note: r.Note, At: r.At})
		if out.Result != Accepted {
			return refuse(out.Reason, out.Detail)
		}
		n = out.Order
		e.Kind, e.From, e.To = wire.KindStep, string(o.State), string(n.State)
	default:
		return refuse(ReasonUnsupported, fmt.Sprintf("unknown resolution %q", r.Action))
	}
	n = n.refresh()
	e.InterceptID, e.Intercept = n.Intercept.ID, n.Intercept.Status
	out := Outcome{Result: Accepted, From: o.State, To: n.State, Order: n, Waybill: o.Waybill}
	return Decision{Outcome: out, Store: true, Entry: e}
}

// InterceptMessage is what the console shows for o's intercept (zero when there is none).
func (o Order) InterceptMessage() Message {
	switch o.Intercept.Status {
	case wire.InterceptRequested:
		return ReasonIntercepted.Message(o.State)
	case wire.InterceptAfterPickup:
		return Message{"拦截请求在揽收之后：请联系快递拦截", "Intercept requested after pickup: contact the carrier"}
	case wire.InterceptReleased:
		return Message{"拦截已放行：包裹可继续发货", "Intercept released: the parcel may ship"}
	case wire.InterceptAcknowledged:
		return Message{"揽收后的拦截已处理（已联系快递）", "Intercept after pickup handled (carrier contacted)"}
	case wire.InterceptCancelled:
		return Message{"拦截件已取消订单", "Intercepted order cancelled"}
	case wire.InterceptReturnedToStock:
		return Message{"拦截件已退回库存，订单已取消", "Intercepted parcel returned to stock, order cancelled"}
	}
	return Message{}
}
