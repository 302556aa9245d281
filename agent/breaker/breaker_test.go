package breaker

import (
	"errors"
	"testing"
	"time"

	"wedge/internal/clock"
	"wedge/order"
	"wedge/sync/wire"
)

var t0 = time.Date(2026, 11, 11, 0, 0, 0, 0, time.UTC)

func newB(t *testing.T, clk clock.Clock) *Breaker {
	t.Helper()
	b, err := New(Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDefaultsAndValidation(t *testing.T) {
	b := newB(t, clock.NewFake(t0))
	th := b.State().Thresholds
	if th != (order.Thresholds{MaxBacklog: 200, MaxAvgWait: 8 * time.Minute, CloseRatio: 0.8, CloseAfter: time.Minute}) {
		t.Fatalf("defaults = %+v", th)
	}
	for _, o := range []Options{{MaxBacklog: -1}, {MaxAvgWait: -time.Second}, {CloseRatio: 1.5}, {CloseRatio: -0.1}, {CloseAfter: -1}} {
		if _, err := New(o); !errors.Is(err, order.ErrThresholds) {
			t.Errorf("New(%+v) err = %v, want order.ErrThresholds", o, err)
		}
	}
}

func TestOpensOnThresholds(t *testing.T) {
	for _, tc := range []struct {
		name    string
		backlog int
		wait    time.Duration
		open    bool
		why     string
	}{
		{"at limits stays closed", 200, 8 * time.Minute, false, ""},
		{"backlog over", 201, 0, true, WhyBacklog},
		{"wait over", 10, 8*time.Minute + time.Second, true, WhyAvgWait},
		{"both over reports backlog", 500, time.Hour, true, WhyBacklog},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newB(t, clock.NewFake(t0))
			tr := b.Observe(tc.backlog, tc.wait)
			if tr.Changed() != tc.open || b.Open() != tc.open {
				t.Fatalf("changed=%v open=%v, want %v", tr.Changed(), b.Open(), tc.open)
			}
			if !tc.open {
				if b.IntakeState() != order.PendingAllocation {
					t.Fatal("closed breaker must admit orders to pending")
				}
				return
			}
			if tr.Event != EventOpen || tr.Reason != tc.why || !tr.Open || !tr.At.Equal(t0) || tr.Backlog != tc.backlog {
				t.Fatalf("transition = %+v", tr)
			}
			if b.IntakeState() != order.Held {
				t.Fatal("open breaker must hold new orders")
			}
			if st := b.State(); st.Why != tc.why || !st.Since.Equal(t0) {
				t.Fatalf("state = %+v", st)
			}
			// A second observation over the limit is not another transition.
			if b.Observe(tc.backlog, tc.wait).Changed() {
				t.Fatal("open twice")
			}
		})
	}
}

func TestHysteresisAndNoFlapping(t *testing.T) {
	clk := clock.NewFake(t0)
	b := newB(t, clk)
	b.Observe(201, 0)
	// Under the limit but above 80% (160): stays open however long.
	for range 10 {
		clk.Advance(time.Minute)
		if b.Observe(170, time.Minute).Changed() {
			t.Fatal("closed above the close ratio")
		}
	}
	// Below 80% for 59 s, then one blip above: the period restarts.
	if b.Observe(150, time.Minute).Changed() {
		t.Fatal("closed at once")
	}
	clk.Advance(59 * time.Second)
	if b.Observe(150, time.Minute).Changed() {
		t.Fatal("closed before CloseAfter")
	}
	clk.Advance(time.Second)
	if b.Observe(165, time.Minute).Changed() { // blip above the ratio
		t.Fatal("closed on a blip")
	}
	clk.Advance(30 * time.Second)
	b.Observe(150, time.Minute) // below again, period starts here
	clk.Advance(59 * time.Second)
	if b.Observe(150, time.Minute).Changed() {
		t.Fatal("blip did not restart the close period")
	}
	// Average wait above 80% of 8 min (6m24s) keeps it open even with a small backlog.
	clk.Advance(time.Minute)
	if b.Observe(10, 7*time.Minute).Changed() {
		t.Fatal("closed with avg wait above the ratio")
	}
	b.Observe(10, time.Minute)
	clk.Advance(time.Minute)
	tr := b.Observe(10, time.Minute)
	if tr.Event != EventClose || tr.Open || b.Open() {
		t.Fatalf("did not close after a full minute below: %+v", tr)
	}
	if e := tr.Entry(); e.Kind != wire.KindBreaker || e.From != "open" || e.To != "closed" || e.Trigger != wire.TriggerSystem {
		t.Fatalf("entry = %+v", e)
	}
	// Reopens as soon as a limit is passed again (no grace after an automatic close).
	if !b.Observe(201, 0).Changed() {
		t.Fatal("did not reopen")
	}
}

func TestManualReset(t *testing.T) {
	clk := clock.NewFake(t0)
	b := newB(t, clk)
	if _, err := b.Reset("王主管", "误报"); !errors.Is(err, ErrNotOpen) {
		t.Fatalf("reset closed: %v", err)
	}
	b.Observe(300, 0)
	for _, c := range [][2]string{{"", "x"}, {"王主管", " "}} {
		if _, err := b.Reset(c[0], c[1]); !errors.Is(err, ErrNoReason) {
			t.Fatalf("reset %q: %v", c, err)
		}
	}
	if !b.Open() {
		t.Fatal("a refused reset closed the breaker")
	}
	clk.Advance(time.Minute)
	tr, err := b.Reset("王主管", "加派人手")
	if err != nil || tr.Event != EventReset || tr.By != "王主管" || tr.Reason != "加派人手" || b.Open() {
		t.Fatalf("reset = %+v, %v", tr, err)
	}
	e := tr.Entry()
	if e.Trigger != wire.TriggerManual || e.Operator != "王主管" || e.Reason != "加派人手" || e.To != "closed" {
		t.Fatalf("entry = %+v", e)
	}
	// Grace: the released backlog does not trip it again for CloseAfter.
	clk.Advance(30 * time.Second)
	if b.Observe(300, 0).Changed() {
		t.Fatal("reopened during the reset grace")
	}
	clk.Advance(30 * time.Second)
	if tr := b.Observe(300, 0); tr.Event != EventOpen {
		t.Fatalf("did not reopen after the grace: %+v", tr)
	}
}

func TestSetThresholds(t *testing.T) {
	clk := clock.NewFake(t0)
	b := newB(t, clk)
	if _, err := b.SetThresholds("hub", "x", order.Thresholds{MaxBacklog: -5}); !errors.Is(err, order.ErrThresholds) {
		t.Fatal(err)
	}
	if _, err := b.SetThresholds("", "x", order.Thresholds{MaxBacklog: 50}); !errors.Is(err, order.ErrThresholds) {
		t.Fatal("anonymous change accepted")
	}
	tr, err := b.SetThresholds("hub", "双十一", order.Thresholds{MaxBacklog: 50})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Event != EventThresholds || tr.Previous == nil || tr.Previous.MaxBacklog != 200 || tr.Thresholds.MaxBacklog != 50 || tr.Thresholds.MaxAvgWait != order.DefaultMaxAvgWait {
		t.Fatalf("transition = %+v", tr)
	}
	if e := tr.Entry(); e.Trigger != wire.TriggerHub || e.Kind != wire.KindBreaker || e.From != e.To {
		t.Fatalf("entry = %+v", e)
	}
	if tr.Message().ZH == "" || tr.Message().EN == "" {
		t.Fatal("no message")
	}
	if tr := b.Observe(51, 0); tr.Event != EventOpen || tr.Thresholds.MaxBacklog != 50 {
		t.Fatalf("new threshold not applied: %+v", tr)
	}
	// Raising the limit while open: it closes only after the close period under the new limit.
	b.SetThresholds("hub", "恢复", order.Thresholds{MaxBacklog: 200})
	b.Observe(51, 0)
	clk.Advance(time.Minute)
	if tr := b.Observe(51, 0); tr.Event != EventClose {
		t.Fatalf("did not close under the raised limit: %+v", tr)
	}
}

func TestRestore(t *testing.T) {
	clk := clock.NewFake(t0)
	b := newB(t, clk)
	b.Observe(201, 0)
	saved := b.State()
	b2, err := New(Options{Clock: clk, Initial: &saved})
	if err != nil {
		t.Fatal(err)
	}
	if !b2.Open() || b2.State().Why != WhyBacklog {
		t.Fatal("open state lost across a restart")
	}
}

func TestMessages(t *testing.T) {
	for _, ev := range []string{EventOpen, EventClose, EventReset, EventThresholds} {
		m := Transition{Event: ev, Reason: WhyAvgWait, By: "a"}.Message()
		if m.ZH == "" || m.EN == "" {
			t.Errorf("%s: empty message", ev)
		}
	}
}

func TestBacklogStats(t *testing.T) {
	now := t0.Add(time.Hour)
	orders := []order.Order{
		{ID: "a", State: order.PendingAllocation, PendingSince: now.Add(-10 * time.Minute)},
		{ID: "b", State: order.PendingAllocation, StateSince: now.Add(-20 * time.Minute), Overdue: true},
		{ID: "c", State: order.Held, ReceivedAt: now.Add(-time.Hour)},
		{ID: "d", State: order.WaybillPrinted},
	}
	s := Backlog(orders, now)
	if s.Backlog != 2 || s.Held != 1 || s.AvgWait != 15*time.Minute || s.OldestWait != 20*time.Minute || s.Overdue != 1 {
		t.Fatalf("stats = %+v", s)
	}
	if Backlog(nil, now) != (Stats{}) {
		t.Fatal("empty")
	}
}

func TestReleaseOrder(t *testing.T) {
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	held := []Held{
		{order.Order{ID: "late", ReceivedAt: at(5)}, 9},
		{order.Order{ID: "tie-seq2", ReceivedAt: at(1)}, 2},
		{order.Order{ID: "first", ReceivedAt: at(0)}, 7},
		{order.Order{ID: "tie-seq1", ReceivedAt: at(1)}, 1},
		{order.Order{ID: "z-same", ReceivedAt: at(3)}, 4},
		{order.Order{ID: "a-same", ReceivedAt: at(3)}, 4},
	}
	orig := append([]Held(nil), held...)
	got := ReleaseOrder(held)
	want := []string{"first", "tie-seq1", "tie-seq2", "a-same", "z-same", "late"}
	for i, h := range got {
		if h.Order.ID != want[i] {
			t.Fatalf("position %d = %s, want %s (all: %v)", i, h.Order.ID, want[i], got)
		}
	}
	for i := range held {
		if held[i].Order.ID != orig[i].Order.ID {
			t.Fatal("input modified")
		}
	}
}
