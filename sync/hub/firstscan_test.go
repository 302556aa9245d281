package hub_test

import (
	"encoding/json"
	"net/http"
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

// For a carrier_first_scan site the hub relays a carrier first_scan of a known order to the site's
// agents as a first_scan downlink message with an hseq; other events, unknown waybills and sites
// under handover_scan get nothing.
func TestFirstScanRelayedToCarrierPolicySites(t *testing.T) {
	e := &env{t: t, broker: testbroker.Start(t, nil), dir: t.TempDir(), clk: clock.NewFake(t0), logs: &logSink{}}
	e.extra = func(o *hub.Options) {
		o.Pickup = map[string]order.PickupPolicy{"sz01": order.PickupCarrierFirstScan, "sz02": order.PickupHandoverScan}
	}
	e.startHub("wedge-hub-test")
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	b := newAgent(t, e.broker.URL(), "sz02", "pack01")
	a.send("ja", chain("ja", spine("O-1")[:2]...)...)
	a.waitAck(1)
	o2 := spine("O-2")[:2]
	o2[1].Waybill = "SF1234567890456"
	b.send("jb", chain("jb", o2...)...)
	b.waitAck(1)
	tok := newToken(t, e.hub, "kd-bridge", apitoken.TrackingWrite)
	for _, body := range []string{
		`{"carrier":"sf","waybill":"SF1234567890456","event":"first_scan","at":"2026-01-22T10:00:00+08:00"}`, // sz02: handover_scan
		`{"carrier":"sf","waybill":"SF1234567890123","event":"in_transit","at":"2026-01-22T11:00:00+08:00"}`,
		`{"carrier":"sf","waybill":"SF1234567890123","event":"first_scan","at":"2026-01-22T10:00:00+08:00"}`,
		`{"carrier":"sf","waybill":"SF1234567890123","event":"first_scan","at":"2026-01-22T10:00:00+08:00"}`, // a repeat
	} {
		if code, resp := do(t, e.hub, http.MethodPost, "/v1/tracking", tok, []byte(body)); code != http.StatusOK {
			t.Fatalf("POST %s = %d %s", body, code, resp)
		}
	}
	firstScans := func(ag *agent) []wire.OrderMsg {
		var out []wire.OrderMsg
		for _, m := range ag.siteMsgs() {
			if m.Type == wire.TypeFirstScan {
				out = append(out, m)
			}
		}
		return out
	}
	testutil.Eventually(t, 15*time.Second, "first_scan relayed to sz01", func() bool { return len(firstScans(a)) > 0 })
	fs := firstScans(a)
	if len(fs) != 1 || fs[0].HSeq == 0 || fs[0].OrderID != "O-1" || fs[0].Waybill != "SF1234567890123" || fs[0].Carrier != "sf" ||
		fs[0].At != "2026-01-22T02:00:00.000Z" {
		t.Fatalf("first_scan messages %+v", fs)
	}
	// sz02's first scan was posted first (the hub's one client publishes in order), and relayed nothing.
	if got := firstScans(b); len(got) != 0 {
		t.Fatalf("handover_scan site got %+v", got)
	}
}

// An agent whose status reports another pickup policy than hub.yaml's for its site gets a signed,
// stored pickup_policy command by hub.yaml, once; agents that report none (they predate the
// policy) or the right one get nothing.
func TestPickupPolicyCommandFromConfig(t *testing.T) {
	e := &env{t: t, broker: testbroker.Start(t, nil), dir: t.TempDir(), clk: clock.NewFake(t0), logs: &logSink{}}
	e.extra = func(o *hub.Options) { o.Pickup = map[string]order.PickupPolicy{"sz01": order.PickupCarrierFirstScan} }
	e.startHub("wedge-hub-test")
	var mu sync.Mutex
	got := map[string][][]byte{}
	for _, ag := range []string{"pack01", "pack02", "pack03"} {
		a := newAgent(t, e.broker.URL(), "sz01", ag)
		tok := a.cli.Subscribe(wire.TopicCommand("sz01", ag), 1, func(_ mqtt.Client, m mqtt.Message) {
			mu.Lock()
			got[ag] = append(got[ag], append([]byte(nil), m.Payload()...))
			mu.Unlock()
		})
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
		reported := map[string]string{"pack01": "handover_scan", "pack02": "", "pack03": "carrier_first_scan"}[ag]
		for range 2 { // a second status must not send it again
			st, _ := json.Marshal(wire.Status{State: "online", Site: "sz01", Agent: ag, JournalID: "j-" + ag, Pickup: reported})
			a.cli.Publish(wire.TopicStatus("sz01", ag), 1, false, st).Wait()
		}
	}
	count := func(ag string) int { mu.Lock(); defer mu.Unlock(); return len(got[ag]) }
	testutil.Eventually(t, 15*time.Second, "pickup command to pack01", func() bool { return count("pack01") > 0 })
	var recs []commandView
	testutil.Eventually(t, 15*time.Second, "statuses of every agent stored", func() bool {
		var agents []map[string]any
		getJSON(t, e.hub, "/v1/agents", http.StatusOK, &agents)
		return len(agents) == 3
	})
	getJSON(t, e.hub, "/v1/agents/sz01/pack01/commands", http.StatusOK, &recs)
	mu.Lock()
	msgs := got["pack01"]
	mu.Unlock()
	// No signing key in this test: the payload is the command itself.
	c, p, err := order.ParsePickupCommand(msgs[0])
	if err != nil || p != order.PickupCarrierFirstScan || c.By != "hub.yaml" || c.ID == "" || len(recs) != 1 || recs[0].ID != c.ID || recs[0].Type != order.CommandPickup {
		t.Fatalf("command %s %+v %q %v; stored %+v", msgs[0], c, p, err, recs)
	}
	if n := count("pack01"); n != 1 {
		t.Fatalf("pack01 got %d commands", n)
	}
	if count("pack02") != 0 || count("pack03") != 0 {
		t.Fatalf("commands to agents that report none or the right policy: %d %d", count("pack02"), count("pack03"))
	}
}

// A pickup_policy command POSTed to the hub is checked with the agent's parser (order.ParseAnyCommand):
// a valid one is stored and published, a bad policy or a breaker field in it is refused.
func TestPickupPolicyCommandPosted(t *testing.T) {
	e := newEnv(t)
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	st, _ := json.Marshal(wire.Status{State: "online", Site: "sz01", Agent: "pack01", JournalID: "j1"})
	a.cli.Publish(wire.TopicStatus("sz01", "pack01"), 1, false, st).Wait()
	waitFor(t, "agent known", func() bool {
		var agents []map[string]any
		getJSON(t, e.hub, "/v1/agents", http.StatusOK, &agents)
		return len(agents) == 1
	})
	zhang := newToken(t, e.hub, "ops-zhang", apitoken.CommandsWrite)
	path := "/v1/agents/sz01/pack01/commands"
	var ok commandView
	postJSONAs(t, e.hub, zhang, path, json.RawMessage(`{"type":"pickup_policy","reason":"试点","pickup":"carrier_first_scan"}`), http.StatusAccepted, &ok)
	if ok.Type != order.CommandPickup || ok.By != "ops-zhang" || ok.ID == "" {
		t.Fatalf("answer %+v", ok)
	}
	if _, p, err := order.ParsePickupCommand(ok.Payload); err != nil || p != order.PickupCarrierFirstScan {
		t.Fatalf("stored payload %s: %q %v", ok.Payload, p, err)
	}
	for _, bad := range []string{`{"type":"pickup_policy","pickup":"later"}`, `{"type":"pickup_policy"}`,
		`{"type":"pickup_policy","pickup":"handover_scan","max_backlog":3}`} {
		var er map[string]string
		postJSONAs(t, e.hub, zhang, path, json.RawMessage(bad), http.StatusBadRequest, &er)
	}
}

// A first scan that reached the hub before the handover was scanned is relayed again when the
// agent's handed_over note arrives, so the PC holding the mark can journal 已揽收.
func TestFirstScanBeforeHandoverRelayedAgain(t *testing.T) {
	e := &env{t: t, broker: testbroker.Start(t, nil), dir: t.TempDir(), clk: clock.NewFake(t0), logs: &logSink{}}
	e.extra = func(o *hub.Options) { o.Pickup = map[string]order.PickupPolicy{"sz01": order.PickupCarrierFirstScan} }
	e.startHub("wedge-hub-test")
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	entries := spine("O-1")[:2]
	a.send("ja", chain("ja", entries...)...)
	a.waitAck(1)
	tok := newToken(t, e.hub, "kd-bridge", apitoken.TrackingWrite)
	body := `{"carrier":"sf","waybill":"SF1234567890123","event":"first_scan","at":"2026-01-22T10:00:00+08:00"}`
	if code, resp := do(t, e.hub, http.MethodPost, "/v1/tracking", tok, []byte(body)); code != http.StatusOK {
		t.Fatalf("POST %d %s", code, resp)
	}
	firstScans := func() int {
		n := 0
		for _, m := range a.siteMsgs() {
			if m.Type == wire.TypeFirstScan && m.OrderID == "O-1" {
				n++
			}
		}
		return n
	}
	testutil.Eventually(t, 15*time.Second, "first relay", func() bool { return firstScans() == 1 })
	note := wire.Entry{Kind: wire.KindNote, Reason: order.NoteHandedOver, OrderID: "O-1", From: "waybill_printed", To: "waybill_printed",
		Waybill: "SF1234567890123", Station: "dock-1", Trigger: wire.TriggerScan}
	a.send("ja", chain("ja", append(entries, note)...)...)
	testutil.Eventually(t, 15*time.Second, "relayed again after the handover note", func() bool { return firstScans() == 2 })
}
