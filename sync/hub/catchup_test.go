package hub_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"wedge/internal/testbroker"
	"wedge/sync/hub"
	"wedge/sync/wire"
)

// pacedHub starts a hub with catch-up limits lim on a fresh mosquitto.
func pacedHub(t *testing.T, lim hub.CatchupLimits) (*testbroker.Broker, *hub.Hub) {
	t.Helper()
	b := testbroker.Start(t, nil)
	h, err := hub.New(context.Background(), hub.Options{BrokerURL: b.URL(), DataDir: t.TempDir(), Listen: "127.0.0.1:0",
		ClientID: "wedge-hub-paced", Catchup: lim})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Stop(context.Background()) })
	select {
	case <-h.Ready():
	case <-time.After(15 * time.Second):
		t.Fatal("hub did not subscribe")
	}
	return b, h
}

// directBytes is what a's direct topic received, in bytes and messages.
func (a *agent) directTotals() (bytes, msgs int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, d := range a.directBytes {
		bytes += len(d)
		msgs += len(a.direct[i])
	}
	return bytes, msgs
}

// Twenty catch-up requests of 28 bytes, sent by a client that is not the agent, used to make the
// hub replay its whole downlink log twenty times. Now the first gets one page and the others wait
// for the agent's pace, merged into one: measured at a real subscriber of the agent's direct topic.
func TestCatchupFloodCostsOnePage(t *testing.T) {
	// An hour between pages: within this test only the first page may go.
	b, h := pacedHub(t, hub.CatchupLimits{Interval: time.Hour})
	a := newAgent(t, b.URL(), "sz01", "pack01")
	barrier := newAgent(t, b.URL(), "sz01", "pack02")
	const n = 3000
	postN(t, h, "sz01", n)
	var logBytes int
	for _, m := range a.waitSite(n) {
		j, _ := json.Marshal(m)
		logBytes += len(j) + 1
	}

	o := mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("anonymous").SetCleanSession(true)
	anon := mqtt.NewClient(o)
	if tok := anon.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer anon.Disconnect(100)
	req := []byte(`{"journal_id":"x","since":0}`)
	if len(req) != 28 {
		t.Fatalf("request is %d bytes", len(req))
	}
	for range 20 {
		if tok := anon.Publish(wire.TopicCatchup("sz01", "pack01"), 1, false, req); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	waitFor(t, "the hub handled all 20 requests", func() bool {
		var s hub.Stats
		getJSON(t, h, "/v1/stats", http.StatusOK, &s)
		return s.CatchupPages == 1 && s.CatchupsDeferred+s.CatchupsMerged == 19
	})
	// The page is published in chunks and the broker delivers to each client on its own, so wait
	// for the whole page first; the barrier then shows nothing more follows.
	waitFor(t, "the first page", func() bool { _, m := a.directTotals(); return m >= 1000 })
	// Barrier: an answer to another agent, published after everything the hub sent pack01.
	breq, _ := json.Marshal(wire.CatchupRequest{JournalID: "b", Since: n - 1})
	barrier.publish(wire.TopicCatchup("sz01", "pack02"), breq)
	waitFor(t, "the barrier answer", func() bool { _, m := barrier.directTotals(); return m == 1 })

	got, msgs := a.directTotals()
	t.Logf("downlink log %d bytes; 20 requests brought %d bytes (%d messages) to the agent's direct topic", logBytes, got, msgs)
	if msgs != 1000 || got > 256<<10+1 || got*2 > logBytes {
		t.Fatalf("20 requests brought %d messages, %d bytes (log: %d bytes), want one page of 1000 within 256 KiB", msgs, got, logBytes)
	}
	a.mu.Lock()
	first := a.direct[0][0].HSeq
	a.mu.Unlock()
	if first != 1 {
		t.Fatalf("page starts at hseq %d", first)
	}
}

// A catch-up longer than a page arrives in full, in order, each hseq once, from a single request.
func TestCatchupLongerThanAPageArrivesInFull(t *testing.T) {
	b, h := pacedHub(t, hub.CatchupLimits{PageMessages: 100, PageBytes: 16 << 10})
	a := newAgent(t, b.URL(), "sz01", "pack01")
	const n = 450
	postN(t, h, "sz01", n)
	req, _ := json.Marshal(wire.CatchupRequest{JournalID: "j1", Since: 7})
	a.publish(wire.TopicCatchup("sz01", "pack01"), req)
	waitFor(t, "the whole replay", func() bool { _, m := a.directTotals(); return m >= n-7 })
	a.mu.Lock()
	defer a.mu.Unlock()
	next := uint64(8)
	for i, d := range a.direct {
		if len(d) > 100 || len(a.directBytes[i]) > 16<<10+1 {
			t.Fatalf("page %d: %d messages, %d bytes", i, len(d), len(a.directBytes[i]))
		}
		for _, m := range d {
			if m.HSeq != next {
				t.Fatalf("hseq %d, want %d", m.HSeq, next)
			}
			next++
		}
	}
	if next != n+1 || len(a.direct) < 5 {
		t.Fatalf("replayed to %d in %d pages", next-1, len(a.direct))
	}
}

// waitSite waits until the site topic brought n messages and returns them.
func (a *agent) waitSite(n int) []wire.OrderMsg {
	a.t.Helper()
	waitFor(a.t, "the site's downlink", func() bool { return len(a.siteMsgs()) >= n })
	return a.siteMsgs()
}
