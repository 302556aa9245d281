package webauth

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// ErrCrossOrigin means a state-changing request from another origin.
var ErrCrossOrigin = errors.New("webauth: cross-origin request refused")

// Origins decides which origins may use a console. The console's own origin is always allowed;
// Allowed adds others (e.g. "https://console.example" in front of a proxy).
//
// State-changing requests are checked by net/http's CrossOriginProtection (Check): the browser's
// Sec-Fetch-Site header, else the Origin header against the Host. It allows every GET, so a
// WebSocket upgrade, which is a GET, is checked by SameOrigin instead.
type Origins struct {
	cop     *http.CrossOriginProtection
	allowed map[string]bool
}

// NormalizeOrigin returns an origin as browsers send it ("scheme://host[:port]", lower case, no
// trailing slash), or an error for something that is not an http(s) origin.
func NormalizeOrigin(origin string) (string, error) {
	o := strings.ToLower(strings.TrimRight(strings.TrimSpace(origin), "/"))
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("%w: origin %q (want scheme://host[:port], e.g. https://console.example)", ErrOptions, origin)
	}
	return o, nil
}

// NewOrigins returns the checks for the console's own origin plus allowed.
func NewOrigins(allowed []string) (*Origins, error) {
	o := &Origins{cop: http.NewCrossOriginProtection(), allowed: map[string]bool{}}
	for _, a := range allowed {
		n, err := NormalizeOrigin(a)
		if err != nil {
			return nil, err
		}
		if err := o.cop.AddTrustedOrigin(n); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrOptions, err)
		}
		o.allowed[n] = true
	}
	return o, nil
}

// Check returns an error wrapping ErrCrossOrigin when r is a state-changing request (not GET, HEAD
// or OPTIONS) from another origin. Requests without Sec-Fetch-Site and Origin (not from a browser)
// pass.
func (o *Origins) Check(r *http.Request) error {
	if err := o.cop.Check(r); err != nil {
		return fmt.Errorf("%w: %w", ErrCrossOrigin, err)
	}
	return nil
}

// SameOrigin is the check of a WebSocket upgrade: it accepts no Origin (not a browser), an http(s)
// origin naming the request's own host, or an allowed origin.
func (o *Origins) SameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if o.allowed[strings.ToLower(strings.TrimRight(origin, "/"))] {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && strings.EqualFold(u.Host, r.Host)
}
