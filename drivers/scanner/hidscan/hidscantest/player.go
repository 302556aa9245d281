package hidscantest

import (
	"sync"
	"time"

	"wedge/drivers/scanner/hidscan"
	"wedge/internal/clock"
)

// Player is a fake HID device that plays a trace in time: Read returns each report once the clock
// has reached start + its offset (so with a clock.Fake the test decides when reports arrive), and
// blocks after the last one until Close. Writes and feature reports are recorded like Device's.
type Player struct {
	*Device
	clk   clock.Clock
	start time.Time
	reps  []Report
	next  int
	mu    sync.Mutex // serialises Read

	wmu     sync.Mutex
	due     time.Time // when the report Read waits for is due (zero when not waiting)
	waiting bool
}

// Waiting reports whether Read is waiting for a report, and when it is due: a test moves a
// clock.Fake to that time (clk.Set) so the report arrives exactly on time.
func (p *Player) Waiting() (time.Time, bool) {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	return p.due, p.waiting
}

func (p *Player) setWaiting(due time.Time, w bool) {
	p.wmu.Lock()
	p.due, p.waiting = due, w
	p.wmu.Unlock()
}

// NewPlayer returns a player of reps starting at start on clk.
func NewPlayer(clk clock.Clock, start time.Time, reps []Report) *Player {
	return &Player{Device: NewDevice(), clk: clock.Or(clk), start: start, reps: reps}
}

// Read returns the next report when it is due.
func (p *Player) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.wmu.Lock()
	next := p.next
	p.wmu.Unlock()
	if next >= len(p.reps) {
		return p.Device.Read(b) // blocks until Close or Unplug
	}
	r := p.reps[next]
	due := p.start.Add(r.At)
	if wait := due.Sub(p.clk.Now()); wait > 0 {
		t := p.clk.NewTimer(wait)
		defer t.Stop()
		p.setWaiting(due, true)
		select {
		case <-t.C():
			p.setWaiting(time.Time{}, false)
		case <-p.Device.closedC():
			p.setWaiting(time.Time{}, false)
			return 0, hidscan.ErrDeviceClosed
		}
	}
	if p.Device.Closed() {
		return 0, hidscan.ErrDeviceClosed
	}
	p.wmu.Lock()
	p.next++
	p.wmu.Unlock()
	return copy(b, r.Data), nil
}

// Done reports whether every report was played.
func (p *Player) Done() bool {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	return p.next >= len(p.reps)
}
