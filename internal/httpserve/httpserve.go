// Package httpserve holds what every wedge HTTP listener (the agent's API and console, the hub's API)
// needs against slow or hostile clients: servers with read, header and idle timeouts, a cap on
// request bodies, and an allow-list of Host names so a DNS-rebinding page cannot read a console or
// an API through a victim's browser.
package httpserve

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"time"
)

// Options of a server. Zero fields take the documented defaults.
type Options struct {
	ReadHeaderTimeout time.Duration // default 10 s
	ReadTimeout       time.Duration // whole request incl. body; default 30 s
	IdleTimeout       time.Duration // keep-alive; default 60 s
	MaxHeaderBytes    int           // default 64 KiB
	MaxBodyBytes      int64         // default 1 MiB; every request body is capped (413 past it)
	// AllowedHosts are the Host names (without port) accepted besides localhost, 127.0.0.1 and ::1,
	// e.g. the PC's name or the hub's DNS name. "*" accepts any host (not recommended). Requests
	// naming another host get 421 Misdirected Request.
	AllowedHosts []string
}

func (o Options) withDefaults() Options {
	if o.ReadHeaderTimeout <= 0 {
		o.ReadHeaderTimeout = 10 * time.Second
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 30 * time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 60 * time.Second
	}
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = 64 << 10
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	return o
}

// Server returns an http.Server for h with the timeouts of opts, h wrapped by Harden. There is no
// WriteTimeout: WebSocket consoles and long catch-up answers write for longer; slow readers are
// bounded by the TCP send buffer and the handlers' own deadlines.
func Server(h http.Handler, opts Options) *http.Server {
	opts = opts.withDefaults()
	return &http.Server{
		Handler:           Harden(h, opts),
		ReadHeaderTimeout: opts.ReadHeaderTimeout,
		ReadTimeout:       opts.ReadTimeout,
		IdleTimeout:       opts.IdleTimeout,
		MaxHeaderBytes:    opts.MaxHeaderBytes,
	}
}

// Harden wraps h with the Host allow-list and the body cap of opts.
func Harden(h http.Handler, opts Options) http.Handler {
	opts = opts.withDefaults()
	allowed := map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true}
	any := false
	for _, a := range opts.AllowedHosts {
		a = strings.ToLower(strings.TrimSpace(a))
		if a == "*" {
			any = true
		}
		allowed[strings.Trim(a, "[]")] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !any && !allowed[hostName(r.Host)] {
			WriteError(w, http.StatusMisdirectedRequest, "主机名不在允许列表中", "host "+r.Host+" is not in the allow-list")
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, opts.MaxBodyBytes)
		}
		h.ServeHTTP(w, r)
	})
}

// hostName is the lower-cased host of a Host header without its port or IPv6 brackets.
func hostName(hostport string) string {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	return strings.ToLower(strings.Trim(h, "[]"))
}

// WriteError writes {"error": "中文 / English", "zh": ..., "en": ...} with code.
func WriteError(w http.ResponseWriter, code int, zh, en string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": zh + " / " + en, "zh": zh, "en": en})
}
