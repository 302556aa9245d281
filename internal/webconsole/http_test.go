package webconsole

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"wedge/internal/webauth"
)

func TestCrossOriginAndSecurityHeaders(t *testing.T) {
	origins, err := webauth.NewOrigins([]string{"https://console.example"})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	reached := 0
	h := SecurityHeaders(CrossOrigin(origins, slog.New(slog.NewTextHandler(&logs, nil)), "test console",
		func(w http.ResponseWriter, code int, zh, en string) {
			w.WriteHeader(code)
			w.Write([]byte(zh + " / " + en))
		},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached++ })))
	for _, tc := range []struct {
		method, origin string
		want           int
	}{
		{"POST", "http://evil.example", http.StatusForbidden},
		{"POST", "", http.StatusOK},                        // no Origin: not a browser
		{"POST", "http://console.local", http.StatusOK},    // the request's own host
		{"POST", "https://console.example", http.StatusOK}, // allowed explicitly
		{"GET", "http://evil.example", http.StatusOK},      // a GET changes nothing
	} {
		reached = 0
		r := httptest.NewRequest(tc.method, "http://console.local/api/x", strings.NewReader("{}"))
		if tc.origin != "" {
			r.Header.Set("Origin", tc.origin)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Fatalf("%s from %q: %d %q, want %d", tc.method, tc.origin, w.Code, w.Body.String(), tc.want)
		}
		if (tc.want == http.StatusOK) != (reached == 1) {
			t.Fatalf("%s from %q: handler reached %d times", tc.method, tc.origin, reached)
		}
		if tc.want == http.StatusForbidden && w.Body.String() != "来源不被允许 / origin not allowed" {
			t.Fatalf("refusal %q", w.Body.String())
		}
		hd := w.Header()
		if !strings.Contains(hd.Get("Content-Security-Policy"), "frame-ancestors 'none'") || hd.Get("X-Frame-Options") != "DENY" ||
			hd.Get("X-Content-Type-Options") != "nosniff" || hd.Get("Cache-Control") != "no-store" || hd.Get("Referrer-Policy") != "no-referrer" {
			t.Fatalf("%s from %q: headers %v", tc.method, tc.origin, hd)
		}
	}
	if !strings.Contains(logs.String(), "test console request from a foreign origin refused") {
		t.Fatalf("refusal not logged: %q", logs.String())
	}
}
