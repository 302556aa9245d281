package order

import (
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	wbSF  = "SF1234567890123" // valid SF Express
	wbSF2 = "SF1234567890999"
)

// step is the position on the forward path (cancelled is off the path).
func step(s State) int {
	return map[State]int{AwaitingBalance: 0, Held: 0, PendingAllocation: 1, WaybillPrinted: 2, PickedUp: 3, Cancelled: -9}[s]
}

var t0 = time.Date(2026, 1, 22, 8, 0, 0, 0, time.UTC)

// order returns an SF order in state s; printed states have wbSF bound.
func order(s State) Order {
	o := Order{ID: "O1", Carrier: "sf", State: s, StateSince: t0, SKUs: []string{"A", "B"}}
	if s == WaybillPrinted || s == PickedUp {
		o.Waybill = wbSF
	}
	return o
}

// TestEveryActionInEveryState pins the whole table: every action from every state.
func TestEveryActionInEveryState(t *testing.T) {
	type want struct {
		res    Result
		to     State
		reason Reason
	}
	acc := func(s State) want { return want{Accepted, s, ""} }
	done := func(s State) want { return want{AlreadyDone, s, ""} }
	rej := func(r Reason) want { return want{res: Rejected, reason: r} }
	table := map[Action]map[State]want{
		ActCancel: {
			AwaitingBalance: acc(Cancelled), Held: acc(Cancelled), PendingAllocation: acc(Cancelled),
			WaybillPrinted: acc(Cancelled), PickedUp: rej(ReasonAlreadyPickedUp), Cancelled: done(Cancelled),
		},
		ActBalancePaid: {
			AwaitingBalance: acc(PendingAllocation), Held: done(Held), PendingAllocation: done(PendingAllocation),
			WaybillPrinted: done(WaybillPrinted), PickedUp: done(PickedUp), Cancelled: rej(ReasonCancelled),
		},
		ActRelease: {
			AwaitingBalance: rej(ReasonWrongState), Held: acc(PendingAllocation), PendingAllocation: done(PendingAllocation),
			WaybillPrinted: done(WaybillPrinted), PickedUp: done(PickedUp), Cancelled: rej(ReasonCancelled),
		},
		ActPrint: {
			AwaitingBalance: rej(ReasonAwaitingBalance), Held: rej(ReasonHeld), PendingAllocation: acc(WaybillPrinted),
			WaybillPrinted: done(WaybillPrinted), PickedUp: done(PickedUp), Cancelled: rej(ReasonCancelled),
		},
		ActPickup: {
			AwaitingBalance: rej(ReasonAwaitingBalance), Held: rej(ReasonHeld), PendingAllocation: rej(ReasonNotPrinted),
			WaybillPrinted: acc(PickedUp), PickedUp: done(PickedUp), Cancelled: rej(ReasonCancelled),
		},
	}
	at := t0.Add(time.Minute)
	for act, row := range table {
		for _, s := range States {
			w, ok := row[s]
			if !ok {
				t.Fatalf("table misses %s × %s", act, s)
			}
			o := order(s)
			out := Apply(o, Request{Action: act, Waybill: wbSF, At: at})
			if out.Result != w.res {
				t.Errorf("%s from %s: result %s, want %s (%s %s)", act, s, out.Result, w.res, out.Reason, out.Detail)
				continue
			}
			if out.From != s {
				t.Errorf("%s from %s: From=%s", act, s, out.From)
			}
			switch w.res {
			case Rejected:
				if out.Reason != w.reason {
					t.Errorf("%s from %s: reason %s, want %s", act, s, out.Reason, w.reason)
				}
				if out.To != s || out.Order.State != s {
					t.Errorf("%s from %s: a rejection moved the order to %s", act, s, out.Order.State)
				}
			case AlreadyDone:
				if out.To != s || out.Order.State != s || out.Order.StateSince != t0 {
					t.Errorf("%s from %s: an idempotent repeat changed the order: %+v", act, s, out.Order)
				}
			case Accepted:
				if out.To != w.to || out.Order.State != w.to || !out.Order.StateSince.Equal(at) {
					t.Errorf("%s from %s: to %s (order %s since %s), want %s", act, s, out.To, out.Order.State, out.Order.StateSince, w.to)
				}
				// Steps never skip: a step moves at most one rank (cancel is the only jump).
				if act != ActCancel && step(w.to)-step(s) != 1 {
					t.Errorf("%s from %s skips to %s", act, s, w.to)
				}
				// Repeating the same attempt on the result is idempotent.
				again := Apply(out.Order, Request{Action: act, Waybill: wbSF, At: at.Add(time.Second)})
				if again.Result != AlreadyDone || again.Order.State != out.Order.State {
					t.Errorf("%s repeated after %s→%s: %s %s", act, s, w.to, again.Result, again.Reason)
				}
			}
			if m := out.Message(); m.ZH == "" || m.EN == "" {
				t.Errorf("%s from %s: empty message %+v", act, s, m)
			}
		}
	}
}

func TestPrintDetails(t *testing.T) {
	pa := order(PendingAllocation)
	out := Apply(pa, Request{Action: ActPrint, Waybill: " sf1234567890123 ", Operator: "OP-li", At: t0})
	if out.Result != Accepted || out.Order.Waybill != wbSF || !out.Order.PrintedAt.Equal(t0) || out.Waybill != wbSF {
		t.Errorf("print binds the normalised waybill: %+v", out)
	}
	if out := Apply(pa, Request{Action: ActPrint, Waybill: "YT1234567890123"}); out.Reason != ReasonWaybillInvalid || out.Detail == "" {
		t.Errorf("YTO number on an SF order: %s %q", out.Reason, out.Detail)
	}
	if out := Apply(pa, Request{Action: ActPrint}); out.Reason != ReasonNoWaybill {
		t.Errorf("print without any waybill: %s", out.Reason)
	}
	assigned := pa
	assigned.AssignedWaybill = wbSF
	if out := Apply(assigned, Request{Action: ActPrint}); out.Result != Accepted || out.Order.Waybill != wbSF {
		t.Errorf("print without a scanned waybill uses the assigned one: %+v", out)
	}
	if out := Apply(assigned, Request{Action: ActPrint, Waybill: wbSF2}); out.Reason != ReasonWaybillMismatch {
		t.Errorf("a label other than the assigned waybill: %s", out.Reason)
	}
	if out := Apply(order(WaybillPrinted), Request{Action: ActPrint, Waybill: wbSF2}); out.Reason != ReasonWaybillMismatch {
		t.Errorf("reprint with another waybill: %s", out.Reason)
	}
	noCarrier := pa
	noCarrier.Carrier = ""
	out = Apply(noCarrier, Request{Action: ActPrint, Waybill: "YT1234567890123"})
	if out.Result != Accepted || out.Order.Carrier != "yto" {
		t.Errorf("carrier detected from the waybill: %+v", out.Order)
	}
	if out := Apply(noCarrier, Request{Action: ActPrint, Waybill: "HELLO"}); out.Reason != ReasonWaybillInvalid {
		t.Errorf("garbage waybill: %s", out.Reason)
	}
	// Apply never mutates the caller's order.
	skus := pa.SKUs
	n := Apply(pa, Request{Action: ActPrint, Waybill: wbSF}).Order
	n.SKUs[0] = "changed"
	if skus[0] != "A" {
		t.Error("Apply shares the SKU slice with its input")
	}
}

func TestPickupDetails(t *testing.T) {
	wp := order(WaybillPrinted)
	if out := Apply(wp, Request{Action: ActPickup, Waybill: wbSF2}); out.Reason != ReasonWaybillMismatch || out.Order.State != WaybillPrinted {
		t.Errorf("pickup with another waybill: %+v", out)
	}
	if out := Apply(wp, Request{Action: ActPickup}); out.Reason != ReasonWaybillMismatch {
		t.Errorf("a non-manual pickup without a waybill: %s", out.Reason)
	}
	if out := Apply(order(PickedUp), Request{Action: ActPickup, Waybill: wbSF2}); out.Reason != ReasonWaybillMismatch {
		t.Errorf("picked-up order, other waybill: %s", out.Reason)
	}
	out := Apply(wp, Request{Action: ActPickup, Waybill: wbSF, At: t0.Add(time.Hour)})
	if out.Result != Accepted || !out.Order.PickedUpAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("pickup: %+v", out)
	}
}

func TestManualNeedsOperatorAndNote(t *testing.T) {
	for _, s := range States {
		act, ok := Next(s)
		if !ok {
			if s != PickedUp && s != Cancelled {
				t.Errorf("no next action from %s", s)
			}
			continue
		}
		o := order(s)
		o.AssignedWaybill = ""
		for _, req := range []Request{
			{Action: act, Manual: true},
			{Action: act, Manual: true, Operator: "OP-li"},
			{Action: act, Manual: true, Note: "label torn"},
			{Action: act, Manual: true, Operator: "  ", Note: "x"},
		} {
			if out := Apply(o, req); out.Reason != ReasonManualIncomplete {
				t.Errorf("manual %s from %s with %+v: %s", act, s, req, out.Result)
			}
		}
		req := Request{Action: act, Manual: true, Operator: "OP-li", Note: "supervisor checked", Waybill: o.Waybill}
		if act == ActPrint {
			req.Waybill = wbSF
		}
		out := Apply(o, req)
		if out.Result != Accepted || step(out.To) != step(s)+1 {
			t.Errorf("manual next step from %s: %s %s %s", s, out.Result, out.Reason, out.Detail)
		}
	}
	// A manual pickup may omit the waybill: the bound one is used.
	if out := Apply(order(WaybillPrinted), Request{Action: ActPickup, Manual: true, Operator: "OP-li", Note: "label unreadable"}); out.Result != Accepted {
		t.Errorf("manual pickup without waybill: %s %s", out.Result, out.Reason)
	}
	if _, ok := Next(PickedUp); ok {
		t.Error("picked_up has no next step")
	}
}

func TestUnknownActionIsRejected(t *testing.T) {
	out := Apply(order(PendingAllocation), Request{Action: "teleport"})
	if out.Reason != ReasonUnsupported || out.Order.State != PendingAllocation {
		t.Errorf("unknown action: %+v", out)
	}
}

// TestMergeNeverBackwards checks every pair of states: a merge never lowers the rank, never leaves
// picked_up, and leaves cancelled only for picked_up.
func TestMergeNeverBackwards(t *testing.T) {
	at := t0.Add(time.Hour)
	for _, from := range States {
		for _, to := range States {
			o := order(from)
			out := Merge(o, to, wbSF, at)
			got := out.Order.State
			if got.rank() < from.rank() {
				t.Errorf("merge %s ← %s moved backwards to %s", from, to, got)
			}
			if from == PickedUp && got != PickedUp {
				t.Errorf("merge left picked_up for %s", got)
			}
			if from == Cancelled && got != Cancelled && got != PickedUp {
				t.Errorf("merge left cancelled for %s", got)
			}
			wantMove := to.rank() > from.rank() && from != PickedUp && !(from == Cancelled && to != PickedUp)
			if wantMove != (out.Result == Accepted && got != from) {
				t.Errorf("merge %s ← %s: result %s to %s (want move=%v)", from, to, out.Result, got, wantMove)
			}
			// Merging the same state again is a no-op.
			if again := Merge(out.Order, to, wbSF, at.Add(time.Minute)); again.Result == Accepted && again.Order.State != out.Order.State {
				t.Errorf("second merge %s ← %s moved again", out.Order.State, to)
			}
		}
	}
	// Jumps are allowed for merges (the other journal holds the steps) and bind the waybill.
	out := Merge(order(PendingAllocation), PickedUp, wbSF, at)
	if out.Result != Accepted || out.Order.Waybill != wbSF || out.Order.PrintedAt.IsZero() || out.Order.PickedUpAt.IsZero() {
		t.Errorf("merge pending → picked_up: %+v", out.Order)
	}
	if out := Merge(order(PendingAllocation), WaybillPrinted, "", at); out.Reason != ReasonNoWaybill {
		t.Errorf("merge to printed without a waybill: %s", out.Reason)
	}
	if out := Merge(order(PendingAllocation), "lost", "", at); out.Reason != ReasonUnsupported {
		t.Errorf("merge to an unknown state: %s", out.Reason)
	}
	// Same state, learning the waybill.
	wp := order(WaybillPrinted)
	wp.Waybill = ""
	if out := Merge(wp, WaybillPrinted, wbSF, at); out.Result != Accepted || out.Order.Waybill != wbSF || out.Order.State != WaybillPrinted {
		t.Errorf("merge learns the waybill: %+v", out)
	}
	// Duplicates and reordering are harmless: any order of the same merges ends in the same state.
	seq := []State{WaybillPrinted, PendingAllocation, PickedUp, WaybillPrinted, Cancelled}
	final := func(ss []State) State {
		o := order(PendingAllocation)
		for _, s := range ss {
			o = Merge(o, s, wbSF, at).Order
		}
		return o.State
	}
	want := final(seq)
	for i := 0; i < 20; i++ {
		p := slices.Clone(seq)
		for j := range p {
			k := (i*7 + j*3) % len(p)
			p[j], p[k] = p[k], p[j]
		}
		if got := final(p); got != want {
			t.Errorf("merge order %v ends %s, %v ends %s", seq, want, p, got)
		}
	}
}

func TestReasonsHaveMessages(t *testing.T) {
	reasons := []Reason{ReasonUnknownOrder, ReasonUnknownCode, ReasonWrongState, ReasonNotPrinted, ReasonWaybillInvalid,
		ReasonWaybillMismatch, ReasonUnknownWaybill, ReasonNoWaybill, ReasonCancelled, ReasonAlreadyPickedUp,
		ReasonAwaitingBalance, ReasonHeld, ReasonNoOrderScanned, ReasonPairingExpired, ReasonManualIncomplete,
		ReasonContract, ReasonMalformed, ReasonConflict, ReasonPrinterFault, ReasonLabelOutdated, ReasonIntercepted, ReasonNoIntercept}
	seen := map[string]Reason{}
	for _, r := range reasons {
		m := r.Message(PendingAllocation)
		if m.ZH == "" || m.EN == "" || strings.HasPrefix(m.EN, "Unsupported") {
			t.Errorf("%s has no proper message: %+v", r, m)
		}
		if prev, dup := seen[m.EN]; dup {
			t.Errorf("%s and %s share the message %q", r, prev, m.EN)
		}
		seen[m.EN] = r
	}
}

func TestStates(t *testing.T) {
	for _, s := range States {
		p, err := ParseState(" " + string(s) + " ")
		if err != nil || p != s || s.LabelZH() == string(s) || s.LabelEN() == "" || !strings.Contains(s.Label(), string(s)) {
			t.Errorf("state %s: %v %q", s, err, s.Label())
		}
	}
	if _, err := ParseState("shipped"); err == nil {
		t.Error("unknown state parsed")
	}
}
