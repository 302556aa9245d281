package hubconsole_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"wedge/internal/clock"
	"wedge/internal/webauth"
	"wedge/internal/webauth/password"
	"wedge/sync/apitoken"
	"wedge/sync/hub/hubconsole"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// cheapHash is a valid hash made with the fewest iterations allowed, so tests stay fast.
func cheapHash(t *testing.T, pw string) string {
	t.Helper()
	h, err := password.HashIter(pw, password.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

type env struct {
	c     *hubconsole.Console
	srv   *httptest.Server
	calls chan string // "METHOD path by=<caller>" of every shared handler call
	snaps atomic.Int64
}

// newEnv serves a console with three users (one per role) over two fake API routes that record
// their calls and the caller name the console gave them.
func newEnv(t *testing.T, opts hubconsole.Options) *env {
	t.Helper()
	e := &env{calls: make(chan string, 10)}
	record := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.calls <- r.Method + " " + r.URL.Path + " by=" + apitoken.NameFrom(r.Context()) + " site=" + r.PathValue("site")
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	})
	routes := []hubconsole.Route{
		{Pattern: "GET /v1/agents", Scope: apitoken.Read, Handler: record},
		{Pattern: "POST /v1/agents/{site}/{agent}/commands", Scope: apitoken.CommandsWrite, Handler: record},
		{Pattern: "GET /v1/tokens", Scope: apitoken.Admin, Handler: record},
	}
	if opts.Users == nil {
		for _, u := range []struct{ name, role string }{{"vera", hubconsole.RoleViewer}, {"alice", hubconsole.RoleSupervisor}, {"root", hubconsole.RoleAdmin}} {
			opts.Users = append(opts.Users, hubconsole.User{Name: u.name, Role: u.role, PasswordHash: cheapHash(t, u.name+"-pw")})
		}
	}
	c, err := hubconsole.New(opts, routes, func(context.Context) (any, error) {
		return map[string]int64{"n": e.snaps.Add(1)}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	e.c = c
	e.srv = httptest.NewServer(c.Handler())
	t.Cleanup(func() {
		c.Close()
		e.srv.Close()
	})
	return e
}

// client is a browser: a cookie jar and the CSRF token of its session.
type client struct {
	t    *testing.T
	base string
	hc   *http.Client
	csrf string
}

func (e *env) client(t *testing.T) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: e.srv.URL, hc: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
}

// do sends a request (JSON body when body != nil) with the CSRF token when csrf is set, and
// returns the status and the decoded body.
func (c *client) do(method, path string, body any, withCSRF bool, hdr map[string]string) (int, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if withCSRF {
		req.Header.Set("X-Wedge-CSRF", c.csrf)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func (c *client) login(user, pw string) int {
	c.t.Helper()
	code, out := c.do("POST", "/api/login", map[string]string{"user": user, "password": pw}, false, nil)
	if code == http.StatusOK {
		c.csrf, _ = out["csrf"].(string)
	}
	return code
}

// Every role signs in: without a session nothing but the page and the login answers.
func TestEveryRoleSignsIn(t *testing.T) {
	e := newEnv(t, hubconsole.Options{})
	c := e.client(t)
	for _, p := range []string{"/api/session", "/api/v1/agents"} {
		if code, _ := c.do("GET", p, nil, false, nil); code != http.StatusUnauthorized {
			t.Errorf("GET %s without a session: %d, want 401", p, code)
		}
	}
	if code, _ := c.do("GET", "/", nil, false, nil); code != http.StatusOK {
		t.Errorf("the page: %d", code)
	}
	if _, _, err := websocket.DefaultDialer.Dial(strings.Replace(e.srv.URL, "http", "ws", 1)+"/ws", nil); err == nil {
		t.Error("websocket without a session accepted")
	}
	if code := c.login("vera", "vera-pw"); code != http.StatusOK {
		t.Fatalf("viewer login: %d", code)
	}
	code, s := c.do("GET", "/api/session", nil, false, nil)
	if code != http.StatusOK || s["user"] != "vera" || s["role"] != "viewer" {
		t.Fatalf("session %d %v", code, s)
	}
	if code, _ := c.do("GET", "/api/v1/agents", nil, false, nil); code != http.StatusOK {
		t.Fatalf("viewer read: %d", code)
	}
	if call := <-e.calls; call != "GET /api/v1/agents by=console:vera site=" {
		t.Fatalf("shared handler saw %q", call)
	}
	if code, _ := c.do("POST", "/api/logout", map[string]any{}, true, nil); code != http.StatusOK {
		t.Fatalf("logout: %d", code)
	}
	if code, _ := c.do("GET", "/api/session", nil, false, nil); code != http.StatusUnauthorized {
		t.Fatalf("after logout: %d", code)
	}
}

// A viewer cannot send a breaker command (403); a supervisor can, and the shared handler sees it
// as console:<user>; a command without the CSRF token is refused (403) for everyone.
func TestRolesAndCSRF(t *testing.T) {
	e := newEnv(t, hubconsole.Options{})
	cmd := map[string]any{"type": "breaker_thresholds", "max_backlog": 300}
	path := "/api/v1/agents/sz01/pack01/commands"

	v := e.client(t)
	v.login("vera", "vera-pw")
	if code, out := v.do("POST", path, cmd, true, nil); code != http.StatusForbidden || !strings.Contains(out["en"].(string), "commands:write") {
		t.Fatalf("viewer command: %d %v", code, out)
	}
	if code, _ := v.do("GET", "/api/v1/tokens", nil, false, nil); code != http.StatusForbidden {
		t.Fatalf("viewer admin route: %d", code)
	}

	s := e.client(t)
	if code := s.login("alice", "alice-pw"); code != http.StatusOK {
		t.Fatal(code)
	}
	if code, out := s.do("POST", path, cmd, false, nil); code != http.StatusForbidden || !strings.Contains(out["en"].(string), "CSRF") {
		t.Fatalf("command without CSRF: %d %v", code, out)
	}
	bad := *s
	bad.csrf = "forged"
	if code, _ := bad.do("POST", path, cmd, true, nil); code != http.StatusForbidden {
		t.Fatalf("command with a wrong CSRF token: %d", code)
	}
	if code, _ := s.do("POST", "/api/logout", map[string]any{}, false, nil); code != http.StatusForbidden {
		t.Fatalf("logout without CSRF: %d", code)
	}
	select {
	case call := <-e.calls:
		t.Fatalf("a refused request reached the handler: %s", call)
	default:
	}
	if code, _ := s.do("POST", path, cmd, true, nil); code != http.StatusOK {
		t.Fatalf("supervisor command: %d", code)
	}
	if call := <-e.calls; call != "POST /api/v1/agents/sz01/pack01/commands by=console:alice site=sz01" {
		t.Fatalf("shared handler saw %q", call)
	}
	// From a foreign origin, even with the right token, it is refused before the handler.
	if code, _ := s.do("POST", path, cmd, true, map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}); code != http.StatusForbidden {
		t.Fatalf("cross-origin command: %d", code)
	}
	a := e.client(t)
	a.login("root", "root-pw")
	if code, _ := a.do("GET", "/api/v1/tokens", nil, false, nil); code != http.StatusOK {
		t.Fatalf("admin route for admin: %d", code)
	}
}

// Wrong passwords are throttled per name and address: after the limit even the right password
// is refused with 429 and Retry-After until the window passes.
func TestWrongPasswordThrottled(t *testing.T) {
	e := newEnv(t, hubconsole.Options{Throttle: webauth.ThrottleOptions{MaxFails: 3}})
	c := e.client(t)
	for i := 0; i < 3; i++ {
		if code := c.login("alice", "guess"); code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d, want 401", i, code)
		}
	}
	code, out := c.do("POST", "/api/login", map[string]string{"user": "alice", "password": "alice-pw"}, false, nil)
	if code != http.StatusTooManyRequests || !strings.Contains(out["zh"].(string), "登录失败次数过多") {
		t.Fatalf("after 3 failures: %d %v", code, out)
	}
	if code := c.login("vera", "vera-pw"); code != http.StatusOK {
		t.Fatalf("another user from the same address: %d", code)
	}
	if code := c.login("nobody", "x"); code != http.StatusUnauthorized {
		t.Fatalf("unknown user: %d", code)
	}
}

// The WebSocket pushes the overview to a signed-in browser of the console's origin and refuses a
// foreign Origin (403) even with a valid session cookie.
func TestWebSocketOriginAndPush(t *testing.T) {
	e := newEnv(t, hubconsole.Options{PushEvery: time.Hour})
	c := e.client(t)
	c.login("vera", "vera-pw")
	u := strings.Replace(e.srv.URL, "http", "ws", 1) + "/ws"
	hdr := http.Header{}
	for _, ck := range c.hc.Jar.Cookies(mustURL(t, e.srv.URL)) {
		hdr.Add("Cookie", ck.Name+"="+ck.Value)
	}
	foreign := hdr.Clone()
	foreign.Set("Origin", "http://evil.example")
	_, resp, err := websocket.DefaultDialer.Dial(u, foreign)
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign origin: err %v, resp %v", err, resp)
	}
	own := hdr.Clone()
	own.Set("Origin", e.srv.URL)
	conn, _, err := websocket.DefaultDialer.Dial(u, own)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var m struct {
		Type string         `json:"type"`
		Data map[string]int `json:"data"`
	}
	if err := conn.ReadJSON(&m); err != nil || m.Type != "overview" || m.Data["n"] < 1 {
		t.Fatalf("first message %+v, %v", m, err)
	}
	e.c.Changed() // every build differs here (n counts), so each Changed is pushed
	first := m.Data["n"]
	for m.Data["n"] == first {
		if err := conn.ReadJSON(&m); err != nil {
			t.Fatalf("no push after Changed: %v", err)
		}
	}
}

func TestOptionsChecked(t *testing.T) {
	snap := func(context.Context) (any, error) { return nil, nil }
	for _, o := range []hubconsole.Options{
		{},
		{Users: []hubconsole.User{{Name: "x", Role: "boss", PasswordHash: cheapHash(t, "x")}}},
		{Users: []hubconsole.User{{Name: "x", Role: "viewer"}}, SessionKey: []byte("short")},
		{Users: []hubconsole.User{{Name: "x", Role: "viewer"}}, AllowedOrigins: []string{"hq.example"}},
	} {
		if c, err := hubconsole.New(o, nil, snap); err == nil {
			c.Close()
			t.Errorf("New(%+v) accepted", o)
		}
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// An open WebSocket ends when its session expires (the next push is not sent), and the expired
// cookie no longer reads anything.
func TestSessionExpiryEndsWebSocket(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 11, 2, 0, 0, 0, time.UTC))
	e := newEnv(t, hubconsole.Options{Clock: clk, PushEvery: time.Hour})
	c := e.client(t)
	if code := c.login("vera", "vera-pw"); code != http.StatusOK {
		t.Fatal(code)
	}
	hdr := http.Header{}
	for _, ck := range c.hc.Jar.Cookies(mustURL(t, e.srv.URL)) {
		hdr.Add("Cookie", ck.Name+"="+ck.Value)
	}
	conn, _, err := websocket.DefaultDialer.Dial(strings.Replace(e.srv.URL, "http", "ws", 1)+"/ws", hdr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var m map[string]any
	if err := conn.ReadJSON(&m); err != nil || m["type"] != "overview" {
		t.Fatalf("first message %v, %v", m, err)
	}
	clk.Advance(webauth.DefaultTTL)
	e.c.Changed()
	_, _, err = conn.ReadMessage()
	if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != websocket.ClosePolicyViolation {
		t.Fatalf("after expiry: %v, want a policy-violation close", err)
	}
	if code, _ := c.do("GET", "/api/v1/agents", nil, false, nil); code != http.StatusUnauthorized {
		t.Fatalf("expired session read: %d", code)
	}
}
