package intake

import "time"

// graceWait is an open grace window: a timer on the injected clock and a way to close it early.
type graceWait struct {
	cancel chan struct{}
}

// checkGap opens, keeps or closes the grace window after the hub sequence changed: a gap (a
// message seen beyond the contiguous position) opens one unless a catch-up from this position was
// asked already; a closed gap ends it without a request. With a negative Grace it asks at once.
func (in *Intake) checkGap() {
	in.mu.Lock()
	gap := in.maxSeen > in.hseq && in.requested != in.hseq+1
	switch {
	case !gap && in.grace != nil:
		close(in.grace.cancel)
		in.grace = nil
	case gap && in.graceLen() < 0:
		since := in.markRequested()
		in.mu.Unlock()
		in.request(since)
		return
	case gap && in.grace == nil:
		in.openGrace()
	}
	in.mu.Unlock()
}

func (in *Intake) graceLen() time.Duration {
	if in.opts.Grace == 0 {
		return DefaultGrace
	}
	return in.opts.Grace
}

// openGrace starts the window's goroutine; in.mu is held. The timer is armed before it returns, so
// a test's clock can pass it right away.
func (in *Intake) openGrace() {
	g := &graceWait{cancel: make(chan struct{})}
	in.grace = g
	t := in.clk.NewTimer(in.graceLen())
	in.wg.Add(1)
	go func() {
		defer in.wg.Done()
		select {
		case <-t.C():
			in.graceOver(g)
		case <-g.cancel:
			t.Stop()
		}
	}()
}

// graceOver asks for the catch-up if the gap the window g was opened for is still open.
func (in *Intake) graceOver(g *graceWait) {
	in.mu.Lock()
	if in.grace != g { // closed (or replaced) meanwhile
		in.mu.Unlock()
		return
	}
	in.grace = nil
	if in.maxSeen <= in.hseq || in.requested == in.hseq+1 {
		in.mu.Unlock()
		return
	}
	since := in.markRequested()
	in.mu.Unlock()
	in.request(since)
}

// markRequested records a catch-up request from the current position; in.mu is held.
func (in *Intake) markRequested() uint64 {
	in.requested = in.hseq + 1
	in.stats.Catchups++
	return in.hseq
}

func (in *Intake) request(since uint64) {
	in.log.Info("intake: gap in the hub sequence, asking for a catch-up", "after", since)
	if in.opts.RequestCatchup != nil {
		in.opts.RequestCatchup(since)
	}
}

// Close ends an open grace window without asking (the agent is stopping; the next start asks for
// a catch-up from the stored position anyway) and waits for its goroutine.
func (in *Intake) Close() {
	in.mu.Lock()
	if in.grace != nil {
		close(in.grace.cancel)
		in.grace = nil
	}
	in.mu.Unlock()
	in.wg.Wait()
}
