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
	DefaultMaxFails     = 5
	DefaultMaxAddrFails = 20
	DefaultWindow       = 10 * time.Minute
	DefaultMaxKeys      = 10000
	// DefaultMaxChecks is how many password checks may run at once in the whole process. A check
	// costs about 0.2 s of one core (PBKDF2): on a 2-core warehouse PC, more in parallel would
	// slow every scan behind them.
	DefaultMaxChecks = 2
)

// ThrottleOptions configure a Throttle. Zero values mean the defaults above.
type ThrottleOptions struct {
	MaxFails int // failures of one user name from one address within Window that block it
	// MaxAddrFails are failures from one address within Window, whatever the user names, that block
	// the address: a flood of random names is throttled too.
	MaxAddrFails int
	MaxChecks    int           // password checks at once in the process (TryCheck); default DefaultMaxChecks
	Window       time.Duration // how long a failure counts
	MaxKeys      int           // bound on the remembered (user, address) pairs
	Clock        clock.Clock
}

// Throttle slows down password guessing: after MaxFails failed logins for one user name from one
// address, or MaxAddrFails from one address whatever the names, within Window, further attempts are
// refused until the oldest failure leaves the window. It is keyed by address, so that a stranger
// cannot lock a user out from another machine. TryCheck bounds the password checks running at once
// in the whole process, so parallel guessing cannot starve the scanners of CPU.
// Memory is bounded: past MaxKeys pairs everything is forgotten (the safe side for the real users).
// It is safe for concurrent use.
type Throttle struct {
	opts ThrottleOptions
	clk  clock.Clock

	mu    sync.Mutex
	fails map[string][]time.Time
	slots chan struct{} // one token per password check running
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
	if opts.MaxAddrFails <= 0 {
		opts.MaxAddrFails = DefaultMaxAddrFails
	}
	if opts.MaxChecks <= 0 {
		opts.MaxChecks = DefaultMaxChecks
	}
	return &Throttle{opts: opts, clk: clock.Or(opts.Clock), slots: make(chan struct{}, opts.MaxChecks)}
}

// TryCheck takes one of the process's password-check slots; false means all are busy (answer
// 429 or 503 and let the client retry). Call the returned release when the check is done.
func (t *Throttle) TryCheck() (release func(), ok bool) {
	select {
	case t.slots <- struct{}{}:
		return func() { <-t.slots }, true
	default:
		return nil, false
	}
}

func addrKey(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	return "|addr|" + host
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
	var wait time.Duration
	for _, k := range []struct {
		key string
		max int
	}{{throttleKey(user, remote), t.opts.MaxFails}, {addrKey(remote), t.opts.MaxAddrFails}} {
		f := t.recent(k.key)
		if len(f) >= k.max {
			// The oldest failure that still blocks leaves the window first.
			wait = max(wait, t.opts.Window-t.clk.Now().Sub(f[len(f)-k.max]))
		}
	}
	return wait
}

// Failed records a failed attempt.
func (t *Throttle) Failed(user, remote string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fails == nil || len(t.fails) > t.opts.MaxKeys {
		t.fails = map[string][]time.Time{}
	}
	for _, key := range []string{throttleKey(user, remote), addrKey(remote)} {
		t.fails[key] = append(t.recent(key), t.clk.Now())
	}
}

// Succeeded forgets the failures of user at remote (the address's count stays: a right password
// for one name does not excuse guessing at others).
func (t *Throttle) Succeeded(user, remote string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.fails, throttleKey(user, remote))
}
