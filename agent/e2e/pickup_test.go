package e2e

import (
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCarrierFirstScanPickup: the real hub with sites.sz01.pickup: carrier_first_scan sends the
// policy to the site's PCs as a signed command; a handover scan at dock01 then records the handover
// and leaves the order 已打单 everywhere; only the courier's first scan (POST /v1/tracking) makes it
// 已揽收, journaled by dock01 with trigger carrier and merged by pack01.
func TestCarrierFirstScanPickup(t *testing.T) {
	needE2E(t)
	dir := t.TempDir()
	b := startBroker(t, dir)
	cfg := filepath.Join(dir, "hub.yaml")
	if err := os.WriteFile(cfg, []byte("sites:\n  sz01: {pickup: carrier_first_scan}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := startHubConfig(t, dir, b, freeAddr(t), cfg)
	packScan, dockScan := openPty(t), openPty(t)
	pack := newAgent(t, dir, "pack01", b, stationSpec{"print-1", "print", packScan})
	dock := newAgent(t, dir, "dock01", b, stationSpec{"dock-1", "handover", dockScan})
	for _, a := range []*agentProc{pack, dock} {
		waitFor(t, 60*time.Second, a.name+" applies the site's pickup policy", func() bool { return a.status(t).Pickup == "carrier_first_scan" })
		waitFor(t, 30*time.Second, a.name+" has its scanner open", func() bool { return a.devicesConnected(t) })
	}
	orders := makeOrders("CF", 2)
	h.dispatch(t, "sz01", orders)
	waitFor(t, 60*time.Second, "pack01 receives the orders", func() bool {
		return pack.orderState(t, orders[0].OrderID) == "pending_allocation" && pack.orderState(t, orders[1].OrderID) == "pending_allocation"
	})
	scan(t, packScan, "OP-li4", orders[0].OrderID, orders[0].Waybill, orders[1].OrderID, orders[1].Waybill)
	waitFor(t, 60*time.Second, "dock01 learns both are 已打单", func() bool {
		return dock.orderState(t, orders[0].OrderID) == "waybill_printed" && dock.orderState(t, orders[1].OrderID) == "waybill_printed"
	})
	scan(t, dockScan, "OP-wang5", orders[0].Waybill, orders[1].Waybill)
	waitFor(t, 30*time.Second, "both handovers recorded", func() bool {
		n := 0
		for _, o := range dock.outcomes(t) {
			if o.result == "recorded" {
				n++
			}
		}
		return n == 2
	})
	if dock.orderState(t, orders[0].OrderID) != "waybill_printed" {
		t.Fatalf("a handover scan moved the order under carrier_first_scan")
	}

	tok := h.token
	post := func(body string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, h.url("/v1/tracking"), strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST /v1/tracking %s: %d", body, resp.StatusCode)
		}
	}
	// An in_transit event moves nothing; the first scan of order 0 makes it 已揽收 on both PCs and at the hub.
	post(`{"carrier":"sf","waybill":"` + orders[0].Waybill + `","event":"in_transit","at":"2026-01-22T11:00:00+08:00"}`)
	post(`{"carrier":"sf","waybill":"` + orders[0].Waybill + `","event":"first_scan","at":"2026-01-22T10:00:00+08:00"}`)
	waitFor(t, 60*time.Second, "order 0 已揽收 at the hub and on both PCs", func() bool {
		ho, ok := h.order(orders[0].OrderID)
		return ok && ho.State == "picked_up" && dock.orderState(t, orders[0].OrderID) == "picked_up" &&
			pack.orderState(t, orders[0].OrderID) == "picked_up"
	})
	ho, _ := h.order(orders[0].OrderID)
	carrier := 0
	for _, e := range ho.History {
		if e.Kind == "step" && e.Trigger == "carrier" && e.To == "picked_up" { // not the carrier notes, which move nothing
			carrier++
		}
	}
	if carrier != 1 {
		t.Fatalf("want one carrier step in the hub history, got %d: %+v", carrier, ho.History)
	}
	// Order 1 got no first scan: still 已打单.
	if s := dock.orderState(t, orders[1].OrderID); s != "waybill_printed" {
		t.Fatalf("order 1 without a first scan is %s", s)
	}

	// Every carrier event reaches both PCs (tracking messages): each journals it once as a note
	// with trigger carrier that moves nothing, and shows the latest. Order 1's in_transit and
	// delivered, without a first scan, leave it 已打单 everywhere.
	post(`{"carrier":"sf","waybill":"` + orders[0].Waybill + `","event":"delivered","at":"2026-01-23T15:00:00+08:00"}`)
	post(`{"carrier":"sf","waybill":"` + orders[1].Waybill + `","event":"delivered","at":"2026-01-23T16:00:00+08:00"}`)
	post(`{"carrier":"sf","waybill":"` + orders[1].Waybill + `","event":"in_transit","at":"2026-01-22T12:00:00+08:00"}`)
	post(`{"carrier":"sf","waybill":"` + orders[0].Waybill + `","event":"delivered","at":"2026-01-23T15:00:00+08:00"}`) // a repeat
	// Last, so that once the PCs have it a relayed repeat would have reached them too.
	post(`{"carrier":"sf","waybill":"` + orders[1].Waybill + `","event":"accepted","at":"2026-01-22T09:00:00+08:00"}`)
	want := map[string]map[string]int{
		orders[0].OrderID: {"in_transit": 1, "first_scan": 1, "delivered": 1},
		orders[1].OrderID: {"in_transit": 1, "delivered": 1, "accepted": 1},
	}
	for _, a := range []*agentProc{pack, dock} {
		for id, w := range want {
			waitFor(t, 60*time.Second, a.name+" journals the carrier events of "+id, func() bool {
				o, ok := a.tracked(t, id)
				return ok && o.Order.Tracking.Event == "delivered" && len(carrierNotes(o.History)) == len(w)
			})
		}
	}
	// The repeat of order 0's delivered was not relayed twice.
	for _, a := range []*agentProc{pack, dock} {
		for id, w := range want {
			o, _ := a.tracked(t, id)
			if got := carrierNotes(o.History); !maps.Equal(got, w) {
				t.Fatalf("%s: carrier notes of %s %v, want %v", a.name, id, got, w)
			}
		}
		if s := a.orderState(t, orders[1].OrderID); s != "waybill_printed" {
			t.Fatalf("%s: in_transit and delivered without a first scan made order 1 %s", a.name, s)
		}
	}
	if ho, _ := h.order(orders[1].OrderID); ho.State != "waybill_printed" {
		t.Fatalf("hub: order 1 is %s after carrier events without a first scan", ho.State)
	}
}
