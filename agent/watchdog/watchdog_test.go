package watchdog

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"wedge/agent/journal"
	"wedge/agent/journal/journaltest"
	"wedge/internal/clock"
	"wedge/internal/sdnotify"
	"wedge/internal/testutil"
	"wedge/sync/uplink"
)

const interval = 10 * time.Second

var t0 = time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)

// pings records the fake time of every ping, then passes it on.
type pings struct {
	clk  *clock.Fake
	next func() error
	mu   sync.Mutex
	at   []time.Duration // since t0
}

func (p *pings) notify() error {
	p.mu.Lock()
	p.at = append(p.at, p.clk.Now().Sub(t0))
	p.mu.Unlock()
	if p.next != nil {
		return p.next()
	}
	return nil
}

func (p *pings) get() []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Duration(nil), p.at...)
}

func (p *pings) want(t *testing.T, want ...time.Duration) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, "pings", func() bool { return equal(p.get(), want) })
}

func equal(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// counted wraps a probe and counts how often it was asked. A probe is asked in round n only after
// the watchdog received its answer of round n-1, so "asked n times" means every earlier answer
// (and any ping it caused) has been handled: the tests' synchronisation point.
type counted struct {
	p     Probe
	asked atomic.Int64
}

func (c *counted) probe(ctx context.Context) error { c.asked.Add(1); return c.p(ctx) }

func (c *counted) waitAsked(t *testing.T, n int64) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, "probe asked", func() bool { return c.asked.Load() >= n })
}

func start(t *testing.T, clk *clock.Fake, p *pings, probes map[string]Probe) {
	t.Helper()
	w, err := Start(context.Background(), probes, Options{Interval: interval, Clock: clk, Notify: p.notify, Logger: testutil.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := w.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
}

func TestNoProbesIsAnError(t *testing.T) {
	if _, err := Start(context.Background(), nil, Options{}); !errors.Is(err, ErrNoProbes) {
		t.Fatalf("err = %v", err)
	}
}

// Pings follow rounds in which every probe answered; a failing probe withholds that round's ping,
// a hanging one every ping until it answers again.
func TestPingsOnlyWhileEveryProbeAnswers(t *testing.T) {
	clk := clock.NewFake(t0)
	p := &pings{clk: clk}
	var fail atomic.Bool
	hang := make(chan struct{})
	var hanging atomic.Bool
	a := &counted{p: func(context.Context) error { return nil }}
	b := &counted{p: func(ctx context.Context) error {
		if hanging.Load() {
			select {
			case <-hang:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if fail.Load() {
			return errors.New("broken")
		}
		return nil
	}}
	start(t, clk, p, map[string]Probe{"a": a.probe, "b": b.probe})
	p.want(t, 0) // the first round is at once
	clk.Advance(interval)
	p.want(t, 0, interval)

	fail.Store(true) // round 3 fails
	clk.Advance(interval)
	b.waitAsked(t, 3)
	fail.Store(false)
	hanging.Store(true) // round 4 hangs in b, round 5 finds b still busy
	clk.Advance(interval)
	b.waitAsked(t, 4)
	// Under load a's answer to round 3 can reach the watchdog after round 4 began, and a is then
	// busy in round 4: advance round by round until a was asked twice since b hung (so an answer
	// of a's was handled meanwhile), b still hanging.
	testutil.Eventually(t, 20*time.Second, "a asked again while b hangs", func() bool {
		if a.asked.Load() >= 5 {
			return true
		}
		clk.Advance(interval)
		return false
	})
	if got := p.get(); !equal(got, []time.Duration{0, interval}) {
		t.Fatalf("pings while a probe failed or hung: %v", got)
	}
	hanging.Store(false)
	close(hang) // b answers round 4 late: no ping for that; pings resume in a later round
	resumed(t, clk, p, 4*interval)
}

// resumed advances the clock round by round until a ping comes after the given time, and checks
// that no ping came between the second ping and then.
func resumed(t *testing.T, clk *clock.Fake, p *pings, after time.Duration) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, "pings again", func() bool {
		at := p.get()
		if len(at) > 0 && at[len(at)-1] > after {
			return true
		}
		clk.Advance(interval)
		return false
	})
	at := p.get()
	if !equal(at[:2], []time.Duration{0, interval}) || at[2] <= after {
		t.Fatalf("pings %v: want 0, %v, then none until after %v", at, interval, after)
	}
}

// With the real parts: the journal writer stuck on purpose stops the WATCHDOG=1 datagrams on the
// notify socket; an uplink whose broker cannot be reached does not.
func TestStuckJournalWriterStopsThePings(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	t.Setenv("NOTIFY_SOCKET", sock)

	store := journaltest.Open(t, &journal.Options{Site: "sz01", Agent: "pack02"})
	up, err := uplink.New(context.Background(), store, uplink.Options{URL: "tcp://127.0.0.1:1", Site: "sz01", Agent: "pack02",
		AcceptUnsigned: true, Logger: testutil.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		up.Stop(ctx)
	})
	clk := clock.NewFake(t0)
	p := &pings{clk: clk, next: sdnotify.Watchdog}
	// Round 2 is healthy too, so resumed can check the same shape as above.
	jw, ul := &counted{p: store.Heartbeat}, &counted{p: up.Heartbeat}
	start(t, clk, p, map[string]Probe{"journal": jw.probe, "uplink": ul.probe})
	p.want(t, 0)
	clk.Advance(interval)
	p.want(t, 0, interval)
	readPings(t, l, 2)
	if up.Connected() {
		t.Fatal("the uplink reached a broker at tcp://127.0.0.1:1")
	}

	// Stop the writer: a call that does not return until released. Released on failure too (this
	// cleanup runs before the store's Close, which waits for the writer), so a failure is reported
	// and does not hang the test binary.
	in, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free)
	go store.Do(context.Background(), func(*journal.Tx) error { close(in); <-release; return nil })
	<-in
	// The offline uplink still answers, round after round. Under load its answer to one round can
	// reach the watchdog after the next began, and it is then skipped as busy in that round:
	// advance round by round until it was asked three more times.
	testutil.Eventually(t, 20*time.Second, "the uplink asked in three more rounds", func() bool {
		if ul.asked.Load() >= 5 {
			return true
		}
		clk.Advance(interval)
		return false
	})
	if got := p.get(); !equal(got, []time.Duration{0, interval}) {
		t.Fatalf("pings while the journal writer was stuck: %v", got)
	}
	free()
	resumed(t, clk, p, 4*interval)
	readPings(t, l, len(p.get())-2)
}

// readPings reads n datagrams from the notify socket; each must be WATCHDOG=1.
func readPings(t *testing.T, l *net.UnixConn, n int) {
	t.Helper()
	buf := make([]byte, 64)
	for range n {
		l.SetReadDeadline(time.Now().Add(20 * time.Second))
		k, err := l.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(buf[:k]); got != "WATCHDOG=1" {
			t.Fatalf("datagram %q, want WATCHDOG=1", got)
		}
	}
}
