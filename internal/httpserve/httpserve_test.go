package httpserve

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHostAllowList(t *testing.T) {
	h := Harden(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }), Options{AllowedHosts: []string{"Pack01.local"}})
	for host, want := range map[string]int{"localhost:8080": 204, "127.0.0.1": 204, "[::1]:80": 204, "pack01.local:9000": 204,
		"evil.example:8080": 421, "": 421, "127.0.0.1.evil.example": 421} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/", nil)
		req.Host = host
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("host %q: %d, want %d", host, rec.Code, want)
		}
	}
}

func TestBodyCap(t *testing.T) {
	h := Harden(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		w.WriteHeader(204)
	}), Options{MaxBodyBytes: 10})
	for body, want := range map[string]int{"short": 204, strings.Repeat("x", 11): 413} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/", strings.NewReader(body))
		req.Host = "localhost"
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("%d bytes: %d, want %d", len(body), rec.Code, want)
		}
	}
}

// A client that opens a connection and sends half a header is cut off by ReadHeaderTimeout; an idle
// keep-alive connection is closed by IdleTimeout.
func TestSlowClientsAreClosed(t *testing.T) {
	srv := Server(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }),
		Options{ReadHeaderTimeout: 200 * time.Millisecond, IdleTimeout: 200 * time.Millisecond})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: local")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("slow header: connection not closed by the server: %v", err)
	}

	k, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	io.WriteString(k, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
	br := bufio.NewReader(k)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("keep-alive request: %v %v", resp, err)
	}
	k.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle keep-alive: want EOF from the server, got %v", err)
	}
}
