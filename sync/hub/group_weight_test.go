package hub

import (
	"fmt"
	"testing"

	"wedge/sync/wire"
)

// POSTs count toward a group's bound by their messages: a burst of large POSTs is split over
// several transactions (the batches queued behind them get their turn sooner), a small POST still
// shares one, and every POST is still committed and answered.
func TestPostsBoundTheGroup(t *testing.T) {
	h, _ := ownerOnly(t)
	perPost := maxGroupBytes / postMsgWeight / 3 // three fill a group, a fourth exceeds it
	var posts []*postReq
	for p := range 8 {
		var msgs []wire.OrderMsg
		for i := range perPost {
			msgs = append(msgs, wire.OrderMsg{Type: wire.TypeOrder, OrderID: fmt.Sprintf("P%d-%d", p, i)})
		}
		req := &postReq{site: "sz01", msgs: msgs, reply: make(chan postResult, 1)}
		posts = append(posts, req)
		if !h.enqueue(item{kind: kindPost, topic: "POST /v1/orders", post: req}) {
			t.Fatal("enqueue refused")
		}
	}
	small := &postReq{site: "sz01", msgs: []wire.OrderMsg{{Type: wire.TypeOrder, OrderID: "S-1"}}, reply: make(chan postResult, 1)}
	h.enqueue(item{kind: kindPost, topic: "POST /v1/orders", post: small})
	var sizes []int
	for {
		items := h.take(maxGroup)
		if len(items) == 0 {
			break
		}
		sizes = append(sizes, len(items))
		h.commit(items)
	}
	if want := []int{3, 3, 3}; fmt.Sprint(sizes) != fmt.Sprint(want) {
		t.Fatalf("groups of %v items, want %v (3 large POSTs each, the small one with the last two)", sizes, want)
	}
	for i, p := range append(posts, small) {
		res := <-p.reply
		if res.err != nil || len(res.hseqs) != len(p.msgs) {
			t.Fatalf("post %d: err %v, %d hseqs for %d messages", i, res.err, len(res.hseqs), len(p.msgs))
		}
	}
	if s := h.Stats(); s.DownlinkPublished != uint64(8*perPost+1) {
		t.Fatalf("downlink published %d, want %d", s.DownlinkPublished, 8*perPost+1)
	}
}
