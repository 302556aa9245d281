package uplink

import (
	"testing"
	"time"

	"wedge/internal/clock"
	"wedge/sync/wire"
)

func TestLingerHoldAndRelease(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC))
	l := newLinger(clk, 5*time.Millisecond)
	if !l.hold() || !l.armed {
		t.Fatal("a partial batch is not held")
	}
	clk.Advance(4 * time.Millisecond)
	if !l.hold() {
		t.Fatal("held batch released before the linger passed")
	}
	clk.Advance(time.Millisecond)
	select {
	case <-l.C():
		l.fired()
	default:
		t.Fatal("the linger did not fire when it passed")
	}
	if l.hold() {
		t.Fatal("held after the linger passed")
	}
	l.published()
	if !l.hold() {
		t.Fatal("after a publish, the next partial batch is not held")
	}
	l.release() // an ack
	if l.hold() || l.armed {
		t.Fatal("held after an ack")
	}
	l.published()
	l.release() // an ack with nothing held changes nothing
	if !l.hold() {
		t.Fatal("an ack with nothing held released the next batch")
	}
	l.stop()

	off := newLinger(clk, -1)
	if off.hold() {
		t.Fatal("a negative linger holds")
	}
}

func TestPartial(t *testing.T) {
	es := func(from, n int) []wire.Entry {
		out := make([]wire.Entry, n)
		for i := range out {
			out[i].Seq = uint64(from + i)
		}
		return out
	}
	if !partial(es(1, 3), 3) {
		t.Error("3 entries reaching the journal's end: not partial")
	}
	if partial(es(1, 3), 4) {
		t.Error("3 entries with more in the journal (byte limit): partial")
	}
	if partial(es(1, wire.MaxBatchEntries), wire.MaxBatchEntries) {
		t.Error("MaxBatchEntries entries: partial")
	}
	if !partial(es(1, 3), 2) {
		t.Error("more committed during the read: not partial")
	}
}
