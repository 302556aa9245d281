// Package hubconsole is the hub's central console for head office: an http.Handler the hub mounts
// at /console/, serving embedded web assets (plain JS/CSS, no network access, no build step;
// Chinese first with an English switch), a WebSocket that pushes the hub's network overview, and
// the hub's own API routes to signed-in users.
//
// Access (internal/webauth). Every user signs in, whatever the role: there is no open viewer.
// Users are configured in hub.yaml (console.users: name, role, password_hash from `wedge console
// hash-password`). Roles map to the API token scopes: viewer = read; supervisor = read and
// commands:write (breaker thresholds); admin = every scope. Sessions are HMAC-signed cookies
// (HttpOnly, SameSite=Strict, Secure on TLS or with Options.SecureCookies); every state-changing
// request carries the session's CSRF token in X-Wedge-CSRF; state-changing requests and WebSocket
// upgrades from a foreign Origin are refused; failed logins are throttled by name and address.
// The login itself has no session yet: it is protected by the Origin check and its JSON body (a
// cross-site form cannot send one).
//
// Shared handlers. The console does not reimplement the API: the hub gives it its route table
// (Route: pattern, scope, handler) and the console serves each route under /api (GET
// /console/api/v1/agents is the handler of GET /v1/agents) behind the session instead of a bearer
// token, with the request's caller name set to "console:<user>" (apitoken.WithName). A breaker
// command sent from the console is therefore stored and audited like an API command, by
// "console:alice".
//
// Live view. While a browser is connected, one owner goroutine builds the overview (New's snapshot
// function) when Changed is called (at most every 250 ms) and at least every PushEvery, and pushes
// it to every open browser when it differs from the last one. A slow browser never holds it up:
// each has a one-message mailbox that keeps only the newest overview.
package hubconsole

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"wedge/internal/clock"
	"wedge/internal/logging"
	"wedge/internal/webauth"
	"wedge/sync/apitoken"
)

// ErrOptions means New was given bad options.
var ErrOptions = errors.New("hubconsole: invalid options")

// Roles.
const (
	RoleViewer     = "viewer"     // reads everything
	RoleSupervisor = "supervisor" // and sends breaker threshold commands
	RoleAdmin      = "admin"      // every API scope
)

// DefaultPushEvery is how often the overview is rebuilt when nothing called Changed.
const DefaultPushEvery = 3 * time.Second

// cookieName is the session cookie (not the agent console's, so both can live on one host).
const cookieName = "wedge_hub_console"

// User is one console user.
type User struct {
	Name         string
	Role         string // RoleViewer, RoleSupervisor or RoleAdmin
	PasswordHash string // internal/webauth/password format
}

// Route is one route of the hub's API the console serves to signed-in users.
type Route struct {
	Pattern string         // as the API's mux has it, e.g. "GET /v1/agents"
	Scope   apitoken.Scope // the scope a token (here: the user's role) needs
	Handler http.Handler
}

// SnapshotFunc builds the overview pushed to browsers (any JSON-encodable value).
type SnapshotFunc func(ctx context.Context) (any, error)

// Options configure a Console. Zero values mean the documented defaults.
type Options struct {
	// Users who may sign in (at least one).
	Users []User
	// SessionKey signs the session cookies (≥ webauth.MinKeyLen bytes); nil: a random key, so
	// sessions end with the process. Replicas behind one address need the same key.
	SessionKey []byte
	// AllowedOrigins are extra origins (scheme://host[:port]) accepted besides the console's own.
	AllowedOrigins []string
	// SecureCookies sets the cookie's Secure attribute on plain HTTP (behind a TLS proxy).
	SecureCookies bool
	// PushEvery is how often the overview is rebuilt without Changed (default DefaultPushEvery).
	PushEvery time.Duration
	// Throttle configures the failed-login throttle (zero: webauth's defaults).
	Throttle webauth.ThrottleOptions
	Clock    clock.Clock
	Logger   *slog.Logger
}

// Console is the central console. Create it with New, serve Handler, call Changed after the hub's
// commits, and Close it.
type Console struct {
	opts     Options
	clk      clock.Clock
	log      *slog.Logger
	users    map[string]User
	hashes   map[string]string
	routes   []Route
	snapshot SnapshotFunc

	sessions *webauth.Sessions
	throttle *webauth.Throttle
	origins  *webauth.Origins
	upgrader websocket.Upgrader

	changed chan struct{}
	closing chan struct{}
	done    chan struct{}
	wg      sync.WaitGroup // client goroutines

	mu      sync.Mutex
	clients map[*client]struct{}
	last    []byte // the newest overview message
	closed  bool
}

// New checks opts and starts the owner goroutine.
func New(opts Options, routes []Route, snapshot SnapshotFunc) (*Console, error) {
	if len(opts.Users) == 0 {
		return nil, fmt.Errorf("%w: no users (every role signs in)", ErrOptions)
	}
	if snapshot == nil {
		return nil, fmt.Errorf("%w: no snapshot function", ErrOptions)
	}
	if opts.PushEvery <= 0 {
		opts.PushEvery = DefaultPushEvery
	}
	c := &Console{opts: opts, clk: clock.Or(opts.Clock), log: logging.Or(opts.Logger), users: map[string]User{},
		hashes: map[string]string{}, routes: routes, snapshot: snapshot,
		changed: make(chan struct{}, 1), closing: make(chan struct{}), done: make(chan struct{}), clients: map[*client]struct{}{}}
	for _, u := range opts.Users {
		if roleToken(u.Role).Scopes == nil {
			return nil, fmt.Errorf("%w: user %q: role %q (want viewer, supervisor or admin)", ErrOptions, u.Name, u.Role)
		}
		c.users[u.Name], c.hashes[u.Name] = u, u.PasswordHash
	}
	var err error
	if c.origins, err = webauth.NewOrigins(opts.AllowedOrigins); err != nil {
		return nil, err
	}
	c.sessions, err = webauth.NewSessions(webauth.SessionOptions{CookieName: cookieName, Key: opts.SessionKey,
		Secure: opts.SecureCookies, Clock: c.clk, Valid: c.validSession})
	if err != nil {
		return nil, err
	}
	th := opts.Throttle
	if th.Clock == nil {
		th.Clock = c.clk
	}
	c.throttle = webauth.NewThrottle(th)
	c.upgrader = websocket.Upgrader{CheckOrigin: c.origins.SameOrigin, ReadBufferSize: 1024, WriteBufferSize: 16 << 10}
	go c.run()
	return c, nil
}

// validSession accepts a session only for a configured user in the role it was made for.
func (c *Console) validSession(s webauth.Session) bool {
	u, ok := c.users[s.User]
	return ok && u.Role == s.Role
}

// roleToken is what a role may do, as the scopes of an API token.
func roleToken(role string) apitoken.Token {
	switch role {
	case RoleViewer:
		return apitoken.Token{Scopes: []apitoken.Scope{apitoken.Read}}
	case RoleSupervisor:
		return apitoken.Token{Scopes: []apitoken.Scope{apitoken.Read, apitoken.CommandsWrite}}
	case RoleAdmin:
		return apitoken.Token{Scopes: []apitoken.Scope{apitoken.Admin}}
	}
	return apitoken.Token{}
}

// CallerName is the name a console user's requests carry into the shared handlers (the "by" of
// their commands): "console:<user>".
func CallerName(user string) string { return "console:" + user }

// Changed asks for a new overview soon (after a commit). It never blocks.
func (c *Console) Changed() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// Close stops the owner, closes every WebSocket and waits for their goroutines.
func (c *Console) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		<-c.done
		return
	}
	c.closed = true
	close(c.closing)
	c.mu.Unlock()
	<-c.done
	c.wg.Wait()
}

// minGap is the least time between two overview builds, however often the hub commits: the
// overview is for people, and a busy hub must not spend its store on rebuilding it. Real time (a
// pace, not logic).
const minGap = 250 * time.Millisecond

// run is the owner: it rebuilds the overview on Changed or every PushEvery while a browser is
// connected, and broadcasts it when it changed.
func (c *Console) run() {
	defer close(c.done)
	t := c.clk.NewTimer(c.opts.PushEvery)
	defer t.Stop()
	gap := time.NewTimer(0)
	defer gap.Stop()
	for {
		select {
		case <-c.closing:
			return
		case <-c.changed:
		case <-t.C():
		}
		if c.watched() {
			c.refresh()
		}
		gap.Reset(minGap)
		select {
		case <-c.closing:
			return
		case <-gap.C:
		}
		t.Reset(c.opts.PushEvery)
	}
}

// watched reports whether a browser is connected; without one the last overview is forgotten, so
// the next browser gets a fresh one.
func (c *Console) watched() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.clients) == 0 {
		c.last = nil
		return false
	}
	return true
}

// wantsJSON reports whether r is a state-changing request with a JSON body.
func wantsJSON(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("Content-Type"), "application/json")
}
