package agent_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"wedge/internal/testbroker"
	"wedge/sync/hub"
	"wedge/sync/wire"
)

// The hub answers catch-ups in pages. An agent that was away while many orders were dispatched (more
// than the broker queues for it) still gets every one of them, page after page, with no further
// traffic on the site to show it a gap: the uplink's catch-up on reconnect and intake's gap
// requests work with a paged answer.
func TestCatchupInPagesAfterOutage(t *testing.T) {
	b := testbroker.Start(t, &testbroker.Options{MaxQueued: 1})
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h, err := hub.New(ctx, hub.Options{BrokerURL: b.URL(), DataDir: filepath.Join(dir, "hub"), Listen: "127.0.0.1:0",
		ClientID: "hub-pages", Catchup: hub.CatchupLimits{PageMessages: 3}, SigningKey: rigHubKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, c := context.WithTimeout(context.Background(), 10*time.Second)
		defer c()
		h.Stop(sctx)
	})
	dispatch := func(id string) {
		if code := postOrders(t, h, wire.OrderMsg{Type: wire.TypeOrder, OrderID: id, Channel: "jd", ChannelOrderNo: "JD0000000000" + id,
			BuyerID: "b", OrderedAt: "2026-01-22T07:00:00Z", SKUs: []string{"S"}}); code != http.StatusOK {
			t.Fatalf("POST %s: %d", id, code)
		}
	}
	sub := t.TempDir()
	a := startAgent(t, ctx, sub, b.URL(), "pack01", "  - {name: print-1, role: print}\n")
	dispatch("P00")
	eventually(t, "the first order arrives", func() bool { _, ok, _ := a.Store().Order("P00"); return ok })
	sctx, c := context.WithTimeout(context.Background(), 10*time.Second)
	if err := a.Stop(sctx); err != nil {
		t.Fatal(err)
	}
	c()
	const n = 14
	for i := 1; i <= n; i++ {
		dispatch(fmt.Sprintf("P%02d", i))
	}
	a = startAgent(t, ctx, sub, b.URL(), "pack01", "  - {name: print-1, role: print}\n")
	for i := 0; i <= n; i++ {
		id := fmt.Sprintf("P%02d", i)
		eventually(t, "order "+id+" after the outage", func() bool { _, ok, _ := a.Store().Order(id); return ok })
	}
	eventually(t, "the hub sequence is contiguous", func() bool { return a.Intake().CatchupSince() >= n+1 })
	var st hub.Stats
	if code, err := hubGetJSON(t, h, "/v1/stats", &st); err != nil || code != http.StatusOK || st.CatchupPages < n/3 {
		t.Fatalf("stats %d %v: %d catch-up pages, want several (the answer was paged)", code, err, st.CatchupPages)
	}
}
