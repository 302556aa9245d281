package oversight_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"wedge/agent/breaker"
	"wedge/agent/intake"
	"wedge/agent/journal"
	"wedge/agent/oversight"
)

// loopRig is a journal, an oversight on the real clock and an intake, made inside a synctest
// bubble: the clock is the bubble's, so time moves only when every goroutine is waiting, and
// synctest.Wait returns once the owner loop has done all it can.
type loopRig struct {
	t  *testing.T
	ov *oversight.Oversight
	in *intake.Intake
	n  int
}

func newLoopRig(t *testing.T, opts oversight.Options) *loopRig {
	store, err := journal.Open(filepath.Join(t.TempDir(), "wedge.db"), &journal.Options{Site: "sz01", Agent: "pack02"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	opts.Site, opts.Agent = "sz01", "pack02"
	ov, err := oversight.New(context.Background(), store, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ov.Close() })
	in, err := intake.New(context.Background(), store, intake.Options{IntakeState: ov.Breaker().IntakeState})
	if err != nil {
		t.Fatal(err)
	}
	return &loopRig{t: t, ov: ov, in: in}
}

func (r *loopRig) order() {
	r.t.Helper()
	r.n++
	p := fmt.Sprintf(`{"type":"order","order_id":"L%d","channel":"tmall","channel_order_no":"4%014d","buyer_id":"b","ordered_at":"2026-11-11T00:00:00Z","paid_at":"2026-11-11T00:01:00Z","skus":["S1"],"payment":"full","carrier":"sf"}`, r.n, r.n)
	if err := r.in.Apply(context.Background(), []byte(p)); err != nil {
		r.t.Fatal(err)
	}
}

// Without any Kick or Check, the owner loop observes the backlog every Options.Every.
func TestLoopObservesEveryPeriod(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newLoopRig(t, oversight.Options{Every: time.Minute, Breaker: breaker.Options{MaxBacklog: 1}})
		r.order()
		r.order()
		time.Sleep(time.Minute - time.Second)
		synctest.Wait()
		if r.ov.Breaker().Open() {
			t.Fatal("observed before the period ended")
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if !r.ov.Breaker().Open() {
			t.Fatal("the period passed without an observation: 2 orders over a limit of 1 and the breaker is closed")
		}
	})
}

// A Kick makes the loop observe at once; kicks within MinGap of an observation wait for its end.
func TestLoopKickAndMinGap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newLoopRig(t, oversight.Options{Every: time.Hour, MinGap: time.Second, Breaker: breaker.Options{MaxBacklog: 1}})
		r.order()
		r.ov.Kick()
		synctest.Wait() // observed: 1 order, within the limit
		r.order()
		r.ov.Kick()
		r.ov.Kick() // coalesced with the previous one
		synctest.Wait()
		if r.ov.Breaker().Open() {
			t.Fatal("observed again within MinGap")
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if !r.ov.Breaker().Open() {
			t.Fatal("the kick was lost: no observation after MinGap")
		}
	})
}
