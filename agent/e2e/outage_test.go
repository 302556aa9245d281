package e2e

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"wedge/internal/pty"
)

// outageFor is how long TestOutage keeps the broker down.
const outageFor = 30 * time.Second

// TestOutage streams scans on two agents while mosquitto is killed for 30 s and the hub process is
// SIGKILLed and restarted (while the broker is still down, and again while the backlog flows in).
// mosquitto comes back with the same TLS and ACL configuration on the same port. Afterwards nothing
// is lost: each agent's acked_seq at the hub equals its last seq, every journal entry about an
// order is in the hub's history (same hash), and each agent's entries keep their order.
func TestOutage(t *testing.T) {
	needE2E(t)
	dir := t.TempDir()
	b := startBroker(t, dir)
	h := startHub(t, dir, b, freeAddr(t))
	packScan, dockScan := openPty(t), openPty(t)
	pack := newAgent(t, dir, "pack01", b, stationSpec{"print-1", "print", packScan})
	dock := newAgent(t, dir, "dock01", b, stationSpec{"dock-1", "handover", dockScan})
	agents := []*agentProc{pack, dock}

	const n = 400
	orders := makeOrders("OU", n)
	h.dispatch(t, "sz01", orders)
	for _, a := range agents {
		waitFor(t, 60*time.Second, a.name+" receives the orders", func() bool {
			return a.orderState(t, orders[0].OrderID) == "pending_allocation" && a.orderState(t, orders[n-1].OrderID) == "pending_allocation"
		})
		waitFor(t, 30*time.Second, a.name+" has its scanner open", func() bool { return a.devicesConnected(t) })
	}

	// pack01 prints orders one after another; dock01 hands over orders some way behind (whether
	// it already knows they are printed depends on the hub and the broker: refusals are fine).
	var printed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		feed(packScan, stop, "OP-pack", func(i int) []string {
			if i >= n {
				return nil
			}
			printed.Store(int64(i))
			return []string{orders[i].OrderID, orders[i].Waybill}
		})
	}()
	go func() {
		defer wg.Done()
		feed(dockScan, stop, "OP-dock", func(i int) []string {
			j := int(printed.Load()) - 15
			if j < 0 {
				return []string{}
			}
			return []string{orders[j].Waybill}
		})
	}()
	defer func() { close(stop); wg.Wait() }()

	time.Sleep(3 * time.Second)
	b.Stop()
	t.Logf("broker stopped")
	outage := time.Now()
	waitFor(t, 30*time.Second, "pack01 notices the broker is gone", func() bool { return !pack.status(t).BrokerConnected })
	waitFor(t, outageFor, "scans journaled during the outage stay unsynced", func() bool {
		s := pack.status(t)
		return s.Unsynced > 5
	})
	time.Sleep(outageFor / 3)
	h.restart(t) // SIGKILL, then start again with no broker to talk to
	t.Logf("hub restarted")
	time.Sleep(time.Until(outage.Add(outageFor)))
	b.Restart()
	t.Logf("broker back after %s", time.Since(outage).Round(time.Second))
	time.Sleep(1500 * time.Millisecond)
	h.restart(t) // and once more while the backlog is flowing in
	t.Logf("hub restarted again")
	time.Sleep(3 * time.Second)
	close(stop)
	wg.Wait()
	stop = make(chan struct{}) // for the deferred close

	last := map[string]uint64{}
	for _, a := range agents {
		last[a.name] = a.drained(t, h, 120*time.Second)
	}
	// Both agents end with the hub's view of every order (they merge what the other one did).
	for _, a := range agents {
		waitFor(t, 60*time.Second, a.name+" agrees with the hub on every order", func() bool {
			for _, o := range orders {
				ho, ok := h.order(o.OrderID)
				if !ok || a.orderState(t, o.OrderID) != ho.State {
					return false
				}
			}
			return true
		})
	}
	// Merging the other agent's steps appends merge entries, so drain once more before the counts
	// are compared: last must be the final seq, acked by the hub.
	for _, a := range agents {
		last[a.name] = a.drained(t, h, 120*time.Second)
	}
	// Everything came through the restarted broker: the same TLS listener with client certificates
	// and the ACL, on the same port (the agents and the hub never change their URL).
	b.requireSecure(t)
	for _, a := range agents {
		a.stop()
		a.verify(t)
	}

	hubSeen := map[string]map[uint64]string{} // agent → seq → hash
	for _, a := range agents {
		hubSeen[a.name] = map[uint64]string{}
	}
	picked := 0
	for _, o := range orders {
		ho, ok := h.order(o.OrderID)
		if !ok {
			t.Fatalf("order %s unknown at the hub", o.OrderID)
		}
		checkPerAgentOrder(t, ho)
		for _, e := range ho.History {
			if m := hubSeen[e.Agent]; m != nil {
				if _, dup := m[e.Seq]; dup {
					t.Errorf("%s seq %d twice at the hub", e.Agent, e.Seq)
				}
				m[e.Seq] = e.Hash
			}
		}
		if ho.State == "picked_up" {
			picked++
		}
	}
	for _, a := range agents {
		js := a.entries(t)
		if uint64(len(js)) != last[a.name] {
			t.Errorf("%s: journal has %d entries, last seq %d", a.name, len(js), last[a.name])
		}
		for i, e := range js {
			if e.Seq != uint64(i+1) {
				t.Fatalf("%s: journal entry %d has seq %d", a.name, i+1, e.Seq)
			}
			if e.OrderID != "" && hubSeen[a.name][e.Seq] != e.Hash {
				t.Errorf("%s: journal entry %d (%s %s) is not at the hub", a.name, e.Seq, e.Kind, e.OrderID)
			}
		}
		ha := h.agents()[a.name]
		if ha.AckedSeq != last[a.name] {
			t.Errorf("%s: hub acked_seq %d, agent's last seq %d", a.name, ha.AckedSeq, last[a.name])
		}
		t.Logf("%s: %d journal entries, all at the hub", a.name, len(js))
	}
	h.checkStats(t, last["pack01"]+last["dock01"])
	if printed.Load() < 50 || picked == 0 {
		t.Errorf("the stream did too little to mean anything: %d printed, %d picked up", printed.Load(), picked)
	}
	t.Logf("%d orders printed, %d picked up", printed.Load(), picked)
}

// feed writes a badge, then next(0), next(1), … to p, pausing between scans, until stop closes or
// next returns nil. An empty slice means nothing to scan yet.
func feed(p *pty.Pair, stop <-chan struct{}, badge string, next func(i int) []string) {
	p.Write([]byte(badge + "\r"))
	for i := 0; ; i++ {
		codes := next(i)
		if codes == nil {
			return
		}
		for _, c := range codes {
			select {
			case <-stop:
				return
			case <-time.After(40 * time.Millisecond):
			}
			p.Write([]byte(c + "\r"))
		}
		if len(codes) == 0 {
			select {
			case <-stop:
				return
			case <-time.After(40 * time.Millisecond):
			}
		}
	}
}
