package webauth

import (
	"net"
	"strings"
	"sync"
	"time"

	"wedge/internal/clock"
)

// Throttle defaults.
const (
	DefaultMaxFails = 5
	DefaultWindow   = 10 * time.Minute
	DefaultMaxKeys  = 10000
)

// ThrottleOptions configure a Throttle. Zero values mean the defaults above.
type ThrottleOptions struct {
	MaxFails int           // failures within Window that block further attempts
	Window   time.Duration // how long a failure counts
	MaxKeys  int           // bound on the remembered (user, address) pairs
	Clock    clock.Clock
}

// Throttle slows down password guessing: after MaxFails failed logins for one user name from one
// address within Window, further attempts are refused until the oldest failure leaves the window.
// It is keyed by name and address, so that a stranger cannot lock a user out from another machine.
// Memory is bounded: past MaxKeys pairs everything is forgotten (the safe side for the real users).
// It is safe for concurrent use.
type Throttle struct {
	opts ThrottleOptions
	clk  clock.Clock

	mu    sync.Mutex
	fails map[string][]time.Time
}

// NewThrottle returns a throttle with opts (defaults for zero fields).
func NewThrottle(opts ThrottleOptions) *Throttle {
	if opts.MaxFails <= 0 {
		opts.MaxFails = DefaultMaxFails
	}
	if opts.Window <= 0 {
		opts.Window = DefaultWindow
	}
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = DefaultMaxKeys
	}
	return &Throttle{opts: opts, clk: clock.Or(opts.Clock)}
}

func throttleKey(user, remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	return strings.ToLower(strings.TrimSpace(user)) + "|" + host
}

// recent returns the failures of key still in the window. t.mu must be held.
func (t *Throttle) recent(key string) []time.Time {
	now := t.clk.Now()
	f := t.fails[key][:0:0]
	for _, at := range t.fails[key] {
		if now.Sub(at) < t.opts.Window {
			f = append(f, at)
		}
	}
	return f
}

// Wait returns how long user at remote (an http.Request.RemoteAddr) must wait before the next
// attempt; 0 means now.
func (t *Throttle) Wait(user, remote string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.recent(throttleKey(user, remote))
	if len(f) < t.opts.MaxFails {
		return 0
	}
	return t.opts.Window - t.clk.Now().Sub(f[0])
}

// Failed records a failed attempt.
func (t *Throttle) Failed(user, remote string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fails == nil || len(t.fails) > t.opts.MaxKeys {
		t.fails = map[string][]time.Time{}
	}
	key := throttleKey(user, remote)
	t.fails[key] = append(t.recent(key), t.clk.Now())
}

// Succeeded forgets the failures of user at remote.
func (t *Throttle) Succeeded(user, remote string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.fails, throttleKey(user, remote))
}
