package hub_test

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"wedge/internal/testbroker"
	"wedge/sync/wire"
)

// Order messages go down to the PCs with the recipient's phone masked, on the site topic and in
// the stored downlink log (a catch-up replays it); the PC's journal echoes the masked copy, which
// does not replace the whole number in the hub's record: the reminder SMS still gets it whole. A
// phone change is a new version, published as its masked value.
func TestDownlinkMasksPhoneReminderKeepsIt(t *testing.T) {
	e, rcv := newNotifyEnv(t)
	e.broker = testbroker.Start(t, nil)
	e.startHub("wedge-hub-test")
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	m := *phoneOrder("1")
	m.Type, m.Payment = wire.TypeOrder, "full"
	var r postResp
	postJSON(t, e.hub, "/v1/orders", map[string]any{"site": "sz01", "orders": []wire.OrderMsg{m}}, http.StatusOK, &r)
	waitFor(t, "the order on the site topic", func() bool { return len(a.siteMsgs()) == 1 })
	down := a.siteMsgs()[0]
	if down.RecipientPhone != "138****5678" {
		t.Fatalf("published recipient_phone = %q, want 138****5678", down.RecipientPhone)
	}
	req, _ := json.Marshal(wire.CatchupRequest{JournalID: "j1", Since: 0})
	a.publish(wire.TopicCatchup("sz01", "pack01"), req)
	waitFor(t, "the replay", func() bool { a.mu.Lock(); defer a.mu.Unlock(); return len(a.direct) > 0 })
	a.mu.Lock()
	replayed := string(a.directBytes[0])
	a.mu.Unlock()
	if strings.Contains(replayed, phone) || !strings.Contains(replayed, "138****5678") {
		t.Fatalf("stored downlink message = %s, want the phone masked", replayed)
	}
	// The PC journals its intake with the message it got (masked).
	a.send("jp", chain("jp", wire.Entry{Kind: wire.KindIntake, OrderID: r.OrderIDs[0], To: "pending_allocation", Order: &down, At: wire.Time(t0)})...)
	a.waitAck(1)
	advanceUntil(t, e.clk, time.Minute, "the reminder sent", func() bool { return len(notifications(t, e.hub, "?state=sent")) == 1 })
	if _, bodies := rcv.counts(); len(bodies) != 1 || !strings.HasPrefix(bodies[0], `{"to":"`+phone+`"`) {
		t.Fatalf("SMS bodies = %v, want the whole phone %s", bodies, phone)
	}
	// A new phone: a higher version, published masked; the hub's record keeps it whole and its API
	// (tokens and the central console alike) shows its versions masked.
	m.RecipientPhone = "13987654321"
	postJSON(t, e.hub, "/v1/orders", map[string]any{"site": "sz01", "orders": []wire.OrderMsg{m}}, http.StatusOK, &r)
	waitFor(t, "the update on the site topic", func() bool { return len(a.siteMsgs()) >= 2 })
	var upd wire.OrderMsg
	for _, s := range a.siteMsgs() {
		if s.Type == wire.TypeOrder && s.Version > down.Version {
			upd = s
		}
	}
	if upd.RecipientPhone != "139****4321" || upd.Version <= down.Version {
		t.Fatalf("update = %+v, want a higher version with 139****4321 (first %d)", upd, down.Version)
	}
	var o struct {
		Versions []wire.OrderMsg `json:"versions"`
	}
	getJSON(t, e.hub, "/v1/orders/"+r.OrderIDs[0], http.StatusOK, &o)
	if n := len(o.Versions); n != 2 || o.Versions[0].RecipientPhone != "138****5678" || o.Versions[1].RecipientPhone != "139****4321" {
		t.Fatalf("GET /v1/orders versions = %+v, want two, with the phones masked", o.Versions)
	}
	if envStore == nil { // the bbolt store in e.dir
		var whole bool
		filepath.WalkDir(e.dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				b, _ := os.ReadFile(p)
				whole = whole || bytes.Contains(b, []byte("13987654321"))
			}
			return nil
		})
		if !whole {
			t.Errorf("the hub's store in %s does not hold the new phone whole", e.dir)
		}
	}
}
