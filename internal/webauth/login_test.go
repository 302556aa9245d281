package webauth

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"wedge/internal/clock"
	"wedge/internal/webauth/password"
)

type loginErr struct {
	Code   int
	ZH, EN string
}

// loginRig is a Login with one user "ann" (password "pw-ann", role "boss").
type loginRig struct {
	clk  *clock.Fake
	opts LoginOptions
}

func newLoginRig(t *testing.T, maxChecks int) *loginRig {
	t.Helper()
	h, err := password.HashIter("pw-ann", password.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(t0)
	ss, err := NewSessions(SessionOptions{CookieName: "test_session", Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return &loginRig{clk: clk, opts: LoginOptions{
		Sessions: ss,
		Throttle: NewThrottle(ThrottleOptions{MaxFails: 2, Window: time.Minute, MaxChecks: maxChecks, Clock: clk}),
		Hashes:   map[string]string{"ann": h},
		Role:     func(user string) string { return "boss:" + user },
		WriteErr: func(w http.ResponseWriter, code int, zh, en string) {
			w.WriteHeader(code)
			json.NewEncoder(w).Encode(loginErr{code, zh, en})
		},
	}}
}

// post runs Login on body and returns the recorder, the session and Login's result.
func (g *loginRig) post(body string) (*httptest.ResponseRecorder, Session, bool) {
	r := httptest.NewRequest("POST", "/api/login", strings.NewReader(body))
	r.RemoteAddr = "192.0.2.7:5000"
	w := httptest.NewRecorder()
	s, ok := Login(w, r, g.opts)
	return w, s, ok
}

func errOf(t *testing.T, w *httptest.ResponseRecorder) loginErr {
	t.Helper()
	var e loginErr
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatalf("error body %q: %v", w.Body.String(), err)
	}
	if e.ZH == "" || e.EN == "" {
		t.Fatalf("error without both languages: %+v", e)
	}
	return e
}

func TestLoginBadBody(t *testing.T) {
	g := newLoginRig(t, 0)
	for _, body := range []string{``, `{`, `{"user":"ann","password":"pw-ann","extra":1}`, `["ann"]`} {
		w, _, ok := g.post(body)
		if ok || w.Code != http.StatusBadRequest {
			t.Fatalf("%q: ok=%v code %d", body, ok, w.Code)
		}
		if e := errOf(t, w); e.ZH != "请求内容无法解析" || !strings.HasPrefix(e.EN, "bad request body: ") {
			t.Fatalf("%q: %+v", body, e)
		}
		if len(w.Result().Cookies()) != 0 {
			t.Fatalf("%q: a cookie was set", body)
		}
	}
	// An over-long body is cut at MaxBody and so cannot be decoded.
	g.opts.MaxBody = 32
	if w, _, ok := g.post(`{"user":"ann","password":"pw-ann"}`); ok || w.Code != http.StatusBadRequest {
		t.Fatalf("over MaxBody: ok=%v code %d", ok, w.Code)
	}
}

func TestLoginSuccessIssuesFreshSession(t *testing.T) {
	g := newLoginRig(t, 0)
	w, s, ok := g.post(`{"user":"  ann ","password":"pw-ann"}`)
	if !ok || w.Code != http.StatusOK { // Login writes no body on success: the caller answers
		t.Fatalf("ok=%v code %d body %q", ok, w.Code, w.Body.String())
	}
	if s.User != "ann" || s.Role != "boss:ann" || !s.Exp.After(t0) {
		t.Fatalf("session %+v", s)
	}
	cs := w.Result().Cookies()
	if len(cs) != 1 || cs[0].Name != "test_session" {
		t.Fatalf("cookies %+v", cs)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(cs[0])
	if got, ok := g.opts.Sessions.Get(r); !ok || got.User != s.User || got.Role != s.Role || got.Nonce != s.Nonce || !got.Exp.Equal(s.Exp) {
		t.Fatalf("cookie reads back as %+v %v, want %+v", got, ok, s)
	}
	_, s2, _ := g.post(`{"user":"ann","password":"pw-ann"}`)
	if g.opts.Sessions.CSRFToken(s2) == g.opts.Sessions.CSRFToken(s) {
		t.Fatal("a second login kept the CSRF token")
	}
}

func TestLoginThrottle(t *testing.T) {
	g := newLoginRig(t, 0)
	for i := 0; i < 2; i++ {
		w, _, ok := g.post(`{"user":"ann","password":"wrong"}`)
		if ok || w.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d: ok=%v code %d", i, ok, w.Code)
		}
		if e := errOf(t, w); e.ZH != "用户名或密码错误" {
			t.Fatalf("%+v", e)
		}
	}
	// Blocked now, even with the right password; Retry-After says when.
	w, _, ok := g.post(`{"user":"ann","password":"pw-ann"}`)
	if ok || w.Code != http.StatusTooManyRequests {
		t.Fatalf("third try: ok=%v code %d", ok, w.Code)
	}
	if ra := w.Header().Get("Retry-After"); ra != "61" {
		t.Fatalf("Retry-After %q, want 61", ra)
	}
	if e := errOf(t, w); e.ZH != "登录失败次数过多，请 2 分钟后再试" || e.EN != "too many failed logins, try again in 2 min" {
		t.Fatalf("%+v", e)
	}
	// Once the failures left the window the right password gets in again.
	g.clk.Advance(time.Minute + time.Second)
	if w, _, ok := g.post(`{"user":"ann","password":"pw-ann"}`); !ok {
		t.Fatalf("after the window: code %d body %q", w.Code, w.Body.String())
	}
}

func TestLoginAllChecksBusy(t *testing.T) {
	g := newLoginRig(t, 1)
	release, ok := g.opts.Throttle.TryCheck() // another login holds the only slot
	if !ok {
		t.Fatal("no slot")
	}
	w, _, ok := g.post(`{"user":"ann","password":"pw-ann"}`)
	if ok || w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("busy: ok=%v code %d Retry-After %q", ok, w.Code, w.Header().Get("Retry-After"))
	}
	if e := errOf(t, w); e.EN != "too many logins at once, try again in a moment" {
		t.Fatalf("%+v", e)
	}
	release()
	if w, _, ok := g.post(`{"user":"ann","password":"pw-ann"}`); !ok {
		t.Fatalf("slot free again: code %d", w.Code)
	}
}
