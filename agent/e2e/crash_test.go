package e2e

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"wedge/internal/pty"
	"wedge/sync/wire"
)

// crashKills is how many times TestCrash SIGKILLs the agent.
const crashKills = 22

// TestCrash SIGKILLs the print agent at random moments while its scanner streams order codes, good
// and bad waybills, restarting it each time. What the agent logged as an outcome (it logs only after
// the commit) is what an operator was told; after the last restart and drain every accepted step is
// at the hub exactly once, no rejected scan advanced an order, and the journal chain verifies.
func TestCrash(t *testing.T) {
	needE2E(t)
	dir := t.TempDir()
	b := startBroker(t, dir)
	h := startHub(t, dir, b, freeAddr(t))
	sc := openPty(t)
	pack := newAgent(t, dir, "pack01", b, stationSpec{"print-1", "print", sc})

	const n, reserved = 900, 5 // the reserved orders are printed after the last restart
	orders := makeOrders("CR", n)
	h.dispatch(t, "sz01", orders)
	waitFor(t, 60*time.Second, "pack01 receives all orders", func() bool {
		return pack.orderState(t, orders[n-1].OrderID) == "pending_allocation" && pack.orderState(t, orders[0].OrderID) == "pending_allocation"
	})

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d (kill moments and the scan mix)", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	next := 0 // next order to scan
	for kill := 0; kill <= crashKills; kill++ {
		if kill > 0 {
			pack.run(t)
		}
		waitFor(t, 30*time.Second, "pack01 has its scanner open", func() bool { return pack.devicesConnected(t) })
		if kill == crashKills {
			break // the last run only drains
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		var written int
		go func(first int, seed uint64) {
			defer wg.Done()
			written = streamScans(sc, orders[:n-reserved], first, stop, rand.New(rand.NewPCG(seed, 7)))
		}(next, rng.Uint64())
		time.Sleep(time.Duration(50+rng.IntN(1200)) * time.Millisecond)
		pack.kill()
		close(stop)
		wg.Wait()
		next = (next + written) % (n - reserved)
	}
	// After the last restart: the reserved orders, plain pairs that must be accepted, then drain.
	scan(t, sc, "OP-last")
	final := orders[n-reserved:]
	for _, o := range final {
		scan(t, sc, o.OrderID, o.Waybill)
	}
	waitFor(t, 60*time.Second, "the final scans are printed", func() bool {
		for _, o := range final {
			if pack.orderState(t, o.OrderID) != "waybill_printed" {
				return false
			}
		}
		return true
	})
	last := pack.drained(t, h, 90*time.Second)
	pack.stop()
	pack.verify(t)

	outs := pack.outcomes(t)
	journal := pack.entries(t)
	if uint64(len(journal)) != last || journal[len(journal)-1].Seq != last {
		t.Fatalf("journal has %d entries, last seq %d; the agent reported %d", len(journal), journal[len(journal)-1].Seq, last)
	}
	bySeq := map[uint64]wire.Entry{}
	for _, e := range journal {
		bySeq[e.Seq] = e
	}

	// Every outcome the agent reported is the committed journal entry with that seq.
	acceptedStep := map[string]uint64{} // order → seq of its accepted print step
	rejected := map[uint64]outcome{}
	for _, o := range outs {
		e, ok := bySeq[o.seq]
		if !ok || e.Kind != o.kind || e.OrderID != o.order {
			t.Errorf("reported outcome %+v is not the journal entry %d (%+v)", o, o.seq, e)
			continue
		}
		switch {
		case o.result == "accepted" && o.kind == wire.KindStep:
			if prev, dup := acceptedStep[o.order]; dup {
				t.Errorf("order %s accepted twice (seq %d and %d)", o.order, prev, o.seq)
			}
			acceptedStep[o.order] = o.seq
		case o.result == "rejected":
			rejected[o.seq] = o
		}
	}
	for _, o := range final {
		if _, ok := acceptedStep[o.OrderID]; !ok {
			t.Errorf("the print of %s after the last restart was not reported accepted", o.OrderID)
		}
	}
	if len(acceptedStep) < crashKills {
		t.Fatalf("only %d accepted print steps in %d runs: the scan stream did not exercise the agent", len(acceptedStep), crashKills)
	}

	// The hub: each order has at most one print step, the one accepted scan when there was one;
	// no (agent, journal, seq) twice; nothing rejected is a step.
	seen := map[uint64]string{}
	hubSteps, unreported := 0, 0
	for _, o := range orders {
		ho, ok := h.order(o.OrderID)
		if !ok {
			t.Fatalf("order %s unknown at the hub", o.OrderID)
		}
		checkPerAgentOrder(t, ho)
		var stepSeqs []uint64
		for _, e := range ho.History {
			if e.Agent != "pack01" {
				continue
			}
			if prev, dup := seen[e.Seq]; dup {
				t.Errorf("seq %d twice at the hub (%s and %s)", e.Seq, prev, o.OrderID)
			}
			seen[e.Seq] = o.OrderID
			je, ok := bySeq[e.Seq]
			if !ok || je.Hash != e.Hash {
				t.Errorf("hub entry %d of %s is not the agent's journal entry", e.Seq, o.OrderID)
			}
			if e.Kind == wire.KindStep {
				stepSeqs = append(stepSeqs, e.Seq)
				if r, bad := rejected[e.Seq]; bad {
					t.Errorf("rejected scan %+v advanced order %s at the hub", r, o.OrderID)
				}
				if e.Waybill != o.Waybill {
					t.Errorf("%s printed with waybill %q, assigned %q", o.OrderID, e.Waybill, o.Waybill)
				}
			}
		}
		hubSteps += len(stepSeqs)
		want, accepted := acceptedStep[o.OrderID]
		switch {
		case len(stepSeqs) > 1:
			t.Errorf("order %s has %d print steps at the hub: %v", o.OrderID, len(stepSeqs), stepSeqs)
		case accepted && (len(stepSeqs) != 1 || stepSeqs[0] != want):
			t.Errorf("order %s: accepted step seq %d, hub steps %v", o.OrderID, want, stepSeqs)
		case accepted && ho.State != "waybill_printed":
			t.Errorf("order %s: accepted, but the hub says %s", o.OrderID, ho.State)
		case !accepted && len(stepSeqs) == 1:
			unreported++ // committed, killed before the outcome was told: allowed
		case len(stepSeqs) == 0 && ho.State != "pending_allocation":
			t.Errorf("order %s is %s at the hub without a step", o.OrderID, ho.State)
		}
	}
	// Every journal entry about an order reached the hub (the rest is covered by acked == last).
	for _, e := range journal {
		if e.OrderID != "" && seen[e.Seq] != e.OrderID {
			t.Errorf("journal entry %d (%s %s) is not in the hub history of %s", e.Seq, e.Kind, e.Reason, e.OrderID)
		}
	}
	h.checkStats(t, last)
	t.Logf("%d kills, %d journal entries, %d accepted print steps reported, %d more committed unreported, %d rejections reported, %d hub steps",
		crashKills, len(journal), len(acceptedStep), unreported, len(rejected), hubSteps)
}

// streamScans writes a scan stream to the device side until stop closes: a badge, then for each
// order its code and waybill, with now and then an invalid waybill, another order's waybill, a
// repeat of an earlier label or an unknown code in between. It returns how many orders it began.
func streamScans(p *pty.Pair, orders []wire.OrderMsg, first int, stop <-chan struct{}, rng *rand.Rand) int {
	write := func(code string) bool {
		select {
		case <-stop:
			return false
		default:
		}
		if _, err := p.Write([]byte(code + "\r")); err != nil {
			return false
		}
		time.Sleep(time.Duration(1+rng.IntN(12)) * time.Millisecond)
		return true
	}
	if !write("OP-crash") {
		return 0
	}
	n := len(orders)
	for i := 0; ; i++ {
		o := orders[(first+i)%n]
		if !write(o.OrderID) {
			return i + 1
		}
		switch rng.IntN(8) {
		case 0:
			if !write("SF12345") { // not an SF number: waybill_invalid
				return i + 1
			}
		case 1:
			if !write(orders[(first+i+1)%n].Waybill) { // another order's label: waybill_mismatch
				return i + 1
			}
		case 2:
			if !write("NOSUCH-" + o.OrderID) { // unknown code
				return i + 1
			}
		}
		if !write(o.Waybill) {
			return i + 1
		}
		if rng.IntN(6) == 0 && !write(o.Waybill) { // a repeat: already done
			return i + 1
		}
	}
}
