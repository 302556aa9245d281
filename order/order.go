// Package order holds the rules of an order's life, pure and without I/O. The fulfilment state machine:
//
//	待付尾款 awaiting_balance ─(balance paid)─┐
//	暂停进入 held ─────────(breaker closes)───┤
//	                                          ▼
//	待分仓 pending_allocation ──(print)──▶ 已打单 waybill_printed ──(pickup)──▶ 已揽收 picked_up
//	         any state before picked_up ──(cancel)──▶ 已取消 cancelled
//
// Steps go forward one at a time and never skip. Every attempt yields exactly one Outcome: Accepted
// (the order moved), AlreadyDone (an idempotent repeat, nothing changes) or Rejected with a typed
// Reason whose Message tells the operator, in Chinese and English, what to do next.
//
// Merge is different from a step: it applies a state that another agent or the hub already reached
// (their journals hold the intermediate steps), so it may move several states at once, but never back.
package order

import (
	"fmt"
	"strings"
	"time"

	"wedge/order/waybill"
)

// State is an order's fulfilment state. The string is the stable code used in config, on the wire
// and in the journal.
type State string

// The states.
const (
	AwaitingBalance   State = "awaiting_balance"   // 待付尾款: presale, only the deposit is paid; not in the backlog
	Held              State = "held"               // 暂停进入: arrived while the backlog breaker was open; not in the backlog
	PendingAllocation State = "pending_allocation" // 待分仓: the backlog
	WaybillPrinted    State = "waybill_printed"    // 已打单: a label really came out of a printer
	PickedUp          State = "picked_up"          // 已揽收: the courier scanned it at the handover
	Cancelled         State = "cancelled"          // 已取消: terminal
)

// States lists every state in flow order (cancelled last).
var States = []State{AwaitingBalance, Held, PendingAllocation, WaybillPrinted, PickedUp, Cancelled}

// Valid reports whether s is one of the states.
func (s State) Valid() bool { return s.rank() >= 0 }

// LabelZH is the state's Chinese name as the warehouse staff know it.
func (s State) LabelZH() string {
	switch s {
	case AwaitingBalance:
		return "待付尾款"
	case Held:
		return "暂停进入"
	case PendingAllocation:
		return "待分仓"
	case WaybillPrinted:
		return "已打单"
	case PickedUp:
		return "已揽收"
	case Cancelled:
		return "已取消"
	}
	return string(s)
}

// LabelEN is the state's English name.
func (s State) LabelEN() string {
	switch s {
	case AwaitingBalance:
		return "awaiting balance"
	case Held:
		return "held (intake paused)"
	case PendingAllocation:
		return "pending allocation"
	case WaybillPrinted:
		return "waybill printed"
	case PickedUp:
		return "picked up"
	case Cancelled:
		return "cancelled"
	}
	return string(s)
}

// Label is "已打单 waybill_printed", the form used in logs and messages.
func (s State) Label() string { return s.LabelZH() + " " + string(s) }

// rank orders the states for monotonic merging: a state never moves to a lower rank. Awaiting
// balance and held are both "before the backlog" and share a rank; cancelled outranks everything but
// picked_up, which is a physical fact (the courier has the parcel) that a cancel cannot undo.
func (s State) rank() int {
	switch s {
	case AwaitingBalance, Held:
		return 0
	case PendingAllocation:
		return 1
	case WaybillPrinted:
		return 2
	case Cancelled:
		return 3
	case PickedUp:
		return 4
	}
	return -1
}

// ParseState parses a state code.
func ParseState(code string) (State, error) {
	s := State(strings.TrimSpace(code))
	if !s.Valid() {
		return "", fmt.Errorf("order: unknown state %q", code)
	}
	return s, nil
}

// Payment kinds of an order.
const (
	PaymentFull    = "full"
	PaymentDeposit = "deposit"
)

// Order is the local view of one order. Times are the agent's clock, UTC.
type Order struct {
	ID             string    `json:"order_id"`
	Channel        string    `json:"channel,omitempty"`
	ChannelOrderNo string    `json:"channel_order_no,omitempty"`
	BuyerID        string    `json:"buyer_id,omitempty"`
	OrderedAt      time.Time `json:"ordered_at,omitzero"`
	PaidAt         time.Time `json:"paid_at,omitzero"`
	SKUs           []string  `json:"skus,omitempty"`
	Payment        string    `json:"payment,omitempty"`
	Recipient      string    `json:"recipient,omitempty"` // masked one-line recipient of older order systems, e.g. "张**  138****5678 深圳市…"
	// The recipient as separate fields, whole (the label prints the full address); shown masked
	// everywhere else (Masked).
	RecipientName    string `json:"recipient_name,omitempty"`
	RecipientPhone   string `json:"recipient_phone,omitempty"`
	RecipientAddress string `json:"recipient_address,omitempty"`
	// Version is the order data's version from the hub (0: sent without one). AddressVersion is
	// the version at which the recipient or the address last changed; LabelVersion the data
	// version the printed label carries (or that a supervisor accepted it for). LabelOutdated is
	// set while a printed label carries an older recipient or address than the order (see
	// LabelOutdated rule in version.go).
	Version        uint64 `json:"version,omitempty"`
	AddressVersion uint64 `json:"address_version,omitempty"`
	LabelVersion   uint64 `json:"label_version,omitempty"`
	LabelOutdated  bool   `json:"label_outdated,omitempty"`
	// Intercept is the order system's last request to stop the parcel, and what became of it.
	Intercept Intercept `json:"intercept,omitzero"`

	Carrier         string `json:"carrier,omitempty"`
	AssignedWaybill string `json:"assigned_waybill,omitempty"` // from the hub; when set, the printed label must carry it
	Waybill         string `json:"waybill,omitempty"`          // bound when the label was printed

	State        State     `json:"state"`
	StateSince   time.Time `json:"state_since,omitzero"`   // entered its current state
	PendingSince time.Time `json:"pending_since,omitzero"` // entered 待分仓 last (the breaker's wait is measured from here)
	// QueuedSince is the order's first entry into 暂停进入 or 待分仓 (its time held by the breaker
	// counts, a presale's time in 待付尾款 does not); the overdue rule measures from here. Zero in
	// records written before it existed (OverdueSince falls back to WaitingSince).
	QueuedSince time.Time `json:"queued_since,omitzero"`
	ReceivedAt  time.Time `json:"received_at,omitzero"` // first heard of by this agent
	PrintedAt   time.Time `json:"printed_at,omitzero"`
	PickedUpAt  time.Time `json:"picked_up_at,omitzero"`
	// HandedOverAt is the handed_over mark: the handover scan here under carrier_first_scan, while
	// the order waits in 已打单 for the courier's first scan (see pickup.go).
	HandedOverAt time.Time `json:"handed_over_at,omitzero"`
	Overdue      bool      `json:"overdue,omitempty"` // an overdue alert was raised (once per order)
	// Tracking is the latest carrier event the hub relayed (by the carrier's time), see tracking.go.
	Tracking CarrierEvent `json:"tracking,omitzero"`
}

// Action is what an attempt tries to do.
type Action string

// The actions.
const (
	ActPrint       Action = "print"        // 待分仓 → 已打单, binding a waybill
	ActPickup      Action = "pickup"       // 已打单 → 已揽收, the scanned waybill must be the bound one
	ActBalancePaid Action = "balance_paid" // 待付尾款 → 待分仓
	ActRelease     Action = "release"      // 暂停进入 → 待分仓 (the breaker closed)
	ActCancel      Action = "cancel"       // → 已取消
)

// Request is one attempt to move an order.
type Request struct {
	Action   Action
	Waybill  string // the printed or scanned waybill (print, pickup)
	Carrier  string // optional; defaults to the order's carrier
	Manual   bool   // an explicit human confirmation: Operator and Note are required
	Operator string // who
	Note     string // why (manual confirmations, cancels)
	Hold     bool   // balance paid: intake is held by an open breaker, so the order enters 暂停进入, not 待分仓
	// LabelVersion (print) is the order data version the printed label was made from; 0: the
	// order's current version. A label made before an update committed is outdated at once.
	LabelVersion uint64
	// Pickup (pickup) is the site's pickup policy; "" is handover_scan.
	Pickup PickupPolicy
	At     time.Time // when (agent clock)
}

// Result is the kind of outcome.
type Result int

// The results.
const (
	Rejected Result = iota
	Accepted
	AlreadyDone
	Recorded // a handover recorded under carrier_first_scan: the order keeps its state, gains a mark
)

func (r Result) String() string {
	switch r {
	case Accepted:
		return "accepted"
	case AlreadyDone:
		return "already_done"
	case Recorded:
		return "recorded"
	}
	return "rejected"
}

// Good reports whether the operator gets a "good" signal (accepted, an idempotent repeat or a
// recorded handover).
func (r Result) Good() bool { return r == Accepted || r == AlreadyDone || r == Recorded }

// Outcome is the single answer to an attempt.
type Outcome struct {
	Result  Result
	Reason  Reason // set when Rejected
	From    State  // the order's state before
	To      State  // the order's state after (== From unless Accepted)
	Order   Order  // the order after the attempt (unchanged unless Accepted)
	Waybill string // the waybill concerned, if any
	Detail  string // technical detail for logs (English), e.g. the validator's error
}

// Message is what the operator reads.
func (o Outcome) Message() Message {
	switch o.Result {
	case Accepted:
		return Message{
			ZH: fmt.Sprintf("成功：%s → %s", o.From.LabelZH(), o.To.LabelZH()),
			EN: fmt.Sprintf("OK: %s → %s", o.From.LabelEN(), o.To.LabelEN()),
		}
	case AlreadyDone:
		return Message{
			ZH: fmt.Sprintf("已处理过，状态仍为%s（无需重复扫描）", o.To.LabelZH()),
			EN: fmt.Sprintf("Already done: still %s (no need to scan again)", o.To.LabelEN()),
		}
	case Recorded:
		return MsgHandoverRecorded
	}
	return o.Reason.Message(o.From)
}

func reject(o Order, r Reason, waybill, detail string) Outcome {
	return Outcome{Result: Rejected, Reason: r, From: o.State, To: o.State, Order: o, Waybill: waybill, Detail: detail}
}

func done(o Order, waybill string) Outcome {
	return Outcome{Result: AlreadyDone, From: o.State, To: o.State, Order: o, Waybill: waybill}
}

func accept(before, after Order, waybill string) Outcome {
	after = after.refresh()
	return Outcome{Result: Accepted, From: before.State, To: after.State, Order: after, Waybill: waybill}
}

// enter returns o moved to state s at time at. Entering 待分仓 sets PendingSince; the first entry
// into 暂停进入 or 待分仓 sets QueuedSince, which later entries keep.
func enter(o Order, s State, at time.Time) Order {
	o.SKUs = append([]string(nil), o.SKUs...)
	o.State = s
	o.StateSince = at
	if s == PendingAllocation {
		o.PendingSince = at
	}
	if (s == PendingAllocation || s == Held) && o.QueuedSince.IsZero() {
		o.QueuedSince = at
	}
	return o
}

// Apply tries req on order o. It never fails: everything that goes wrong is a Rejected outcome.
func Apply(o Order, req Request) Outcome {
	wb := waybill.Normalize(req.Waybill)
	if req.Manual && (strings.TrimSpace(req.Operator) == "" || strings.TrimSpace(req.Note) == "") {
		return reject(o, ReasonManualIncomplete, wb, "manual confirmation needs operator and note")
	}
	if req.Action == ActCancel {
		return applyCancel(o, req, wb)
	}
	if (req.Action == ActPrint || req.Action == ActPickup) && o.Intercepted() {
		// Even a manual confirmation: a supervisor resolves the intercept first (Resolve).
		return reject(o, ReasonIntercepted, wb, "intercept requested: "+o.Intercept.Reason)
	}
	if o.State == Cancelled {
		return reject(o, ReasonCancelled, wb, "order is cancelled")
	}
	switch req.Action {
	case ActBalancePaid:
		return applyBalancePaid(o, req, wb)
	case ActRelease:
		return applyRelease(o, req, wb)
	case ActPrint:
		return applyPrint(o, req, wb)
	case ActPickup:
		return applyPickup(o, req, wb)
	}
	return reject(o, ReasonUnsupported, wb, fmt.Sprintf("unknown action %q", req.Action))
}

// applyCancel: any state before 已揽收 → 已取消.
func applyCancel(o Order, req Request, wb string) Outcome {
	switch o.State {
	case Cancelled:
		return done(o, wb)
	case PickedUp:
		return reject(o, ReasonAlreadyPickedUp, wb, "cannot cancel a parcel the courier already has")
	}
	return accept(o, enter(o, Cancelled, req.At), wb)
}

// applyBalancePaid: 待付尾款 → 待分仓, or 暂停进入 while intake is held.
func applyBalancePaid(o Order, req Request, wb string) Outcome {
	if o.State != AwaitingBalance {
		return done(o, wb)
	}
	to := PendingAllocation
	if req.Hold {
		to = Held // released to 待分仓 in arrival order when the breaker closes
	}
	n := enter(o, to, req.At)
	if req.Hold {
		n.PendingSince = time.Time{}
	}
	n.Payment = PaymentFull
	if n.PaidAt.IsZero() {
		n.PaidAt = req.At
	}
	return accept(o, n, wb)
}

// applyRelease: 暂停进入 → 待分仓 when the breaker closes.
func applyRelease(o Order, req Request, wb string) Outcome {
	if o.State != Held {
		if o.State.rank() > Held.rank() {
			return done(o, wb)
		}
		return reject(o, ReasonWrongState, wb, "only held orders are released")
	}
	return accept(o, enter(o, PendingAllocation, req.At), wb)
}

// applyPrint: 待分仓 → 已打单, binding a waybill valid for the carrier (the assigned one, if any).
func applyPrint(o Order, req Request, wb string) Outcome {
	switch o.State {
	case AwaitingBalance:
		return reject(o, ReasonAwaitingBalance, wb, "")
	case Held:
		return reject(o, ReasonHeld, wb, "")
	case WaybillPrinted, PickedUp:
		if wb == "" || wb == o.Waybill {
			return done(o, o.Waybill)
		}
		return reject(o, ReasonWaybillMismatch, wb, fmt.Sprintf("order already printed with waybill %s", o.Waybill))
	}
	if wb == "" {
		wb = o.AssignedWaybill
	}
	if wb == "" {
		return reject(o, ReasonNoWaybill, wb, "")
	}
	carrier := req.Carrier
	if carrier == "" {
		carrier = o.Carrier
	}
	if err := waybill.Validate(carrier, wb); err != nil {
		return reject(o, ReasonWaybillInvalid, wb, err.Error())
	}
	if o.AssignedWaybill != "" && wb != waybill.Normalize(o.AssignedWaybill) {
		return reject(o, ReasonWaybillMismatch, wb, fmt.Sprintf("hub assigned %s", o.AssignedWaybill))
	}
	n := enter(o, WaybillPrinted, req.At)
	n.Waybill = wb
	n.PrintedAt = req.At
	lv := req.LabelVersion
	if lv == 0 {
		lv = o.Version
	}
	n.LabelVersion = max(n.LabelVersion, lv)
	if n.Carrier == "" {
		if c, ok := waybill.Detect(wb); ok {
			n.Carrier = c.Code
		}
	}
	return accept(o, n, wb)
}

// applyPickup: 已打单 → 已揽收; the scanned waybill must be the bound one.
func applyPickup(o Order, req Request, wb string) Outcome {
	switch o.State {
	case PickedUp:
		if wb == "" || wb == o.Waybill {
			return done(o, o.Waybill)
		}
		return reject(o, ReasonWaybillMismatch, wb, fmt.Sprintf("order picked up with waybill %s", o.Waybill))
	case WaybillPrinted:
	case AwaitingBalance:
		return reject(o, ReasonAwaitingBalance, wb, "")
	case Held:
		return reject(o, ReasonHeld, wb, "")
	default:
		return reject(o, ReasonNotPrinted, wb, "")
	}
	if wb == "" && req.Manual {
		wb = o.Waybill
	}
	if wb != o.Waybill {
		return reject(o, ReasonWaybillMismatch, wb, fmt.Sprintf("bound waybill is %s", o.Waybill))
	}
	outdated := ""
	if o.LabelOutdated {
		outdated = fmt.Sprintf("the label carries data version %d, the recipient or address changed in version %d", o.LabelVersion, o.AddressVersion)
		if !req.Manual {
			return reject(o, ReasonLabelOutdated, wb, outdated+": reprint it")
		}
	}
	if req.Pickup == PickupCarrierFirstScan {
		return recordHandover(o, wb, req.At)
	}
	n := enter(o, PickedUp, req.At)
	n.PickedUpAt = req.At
	out := accept(o, n, wb)
	if outdated != "" {
		out.Detail = outdated + ": handed over on a supervisor's confirmation"
	}
	return out
}

// Next is the action a manual confirmation of "the next step" performs from state s, if any.
func Next(s State) (Action, bool) {
	switch s {
	case AwaitingBalance:
		return ActBalancePaid, true
	case Held:
		return ActRelease, true
	case PendingAllocation:
		return ActPrint, true
	case WaybillPrinted:
		return ActPickup, true
	}
	return "", false
}

// Merge applies a state another agent or the hub already reached. It moves forward only (a lower or
// equal rank is AlreadyDone), binds the waybill it brings, and never leaves cancelled or picked_up.
func Merge(o Order, to State, wb string, at time.Time) Outcome {
	wb = waybill.Normalize(wb)
	if !to.Valid() {
		return reject(o, ReasonUnsupported, wb, fmt.Sprintf("unknown state %q", to))
	}
	if o.State == to || to.rank() <= o.State.rank() || o.State == PickedUp || (o.State == Cancelled && to != PickedUp) {
		if o.State == to && wb != "" && o.Waybill == "" && to.rank() >= WaybillPrinted.rank() {
			n := o
			n.Waybill = wb
			return accept(o, n, wb)
		}
		return done(o, wb)
	}
	if (to == WaybillPrinted || to == PickedUp) && wb == "" && o.Waybill == "" {
		return reject(o, ReasonNoWaybill, wb, "merge to a printed state without a waybill")
	}
	n := enter(o, to, at)
	if wb != "" {
		n.Waybill = wb
	}
	switch to {
	case WaybillPrinted:
		n.PrintedAt = at
	case PickedUp:
		if n.PrintedAt.IsZero() {
			n.PrintedAt = at
		}
		n.PickedUpAt = at
	}
	return accept(o, n, wb)
}
