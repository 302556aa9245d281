package webauth

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"wedge/internal/clock"
)

var t0 = time.Date(2026, 11, 11, 2, 0, 0, 0, time.UTC)

// roundTrip sets ss as a cookie and reads it back as the next request would carry it.
func roundTrip(t *testing.T, s *Sessions, ss Session, mangle func(string) string) (Session, bool) {
	t.Helper()
	w := httptest.NewRecorder()
	s.Set(w, httptest.NewRequest("GET", "/", nil), ss)
	cs := w.Result().Cookies()
	if len(cs) != 1 || !cs[0].HttpOnly || cs[0].Secure || cs[0].SameSite != http.SameSiteStrictMode || cs[0].Name != "test_session" {
		t.Fatalf("cookie %+v", cs)
	}
	r := httptest.NewRequest("POST", "/", nil)
	v := cs[0].Value
	if mangle != nil {
		v = mangle(v)
	}
	r.AddCookie(&http.Cookie{Name: cs[0].Name, Value: v})
	return s.Get(r)
}

func TestSessions(t *testing.T) {
	clk := clock.NewFake(t0)
	s, err := NewSessions(SessionOptions{CookieName: "test_session", Clock: clk, Valid: func(ss Session) bool { return ss.Role != "gone" }})
	if err != nil {
		t.Fatal(err)
	}
	ss := s.New("王 主管|x", "supervisor")
	got, ok := roundTrip(t, s, ss, nil)
	if !ok || got.User != ss.User || got.Role != ss.Role || got.Nonce != ss.Nonce || !got.Exp.Equal(ss.Exp) {
		t.Fatalf("round trip = %+v %v, want %+v", got, ok, ss)
	}
	if tok := s.CSRFToken(ss); !s.CheckCSRF(got, tok) || s.CheckCSRF(got, "") || s.CheckCSRF(s.New("a", "b"), tok) {
		t.Fatal("CSRF token not bound to the session")
	}
	if _, ok := roundTrip(t, s, ss, func(v string) string { b := []byte(v); b[5] ^= 1; return string(b) }); ok {
		t.Fatal("tampered cookie accepted")
	}
	other, _ := NewSessions(SessionOptions{CookieName: "test_session", Clock: clk})
	w := httptest.NewRecorder()
	other.Set(w, httptest.NewRequest("GET", "/", nil), ss)
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(w.Result().Cookies()[0])
	if _, ok := s.Get(r); ok {
		t.Fatal("cookie signed with another key accepted")
	}
	if _, ok := roundTrip(t, s, s.New("x", "gone"), nil); ok {
		t.Fatal("Valid was not asked")
	}
	clk.Advance(DefaultTTL)
	if _, ok := roundTrip(t, s, ss, nil); ok {
		t.Fatal("expired session accepted")
	}
	for _, o := range []SessionOptions{{}, {CookieName: "x", Key: make([]byte, MinKeyLen-1)}} {
		if _, err := NewSessions(o); !errors.Is(err, ErrOptions) {
			t.Errorf("NewSessions(%+v) = %v", o, err)
		}
	}
	// Behind TLS the cookie is Secure.
	w = httptest.NewRecorder()
	tr := httptest.NewRequest("GET", "https://x/", nil)
	s.Set(w, tr, ss)
	if cs := w.Result().Cookies(); len(cs) != 1 || !cs[0].Secure {
		t.Fatalf("TLS cookie %+v", cs)
	}
}

func TestThrottle(t *testing.T) {
	clk := clock.NewFake(t0)
	th := NewThrottle(ThrottleOptions{Clock: clk})
	for range DefaultMaxFails {
		if th.Wait("Wang", "10.0.0.1:5000") != 0 {
			t.Fatal("throttled too early")
		}
		th.Failed("wang", "10.0.0.1:5001") // the port and the case of the name do not matter
	}
	if w := th.Wait("wang", "10.0.0.1:6000"); w != DefaultWindow {
		t.Fatalf("wait = %s, want %s", w, DefaultWindow)
	}
	if th.Wait("wang", "10.0.0.2:5000") != 0 || th.Wait("li", "10.0.0.1:5000") != 0 {
		t.Fatal("another address or user is locked out")
	}
	clk.Advance(DefaultWindow)
	if th.Wait("wang", "10.0.0.1:5000") != 0 {
		t.Fatal("still throttled after the window")
	}
	th.Failed("wang", "10.0.0.1:5000")
	th.Succeeded("wang", "10.0.0.1:5000")
	for range DefaultMaxFails - 1 {
		th.Failed("wang", "10.0.0.1:5000")
	}
	if th.Wait("wang", "10.0.0.1:5000") != 0 {
		t.Fatal("a success did not forget the earlier failures")
	}
}

func TestOrigins(t *testing.T) {
	o, err := NewOrigins([]string{"https://Ops.Example/"})
	if err != nil {
		t.Fatal(err)
	}
	req := func(method, origin, site string) *http.Request {
		r := httptest.NewRequest(method, "http://console.local:8080/api/x", strings.NewReader("{}"))
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		if site != "" {
			r.Header.Set("Sec-Fetch-Site", site)
		}
		return r
	}
	for _, tc := range []struct {
		method, origin, site string
		ok                   bool
	}{
		{"POST", "", "", true},                              // not a browser
		{"POST", "http://console.local:8080", "", true},     // own origin, older browser
		{"POST", "http://evil.example", "", false},          // foreign origin
		{"POST", "null", "", false},                         // opaque origin
		{"POST", "https://ops.example", "", true},           // allowed
		{"POST", "https://ops.example", "cross-site", true}, // allowed
		{"POST", "http://console.local:8080", "same-origin", true},
		{"POST", "http://evil.example", "cross-site", false},
		{"POST", "", "same-site", false}, // a sibling site
		{"GET", "http://evil.example", "cross-site", true},
	} {
		err := o.Check(req(tc.method, tc.origin, tc.site))
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrCrossOrigin)) {
			t.Errorf("%s origin %q site %q: %v, want ok=%v", tc.method, tc.origin, tc.site, err, tc.ok)
		}
	}
	for _, tc := range []struct {
		origin string
		ok     bool
	}{{"", true}, {"http://console.local:8080", true}, {"HTTP://CONSOLE.LOCAL:8080", true}, {"https://ops.example", true},
		{"http://evil.example", false}, {"null", false}, {"ftp://console.local:8080", false}} {
		if got := o.SameOrigin(req("GET", tc.origin, "")); got != tc.ok {
			t.Errorf("SameOrigin(%q) = %v, want %v", tc.origin, got, tc.ok)
		}
	}
	for _, bad := range []string{"ops.example", "https://ops.example/path", "ftp://ops.example", "https://"} {
		if _, err := NewOrigins([]string{bad}); !errors.Is(err, ErrOptions) {
			t.Errorf("NewOrigins(%q) = %v, want ErrOptions", bad, err)
		}
	}
}

// A flood of random user names from one address is throttled by the address, not only per name;
// another address is not affected.
func TestThrottleRandomNames(t *testing.T) {
	clk := clock.NewFake(t0)
	th := NewThrottle(ThrottleOptions{Clock: clk})
	for i := range DefaultMaxAddrFails {
		name := fmt.Sprintf("u%d", i)
		if th.Wait(name, "10.0.0.9:1") != 0 {
			t.Fatalf("throttled after %d names", i)
		}
		th.Failed(name, "10.0.0.9:1")
	}
	if th.Wait("brand-new-name", "10.0.0.9:2") == 0 {
		t.Fatal("a flood of random names from one address is never throttled")
	}
	if th.Wait("brand-new-name", "10.0.0.10:1") != 0 {
		t.Fatal("another address is throttled")
	}
	clk.Advance(DefaultWindow)
	if th.Wait("brand-new-name", "10.0.0.9:2") != 0 {
		t.Fatal("still throttled after the window")
	}
}

// At most MaxChecks password checks run at once in the process.
func TestTryCheck(t *testing.T) {
	th := NewThrottle(ThrottleOptions{MaxChecks: 2})
	r1, ok1 := th.TryCheck()
	r2, ok2 := th.TryCheck()
	if !ok1 || !ok2 {
		t.Fatal("the first two checks were refused")
	}
	if _, ok := th.TryCheck(); ok {
		t.Fatal("a third check at once was allowed")
	}
	r1()
	r3, ok := th.TryCheck()
	if !ok {
		t.Fatal("a slot freed is not reused")
	}
	r2()
	r3()
}
