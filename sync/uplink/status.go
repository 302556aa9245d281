package uplink

import (
	"time"

	"wedge/internal/clock"
	"wedge/sync/wire"
)

// Fresh status. The retained status is what the hub shows of an agent (online, unsynced count,
// breaker). Besides on every connect and on PublishStatus, the owner publishes it again at least
// every StatusInterval while connected, and when it changed (unsynced moves with every commit and
// ack), at most once per statusMinGap: so the hub's view is never older than the interval, and a
// burst of commits costs at most one status a second.

// DefaultStatusInterval is Options.StatusInterval's default.
const DefaultStatusInterval = 30 * time.Second

// statusMinGap bounds how often a changed status is published.
const statusMinGap = time.Second

// lastStatus is the status published last (its At cleared, for comparing) and when.
type lastStatus struct {
	s  wire.Status
	at time.Time
}

// recordStatus notes a published status.
func (u *Uplink) recordStatus(s wire.Status) {
	s.At = ""
	u.mu.Lock()
	u.lastStatus = lastStatus{s: s, at: u.clk.Now()}
	u.mu.Unlock()
}

// refreshStatus runs on the owner after each of its events: it publishes the status when it is due
// or changed, and arms t for the next check.
func (u *Uplink) refreshStatus(t clock.Timer) {
	t.Stop()
	if !u.connected.Load() {
		return // the next connect publishes it, and wakes the owner
	}
	u.mu.Lock()
	last := u.lastStatus
	u.mu.Unlock()
	now := u.clk.Now()
	since := now.Sub(last.at)
	if since < statusMinGap {
		t.Reset(statusMinGap - since)
		return
	}
	cur := u.status()
	cur.At = ""
	if cur != last.s || since >= u.opts.StatusInterval {
		u.publishStatus()
		t.Reset(u.opts.StatusInterval)
		return
	}
	t.Reset(u.opts.StatusInterval - since)
}
