package e2e

import (
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
		if e.Trigger == "carrier" && e.To == "picked_up" {
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
}
