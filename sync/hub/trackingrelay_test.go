package hub_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"wedge/internal/clock"
	"wedge/internal/testbroker"
	"wedge/internal/testutil"
	"wedge/order"
	"wedge/sync/apitoken"
	"wedge/sync/hub"
	"wedge/sync/wire"
)

// Every carrier event stored for the first time for a known order reaches that order's site as a
// tracking message, under either pickup policy: numbered in the site's downlink (the catch-up
// replays it with the same hseq) and signed by the hub for the site's topic. The first_scan message
// of a carrier_first_scan site is still sent as before, beside it. A repeat, an unknown waybill
// and another site's order relay nothing; events out of order are relayed as they come.
func TestTrackingEventsRelayedSigned(t *testing.T) {
	k := newKeys(t)
	e := &env{t: t, broker: testbroker.Start(t, nil), dir: t.TempDir(), clk: clock.NewFake(t0), logs: &logSink{},
		extra: func(o *hub.Options) {
			o.SigningKey, o.AgentKeysDir = k.hub, k.dir
			o.Pickup = map[string]order.PickupPolicy{"sz01": order.PickupCarrierFirstScan, "sz02": order.PickupHandoverScan}
		}}
	keyA, keyB := k.agent(t, "sz01", "pack01", true), k.agent(t, "sz02", "pack01", true) // registered before the hub starts
	e.startHub("wedge-hub-test")
	hubKey := wire.NewVerifier(k.hubPub)
	a := newSigningAgent(t, e.broker.URL(), "sz01", "pack01", hubKey, keyA)
	b := newSigningAgent(t, e.broker.URL(), "sz02", "pack01", hubKey, keyB)

	// The raw payloads on sz01's downlink, to check each signature for the topic (a client of its
	// own: a second subscription of a client would replace the agent's handler).
	var mu sync.Mutex
	var raw [][]byte
	spy := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(e.broker.URL()).SetClientID("test-spy").SetCleanSession(true))
	if tok := spy.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	t.Cleanup(func() { spy.Disconnect(100) })
	tok := spy.Subscribe(wire.TopicOrders("sz01"), 1, func(_ mqtt.Client, m mqtt.Message) {
		mu.Lock()
		raw = append(raw, append([]byte(nil), m.Payload()...))
		mu.Unlock()
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}

	a.send("ja", chain("ja", spine("O-1")[:2]...)...) // sz01, carrier_first_scan, waybill SF1234567890123
	a.waitAck(1)
	o2 := spine("O-2")[:2]
	o2[1].Waybill = "SF1234567890456"
	b.send("jb", chain("jb", o2...)...) // sz02, handover_scan
	b.waitAck(1)

	trackTok := newToken(t, e.hub, "kd-bridge", apitoken.TrackingWrite)
	post := func(body string, want int) {
		t.Helper()
		if code, resp := do(t, e.hub, http.MethodPost, "/v1/tracking", trackTok, []byte(body)); code != want {
			t.Fatalf("POST %s = %d %s", body, code, resp)
		}
	}
	post(`{"carrier":"sf","waybill":"SF1234567890123","event":"delivered","at":"2026-01-23T15:00:00+08:00"}`, http.StatusOK)
	post(`{"carrier":"sf","waybill":"SF1234567890123","event":"in_transit","at":"2026-01-22T20:00:00+08:00"}`, http.StatusOK)
	post(`{"carrier":"sf","waybill":"SF1234567890123","event":"delivered","at":"2026-01-23T15:00:00+08:00"}`, http.StatusOK)        // a repeat
	post(`{"carrier":"sf","waybill":"SF0000000000999","event":"in_transit","at":"2026-01-22T20:00:00+08:00"}`, http.StatusAccepted) // unknown
	post(`{"carrier":"sf","waybill":"SF1234567890456","event":"exception","at":"2026-01-22T21:00:00+08:00"}`, http.StatusOK)        // sz02
	post(`{"carrier":"sf","waybill":"SF1234567890123","event":"first_scan","at":"2026-01-22T17:00:00+08:00"}`, http.StatusOK)

	byType := func(ag *agent, typ string) []wire.OrderMsg {
		var out []wire.OrderMsg
		for _, m := range ag.siteMsgs() {
			if m.Type == typ {
				out = append(out, m)
			}
		}
		return out
	}
	testutil.Eventually(t, 15*time.Second, "sz01 gets three tracking messages and the first_scan", func() bool {
		return len(byType(a, wire.TypeTracking)) >= 3 && len(byType(a, wire.TypeFirstScan)) >= 1
	})
	testutil.Eventually(t, 15*time.Second, "sz02 gets its tracking message", func() bool { return len(byType(b, wire.TypeTracking)) >= 1 })

	tr := byType(a, wire.TypeTracking)
	want := []struct{ event, at string }{
		{"delivered", "2026-01-23T07:00:00.000Z"}, {"in_transit", "2026-01-22T12:00:00.000Z"}, {"first_scan", "2026-01-22T09:00:00.000Z"},
	}
	if len(tr) != len(want) {
		t.Fatalf("sz01 tracking messages %+v", tr)
	}
	for i, w := range want {
		if m := tr[i]; m.Event != w.event || m.At != w.at || m.OrderID != "O-1" || m.Waybill != "SF1234567890123" || m.Carrier != "sf" || m.HSeq == 0 {
			t.Fatalf("tracking message %d: %+v, want %s at %s", i, m, w.event, w.at)
		}
	}
	fs := byType(a, wire.TypeFirstScan)
	if len(fs) != 1 || fs[0].HSeq+1 != tr[2].HSeq {
		t.Fatalf("first_scan %+v, then tracking %+v", fs, tr[2])
	}
	if got := byType(b, wire.TypeTracking); len(got) != 1 || got[0].OrderID != "O-2" || got[0].Event != "exception" {
		t.Fatalf("sz02 tracking messages %+v", got)
	}
	if got := byType(b, wire.TypeFirstScan); len(got) != 0 {
		t.Fatalf("handover_scan site got first_scan %+v", got)
	}
	// Every sz01 hseq appears once, increasing; every payload carries the hub's signature for the topic.
	var last uint64
	for _, m := range a.siteMsgs() {
		if m.HSeq <= last {
			t.Fatalf("hseq %d after %d in %+v", m.HSeq, last, a.siteMsgs())
		}
		last = m.HSeq
	}
	// signedTracking checks every payload the spy got and counts the tracking messages in them.
	signedTracking := func() int {
		mu.Lock()
		payloads := append([][]byte(nil), raw...)
		mu.Unlock()
		n := 0
		for _, p := range payloads {
			body, kid, err := hubKey.Verify(wire.TopicOrders("sz01"), p)
			if err != nil || kid != wire.KeyID(k.hubPub) {
				t.Fatalf("downlink payload not signed by the hub: %v (kid %q): %q", err, kid, p)
			}
			if _, _, err := hubKey.Verify(wire.TopicOrders("sz02"), p); err == nil {
				t.Fatal("a payload signed for sz01 verifies on sz02's topic")
			}
			msgs, _, err := wire.ParseDownlink(body) // one message, or an array of those one commit numbered
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				if m.Type == wire.TypeTracking {
					n++
				}
			}
		}
		return n
	}
	// The spy is another client: the broker may deliver to it after the agent.
	testutil.Eventually(t, 15*time.Second, "the spy gets the signed tracking payloads", func() bool { return signedTracking() >= 3 })
	if n := signedTracking(); n != 3 {
		t.Fatalf("%d signed tracking messages on sz01's downlink, want 3", n)
	}
	// The downlink log holds them: a catch-up from 0 replays them with the same numbers.
	req, _ := json.Marshal(wire.CatchupRequest{JournalID: "ja", Since: 0})
	a.publish(wire.TopicCatchup("sz01", "pack01"), req)
	replayed := func() []wire.OrderMsg {
		a.mu.Lock()
		defer a.mu.Unlock()
		var out []wire.OrderMsg
		for _, d := range a.direct {
			for _, m := range d {
				if m.Type == wire.TypeTracking {
					out = append(out, m)
				}
			}
		}
		return out
	}
	testutil.Eventually(t, 15*time.Second, "the catch-up replays the tracking messages", func() bool { return len(replayed()) >= 3 })
	got := replayed()
	if len(got) != len(tr) {
		t.Fatalf("replayed %+v, published %+v", got, tr)
	}
	for i, m := range got {
		if !reflect.DeepEqual(m, tr[i]) {
			t.Fatalf("replayed %+v, published %+v", m, tr[i])
		}
	}
}
