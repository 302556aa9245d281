package order

import (
	"strings"
	"time"
	"unicode/utf8"

	"wedge/sync/wire"
)

// Source says who or what caused a change and where: it is copied into the change's journal entry,
// so every entry names its station, device, operator, trigger and the code that caused it.
type Source struct {
	Station  string
	Device   string
	Operator string
	Trigger  string // wire.Trigger*
	Code     string // the scanned code or the downlink message id (bounded by Excerpt)
	At       time.Time
}

// Entry returns the journal entry skeleton for a change from s (kind and order fields unset).
func (s Source) Entry() wire.Entry {
	return wire.Entry{Station: s.Station, Device: s.Device, Operator: s.Operator, Trigger: s.Trigger,
		Code: s.Code, At: wire.Time(s.At)}
}

// Decision is the whole result of one change of an order: what the operator is told, whether the
// order record changed (Store: the caller stores Outcome.Order), and the journal entry to append
// (unsealed; Entry.Kind == "" means there is nothing to journal, e.g. an idempotent repeat of a hub
// message). The caller does the I/O; commit a Decision with the journal's Tx.Commit.
type Decision struct {
	Outcome Outcome
	Store   bool
	Entry   wire.Entry
}

// Journaled reports whether the decision has an entry to append.
func (d Decision) Journaled() bool { return d.Entry.Kind != "" }

// Decide applies req to o on behalf of src: Apply's outcome plus its journal entry (OutcomeEntry).
func Decide(o Order, req Request, src Source) Decision {
	out := Apply(o, req)
	return Decision{Outcome: out, Store: out.Result == Accepted || out.Result == Recorded, Entry: OutcomeEntry(src.Entry(), out)}
}

// Refuse is the decision for an attempt refused before any rule ran (an unknown code, a printer
// fault): a reject entry with reason r, the order unchanged.
func Refuse(o Order, r Reason, wb, detail string, src Source) Decision {
	out := Outcome{Result: Rejected, Reason: r, From: o.State, To: o.State, Order: o, Waybill: wb, Detail: detail}
	return Decision{Outcome: out, Entry: OutcomeEntry(src.Entry(), out)}
}

// OutcomeEntry is the journal entry for an outcome: a step entry when the order moved, a reject
// entry when refused, and, for an idempotent repeat, a note entry (a scan still leaves a trace).
// base carries station, device, operator, trigger, code and time.
func OutcomeEntry(base wire.Entry, out Outcome) wire.Entry {
	e := base
	e.OrderID = out.Order.ID
	e.From, e.To = string(out.From), string(out.To)
	e.Waybill = out.Waybill
	e.Carrier = out.Order.Carrier
	switch out.Result {
	case Accepted:
		e.Kind = wire.KindStep
		e.Waybill = out.Order.Waybill
		e.LabelVersion = out.Order.LabelVersion // siblings learn which data the label carries
		e.Detail = Excerpt(out.Detail, MaxExcerpt)
	case AlreadyDone:
		e.Kind = wire.KindNote
		e.Detail = "already done: repeat scan, no change"
	case Recorded:
		e.Kind = wire.KindNote
		e.Reason = NoteHandedOver
		e.Waybill = out.Order.Waybill
		e.Detail = Excerpt(out.Detail, MaxExcerpt)
	default:
		e.Kind = wire.KindReject
		e.Reason = string(out.Reason)
		e.Detail = Excerpt(out.Detail, MaxExcerpt)
	}
	return e
}

// MaxExcerpt bounds free text that input puts into the journal (a scanned code, a detail).
const MaxExcerpt = 256

// Excerpt returns s cut to at most max bytes at a UTF-8 boundary (with "…" when cut), invalid UTF-8
// replaced, so bad input never bloats or breaks a journal entry.
func Excerpt(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
