package e2e

import (
	"strings"
	"testing"
	"time"

	"wedge/sync/wire"
)

// TestHappyPath: two agents of one site on real processes. pack01's print station pairs each order
// with its waybill label; dock01's handover station, which learns the printed state only through the
// hub's rebroadcast, hands each parcel over. Every order ends 已揽收 at the hub with its history.
func TestHappyPath(t *testing.T) {
	needE2E(t)
	dir := t.TempDir()
	b := startBroker(t, dir)
	h := startHub(t, dir, b, freeAddr(t))
	packScan, dockScan := openPty(t), openPty(t)
	pack := newAgent(t, dir, "pack01", b, stationSpec{"print-1", "print", packScan})
	dock := newAgent(t, dir, "dock01", b, stationSpec{"dock-1", "handover", dockScan})

	const n = 50
	orders := makeOrders("HP", n)
	h.dispatch(t, "sz01", orders)
	for _, a := range []*agentProc{pack, dock} {
		waitFor(t, 60*time.Second, a.name+" receives all orders", func() bool {
			for _, o := range orders {
				if a.orderState(t, o.OrderID) != "pending_allocation" {
					return false
				}
			}
			return true
		})
		waitFor(t, 30*time.Second, a.name+" has its scanner open", func() bool { return a.devicesConnected(t) })
	}

	scan(t, packScan, "OP-li4")
	for i, o := range orders {
		code := o.OrderID
		if i%2 == 1 {
			code = o.ChannelOrderNo // the pick slip may show the platform's order number instead
		}
		scan(t, packScan, code, o.Waybill)
	}
	waitFor(t, 90*time.Second, "dock01 learns every order is 已打单 from the hub", func() bool {
		for _, o := range orders {
			if dock.orderState(t, o.OrderID) != "waybill_printed" {
				return false
			}
		}
		return true
	})
	scan(t, dockScan, "OP-wang5")
	for _, o := range orders {
		scan(t, dockScan, o.Waybill)
	}

	waitFor(t, 90*time.Second, "every order is 已揽收 at the hub", func() bool {
		for _, o := range orders {
			if ho, ok := h.order(o.OrderID); !ok || ho.State != "picked_up" {
				return false
			}
		}
		return true
	})
	for _, o := range orders {
		ho, _ := h.order(o.OrderID)
		if ho.Waybill != o.Waybill || ho.Carrier != "sf" {
			t.Errorf("%s at the hub: waybill %q carrier %q, want %q sf", o.OrderID, ho.Waybill, ho.Carrier, o.Waybill)
		}
		intakes := 0
		for _, e := range ho.History {
			if e.Kind == wire.KindIntake {
				intakes++
			}
		}
		if intakes == 0 {
			t.Errorf("%s: no intake entry in the hub history", o.OrderID)
		}
		want := "pending_allocation→waybill_printed@pack01 waybill_printed→picked_up@dock01"
		if got := strings.Join(steps(ho), " "); got != want {
			t.Errorf("%s: hub steps %q, want %q", o.OrderID, got, want)
		}
		for _, e := range ho.History {
			if e.Kind == wire.KindStep && e.To == "picked_up" && (e.Operator != "OP-wang5" || e.Station != "dock-1") {
				t.Errorf("%s: pick-up step by %q at %q", o.OrderID, e.Operator, e.Station)
			}
			if e.Kind == wire.KindStep && e.To == "waybill_printed" && (e.Operator != "OP-li4" || e.Station != "print-1" || e.Waybill != o.Waybill) {
				t.Errorf("%s: print step by %q at %q waybill %q", o.OrderID, e.Operator, e.Station, e.Waybill)
			}
		}
		checkPerAgentOrder(t, ho)
	}
	h.checkTrace(t, orders[1])
	if s := h.stats(t); s.OrdersPerState["picked_up"] != n {
		t.Errorf("hub stats: %+v", s)
	}
	var total uint64
	for _, a := range []*agentProc{pack, dock} {
		total += a.drained(t, h, 60*time.Second)
		for _, o := range a.outcomes(t) {
			if o.result != "accepted" {
				t.Errorf("%s: scan %q was not accepted: %+v", a.name, o.code, o)
			}
		}
	}
	h.checkStats(t, total)
	pack.stop()
	dock.stop()
	h.stop()
	pack.verify(t)
	dock.verify(t)
}
