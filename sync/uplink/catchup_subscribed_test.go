package uplink_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"wedge/internal/testbroker"
	"wedge/sync/uplink"
	"wedge/sync/uplink/uplinktest"
	"wedge/sync/wire"
)

// A connect's catch-up request says Subscribed only once the broker has our subscription to the
// site's orders topic: a message the "hub" publishes there as soon as it receives the request
// reaches the agent live, also after a broker restart that lost the agent's session (the
// subscription made anew on the reconnect). The hub bounds such a catch-up by that.
func TestCatchupSaysSubscribedOnlyAfterTheSUBACK(t *testing.T) {
	b := testbroker.Start(t, nil)
	px := startProxy(t, b.Addr())
	var mu sync.Mutex
	var reqs []wire.CatchupRequest
	subscribed := make(chan struct{}, 4)
	// The stand-in hub answers every request at once with a marker on the orders topic.
	hubSide := client(t, b.URL(), "test-hub", func(c mqtt.Client) {
		c.Subscribe(wire.TopicCatchup(site, agent), 1, func(c mqtt.Client, m mqtt.Message) {
			var r wire.CatchupRequest
			if err := json.Unmarshal(m.Payload(), &r); err != nil {
				t.Errorf("request %q: %v", m.Payload(), err)
				return
			}
			mu.Lock()
			reqs = append(reqs, r)
			n := len(reqs)
			mu.Unlock()
			c.Publish(wire.TopicOrders(site), 1, false, fmt.Appendf(nil, `{"type":"cancel","order_id":"MARK-%d","reason":"x","hseq":%d}`, n, n))
		}).Wait()
		subscribed <- struct{}{}
	})
	_ = hubSide
	<-subscribed
	src := uplinktest.NewMemSource(jid)
	u := start(t, src, uplink.Options{URL: px.URL(), CatchupSince: func() uint64 { return 7 }})
	marks := map[string]bool{}
	var mmu sync.Mutex
	go func() {
		for m := range u.Downlink() {
			var o wire.OrderMsg
			if m.Topic == wire.TopicOrders(site) && json.Unmarshal(m.Payload, &o) == nil {
				mmu.Lock()
				marks[o.OrderID] = true
				mmu.Unlock()
			}
		}
	}()
	marked := func(n int) bool {
		mmu.Lock()
		defer mmu.Unlock()
		return marks[fmt.Sprintf("MARK-%d", n)]
	}
	// lastReq waits for the request number n and returns it.
	req := func(n int) wire.CatchupRequest {
		var r wire.CatchupRequest
		eventually(t, 30*time.Second, fmt.Sprintf("catch-up request %d", n), func() bool {
			mu.Lock()
			defer mu.Unlock()
			if len(reqs) >= n {
				r = reqs[n-1]
			}
			return len(reqs) >= n
		})
		return r
	}
	if r := req(1); r.Since != 7 || !r.Subscribed || r.JournalID != jid {
		t.Fatalf("connect's request %+v, want since 7, subscribed", r)
	}
	eventually(t, 30*time.Second, "the marker published on receipt of the request", func() bool { return marked(1) })

	// The broker restarts and forgets every session; the agent comes back through the proxy only
	// once the stand-in hub is subscribed again.
	px.SetDown(true)
	b.Restart()
	px.Cut()
	<-subscribed
	mu.Lock()
	before := len(reqs)
	mu.Unlock()
	px.SetDown(false)
	r := req(before + 1)
	if !r.Subscribed {
		t.Fatalf("reconnect's request %+v, want subscribed", r)
	}
	eventually(t, 30*time.Second, "the marker after the reconnect", func() bool { return marked(before + 1) })
}

// An uplink that does not ask on every connect (no CatchupSince) never says Subscribed: its
// requests are answered to the end of the hub's log.
func TestCatchupWithoutCatchupSinceIsNotSubscribed(t *testing.T) {
	b := testbroker.Start(t, nil)
	got := watchCatchups(t, b.URL())
	u := start(t, uplinktest.NewMemSource(jid), uplink.Options{URL: b.URL()})
	eventually(t, 15*time.Second, "connect", u.Connected)
	u.RequestCatchup(3)
	select {
	case c := <-got:
		if c.Since != 3 || c.Subscribed {
			t.Fatalf("request %+v, want since 3, not subscribed", c)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no request")
	}
}
