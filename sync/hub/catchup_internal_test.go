package hub

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"wedge/sync/wire"
)

// pacedHub is an owner-only hub with n downlink messages for site sz01 and a pacer on a manual
// clock; it returns the hub, its publications and the clock's setter.
func pacedHub(t *testing.T, n int, lim CatchupLimits) (*Hub, *recorder, func(d time.Duration)) {
	t.Helper()
	h, rec := ownerOnly(t)
	var msgs []wire.OrderMsg
	for i := range n {
		msgs = append(msgs, wire.OrderMsg{Type: wire.TypeCancel, OrderID: fmt.Sprintf("O-%04d", i), Reason: "buyer"})
	}
	p := &postReq{site: "sz01", msgs: msgs, reply: make(chan postResult, 1)}
	h.commit([]item{{kind: kindPost, post: p}})
	if res := <-p.reply; res.err != nil {
		t.Fatal(res.err)
	}
	rec.msgs = nil
	h.pacer = newPacer(lim)
	now := time.Date(2026, 1, 22, 8, 0, 0, 0, time.UTC)
	h.pacer.now = func() time.Time { return now }
	t.Cleanup(func() {
		if h.pacer.timer != nil {
			h.pacer.timer.Stop()
		}
		close(h.quit)
		h.db.Close()
	})
	return h, rec, func(d time.Duration) { now = now.Add(d) }
}

// pages returns the hseqs of each page published to the direct topic of sz01/agent since the last
// call, and forgets them.
func pages(t *testing.T, rec *recorder, agent string) [][]uint64 {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out [][]uint64
	for _, m := range rec.msgs {
		if m.topic != wire.TopicDirect("sz01", agent) {
			continue
		}
		var arr []wire.OrderMsg
		if err := json.Unmarshal(m.payload, &arr); err != nil {
			t.Fatalf("page %s: %v", m.payload, err)
		}
		var seqs []uint64
		for _, o := range arr {
			seqs = append(seqs, o.HSeq)
		}
		out = append(out, seqs)
	}
	rec.msgs = nil
	return out
}

func span(p []uint64) string {
	if len(p) == 0 {
		return "[]"
	}
	return fmt.Sprintf("%d..%d (%d)", p[0], p[len(p)-1], len(p))
}

// A catch-up longer than a page is answered page by page at the agent's pace, to the end of the
// log, without the agent asking again; a page bounds messages and bytes.
func TestCatchupPagesFollowAtThePace(t *testing.T) {
	h, rec, advance := pacedHub(t, 25, CatchupLimits{PageMessages: 10, Interval: 200 * time.Millisecond})
	h.catchupRequested(catchup{site: "sz01", agent: "pack01", since: 0})
	if p := pages(t, rec, "pack01"); len(p) != 1 || span(p[0]) != "1..10 (10)" {
		t.Fatalf("first answer %v", p)
	}
	advance(100 * time.Millisecond)
	h.servePending()
	if p := pages(t, rec, "pack01"); len(p) != 0 {
		t.Fatalf("a page before the interval: %v", p)
	}
	advance(100 * time.Millisecond)
	h.servePending()
	if p := pages(t, rec, "pack01"); len(p) != 1 || span(p[0]) != "11..20 (10)" {
		t.Fatalf("second page %v", p)
	}
	advance(time.Second)
	h.servePending()
	if p := pages(t, rec, "pack01"); len(p) != 1 || span(p[0]) != "21..25 (5)" {
		t.Fatalf("last page %v", p)
	}
	advance(time.Second)
	h.servePending()
	if p := pages(t, rec, "pack01"); len(p) != 0 {
		t.Fatalf("a page after the end of the log: %v", p)
	}
	if h.stats.CatchupPages != 3 {
		t.Fatalf("catchup_pages %d", h.stats.CatchupPages)
	}
	// Nothing after since: no answer, and no page of the pace spent.
	h.catchupRequested(catchup{site: "sz01", agent: "pack01", since: 25})
	h.catchupRequested(catchup{site: "sz01", agent: "pack01", since: 23})
	if p := pages(t, rec, "pack01"); len(p) != 1 || span(p[0]) != "24..25 (2)" {
		t.Fatalf("answer after an empty one %v", p)
	}

	// Bytes: a page stops before PageBytes, but always carries one message.
	one, _ := json.Marshal(wire.OrderMsg{Type: wire.TypeCancel, OrderID: "O-0000", Reason: "buyer", HSeq: 1})
	h.pacer.lim.PageBytes = 3*len(one) + 3
	advance(time.Second)
	h.catchupRequested(catchup{site: "sz01", agent: "pack02", since: 0})
	if p := pages(t, rec, "pack02"); len(p) != 1 || span(p[0]) != "1..3 (3)" {
		t.Fatalf("page bounded by bytes %v", p)
	}
	h.pacer.lim.PageBytes = 1
	advance(time.Second)
	h.servePending()
	if p := pages(t, rec, "pack02"); len(p) != 1 || span(p[0]) != "4..4 (1)" {
		t.Fatalf("page of a message larger than PageBytes %v", p)
	}
}

// Requests faster than the pace are not answered one by one: the first waiting one is answered when
// the pace allows, later ones merge into it (the lowest since wins), and the minute's cap holds.
func TestCatchupRequestsMergedAndCapped(t *testing.T) {
	h, rec, advance := pacedHub(t, 100, CatchupLimits{PageMessages: 10, Interval: 200 * time.Millisecond, PerMinute: 3})
	for range 20 {
		h.catchupRequested(catchup{site: "sz01", agent: "pack01", since: 50})
	}
	h.catchupRequested(catchup{site: "sz01", agent: "pack01", since: 40})
	if p := pages(t, rec, "pack01"); len(p) != 1 || span(p[0]) != "51..60 (10)" {
		t.Fatalf("answers to 21 requests at once: %v", p)
	}
	// The page left a continuation waiting: every later request merged into it.
	if h.stats.CatchupsDeferred != 0 || h.stats.CatchupsMerged != 20 {
		t.Fatalf("deferred %d merged %d, want 0 and 20", h.stats.CatchupsDeferred, h.stats.CatchupsMerged)
	}
	advance(200 * time.Millisecond)
	h.servePending()
	if p := pages(t, rec, "pack01"); len(p) != 1 || span(p[0]) != "41..50 (10)" {
		t.Fatalf("the merged request (lowest since) %v", p)
	}
	advance(200 * time.Millisecond)
	h.servePending()
	if p := pages(t, rec, "pack01"); len(p) != 1 || span(p[0]) != "51..60 (10)" {
		t.Fatalf("its continuation %v", p)
	}
	// Three pages in this minute: the next waits for the minute to end.
	advance(200 * time.Millisecond)
	h.servePending()
	if p := pages(t, rec, "pack01"); len(p) != 0 {
		t.Fatalf("a fourth page within a minute: %v", p)
	}
	advance(time.Minute)
	h.servePending()
	if p := pages(t, rec, "pack01"); len(p) != 1 || span(p[0]) != "61..70 (10)" {
		t.Fatalf("after the minute %v", p)
	}
	// Another agent has its own pace. A request too early after a complete answer waits for it.
	h.catchupRequested(catchup{site: "sz01", agent: "pack02", since: 95})
	h.catchupRequested(catchup{site: "sz01", agent: "pack02", since: 90})
	if p := pages(t, rec, "pack02"); len(p) != 1 || span(p[0]) != "96..100 (5)" {
		t.Fatalf("pack02 %v", p)
	}
	if h.stats.CatchupsDeferred != 1 {
		t.Fatalf("deferred %d, want 1", h.stats.CatchupsDeferred)
	}
	advance(200 * time.Millisecond)
	h.servePending()
	if p := pages(t, rec, "pack02"); len(p) != 1 || span(p[0]) != "91..100 (10)" {
		t.Fatalf("pack02's deferred request %v", p)
	}
}

// The pacer's timer wakes the owner for a deferred request; agents idle for a while are forgotten.
func TestCatchupTimerAndEviction(t *testing.T) {
	h, rec, advance := pacedHub(t, 30, CatchupLimits{PageMessages: 10, Interval: 20 * time.Millisecond})
	h.catchupRequested(catchup{site: "sz01", agent: "pack01", since: 0})
	pages(t, rec, "pack01")
	if h.pacer.due.IsZero() || h.pacer.timer == nil {
		t.Fatal("no timer for the continuation")
	}
	// The timer queues a kindCatchupDue item (the owner does not run here).
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.mu.Lock()
		n := len(h.queue)
		h.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the pacer's timer queued nothing")
		}
		time.Sleep(5 * time.Millisecond)
	}
	advance(time.Second)
	h.commit(h.take(maxGroup)) // as the owner would: the due item answers, without a transaction
	if p := pages(t, rec, "pack01"); len(p) != 1 || span(p[0]) != "11..20 (10)" {
		t.Fatalf("page on the timer %v", p)
	}
	if h.stats.Commits != 1 { // the setup's POST only
		t.Fatalf("commits %d: a due item must not cost a transaction", h.stats.Commits)
	}
	advance(time.Second)
	h.servePending()
	pages(t, rec, "pack01")
	advance(5 * time.Minute)
	h.servePending()
	if len(h.pacer.agents) != 0 {
		t.Fatalf("idle agents kept: %d", len(h.pacer.agents))
	}
}
