package webconsole

import (
	"log/slog"
	"net/http"

	"wedge/internal/logging"
	"wedge/internal/webauth"
)

// SecurityHeaders sets the consoles' response headers on every answer of h: a strict Content
// Security Policy (same-origin scripts, styles and connections only; no framing), nosniff, no
// referrer and no caching.
func SecurityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// CrossOrigin refuses state-changing requests from a foreign origin (webauth.Origins.Check) with
// 403 "来源不被允许 / origin not allowed", written by writeErr in the console's own shape and logged
// as "<logName> request from a foreign origin refused", before they reach h. Every GET passes (the
// WebSocket upgrade has its own check, see Upgrade).
func CrossOrigin(origins *webauth.Origins, log *slog.Logger, logName string, writeErr func(w http.ResponseWriter, code int, zh, en string), h http.Handler) http.Handler {
	log = logging.Or(log)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := origins.Check(r); err != nil {
			log.Info(logName+" request from a foreign origin refused", "method", r.Method, "path", r.URL.Path,
				"origin", r.Header.Get("Origin"), "remote", r.RemoteAddr)
			writeErr(w, http.StatusForbidden, "来源不被允许", "origin not allowed")
			return
		}
		h.ServeHTTP(w, r)
	})
}
