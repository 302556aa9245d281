package uplink

import (
	"time"

	"wedge/internal/clock"
	"wedge/sync/wire"
)

// window is the owner's bookkeeping of what was sent and what the hub acknowledged: the acked seq
// (moved only by hub acks), the highest seq published in the current round, and the batches in
// flight with the connection generation they went out on. It does no I/O; the owner asks it what
// to send next and tells it what was published, acked or reconnected.
type window struct {
	size     int      // batches in flight at most
	ahead    uint64   // and entries beyond the acked seq: no new batch once next-acked reaches it
	acked    uint64   // the hub's highest ack, as recorded in the journal
	next     uint64   // highest seq published in the current round (>= acked)
	sentMax  uint64   // highest seq ever published by this process (>= acked): acks never go beyond
	inflight []flight // published and not yet acked, oldest first (every last > acked)
}

// flight is one published batch that the hub has not acked yet.
type flight struct {
	last uint64 // its last seq
	gen  uint64 // the connection generation it was published on
}

// maxAhead bounds the entries in flight whatever the window's size: a batch is read only while
// fewer than this many entries are beyond the acked seq, so at most maxAhead + MaxBatchEntries
// are, within wire.MaxPendingAhead with a margin. Past that, a hub (of this release or an older
// one) would keep an entry that overtook a lost batch as evidence instead of holding it.
const maxAhead = wire.MaxPendingAhead - 4*wire.MaxBatchEntries

func newWindow(acked uint64, size int) *window {
	return &window{size: size, ahead: maxAhead, acked: acked, next: acked, sentMax: acked}
}

// full reports whether no more batches may be published until an ack arrives.
func (w *window) full() bool { return len(w.inflight) >= w.size || w.next-w.acked >= w.ahead }

// busy reports whether batches are in flight.
func (w *window) busy() bool { return len(w.inflight) > 0 }

// sent records a batch ending at last, published on connection generation gen.
func (w *window) sent(last, gen uint64) {
	w.next = last
	w.sentMax = max(w.sentMax, last)
	w.inflight = append(w.inflight, flight{last: last, gen: gen})
}

// ack moves the acked seq to seq (the caller checked that it moves forward and is not beyond
// sentMax) and drops the batches it covers. It reports whether batches are still in flight.
func (w *window) ack(seq uint64) bool {
	w.acked = seq
	w.next = max(w.next, seq)
	for len(w.inflight) > 0 && w.inflight[0].last <= seq {
		w.inflight = w.inflight[1:]
	}
	return w.busy()
}

// rewind starts the round again after the acked seq. It reports whether anything unacked was
// outstanding (so it will be sent again).
func (w *window) rewind() bool {
	out := len(w.inflight) > 0 || w.next > w.acked
	w.next, w.inflight = w.acked, nil
	return out
}

// connected handles a (re)connect of generation gen; stored is the journal's acked seq now.
// Batches published on this very connection (the owner saw it up before the connect event) need
// no resend; anything older does. reset means the round was restarted (no batch is in flight any
// more), resend that unacked entries will be sent again.
func (w *window) connected(gen, stored uint64) (reset, resend bool) {
	w.acked = max(w.acked, stored)
	w.sentMax = max(w.sentMax, w.acked)
	for _, f := range w.inflight {
		if f.gen < gen {
			return true, w.rewind()
		}
	}
	if w.next < w.acked {
		w.next, w.inflight = w.acked, nil
		return true, false
	}
	return false, false
}

// resendTimer is the ResendAfter deadline: armed while batches are in flight, re-armed on every
// ack that moves the acked seq.
type resendTimer struct {
	t     clock.Timer
	after time.Duration
	armed bool
}

func newResendTimer(clk clock.Clock, after time.Duration) *resendTimer {
	t := clk.NewTimer(after)
	t.Stop()
	return &resendTimer{t: t, after: after}
}

func (r *resendTimer) C() <-chan time.Time { return r.t.C() }

// arm starts the deadline afresh.
func (r *resendTimer) arm() { r.t.Reset(r.after); r.armed = true }

// armIfIdle starts the deadline unless it is already running.
func (r *resendTimer) armIfIdle() {
	if !r.armed {
		r.arm()
	}
}

func (r *resendTimer) disarm() {
	if r.armed {
		r.t.Stop()
		r.armed = false
	}
}

// fired records that the deadline passed (its value was received from C).
func (r *resendTimer) fired() { r.armed = false }
