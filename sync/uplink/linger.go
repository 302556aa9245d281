package uplink

import (
	"time"

	"wedge/internal/clock"
	"wedge/sync/wire"
)

// linger holds back a partial batch while another batch is in flight, so that entries committed
// during a round trip go up together: fewer, fuller batches mean fewer commits at the hub (and
// fewer acks for the journal). The held entries stay in the journal; holding changes only when
// they are published, never whether: they go when an ack moves the acked seq, when enough are
// ready to fill a batch, or when Options.Linger has passed since the owner first held them. A
// batch with nothing in flight goes at once, so a lone entry on an idle link is not delayed, and
// so does a batch of entries already sent once (a resend round is never held).
type linger struct {
	t     clock.Timer
	after time.Duration // <= 0: never hold
	armed bool          // a partial batch is held and the timer runs
	due   bool          // the held batch goes at the next fill (linger passed or an ack came)
}

func newLinger(clk clock.Clock, after time.Duration) *linger {
	t := clk.NewTimer(time.Hour)
	t.Stop()
	return &linger{t: t, after: after}
}

func (l *linger) C() <-chan time.Time { return l.t.C() }

// hold reports whether a partial batch should wait now, starting the linger if it is not running.
func (l *linger) hold() bool {
	if l.after <= 0 || l.due {
		return false
	}
	if !l.armed {
		l.t.Reset(l.after)
		l.armed = true
	}
	return true
}

// fired records that the linger passed (its value was received from C): the held batch goes.
func (l *linger) fired() { l.armed, l.due = false, true }

// release lets a held batch go at the next fill (an ack moved the acked seq).
func (l *linger) release() {
	if l.armed {
		l.t.Stop()
		l.armed, l.due = false, true
	}
}

// published records that a batch went out: whatever is still ready starts a new linger if it is
// held.
func (l *linger) published() {
	l.stop()
	l.due = false
}

func (l *linger) stop() {
	if l.armed {
		l.t.Stop()
		l.armed = false
	}
}

// partial reports whether es, read for the next batch, make less than a full one: fewer than
// wire.MaxBatchEntries, and they reach ready, the journal's last seq read just before them (so
// the source stopped at the journal's end, not at the byte limit).
func partial(es []wire.Entry, ready uint64) bool {
	return len(es) < wire.MaxBatchEntries && es[len(es)-1].Seq >= ready
}
