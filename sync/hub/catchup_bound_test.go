package hub_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"wedge/internal/clock"
	"wedge/internal/testbroker"
	"wedge/internal/testpg"
	"wedge/sync/hub"
	"wedge/sync/wire"
)

// postFrom POSTs n new orders for site (channel order numbers from from on) to h.
func postFrom(t *testing.T, h *hub.Hub, site string, from, n int) {
	t.Helper()
	var orders []wire.OrderMsg
	for i := from; i < from+n; i++ {
		orders = append(orders, wire.OrderMsg{Type: wire.TypeOrder, Channel: "tmall", ChannelOrderNo: fmt.Sprintf("40223456%08d", i),
			BuyerID: "b", OrderedAt: "2026-01-22T08:00:00Z", SKUs: []string{"S"}})
	}
	var r postResp
	postJSON(t, h, "/v1/orders", map[string]any{"site": site, "orders": orders}, http.StatusOK, &r)
}

// directHSeqs is every hseq a's direct topic brought, in arrival order.
func (a *agent) directHSeqs() []uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []uint64
	for _, d := range a.direct {
		for _, m := range d {
			out = append(out, m.HSeq)
		}
	}
	return out
}

func hasHSeq(seqs []uint64, n uint64) bool { return countHSeq(seqs, n) > 0 }

func countHSeq(seqs []uint64, n uint64) int {
	c := 0
	for _, s := range seqs {
		if s == n {
			c++
		}
	}
	return c
}

// catchupBehindAStream asks for a catch-up from 0 with 50 messages in the log, POSTs 50 more (to
// the last of hubs) while its pages go out, and returns what the direct topic brought until a
// second request, from 99, was answered (its answer, hseq 100, ends the returned list). The agent
// is subscribed to the site's topic throughout; every hseq must reach it there or directly. Each
// request is answered by answers hubs (more than one when the hubs do not share subscriptions).
func catchupBehindAStream(t *testing.T, b *testbroker.Broker, hubs []*hub.Hub, subscribed bool, answers int) []uint64 {
	t.Helper()
	a := newAgent(t, b.URL(), "sz01", "pack01") // subscribed (SUBACK) to the site and direct topics
	postFrom(t, hubs[0], "sz01", 0, 50)
	a.waitSite(50)
	req, _ := json.Marshal(wire.CatchupRequest{JournalID: "j1", Since: 0, Subscribed: subscribed})
	a.publish(wire.TopicCatchup("sz01", "pack01"), req)
	waitFor(t, "the first page", func() bool { return hasHSeq(a.directHSeqs(), 1) })
	postFrom(t, hubs[len(hubs)-1], "sz01", 50, 50) // hseq 51..100, published live
	a.waitSite(100)
	waitFor(t, "the catch-up up to 50", func() bool { return countHSeq(a.directHSeqs(), 50) == answers })
	if !subscribed {
		waitFor(t, "the catch-up up to 100", func() bool { return hasHSeq(a.directHSeqs(), 100) })
		return a.directHSeqs()
	}
	// The marker: a request from 99 made after the first catch-up ended is answered with 100
	// (the gap after the recorded end is still filled on request).
	req, _ = json.Marshal(wire.CatchupRequest{JournalID: "j1", Since: 99, Subscribed: true})
	a.publish(wire.TopicCatchup("sz01", "pack01"), req)
	// Each hub publishes its pages in order, so its answer comes after anything it still had.
	waitFor(t, "the answer from 99", func() bool { return countHSeq(a.directHSeqs(), 100) == answers })
	live := map[uint64]bool{}
	for _, m := range a.siteMsgs() {
		live[m.HSeq] = true
	}
	for n := uint64(1); n <= 100; n++ {
		if !live[n] && !hasHSeq(a.directHSeqs(), n) {
			t.Fatalf("hseq %d reached the agent neither live nor in a catch-up", n)
		}
	}
	return a.directHSeqs()
}

func boundedLimits(o *hub.Options) {
	// Pages of 10, 300 ms apart: the 50 messages POSTed after the first page are committed long
	// before the fifth page is read, so a catch-up that went on would carry them.
	o.Catchup = hub.CatchupLimits{PageMessages: 10, Interval: 300 * time.Millisecond}
}

// storeOpt gives a hub envStore's store when the test runs on another Store.
func storeOpt(t *testing.T) func(*hub.Options) {
	if envStore == nil {
		return nil
	}
	return func(o *hub.Options) { o.Store = envStore(t) }
}

// A subscribed agent's catch-up, recorded with 50 messages in the log, replays 1..50 only: the
// 50 POSTed while its pages went out reached the agent live, and a later request fills after 50.
func TestCatchupOfASubscribedAgentStopsAtTheRecordedEnd(t *testing.T) {
	b := testbroker.Start(t, nil)
	h := startHub(t, b.URL(), t.TempDir(), "wedge-hub-bound", clock.NewFake(t0), nil, boundedLimits, storeOpt(t))
	got := catchupBehindAStream(t, b, []*hub.Hub{h}, true, 1)
	want := fmt.Sprint(seqRange(1, 50), []uint64{100})
	if fmt.Sprint(got[:len(got)-1], got[len(got)-1:]) != want {
		t.Fatalf("direct topic brought %v, want 1..50 then 100", got)
	}
}

// A request that does not say Subscribed (an older agent, a subscription not confirmed) is
// replayed to the end of the log as it grows, as before.
func TestCatchupOfAnUnsubscribedAgentGoesToTheEnd(t *testing.T) {
	b := testbroker.Start(t, nil)
	h := startHub(t, b.URL(), t.TempDir(), "wedge-hub-unbound", clock.NewFake(t0), nil, boundedLimits, storeOpt(t))
	got := catchupBehindAStream(t, b, []*hub.Hub{h}, false, 1)
	if fmt.Sprint(got) != fmt.Sprint(seqRange(1, 100)) {
		t.Fatalf("direct topic brought %v, want 1..100", got)
	}
}

// Two replicas on one PostgreSQL, the POSTs behind the catch-up committed by the second. Here
// both receive every catch-up request (subscriptions not shared), so both record an end and page
// from it: neither replays what the second committed after its read (which reached the agent
// live), and each answers a later request from 99.
func TestCatchupBoundedAcrossReplicas(t *testing.T) {
	srv := testpg.Start(t)
	stores := pgStores(t, srv)
	b := testbroker.Start(t, nil)
	clk := clock.NewFake(t0)
	notShared := false
	opts := func(o *hub.Options) { o.Store, o.Shared = stores(t), &notShared }
	h1 := startHub(t, b.URL(), t.TempDir(), "wedge-hub-r1", clk, nil, boundedLimits, opts)
	h2 := startHub(t, b.URL(), t.TempDir(), "wedge-hub-r2", clk, nil, boundedLimits, opts)
	got := catchupBehindAStream(t, b, []*hub.Hub{h1, h2}, true, 2)
	for n := uint64(1); n <= 100; n++ {
		want := 2
		if n > 50 && n < 100 {
			want = 0
		}
		if c := countHSeq(got, n); c != want {
			t.Fatalf("hseq %d came %d times on the direct topic, want %d: %v", n, c, want, got)
		}
	}
}

func seqRange(from, to uint64) []uint64 {
	var out []uint64
	for n := from; n <= to; n++ {
		out = append(out, n)
	}
	return out
}
