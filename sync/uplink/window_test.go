package uplink

import (
	"testing"
	"time"

	"wedge/internal/clock"
	"wedge/sync/wire"
)

func checkWindow(t *testing.T, w *window, acked, next uint64, inflight int) {
	t.Helper()
	if w.acked != acked || w.next != next || len(w.inflight) != inflight {
		t.Fatalf("window acked %d next %d inflight %d (%v), want %d %d %d", w.acked, w.next, len(w.inflight), w.inflight, acked, next, inflight)
	}
}

// The window holds at most size batches; an ack frees the batches it covers, not a batch it only
// reaches into.
func TestWindowBoundsAndAcks(t *testing.T) {
	w := newWindow(5, 2)
	checkWindow(t, w, 5, 5, 0)
	if w.full() || w.busy() {
		t.Fatal("an empty window is full or busy")
	}
	w.sent(10, 1)
	w.sent(20, 1)
	if !w.full() || !w.busy() {
		t.Fatal("two batches in a window of two: not full")
	}
	checkWindow(t, w, 5, 20, 2)

	if !w.ack(15) { // inside the second batch: it stays in flight
		t.Fatal("ack 15 left nothing in flight")
	}
	checkWindow(t, w, 15, 20, 1)
	if w.full() {
		t.Fatal("full after an ack freed a batch")
	}
	if w.ack(20) {
		t.Fatal("ack 20 left batches in flight")
	}
	checkWindow(t, w, 20, 20, 0)

	// An ack beyond the round (another connection's batches were acked) moves next along.
	w.ack(30)
	checkWindow(t, w, 30, 30, 0)
}

// rewind restarts after the acked seq and says whether anything unacked was outstanding.
func TestWindowRewind(t *testing.T) {
	w := newWindow(0, 4)
	if w.rewind() {
		t.Fatal("rewind of an idle window reported outstanding entries")
	}
	w.sent(3, 1)
	w.sent(7, 1)
	w.ack(3)
	if !w.rewind() {
		t.Fatal("rewind with a batch in flight reported nothing outstanding")
	}
	checkWindow(t, w, 3, 3, 0)
	if w.rewind() {
		t.Fatal("second rewind reported outstanding entries")
	}
}

// A reconnect resends what went out on an older connection, never what went out on this one, and
// catches up with an acked seq the journal recorded meanwhile.
func TestWindowConnected(t *testing.T) {
	w := newWindow(0, 4)
	w.sent(5, 1)
	w.sent(9, 2)
	if reset, resend := w.connected(2, 0); !reset || !resend {
		t.Fatalf("batch of generation 1 after connect 2: reset %v resend %v, want both", reset, resend)
	}
	checkWindow(t, w, 0, 0, 0)

	w.sent(5, 3)
	if reset, resend := w.connected(3, 0); reset || resend {
		t.Fatalf("batch published on connection 3 itself: reset %v resend %v, want neither", reset, resend)
	}
	checkWindow(t, w, 0, 5, 1)

	// Nothing in flight, and the journal's acked seq is ahead of the round: start from it.
	w.ack(5)
	if reset, resend := w.connected(4, 8); !reset || resend {
		t.Fatalf("acked seq 8 recorded meanwhile: reset %v resend %v, want reset only", reset, resend)
	}
	checkWindow(t, w, 8, 8, 0)

	// A lower acked seq from the journal never moves the window back.
	if reset, resend := w.connected(5, 2); reset || resend {
		t.Fatalf("stale stored ack: reset %v resend %v", reset, resend)
	}
	checkWindow(t, w, 8, 8, 0)
}

// The resend deadline: armIfIdle does not push a running deadline back, arm does, disarm stops it.
func TestResendTimer(t *testing.T) {
	clk := clock.NewFake(time.Unix(1000, 0))
	rt := newResendTimer(clk, 10*time.Second)
	fired := func() bool {
		select {
		case <-rt.C():
			rt.fired()
			return true
		default:
			return false
		}
	}
	clk.Advance(time.Minute)
	if fired() {
		t.Fatal("an unarmed timer fired")
	}
	rt.armIfIdle()
	clk.Advance(6 * time.Second)
	rt.armIfIdle() // already running: the deadline stays at 10 s
	clk.Advance(4 * time.Second)
	if !fired() {
		t.Fatal("deadline did not fire 10 s after armIfIdle")
	}
	rt.arm()
	clk.Advance(6 * time.Second)
	rt.arm() // progress: a fresh 10 s
	clk.Advance(6 * time.Second)
	if fired() {
		t.Fatal("arm did not restart the deadline")
	}
	rt.disarm()
	clk.Advance(time.Minute)
	if fired() {
		t.Fatal("a disarmed timer fired")
	}
}

// sentMax is the highest seq ever published: a rewind or a reconnect does not lower it, and a new
// window starts at the stored acked seq (nothing sent yet by this process).
func TestWindowSentMax(t *testing.T) {
	w := newWindow(5, 4)
	if w.sentMax != 5 {
		t.Fatalf("new window sentMax %d, want 5", w.sentMax)
	}
	w.sent(10, 1)
	w.sent(20, 1)
	w.rewind()
	if w.sentMax != 20 || w.next != 5 {
		t.Fatalf("after rewind sentMax %d next %d, want 20 5", w.sentMax, w.next)
	}
	w.connected(2, 30) // another process of this agent had 30 acked
	if w.sentMax != 30 {
		t.Fatalf("after a reconnect with acked 30, sentMax %d", w.sentMax)
	}
}

// However many batches the window allows, it stops taking new ones once maxAhead entries are
// beyond the acked seq, so an entry never runs further ahead than a hub holds one waiting for a
// lost predecessor (wire.MaxPendingAhead), even with full 500-entry batches.
func TestWindowBoundedInEntries(t *testing.T) {
	w := newWindow(100, DefaultWindow)
	last := uint64(100)
	for !w.full() {
		last += wire.MaxBatchEntries
		w.sent(last, 1)
	}
	if n := len(w.inflight); n >= DefaultWindow {
		t.Fatalf("%d batches of %d entries in flight: the entry bound did not stop the window", n, wire.MaxBatchEntries)
	}
	if ahead := last - w.acked; ahead < maxAhead || ahead+wire.MaxBatchEntries > wire.MaxPendingAhead {
		t.Fatalf("%d entries beyond the acked seq when full (bound %d, hub holds up to %d)", ahead, maxAhead, wire.MaxPendingAhead)
	}
	w.ack(100 + wire.MaxBatchEntries) // the first batch acked: room for one more
	if w.full() {
		t.Fatal("still full after an ack freed a batch's worth of entries")
	}
	// Small batches: the batch count binds first.
	w = newWindow(0, DefaultWindow)
	for i := uint64(1); !w.full(); i++ {
		w.sent(i*100, 1)
	}
	if len(w.inflight) != DefaultWindow {
		t.Fatalf("%d batches of 100 in flight, want the window's %d", len(w.inflight), DefaultWindow)
	}
}
