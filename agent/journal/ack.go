package journal

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"wedge/internal/clock"
	"wedge/internal/logging"
)

// DefaultAckDelay is how long a hub ack may wait in memory for a commit to carry it before the
// writer, idle, commits it alone (Options.AckDelay).
const DefaultAckDelay = time.Second

// Acks are not urgent, scans are. An ack that was only in memory when the process died costs a
// resend of the entries after the acked seq on disk, which the hub drops as duplicates and acks
// again; a scan that waits behind an ack's commit costs an operator time. So Ack raises the
// in-memory acked seq at once and commits nothing: the writer writes it into the next batch that
// commits anyway (the meta page that batch rewrites for last_seq holds it too), or, after
// Options.AckDelay with no commit and no call queued, in a commit of its own; Close writes it
// last. The acked seq on disk may lag the one in memory but never leads it: both are at most the
// last committed seq, and the one in memory only moves on a hub ack (see sync/uplink).

// Ack records that the hub durably holds every entry up to seq. It is monotonic (a lower seq is
// ignored) and clamped to LastSeq. It returns at once: AckedSeq moves now, and the acked seq is
// written with the next commit (see above), so after a crash the journal may reopen with a lower
// one and the entries after it are sent again. After Close it returns ErrClosed.
func (s *Store) Ack(ctx context.Context, seq uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock() // ordered with Close: an ack that returned nil is seen by Close's last write
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if last := s.lastSeq.Load(); seq > last {
		s.log.Warn("ack beyond the last seq: clamped", logging.KeySeq, seq, "last_seq", last)
		seq = last
	}
	raised := s.raiseAck(seq)
	s.mu.Unlock()
	if raised { // an idle writer arms its ack timer
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// raiseAck moves the in-memory acked seq up to seq (never down) and reports whether it moved.
func (s *Store) raiseAck(seq uint64) bool {
	for {
		cur := s.ackedSeq.Load()
		if seq <= cur {
			return false
		}
		if s.ackedSeq.CompareAndSwap(cur, seq) {
			return true
		}
	}
}

// ackUnsaved reports whether the in-memory acked seq is ahead of the one on disk.
func (s *Store) ackUnsaved() bool { return s.ackedSeq.Load() > s.ackSaved.Load() }

// stageAck writes the in-memory acked seq into a batch's transaction that commits anyway, and
// returns it (0: nothing to write). The writer goroutine records it as saved after the commit.
func (s *Store) stageAck(btx *bolt.Tx) (uint64, error) {
	ack := s.ackedSeq.Load()
	if ack <= s.ackSaved.Load() {
		return 0, nil
	}
	if err := btx.Bucket(bMeta).Put([]byte(kAckedSeq), be64(ack)); err != nil {
		return 0, fmt.Errorf("acked seq: %w", err)
	}
	return ack, nil
}

// ackTimer is the writer goroutine's timer of an ack waiting in memory: armed when the writer
// goes idle with an unsaved ack, not moved by later acks (so a stream of acks cannot postpone it),
// stopped once a batch's commit carried the ack.
type ackTimer struct {
	clk   clock.Clock
	delay time.Duration
	t     clock.Timer
}

// idle returns the channel to wait on while the writer is idle (nil: no ack waits).
func (a *ackTimer) idle(unsaved bool) <-chan time.Time {
	if !unsaved {
		a.stop()
		return nil
	}
	if a.t == nil {
		a.t = a.clk.NewTimer(a.delay)
	}
	return a.t.C()
}

// fired forgets the timer that fired (the next idle arms a new one if the ack is still unsaved).
func (a *ackTimer) fired() { a.t = nil }

func (a *ackTimer) stop() {
	if a.t != nil {
		a.t.Stop()
		a.t = nil
	}
}

// saveIdleAck is the timer's commit: only when no call is queued (a queued call that writes
// carries the ack; otherwise the timer is armed again once the queue is empty).
func (s *Store) saveIdleAck() {
	s.mu.Lock()
	busy := len(s.pending) > 0
	s.mu.Unlock()
	if !busy {
		s.saveAck()
	}
}

// saveAck commits the in-memory acked seq alone, if it is ahead of the one on disk. A failed
// commit leaves it in memory for the next commit to carry.
func (s *Store) saveAck() {
	ack := s.ackedSeq.Load()
	if ack <= s.ackSaved.Load() {
		return
	}
	err := guard(s.path, "write", func() error {
		return s.db.Update(func(btx *bolt.Tx) error {
			if hook := s.failCommit.Load(); hook != nil {
				if err := (*hook)(); err != nil {
					return err
				}
			}
			return btx.Bucket(bMeta).Put([]byte(kAckedSeq), be64(ack))
		})
	})
	if err != nil {
		s.markDamaged(err)
		s.failed.Add(1)
		s.log.Error("journal: cannot write the acked seq (kept in memory, the next commit writes it)", logging.KeySeq, ack, logging.Err(err))
		return
	}
	s.ackSaved.Store(ack)
	s.commits.Add(1)
	s.ackCommits.Add(1)
}

// SavedAckedSeq is the acked seq as written in the file: at most AckedSeq, which may be ahead of
// it until the next commit (see Ack). A reopened journal starts from it.
func (s *Store) SavedAckedSeq() uint64 { return s.ackSaved.Load() }
