package hub

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"wedge/sync/wire"
)

// postMore commits n more downlink messages for sz01, as POST /v1/orders does.
func postMore(t *testing.T, h *Hub, n int) {
	t.Helper()
	var msgs []wire.OrderMsg
	for i := range n {
		msgs = append(msgs, wire.OrderMsg{Type: wire.TypeCancel, OrderID: fmt.Sprintf("L-%d-%04d", time.Now().UnixNano(), i), Reason: "buyer"})
	}
	p := &postReq{site: "sz01", msgs: msgs, reply: make(chan postResult, 1)}
	h.commit([]item{{kind: kindPost, post: p}})
	if res := <-p.reply; res.err != nil {
		t.Fatal(res.err)
	}
}

// requestCatchup commits a catch-up request of sz01/agent as it arrives from MQTT.
func requestCatchup(t *testing.T, h *Hub, agent string, since uint64, subscribed bool) {
	t.Helper()
	b, _ := json.Marshal(wire.CatchupRequest{JournalID: "j-" + agent, Since: since, Subscribed: subscribed})
	h.commit([]item{{kind: kindCatchup, topic: wire.TopicCatchup("sz01", agent), payload: b}})
}

// drain runs the pacer until nothing waits and returns the pages published meanwhile.
func drain(t *testing.T, h *Hub, rec *recorder, advance func(time.Duration), agent string) []string {
	t.Helper()
	var out []string
	for range 100 {
		for _, p := range pages(t, rec, agent) {
			out = append(out, span(p))
		}
		waiting := false
		for _, a := range h.pacer.agents {
			waiting = waiting || a.pending
		}
		if !waiting {
			return out
		}
		advance(time.Second)
		h.servePending()
	}
	t.Fatal("the catch-up never ended")
	return nil
}

// A subscribed agent's catch-up stops at the end of the log as it was when the request was
// recorded: what was committed after it went out live (here: 30 messages POSTed while the first
// page was out). A later request from past that end is answered, to its own recorded end.
func TestCatchupBoundedByTheRecordedEnd(t *testing.T) {
	h, rec, advance := pacedHub(t, 25, CatchupLimits{PageMessages: 10, Interval: 200 * time.Millisecond})
	requestCatchup(t, h, "pack01", 0, true)
	first := pages(t, rec, "pack01")
	postMore(t, h, 30) // hseq 26..55, published live
	live := 0
	for _, m := range rec.msgs {
		if m.topic == wire.TopicOrders("sz01") {
			var arr []wire.OrderMsg
			_ = json.Unmarshal(m.payload, &arr)
			live += len(arr)
		}
	}
	if live != 30 {
		t.Fatalf("%d messages published live, want 30", live)
	}
	got := append([]string{span(first[0])}, drain(t, h, rec, advance, "pack01")...)
	if fmt.Sprint(got) != "[1..10 (10) 11..20 (10) 21..25 (5)]" {
		t.Fatalf("bounded catch-up pages %v, want 1..25 only", got)
	}
	// The agent asks again from 25 (say a live message was lost): answered up to 55.
	requestCatchup(t, h, "pack01", 25, true)
	if got := drain(t, h, rec, advance, "pack01"); fmt.Sprint(got) != "[26..35 (10) 36..45 (10) 46..55 (10)]" {
		t.Fatalf("the later request's pages %v", got)
	}
	// Asking from the end: no page, none of the pace spent.
	pagesBefore := h.stats.CatchupPages
	requestCatchup(t, h, "pack01", 55, true)
	if got := drain(t, h, rec, advance, "pack01"); len(got) != 0 || h.stats.CatchupPages != pagesBefore {
		t.Fatalf("a request from the end brought %v", got)
	}
}

// A request that does not say the agent is subscribed (an older agent, an unconfirmed
// subscription) is answered to the end of the log as before, however far it moves meanwhile.
func TestCatchupUnsubscribedGoesToTheEnd(t *testing.T) {
	h, rec, advance := pacedHub(t, 25, CatchupLimits{PageMessages: 10, Interval: 200 * time.Millisecond})
	requestCatchup(t, h, "pack01", 0, false)
	first := pages(t, rec, "pack01")
	postMore(t, h, 30)
	got := append([]string{span(first[0])}, drain(t, h, rec, advance, "pack01")...)
	if fmt.Sprint(got) != "[1..10 (10) 11..20 (10) 21..30 (10) 31..40 (10) 41..50 (10) 51..55 (5)]" {
		t.Fatalf("unbounded catch-up pages %v", got)
	}
}

// Merged requests take the lowest since and the highest end; one without an end makes the merged
// request go to the end of the log.
func TestCatchupMergedBounds(t *testing.T) {
	for _, c := range []struct {
		name       string
		subscribed bool
		want       string
	}{
		{"both subscribed: the later end", true, "[1..10 (10) 6..15 (10) 16..25 (10) 26..35 (10) 36..40 (5)]"},
		{"one unsubscribed: no end", false, "[1..10 (10) 6..15 (10) 16..25 (10) 26..35 (10) 36..45 (10) 46..50 (5)]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h, rec, advance := pacedHub(t, 25, CatchupLimits{PageMessages: 10, Interval: 200 * time.Millisecond})
			requestCatchup(t, h, "pack01", 0, true) // end 25; page 1..10, a continuation waits
			postMore(t, h, 15)                      // 26..40
			requestCatchup(t, h, "pack01", 5, c.subscribed)
			postMore(t, h, 10) // 41..50
			if h.stats.CatchupsMerged != 1 {
				t.Fatalf("merged %d", h.stats.CatchupsMerged)
			}
			if got := drain(t, h, rec, advance, "pack01"); fmt.Sprint(got) != c.want {
				t.Fatalf("pages %v, want %s", got, c.want)
			}
		})
	}
}

// A deferred request (too early for the pace) keeps the end recorded with it, not the end of the
// log when it is answered.
func TestCatchupDeferredKeepsItsEnd(t *testing.T) {
	h, rec, advance := pacedHub(t, 25, CatchupLimits{PageMessages: 10, Interval: 200 * time.Millisecond})
	requestCatchup(t, h, "pack02", 20, true) // one page, 21..25: complete
	pages(t, rec, "pack02")
	requestCatchup(t, h, "pack02", 22, true) // too early: deferred, end 25
	if h.stats.CatchupsDeferred != 1 {
		t.Fatalf("deferred %d", h.stats.CatchupsDeferred)
	}
	postMore(t, h, 30)
	if got := drain(t, h, rec, advance, "pack02"); fmt.Sprint(got) != "[23..25 (3)]" {
		t.Fatalf("deferred request's pages %v", got)
	}
}
