package hub_test

import (
	"net/http"
	"testing"
	"time"

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
