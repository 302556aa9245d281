package intake_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"wedge/agent/config"
	"wedge/agent/intake"
	"wedge/agent/journal"
	"wedge/internal/clock"
	"wedge/order"
	"wedge/sync/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 1, 22, 8, 0, 0, 0, time.UTC)

type rig struct {
	t     *testing.T
	path  string
	clk   *clock.Fake
	store *journal.Store
	in    *intake.Intake
	ctx   context.Context

	mu       sync.Mutex
	catchups []uint64
}

func contract(t *testing.T) func(string, string) error {
	c, err := config.Parse("t.yaml", []byte("site: s\nagent: a\nchannels:\n  tmall: {order_no_pattern: \"^\\\\d{12,20}$\"}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.CheckOrderNo
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{t: t, path: filepath.Join(t.TempDir(), "wedge.db"), clk: clock.NewFake(t0), ctx: context.Background()}
	r.open()
	t.Cleanup(func() { r.in.Close(); r.store.Close() })
	return r
}

func (r *rig) open() {
	r.t.Helper()
	s, err := journal.Open(r.path, &journal.Options{Site: "sz01", Agent: "pack02", Clock: r.clk})
	if err != nil {
		r.t.Fatal(err)
	}
	r.store = s
	r.in, err = intake.New(r.ctx, s, intake.Options{Clock: r.clk, Contract: contract(r.t), RequestCatchup: func(since uint64) {
		r.mu.Lock()
		r.catchups = append(r.catchups, since)
		r.mu.Unlock()
	}})
	if err != nil {
		r.t.Fatal(err)
	}
}

// asked is the catch-up requests made so far.
func (r *rig) asked() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Sprint(r.catchups)
}

// waitAsked waits (the grace window's goroutine asks) until the requests are want, and returns
// what they are then.
func (r *rig) waitAsked(want string) string {
	r.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); r.asked() != want && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	return r.asked()
}

// apply applies an unauthenticated payload and returns the entries it wrote.
func (r *rig) apply(payload string) []wire.Entry {
	r.t.Helper()
	return r.applyWith(r.in.Apply, payload)
}

// applyAuthenticated applies a payload as one whose hub signature was verified.
func (r *rig) applyAuthenticated(payload string) []wire.Entry {
	r.t.Helper()
	return r.applyWith(r.in.ApplyAuthenticated, payload)
}

func (r *rig) applyWith(apply func(context.Context, []byte) error, payload string) []wire.Entry {
	r.t.Helper()
	before := r.store.LastSeq()
	if err := apply(r.ctx, []byte(payload)); err != nil {
		r.t.Fatalf("apply %s: %v", payload, err)
	}
	es, err := r.store.Entries(before, 1000, 1<<20)
	if err != nil {
		r.t.Fatal(err)
	}
	return es
}

func (r *rig) order(id string) (order.Order, bool) {
	o, ok, err := r.store.Order(id)
	if err != nil {
		r.t.Fatal(err)
	}
	return o, ok
}

func one(t *testing.T, es []wire.Entry, kind string, reason order.Reason) wire.Entry {
	t.Helper()
	if len(es) != 1 {
		t.Fatalf("want one entry, got %d: %+v", len(es), es)
	}
	e := es[0]
	if e.Kind != kind || e.Reason != string(reason) || e.Trigger != wire.TriggerHub {
		t.Fatalf("entry %s/%s (trigger %s), want %s/%s: %s", e.Kind, e.Reason, e.Trigger, kind, reason, e.Detail)
	}
	return e
}

const orderA = `{"type":"order","hseq":%d,"order_id":"A1","channel":"tmall","channel_order_no":"401234567890123","buyer_id":"b-1","ordered_at":"2026-01-22T07:00:00Z","paid_at":"2026-01-22T07:01:00Z","skus":["S2","S1"],"payment":"full","carrier":"sf"}`

func TestOrderIntakeIsIdempotent(t *testing.T) {
	r := newRig(t)
	e := one(t, r.apply(fmt.Sprintf(orderA, 0)), wire.KindIntake, "")
	if e.OrderID != "A1" || e.To != string(order.PendingAllocation) || e.Order == nil || e.Order.ChannelOrderNo != "401234567890123" {
		t.Fatalf("intake entry: %+v", e)
	}
	o, ok := r.order("A1")
	if !ok || o.State != order.PendingAllocation || o.PendingSince.IsZero() || o.Carrier != "sf" || !o.ReceivedAt.Equal(t0) {
		t.Fatalf("order: %+v", o)
	}
	if es := r.apply(fmt.Sprintf(orderA, 0)); len(es) != 0 {
		t.Fatalf("a repeat wrote %d entries", len(es))
	}
	// Same data with the SKUs in another order is the same order.
	same := strings.Replace(fmt.Sprintf(orderA, 0), `["S2","S1"]`, `["S1","S2"]`, 1)
	if es := r.apply(same); len(es) != 0 {
		t.Fatalf("a repeat with reordered SKUs wrote %d entries", len(es))
	}
	if byNo, ok, _ := r.store.FindOrder("401234567890123"); !ok || byNo.ID != "A1" {
		t.Fatal("order not found by its channel order no")
	}
}

func TestFingerprintAndDeposit(t *testing.T) {
	r := newRig(t)
	msg := `{"type":"order","channel":"Tmall","channel_order_no":"401234567890999","buyer_id":"b-2","ordered_at":"2026-01-22T07:00:00.000+08:00","skus":["X"],"payment":"deposit"}`
	e := one(t, r.apply(msg), wire.KindIntake, "")
	want := wire.Fingerprint("tmall", "401234567890999", "b-2", time.Date(2026, 1, 21, 23, 0, 0, 0, time.UTC), []string{"X"})
	if e.OrderID != want || e.To != string(order.AwaitingBalance) {
		t.Fatalf("fingerprint order: id %s (want %s), to %s", e.OrderID, want, e.To)
	}
	if es := r.apply(msg); len(es) != 0 {
		t.Fatal("fingerprinted repeat not idempotent")
	}
	e = one(t, r.apply(`{"type":"balance_paid","order_id":"`+want+`"}`), wire.KindStep, "")
	if e.From != string(order.AwaitingBalance) || e.To != string(order.PendingAllocation) {
		t.Fatalf("balance paid: %+v", e)
	}
	if es := r.apply(`{"type":"balance_paid","order_id":"` + want + `"}`); len(es) != 0 {
		t.Fatal("balance_paid repeat not idempotent")
	}
	one(t, r.apply(`{"type":"balance_paid","order_id":"ghost"}`), wire.KindReject, order.ReasonUnknownOrder)
}

func TestConflictAndContract(t *testing.T) {
	r := newRig(t)
	r.apply(fmt.Sprintf(orderA, 0))
	other := strings.Replace(fmt.Sprintf(orderA, 0), `"b-1"`, `"b-9"`, 1)
	e := one(t, r.apply(other), wire.KindReject, order.ReasonConflict)
	if e.OrderID != "A1" || !strings.Contains(e.Detail, "buyer_id") || e.Order == nil {
		t.Fatalf("conflict entry: %+v", e)
	}
	if o, _ := r.order("A1"); o.BuyerID != "b-1" {
		t.Fatal("a conflicting message changed the order")
	}
	bad := `{"type":"order","order_id":"C1","channel":"tmall","channel_order_no":"12345","buyer_id":"b","ordered_at":"2026-01-22T07:00:00Z","skus":["S"]}`
	e = one(t, r.apply(bad), wire.KindReject, order.ReasonContract)
	if e.OrderID != "C1" || e.Order == nil || e.Order.ChannelOrderNo != "12345" || !strings.Contains(e.Detail, "12345") {
		t.Fatalf("contract entry: %+v", e)
	}
	if _, ok := r.order("C1"); ok {
		t.Fatal("an order breaking the data contract was created")
	}
	// A channel without a contract passes (strict_channels is off) when its number meets the default
	// contract (at least 12 letters or digits); the short number is refused all the same.
	one(t, r.apply(strings.Replace(strings.Replace(bad, `"tmall"`, `"kuaishou"`, 1), `"12345"`, `"KS2026012200001"`, 1)), wire.KindIntake, "")
	short := strings.Replace(strings.Replace(bad, `"tmall"`, `"kuaishou"`, 1), `"C1"`, `"C2"`, 1)
	if e := one(t, r.apply(short), wire.KindReject, order.ReasonContract); !strings.Contains(e.Detail, "default_order_no_pattern") {
		t.Fatalf("default contract entry: %+v", e)
	}
}

func TestMalformedNeverCrashes(t *testing.T) {
	r := newRig(t)
	e := one(t, r.apply(`{"type":"order", oops`), wire.KindReject, order.ReasonMalformed)
	if !strings.Contains(e.Detail, "oops") {
		t.Fatalf("malformed entry without excerpt: %q", e.Detail)
	}
	huge := `[` + strings.Repeat(`"x`, 1<<18)
	e = one(t, r.apply(huge), wire.KindReject, order.ReasonMalformed)
	if len(e.Detail) > 3*intake.MaxExcerpt+100 {
		t.Fatalf("excerpt not bounded: %d bytes", len(e.Detail))
	}
	// One bad element does not hide the good ones.
	es := r.apply(`[{"type":"teleport","hseq":1},` + fmt.Sprintf(orderA, 2) + `,{"type":"waybill","hseq":3,"order_id":"A1"},"just a string",{"type":"cancel","hseq":4,"order_id":"A1","reason":"buyer"}]`)
	var kinds []string
	for _, e := range es {
		kinds = append(kinds, e.Kind+"/"+e.Reason)
	}
	want := "reject/malformed_message intake/ reject/malformed_message reject/malformed_message step/"
	if strings.Join(kinds, " ") != want {
		t.Fatalf("entries %v, want %s", kinds, want)
	}
	// Unauthenticated, the unreadable elements consume no sequence number: 1 and 3 stay missing and
	// a catch-up is asked for from 0. Signed by the hub, they count as seen (the hub sent them).
	if got := r.in.CatchupSince(); got != 0 {
		t.Fatalf("hseq after an unauthenticated batch with bad elements: %d, want 0", got)
	}
	r.clk.Advance(intake.DefaultGrace)
	if asked := r.waitAsked("[0]"); asked != "[0]" {
		t.Fatalf("catch-ups %s, want [0]", asked)
	}
	ra := newRig(t)
	if err := ra.in.ApplyAuthenticated(ra.ctx, []byte(`[{"type":"teleport","hseq":1},`+fmt.Sprintf(orderA, 2)+`,{"type":"waybill","hseq":3,"order_id":"A1"},"just a string",{"type":"cancel","hseq":4,"order_id":"A1","reason":"buyer"}]`)); err != nil {
		t.Fatal(err)
	}
	if got := ra.in.CatchupSince(); got != 4 {
		t.Fatalf("hseq after an authenticated batch with bad elements: %d, want 4 (bad elements count as seen)", got)
	}
	// Random garbage: never a panic, never an error, at most one entry each.
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 200; i++ {
		b := make([]byte, rng.Intn(300))
		rng.Read(b)
		if rng.Intn(2) == 0 && len(b) > 0 {
			b[0] = '['
		}
		before := r.store.LastSeq()
		r.clk.Advance(intake.JunkWindow) // one per window: within the junk budget, every one journaled
		if err := r.in.Apply(r.ctx, b); err != nil {
			t.Fatalf("garbage %q: %v", b, err)
		}
		if n := r.store.LastSeq() - before; n != 1 {
			t.Fatalf("garbage wrote %d entries", n)
		}
	}
	if st := r.in.Stats(); st.Malformed < 200 {
		t.Errorf("stats: %+v", st)
	}
}

func TestWaybillAndCancel(t *testing.T) {
	r := newRig(t)
	r.apply(fmt.Sprintf(orderA, 0))
	e := one(t, r.apply(`{"type":"waybill","order_id":"A1","carrier":"sf","waybill":"sf1234567890123"}`), wire.KindIntake, "")
	if e.Waybill != "SF1234567890123" || e.Carrier != "sf" {
		t.Fatalf("waybill entry: %+v", e)
	}
	if o, _ := r.order("A1"); o.AssignedWaybill != "SF1234567890123" {
		t.Fatalf("assigned: %+v", o)
	}
	if es := r.apply(`{"type":"waybill","order_id":"A1","carrier":"sf","waybill":"SF1234567890123"}`); len(es) != 0 {
		t.Fatal("waybill repeat not idempotent")
	}
	one(t, r.apply(`{"type":"waybill","order_id":"A1","carrier":"sf","waybill":"YT1234567890123"}`), wire.KindReject, order.ReasonWaybillInvalid)
	// Printed with the assigned one (via another agent's state), a different waybill is refused.
	one(t, r.apply(`{"type":"state","order_id":"A1","state":"waybill_printed","waybill":"SF1234567890123"}`), wire.KindMerge, "")
	one(t, r.apply(`{"type":"waybill","order_id":"A1","carrier":"sf","waybill":"SF1234567890999"}`), wire.KindReject, order.ReasonWaybillMismatch)
	e = one(t, r.apply(`{"type":"cancel","order_id":"A1","reason":"buyer changed mind"}`), wire.KindStep, "")
	if e.To != string(order.Cancelled) || e.Detail != "buyer changed mind" {
		t.Fatalf("cancel: %+v", e)
	}
	if es := r.apply(`{"type":"cancel","order_id":"A1","reason":"again"}`); len(es) != 0 {
		t.Fatal("cancel repeat not idempotent")
	}
	// A parcel the courier has cannot be cancelled.
	r.apply(`{"type":"state","order_id":"P1","state":"picked_up","waybill":"SF1234567890555"}`)
	one(t, r.apply(`{"type":"cancel","order_id":"P1","reason":"late"}`), wire.KindReject, order.ReasonAlreadyPickedUp)
}

func TestStateMerge(t *testing.T) {
	r := newRig(t)
	// Unknown order: a minimal record, so a handover here works for an order printed elsewhere.
	e := one(t, r.apply(`{"type":"state","order_id":"M1","state":"waybill_printed","waybill":"SF1234567890123"}`), wire.KindMerge, "")
	if e.From != "" || e.To != string(order.WaybillPrinted) || e.Waybill != "SF1234567890123" {
		t.Fatalf("merge of an unknown order: %+v", e)
	}
	if o, ok, _ := r.store.FindOrder("SF1234567890123"); !ok || o.ID != "M1" || o.State != order.WaybillPrinted {
		t.Fatalf("minimal record not found by waybill: %+v", o)
	}
	// Backwards and duplicate: nothing.
	for _, s := range []string{"pending_allocation", "waybill_printed", "awaiting_balance"} {
		if es := r.apply(`{"type":"state","order_id":"M1","state":"` + s + `"}`); len(es) != 0 {
			t.Fatalf("merge to %s wrote %+v", s, es)
		}
	}
	e = one(t, r.apply(`{"type":"state","order_id":"M1","state":"picked_up"}`), wire.KindMerge, "")
	if e.From != string(order.WaybillPrinted) || e.To != string(order.PickedUp) {
		t.Fatalf("forward merge: %+v", e)
	}
	// The order's data arriving later fills the minimal record without moving it back.
	msg := strings.Replace(fmt.Sprintf(orderA, 0), `"A1"`, `"M1"`, 1)
	one(t, r.apply(msg), wire.KindIntake, "")
	if o, _ := r.order("M1"); o.State != order.PickedUp || o.BuyerID != "b-1" {
		t.Fatalf("filled record: %+v", o)
	}
	one(t, r.apply(`{"type":"state","order_id":"M2","state":"shipped"}`), wire.KindReject, order.ReasonUnsupported)
	one(t, r.apply(`{"type":"state","order_id":"M3","state":"waybill_printed"}`), wire.KindReject, order.ReasonNoWaybill)
}

func TestHSeqGapAndCatchup(t *testing.T) {
	r := newRig(t)
	msg := func(h int) string {
		return fmt.Sprintf(`{"type":"state","hseq":%d,"order_id":"H%d","state":"pending_allocation"}`, h, h)
	}
	for h := 1; h <= 3; h++ {
		r.apply(msg(h))
	}
	if got := r.in.CatchupSince(); got != 3 {
		t.Fatalf("since %d, want 3", got)
	}
	if len(r.catchups) != 0 {
		t.Fatalf("catch-up without a gap: %v", r.catchups)
	}
	r.apply(msg(5))
	r.apply(msg(6))
	if got := r.asked(); got != "[]" {
		t.Fatalf("catch-up %s inside the grace window", got)
	}
	r.clk.Advance(intake.DefaultGrace)
	got := r.waitAsked("[3]")
	if got != "[3]" {
		t.Fatalf("catch-up requests %s, want [3] (once per gap)", got)
	}
	if r.in.CatchupSince() != 3 {
		t.Fatal("since moved past a gap")
	}
	// The replay fills the gap; already applied ones write nothing.
	es := r.apply("[" + msg(4) + "," + msg(5) + "," + msg(6) + "]")
	if len(es) != 1 || es[0].OrderID != "H4" {
		t.Fatalf("replay wrote %+v", es)
	}
	if r.in.CatchupSince() != 6 {
		t.Fatalf("since %d after the gap filled, want 6", r.in.CatchupSince())
	}
	// Replays of old messages write nothing at all, not even a second rejection.
	if es := r.apply(msg(2)); len(es) != 0 {
		t.Fatal("a replayed message was applied twice")
	}
	bad := `{"type":"order","hseq":7,"order_id":"V1","channel":"tmall","channel_order_no":"1","buyer_id":"b","ordered_at":"2026-01-22T07:00:00Z"}`
	one(t, r.apply(bad), wire.KindReject, order.ReasonContract)
	if es := r.apply(bad); len(es) != 0 {
		t.Fatalf("a replayed contract violation was journaled again: %+v", es)
	}
	if es := r.applyAuthenticated(`[{"type":"nope","hseq":8}]`); len(es) != 1 {
		t.Fatalf("malformed with hseq: %d entries", len(es))
	}
	if es := r.applyAuthenticated(`[{"type":"nope","hseq":8}]`); len(es) != 0 {
		t.Fatal("a replayed malformed message was journaled again")
	}
	// The sequence survives a restart.
	r.store.Close()
	r.open()
	if r.in.CatchupSince() != 8 {
		t.Fatalf("since after restart %d, want 8", r.in.CatchupSince())
	}
}

// FuzzApply: any payload is applied or journaled as malformed; Apply never panics and never fails
// while the journal works.
func FuzzApply(f *testing.F) {
	f.Add([]byte(fmt.Sprintf(orderA, 1)))
	f.Add([]byte(`[{"type":"state","order_id":"X","state":"picked_up","waybill":"SF1234567890123"},{"type":"cancel","order_id":"X"}]`))
	f.Add([]byte(`{"type":"waybill","order_id":"A1","carrier":"zz","waybill":"1"}`))
	f.Add([]byte(`[1,2,"x",null,{}]`))
	f.Add([]byte{0xff, 0xfe, '{'})
	s, err := journal.Open(filepath.Join(f.TempDir(), "wedge.db"), &journal.Options{Site: "s", Agent: "a"})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	in, err := intake.New(context.Background(), s, intake.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		if err := in.Apply(context.Background(), payload); err != nil {
			t.Fatalf("Apply(%q): %v", payload, err)
		}
	})
}

// TestCancelBeyondAGapIsNotLost: the order message is lost (hseq 2), its cancel (hseq 3) arrives
// first and is refused as unknown; the catch-up replay brings both in order and the cancel holds.
func TestCancelBeyondAGapIsNotLost(t *testing.T) {
	r := newRig(t)
	r.apply(`{"type":"state","hseq":1,"order_id":"Z0","state":"pending_allocation"}`)
	msg := strings.Replace(strings.Replace(fmt.Sprintf(orderA, 2), `"A1"`, `"Z1"`, 1), "401234567890123", "401234567890555", 1)
	cancel := `{"type":"cancel","hseq":3,"order_id":"Z1","reason":"buyer"}`
	one(t, r.apply(cancel), wire.KindReject, order.ReasonUnknownOrder)
	r.clk.Advance(intake.DefaultGrace)
	asked := r.waitAsked("[1]")
	if r.in.CatchupSince() != 1 || asked != "[1]" {
		t.Fatalf("since %d, catch-ups %s; want 1, [1]", r.in.CatchupSince(), asked)
	}
	r.apply("[" + msg + "," + cancel + "]")
	if o, ok := r.order("Z1"); !ok || o.State != order.Cancelled {
		t.Fatalf("order after the replay: %+v (the cancel was lost)", o)
	}
	if r.in.CatchupSince() != 3 {
		t.Fatalf("since %d after the replay, want 3", r.in.CatchupSince())
	}
}

// A sibling agent with a closed breaker reaches 待分仓 for an order this agent holds: the hub's state
// rebroadcast must not release it behind this agent's breaker. Printed elsewhere still merges.
func TestHeldIsNotReleasedByAStateMessage(t *testing.T) {
	r := newRig(t)
	r.store.Close()
	s, err := journal.Open(r.path, &journal.Options{Site: "sz01", Agent: "pack02", Clock: r.clk})
	if err != nil {
		t.Fatal(err)
	}
	r.store = s
	r.in, err = intake.New(r.ctx, s, intake.Options{Clock: r.clk, Contract: contract(t),
		IntakeState: func() order.State { return order.Held }})
	if err != nil {
		t.Fatal(err)
	}
	one(t, r.apply(fmt.Sprintf(orderA, 0)), wire.KindIntake, "")
	if o, _ := r.order("A1"); o.State != order.Held {
		t.Fatalf("order arrived while the breaker is open: %s, want held", o.State)
	}
	if es := r.apply(`{"type":"state","order_id":"A1","state":"pending_allocation"}`); len(es) != 0 {
		t.Fatalf("a sibling's pending_allocation released a held order: %+v", es)
	}
	if o, _ := r.order("A1"); o.State != order.Held {
		t.Fatalf("state %s, want held", o.State)
	}
	e := one(t, r.apply(`{"type":"state","order_id":"A1","state":"waybill_printed","waybill":"SF1234567890123"}`), wire.KindMerge, "")
	if e.From != string(order.Held) || e.To != string(order.WaybillPrinted) {
		t.Fatalf("printed elsewhere did not merge: %+v", e)
	}
}

// Junk carrying the hub's next sequence numbers (unauthenticated) must not make the hub's real
// orders and cancel look already applied: they still apply when they arrive, also after a restart,
// and a flood of junk grows the journal by a bounded amount (one summary note for the rest).
func TestJunkDoesNotSwallowRealMessages(t *testing.T) {
	r := newRig(t)
	var junk []string
	for i := 1; i <= 50; i++ {
		junk = append(junk, fmt.Sprintf(`{"type":"junk","hseq":%d}`, i))
	}
	before := r.store.LastSeq()
	if err := r.in.Apply(r.ctx, []byte("["+strings.Join(junk, ",")+"]")); err != nil {
		t.Fatal(err)
	}
	if n := r.store.LastSeq() - before; n != intake.JunkBurst {
		t.Fatalf("50 junk elements wrote %d entries, want the budget %d", n, intake.JunkBurst)
	}
	if st := r.in.Stats(); st.Malformed != 50 || st.Suppressed != 50-intake.JunkBurst {
		t.Fatalf("stats %+v", st)
	}
	if r.in.CatchupSince() != 0 {
		t.Fatalf("junk moved the hub sequence to %d", r.in.CatchupSince())
	}
	// The restart forgets nothing and junk left no position behind.
	r.store.Close()
	r.open()
	if r.in.CatchupSince() != 0 {
		t.Fatalf("after restart: since %d", r.in.CatchupSince())
	}
	// The real messages with those numbers arrive (live or by catch-up) and apply.
	one(t, r.apply(fmt.Sprintf(orderA, 1)), wire.KindIntake, "")
	one(t, r.apply(`{"type":"cancel","hseq":2,"order_id":"A1","reason":"buyer"}`), wire.KindStep, "")
	if o, ok := r.order("A1"); !ok || o.State != order.Cancelled {
		t.Fatalf("order after junk and the real cancel: %+v %v", o, ok)
	}
	if r.in.CatchupSince() != 2 {
		t.Fatalf("since %d, want 2", r.in.CatchupSince())
	}
	// The next window starts with one note about what was suppressed (the restart began a new
	// budget, so send junk past it again first).
	for i := 0; i < intake.JunkBurst+5; i++ {
		r.apply(`{"type":"junk","hseq":99}`)
	}
	r.clk.Advance(intake.JunkWindow)
	es := r.apply(`{"type":"junk","hseq":99}`)
	if len(es) != 2 || es[0].Kind != wire.KindNote || !strings.Contains(es[0].Detail, "5 unreadable") || es[1].Reason != string(order.ReasonMalformed) {
		t.Fatalf("next window: %+v", es)
	}
}

// Intake stores an order message exactly as order.FromMsg normalises it, the normaliser the hub
// stores with too (sync/hub's TestHubNormalisesLikeOrderFromMsg feeds it the same messages): carrier
// "SF" and "sf", a padded channel and unsorted SKUs give the same order at both ends.
func TestIntakeNormalisesLikeOrderFromMsg(t *testing.T) {
	r := newRig(t)
	upper := wire.OrderMsg{Type: wire.TypeOrder, OrderID: "O-SF", Channel: "  TMall ", ChannelOrderNo: " 202611110000000001 ", BuyerID: " b1 ",
		OrderedAt: wire.Time(t0.Add(-time.Hour)), SKUs: []string{"SKU-B", " SKU-A"}, Carrier: "SF",
		Waybill: " sf1234567890123", Recipient: "张**  138****5678"}
	lower := upper
	lower.OrderID, lower.Channel, lower.ChannelOrderNo, lower.BuyerID = "O-sf", "tmall", "202611110000000002", "b1"
	lower.SKUs, lower.Carrier, lower.Waybill = []string{"SKU-A", "SKU-B"}, "sf", "SF1234567890123"
	var got []order.Order
	for _, m := range []wire.OrderMsg{upper, lower} {
		b, _ := json.Marshal(m)
		one(t, r.apply(string(b)), wire.KindIntake, "")
		o, ok := r.order(m.OrderID)
		if !ok {
			t.Fatalf("order %s not stored", m.OrderID)
		}
		want := order.FromMsg(m)
		data := o
		data.State, data.StateSince, data.PendingSince, data.QueuedSince, data.ReceivedAt = "", time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if !reflect.DeepEqual(data, want) {
			t.Fatalf("intake stored\n%+v\nFromMsg gives\n%+v", data, want)
		}
		got = append(got, data)
	}
	a, b := got[0], got[1]
	if a.Channel != b.Channel || a.Carrier != b.Carrier || a.AssignedWaybill != b.AssignedWaybill || !reflect.DeepEqual(a.SKUs, b.SKUs) || a.BuyerID != b.BuyerID {
		t.Fatalf("the two spellings differ after intake:\n%+v\n%+v", a, b)
	}
}

// stateMsg is a state message with hub sequence h about order G<h>.
func stateMsg(h int) string {
	return fmt.Sprintf(`{"type":"state","hseq":%d,"order_id":"G%d","state":"pending_allocation"}`, h, h)
}

// TestGapFilledWithinGraceAsksNothing: hub replicas publish out of order, so hseq 3 may overtake
// 2. Intake applies 3, keeps its position at 1 (nothing counts as applied out of order), and when 2
// arrives within the grace window asks for no catch-up at all.
func TestGapFilledWithinGraceAsksNothing(t *testing.T) {
	r := newRig(t)
	r.apply(stateMsg(1))
	r.apply(stateMsg(3))
	if got := r.in.CatchupSince(); got != 1 {
		t.Fatalf("position %d after an overtaking message, want 1", got)
	}
	r.clk.Advance(intake.DefaultGrace - time.Millisecond)
	r.apply(stateMsg(2))
	if got := r.in.CatchupSince(); got != 3 {
		t.Fatalf("position %d after the gap filled, want 3", got)
	}
	r.clk.Advance(time.Hour)
	if n := r.clk.Waiters(); n != 0 {
		t.Fatalf("%d timers still armed after the gap closed", n)
	}
	if got, st := r.asked(), r.in.Stats(); got != "[]" || st.Catchups != 0 {
		t.Fatalf("catch-ups %s (stats %d), want none", got, st.Catchups)
	}
	if o, ok := r.order("G3"); !ok || o.State != order.PendingAllocation {
		t.Fatalf("G3 %+v, %v", o, ok)
	}
}

// TestGapNotFilledAsksOnceAfterGrace: a gap that stays open asks for exactly one catch-up, from
// the contiguous position, once the window is over; more messages beyond the gap ask nothing more.
func TestGapNotFilledAsksOnceAfterGrace(t *testing.T) {
	r := newRig(t)
	r.apply(stateMsg(1))
	r.apply(stateMsg(3))
	r.clk.Advance(intake.DefaultGrace / 2)
	r.apply(stateMsg(4)) // the window runs from the first sight of the gap
	r.clk.Advance(intake.DefaultGrace/2 - time.Millisecond)
	if got := r.asked(); got != "[]" {
		t.Fatalf("catch-up %s before the window is over", got)
	}
	r.clk.Advance(time.Millisecond)
	if got := r.waitAsked("[1]"); got != "[1]" {
		t.Fatalf("catch-ups %s, want [1]", got)
	}
	r.apply(stateMsg(5))
	r.clk.Advance(time.Hour)
	if got, st := r.asked(), r.in.Stats(); got != "[1]" || st.Catchups != 1 {
		t.Fatalf("catch-ups %s (stats %d), want exactly [1]", got, st.Catchups)
	}
	r.apply("[" + stateMsg(2) + "," + stateMsg(3) + "," + stateMsg(4) + "," + stateMsg(5) + "]")
	if got := r.in.CatchupSince(); got != 5 {
		t.Fatalf("position %d after the replay, want 5", got)
	}
}

// TestNegativeGraceAsksAtOnce keeps the old behaviour available.
func TestNegativeGraceAsksAtOnce(t *testing.T) {
	r := newRig(t)
	r.in.Close()
	var asked []uint64
	in, err := intake.New(r.ctx, r.store, intake.Options{Clock: r.clk, Grace: -1, RequestCatchup: func(s uint64) { asked = append(asked, s) }})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	for _, h := range []int{1, 3, 4} {
		if err := in.Apply(r.ctx, []byte(stateMsg(h))); err != nil {
			t.Fatal(err)
		}
	}
	if fmt.Sprint(asked) != "[1]" {
		t.Fatalf("catch-ups %v, want [1] at once", asked)
	}
}

// A cancel overtakes its order (two replicas published them): the cancel is refused as unknown and
// not counted as applied, so even when the order arrives within the grace window the gap stays open
// (hseq 3 was seen but not applied) and one catch-up brings the cancel again, which then holds.
func TestOvertakingCancelIsAskedForAgain(t *testing.T) {
	r := newRig(t)
	r.apply(`{"type":"state","hseq":1,"order_id":"Z0","state":"pending_allocation"}`)
	msg := strings.Replace(strings.Replace(fmt.Sprintf(orderA, 2), `"A1"`, `"Z1"`, 1), "401234567890123", "401234567890555", 1)
	cancel := `{"type":"cancel","hseq":3,"order_id":"Z1","reason":"buyer"}`
	one(t, r.apply(cancel), wire.KindReject, order.ReasonUnknownOrder)
	r.apply(msg)
	if got := r.in.CatchupSince(); got != 2 {
		t.Fatalf("position %d, want 2 (the refused cancel is not applied)", got)
	}
	r.clk.Advance(intake.DefaultGrace)
	if got := r.waitAsked("[2]"); got != "[2]" {
		t.Fatalf("catch-ups %s, want [2]", got)
	}
	r.apply("[" + cancel + "]")
	if o, ok := r.order("Z1"); !ok || o.State != order.Cancelled || r.in.CatchupSince() != 3 {
		t.Fatalf("after the replay: %+v, position %d", o, r.in.CatchupSince())
	}
}

// TestReplaysCommitNothing: a payload of elements already applied (valid, junk or reordered ones
// beyond a gap) is counted as no-ops and costs no journal commit; one whose elements apply but
// change nothing commits only the hub sequence it moves.
func TestReplaysCommitNothing(t *testing.T) {
	r := newRig(t)
	msg := func(h int) string {
		return fmt.Sprintf(`{"type":"state","hseq":%d,"order_id":"R%d","state":"pending_allocation"}`, h, h)
	}
	r.apply("[" + msg(1) + "," + msg(2) + "]")
	r.apply(msg(4)) // beyond a gap: applied, hseq stays 2
	commits, stats := r.store.Stats().Commits, r.in.Stats()
	// hseq 1 and 2 applied, 4 applied beyond the gap; the junk element carries an applied number.
	es := r.apply("[" + msg(2) + "," + msg(1) + `,{"type":"nope","hseq":2},` + msg(4) + "]")
	if len(es) != 0 {
		t.Fatalf("a replay wrote %+v", es)
	}
	if got := r.store.Stats().Commits; got != commits {
		t.Fatalf("a replay made %d commits", got-commits)
	}
	if got := r.in.Stats(); got.NoOps-stats.NoOps != 4 || got.Payloads-stats.Payloads != 1 || got.Rejected != stats.Rejected {
		t.Fatalf("stats after the replay %+v, before %+v", got, stats)
	}
	if r.in.CatchupSince() != 2 {
		t.Fatalf("since %d, want 2", r.in.CatchupSince())
	}
	// The gap is still there once the grace window is over: one catch-up, and the replay-only
	// payload in the window asked nothing more (once per gap).
	r.clk.Advance(intake.DefaultGrace)
	if got := r.waitAsked("[2]"); got != "[2]" {
		t.Fatalf("catch-up requests %s, want [2]", got)
	}
	// Filling the gap with a message that changes nothing still moves and stores the hub sequence.
	same := `{"type":"state","hseq":3,"order_id":"R1","state":"pending_allocation"}`
	if es := r.apply(same); len(es) != 0 {
		t.Fatalf("a no-op message wrote %+v", es)
	}
	r.store.Close()
	r.open()
	if r.in.CatchupSince() != 4 {
		t.Fatalf("since after restart %d, want 4", r.in.CatchupSince())
	}
}

// TestApplyAllIsOneCommit: payloads applied together take one commit and end where applying them
// one by one ends: the same entries, hub sequence, no-ops and catch-up request; junk without a
// signature consumes no hseq, signed junk does.
func TestApplyAllIsOneCommit(t *testing.T) {
	msg := func(h int) string {
		return fmt.Sprintf(`{"type":"state","hseq":%d,"order_id":"G%d","state":"pending_allocation"}`, h, h)
	}
	group := []intake.Payload{
		{Data: []byte("[" + msg(1) + "," + msg(2) + "]")},
		{Data: []byte(`[{"type":"nope","hseq":3}]`)},                           // unsigned junk: hseq 3 stays open
		{Data: []byte("[" + msg(2) + "," + msg(4) + "]"), Authenticated: true}, // a replay, then beyond the gap
		{Data: []byte(`[{"type":"nope","hseq":5}]`), Authenticated: true},      // signed junk consumes 5
	}
	run := func(together bool) (kinds []string, since uint64, st intake.Stats, commits uint64, catchups string) {
		r := newRig(t)
		c0 := r.store.Stats().Commits
		if together {
			if err := r.in.ApplyAll(r.ctx, group); err != nil {
				t.Fatal(err)
			}
		} else {
			for _, p := range group {
				apply := r.in.Apply
				if p.Authenticated {
					apply = r.in.ApplyAuthenticated
				}
				if err := apply(r.ctx, p.Data); err != nil {
					t.Fatal(err)
				}
			}
		}
		es, err := r.store.Entries(0, 100, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			kinds = append(kinds, e.Kind+"/"+e.OrderID)
		}
		r.clk.Advance(intake.DefaultGrace) // the gap left open asks once the grace window is over
		return kinds, r.in.CatchupSince(), r.in.Stats(), r.store.Stats().Commits - c0, r.waitAsked("[2]")
	}
	k1, s1, st1, c1, q1 := run(false)
	k2, s2, st2, c2, q2 := run(true)
	if fmt.Sprint(k1) != fmt.Sprint(k2) || s1 != s2 || st1.NoOps != st2.NoOps || st1.Applied != st2.Applied || st1.Rejected != st2.Rejected || q1 != q2 {
		t.Fatalf("one by one: %v since %d %+v catch-ups %s\ntogether: %v since %d %+v catch-ups %s", k1, s1, st1, q1, k2, s2, st2, q2)
	}
	if s2 != 2 || q2 != "[2]" {
		t.Fatalf("since %d, catch-ups %s: want 2 and [2] (unsigned junk leaves hseq 3 open)", s2, q2)
	}
	if c1 != 4 || c2 != 1 {
		t.Fatalf("commits one by one %d (want 4), together %d (want 1)", c1, c2)
	}
}
