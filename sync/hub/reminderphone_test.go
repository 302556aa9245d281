package hub_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"wedge/internal/testbroker"
	"wedge/order"
	"wedge/sync/wire"
)

// An order whose phone is only in its one-line recipient gets its reminder at that number; a new
// version of the order with a corrected recipient_phone, before the reminder is due, moves the
// pending reminder to the new number.
func TestReminderFollowsThePhone(t *testing.T) {
	e, rcv := newNotifyEnv(t)
	e.broker = testbroker.Start(t, nil)
	e.startHub("wedge-hub-test")
	pc := newAgent(t, e.broker.URL(), "sz01", "pack01")

	line := orderMsg("L1")
	line.Recipient = "王五 +86 139-5721-8465 广东省深圳市南山区科技园路1号"
	var r postResp
	postJSON(t, e.hub, "/v1/orders", map[string]any{"site": "sz01", "orders": []wire.OrderMsg{*line}}, http.StatusOK, &r)
	// The PC journals the downlink's copy, its line masked: the hub keeps the whole one.
	masked := *line
	masked.Recipient = order.MaskLinePhones(line.Recipient)
	pc.send("j1", chain("j1", wire.Entry{Kind: wire.KindIntake, OrderID: line.OrderID, To: "pending_allocation", Order: &masked, At: wire.Time(t0)})...)
	pc.waitAck(1)
	waitFor(t, "the reminder queued", func() bool { return len(notifications(t, e.hub, "?site=sz01")) == 1 })
	if n := notifications(t, e.hub, "?site=sz01")[0]; n.Phone != "139****8465" {
		t.Fatalf("reminder of a one-line recipient = %+v; want the line's mobile (masked in the view)", n)
	}

	upd := *line
	upd.Version, upd.RecipientPhone = 2, "13957218466"
	postJSON(t, e.hub, "/v1/orders", map[string]any{"site": "sz01", "orders": []wire.OrderMsg{upd}}, http.StatusOK, &r)
	waitFor(t, "the reminder moved to the corrected number", func() bool {
		ns := notifications(t, e.hub, "?site=sz01")
		return len(ns) == 1 && ns[0].Phone == "139****8466"
	})
	advanceUntil(t, e.clk, time.Minute, "the reminder sent", func() bool { return len(notifications(t, e.hub, "?state=sent")) == 1 })
	ok, bodies := rcv.counts()
	if len(ok) != 1 || len(bodies) != 1 || !strings.HasPrefix(bodies[0], `{"to":"13957218466"`) {
		t.Fatalf("gateway got %v %v; want one SMS to the corrected number", ok, bodies)
	}
	if e.logs.contains("13957218466") || e.logs.contains("13957218465") {
		t.Fatal("a log line carries a whole phone number")
	}
}
