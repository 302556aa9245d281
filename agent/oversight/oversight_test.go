package oversight_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"wedge/agent/breaker"
	"wedge/agent/intake"
	"wedge/agent/journal"
	"wedge/agent/oversight"
	"wedge/internal/clock"
	"wedge/order"
	"wedge/sync/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 11, 11, 1, 0, 0, 0, time.UTC)

// rig is a journal, an intake and an oversight over a fake clock, reopened as by an agent restart.
type rig struct {
	t     *testing.T
	path  string
	clk   *clock.Fake
	store *journal.Store
	in    *intake.Intake
	ov    *oversight.Oversight
	opts  oversight.Options

	mu       sync.Mutex
	statuses int
	orders   int
}

func newRig(t *testing.T, opts oversight.Options) *rig {
	r := &rig{t: t, path: filepath.Join(t.TempDir(), "wedge.db"), clk: clock.NewFake(t0), opts: opts}
	r.open()
	t.Cleanup(r.close)
	return r
}

func (r *rig) open() {
	r.t.Helper()
	var err error
	if r.store, err = journal.Open(r.path, &journal.Options{Site: "sz01", Agent: "pack02", Clock: r.clk}); err != nil {
		r.t.Fatal(err)
	}
	o := r.opts
	o.Site, o.Agent, o.Clock, o.Every = "sz01", "pack02", r.clk, time.Hour // observations by Check only
	o.PublishStatus = func() { r.mu.Lock(); r.statuses++; r.mu.Unlock() }
	if r.ov, err = oversight.New(context.Background(), r.store, o); err != nil {
		r.t.Fatal(err)
	}
	if r.in, err = intake.New(context.Background(), r.store, intake.Options{Clock: r.clk, IntakeState: r.ov.Breaker().IntakeState}); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) close() {
	if r.ov != nil {
		r.ov.Close()
		r.store.Close()
		r.ov = nil
	}
}

func (r *rig) restart() { r.close(); r.open() }

func (r *rig) order(id string) {
	r.t.Helper()
	p := fmt.Sprintf(`{"type":"order","order_id":%q,"channel":"tmall","channel_order_no":"4%014d","buyer_id":"b","ordered_at":"2026-11-11T00:00:00Z","paid_at":"2026-11-11T00:01:00Z","skus":["S1"],"payment":"full","carrier":"sf"}`,
		id, r.next())
	if err := r.in.Apply(context.Background(), []byte(p)); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) next() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.orders++
	return r.orders
}

func (r *rig) state(id string) order.State {
	r.t.Helper()
	o, ok, err := r.store.Order(id)
	if err != nil || !ok {
		r.t.Fatalf("order %s: %v %v", id, ok, err)
	}
	return o.State
}

func (r *rig) entries(kind string) []wire.Entry {
	r.t.Helper()
	es, err := r.store.Entries(0, 100000, 1<<30)
	if err != nil {
		r.t.Fatal(err)
	}
	var out []wire.Entry
	for _, e := range es {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%02d", prefix, i)
	}
	return out
}

// The breaker opens above max_backlog, new orders are held durably, a restart while open keeps
// holding and loses nothing, and a supervisor's reset releases them in arrival order.
func TestBreakerHoldsAcrossRestartAndResetReleasesInOrder(t *testing.T) {
	r := newRig(t, oversight.Options{Breaker: breaker.Options{MaxBacklog: 3}})
	for _, id := range ids("P", 4) {
		r.order(id)
	}
	r.ov.Check(context.Background())
	if !r.ov.Breaker().Open() {
		t.Fatal("4 orders over a limit of 3 did not open the breaker")
	}
	if es := r.entries(wire.KindBreaker); len(es) != 1 || es[0].To != "open" || es[0].Trigger != wire.TriggerSystem {
		t.Fatalf("breaker entries: %+v", es)
	}
	// Held orders arrive in an order their ids do not sort in, some in the same instant.
	held := []string{"H9", "H3", "H7", "H1"}
	for i, id := range held {
		if i%2 == 0 {
			r.clk.Advance(time.Second)
		}
		r.order(id)
		if st := r.state(id); st != order.Held {
			t.Fatalf("%s entered %s while the breaker was open", id, st)
		}
	}
	r.restart()
	if !r.ov.Breaker().Open() {
		t.Fatal("the breaker closed across a restart")
	}
	r.order("H0") // still held after the restart
	held = append(held, "H0")
	r.ov.Check(context.Background())
	for _, id := range held {
		if st := r.state(id); st != order.Held {
			t.Fatalf("after restart %s is %s", id, st)
		}
	}
	if n := r.store.Counts()[order.Held]; n != len(held) {
		t.Fatalf("held count %d, want %d", n, len(held))
	}
	if _, err := r.ov.Breaker().Reset(context.Background(), "", ""); !errors.Is(err, breaker.ErrNoReason) {
		t.Fatalf("reset without reason: %v", err)
	}
	n, err := r.ov.Breaker().Reset(context.Background(), "zhang", "加派人手")
	if err != nil || n != len(held) {
		t.Fatalf("reset released %d (%v), want %d", n, err, len(held))
	}
	if r.ov.Breaker().Open() {
		t.Fatal("open after reset")
	}
	var released []string
	for _, e := range r.entries(wire.KindStep) {
		if e.From == string(order.Held) && e.To == string(order.PendingAllocation) {
			if e.Trigger != wire.TriggerManual || e.Operator != "zhang" {
				t.Fatalf("release entry %+v", e)
			}
			released = append(released, e.OrderID)
		}
	}
	if got := strings.Join(released, ","); got != strings.Join(held, ",") {
		t.Fatalf("released %s, want arrival order %s", got, strings.Join(held, ","))
	}
	bes := r.entries(wire.KindBreaker)
	if last := bes[len(bes)-1]; last.To != "closed" || last.Trigger != wire.TriggerManual || last.Operator != "zhang" || !strings.Contains(last.Reason+last.Detail, "加派人手") {
		t.Fatalf("reset entry %+v", last)
	}
	if c := r.store.Counts(); c[order.Held] != 0 || c[order.PendingAllocation] != 4+len(held) {
		t.Fatalf("counts after reset %v", c)
	}
	r.mu.Lock()
	statuses := r.statuses
	r.mu.Unlock()
	if statuses < 1 {
		t.Fatalf("status published %d times after the reset, want one per change", statuses)
	}
	// The closed state survives a restart too.
	r.restart()
	if r.ov.Breaker().Open() {
		t.Fatal("reopened after restart")
	}
}

// Hysteresis: with the backlog under 80% for close_after the breaker closes by itself and releases.
func TestBreakerClosesByItselfAndReleases(t *testing.T) {
	r := newRig(t, oversight.Options{Breaker: breaker.Options{MaxBacklog: 3, CloseAfter: time.Minute}})
	for _, id := range ids("P", 4) {
		r.order(id)
	}
	r.ov.Check(context.Background())
	r.order("H1")
	// Two orders leave 待分仓 (cancelled by the hub), backlog 2 < 0.8*3.
	for _, id := range []string{"P00", "P01"} {
		if err := r.in.Apply(context.Background(), []byte(`{"type":"cancel","order_id":"`+id+`","reason":"buyer"}`)); err != nil {
			t.Fatal(err)
		}
	}
	r.ov.Check(context.Background())
	if !r.ov.Breaker().Open() {
		t.Fatal("closed without waiting close_after")
	}
	r.clk.Advance(61 * time.Second)
	r.ov.Check(context.Background())
	if r.ov.Breaker().Open() {
		t.Fatal("still open after close_after below the ratio")
	}
	if st := r.state("H1"); st != order.PendingAllocation {
		t.Fatalf("held order is %s after the close", st)
	}
	r.order("N1")
	if st := r.state("N1"); st != order.PendingAllocation {
		t.Fatalf("new order is %s with the breaker closed", st)
	}
}

// Exactly one overdue entry per order past overdue_after.
func TestOverdueOncePerOrder(t *testing.T) {
	r := newRig(t, oversight.Options{OverdueAfter: 30 * time.Minute})
	r.order("A1")
	r.clk.Advance(20 * time.Minute)
	r.order("A2")
	r.clk.Advance(10*time.Minute + time.Second)
	r.ov.Check(context.Background())
	r.ov.Check(context.Background())
	if es := r.entries(wire.KindOverdue); len(es) != 1 || es[0].OrderID != "A1" {
		t.Fatalf("overdue entries %+v", es)
	}
	r.clk.Advance(25 * time.Minute)
	r.restart()
	r.ov.Check(context.Background())
	es := r.entries(wire.KindOverdue)
	if len(es) != 2 || es[1].OrderID != "A2" {
		t.Fatalf("overdue entries %+v", es)
	}
}

// An order held by the open breaker for 45 minutes, then 20 minutes in 待分仓, is overdue (its
// clock started when it was first held), while the breaker's average wait counts only its time in
// 待分仓: released orders do not make it reopen (max_avg_wait 30 min here).
func TestOverdueCountsHeldTime(t *testing.T) {
	r := newRig(t, oversight.Options{OverdueAfter: 30 * time.Minute,
		Breaker: breaker.Options{MaxBacklog: 3, MaxAvgWait: 30 * time.Minute, CloseAfter: time.Minute}})
	for _, id := range ids("P", 4) {
		r.order(id)
	}
	r.ov.Check(context.Background())
	r.order("H1")
	if st := r.state("H1"); st != order.Held {
		t.Fatalf("H1 is %s with the breaker open", st)
	}
	r.clk.Advance(44 * time.Minute)
	for _, id := range ids("P", 4) { // the backlog is worked off (cancelled by the hub here)
		if err := r.in.Apply(context.Background(), []byte(`{"type":"cancel","order_id":"`+id+`","reason":"buyer"}`)); err != nil {
			t.Fatal(err)
		}
	}
	r.ov.Check(context.Background())
	r.clk.Advance(time.Minute)
	r.ov.Check(context.Background())
	if r.ov.Breaker().Open() || r.state("H1") != order.PendingAllocation {
		t.Fatalf("breaker open %v, H1 %s: want closed and released", r.ov.Breaker().Open(), r.state("H1"))
	}
	r.clk.Advance(20 * time.Minute)
	r.ov.Check(context.Background())
	es := r.entries(wire.KindOverdue)
	if len(es) != 1 || es[0].OrderID != "H1" || !strings.Contains(es[0].Detail, "held 45m0s, then 20m0s") {
		t.Fatalf("overdue entries %+v", es)
	}
	if r.ov.Breaker().Open() {
		t.Fatal("the breaker reopened on the released order's held time")
	}
	if w := oversight.SourceOf(r.ov).Snapshot().Backlog.AvgWait; w != 20*time.Minute {
		t.Errorf("breaker average wait %v, want 20m (time in 待分仓 only)", w)
	}
}

// A hub command changes the thresholds, journaled with its id; a bad one is journaled as refused.
func TestHubCommand(t *testing.T) {
	r := newRig(t, oversight.Options{})
	err := r.ov.Breaker().Command(context.Background(), []byte(`{"type":"breaker_thresholds","id":"c-42","by":"ops","reason":"双十一","max_backlog":2}`))
	if err != nil {
		t.Fatal(err)
	}
	if th := r.ov.Breaker().State().Thresholds; th.MaxBacklog != 2 {
		t.Fatalf("thresholds %+v", th)
	}
	es := r.entries(wire.KindBreaker)
	if len(es) != 1 || es[0].Code != "c-42" || es[0].Trigger != wire.TriggerHub {
		t.Fatalf("command entry %+v", es)
	}
	r.restart()
	if th := r.ov.Breaker().State().Thresholds; th.MaxBacklog != 2 {
		t.Fatalf("thresholds after restart %+v", th)
	}
	for _, id := range ids("P", 3) {
		r.order(id)
	}
	r.ov.Check(context.Background())
	if !r.ov.Breaker().Open() {
		t.Fatal("the new limit did not apply")
	}
	if err := r.ov.Breaker().Command(context.Background(), []byte(`{"type":"breaker_thresholds","max_backlog":-1,"bogus":1}`)); !errors.Is(err, oversight.ErrCommand) {
		t.Fatalf("bad command: %v", err)
	}
	if notes := r.entries(wire.KindNote); len(notes) != 1 || notes[0].Reason != "command_refused" {
		t.Fatalf("refusal not journaled: %+v", notes)
	}
}

// GET /api/v1/kpi counts days in the site zone; /metrics shows the breaker.
func TestHTTP(t *testing.T) {
	r := newRig(t, oversight.Options{Breaker: breaker.Options{MaxBacklog: 1}})
	r.order("A1")
	r.order("A2")
	r.ov.Check(context.Background())
	mux := http.NewServeMux()
	r.ov.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	get := func(path string) string {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, res.StatusCode, b)
		}
		return string(b)
	}
	var k oversight.KPIResponse
	if err := json.Unmarshal([]byte(get("/api/v1/kpi")), &k); err != nil {
		t.Fatal(err)
	}
	// 01:00 UTC is 09:00 in Shanghai: the day shift of 2026-11-11.
	if k.Zone != "Asia/Shanghai" || k.Today.Day != "2026-11-11" || k.Shift.Shift != "day" || k.Goal != 0.92 {
		t.Fatalf("kpi %+v", k)
	}
	m := get("/metrics")
	if !strings.Contains(m, "wedge_breaker_open 1") {
		t.Fatalf("metrics without the open breaker:\n%s", m)
	}
	if b := get("/console/"); !strings.Contains(b, "<html") {
		t.Fatalf("console page: %.200s", b)
	}
}

// A deposit order whose balance is paid while the breaker is open is held too, and released later.
func TestBalancePaidWhileOpenIsHeld(t *testing.T) {
	r := newRig(t, oversight.Options{Breaker: breaker.Options{MaxBacklog: 1}})
	dep := `{"type":"order","order_id":"D1","channel":"tmall","channel_order_no":"4000000000009","buyer_id":"b","ordered_at":"2026-11-11T00:00:00Z","skus":["S1"],"payment":"deposit","carrier":"sf"}`
	if err := r.in.Apply(context.Background(), []byte(dep)); err != nil {
		t.Fatal(err)
	}
	r.order("P1")
	r.order("P2")
	r.ov.Check(context.Background())
	if !r.ov.Breaker().Open() {
		t.Fatal("not open")
	}
	if err := r.in.Apply(context.Background(), []byte(`{"type":"balance_paid","order_id":"D1"}`)); err != nil {
		t.Fatal(err)
	}
	if st := r.state("D1"); st != order.Held {
		t.Fatalf("balance paid while open: %s", st)
	}
	if _, err := r.ov.Breaker().Reset(context.Background(), "wang", "ok"); err != nil {
		t.Fatal(err)
	}
	if st := r.state("D1"); st != order.PendingAllocation {
		t.Fatalf("after reset: %s", st)
	}
}
