package hubconfig

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"

	"wedge/internal/webauth/password"
	"wedge/internal/yamlpath"
	"wedge/sync/wire"
)

// validator collects errors with their line numbers.
type validator struct {
	name string
	root *yaml.Node
	errs []error
}

func (v *validator) failf(path []any, format string, args ...any) {
	v.errs = append(v.errs, &Error{File: v.name, Line: yamlpath.Line(v.root, path), Field: yamlpath.Field(path),
		Msg: fmt.Sprintf(format, args...), Err: ErrInvalid})
}

// validate reports every rule the configuration breaks, sorted by line; it changes nothing.
func (c *Config) validate(name string, root *yaml.Node) []error {
	v := &validator{name: name, root: root}
	if c.Store != "" && !strings.HasPrefix(c.Store, "bolt:") && !strings.HasPrefix(c.Store, "postgres://") && !strings.HasPrefix(c.Store, "postgresql://") {
		v.failf([]any{"store"}, "%q: want bolt:DIR or postgres://…", redactStore(c.Store))
	}
	c.validateBroker(v)
	c.validateAPI(v)
	c.validateLog(v)
	c.validateNotify(v)
	c.validateConsole(v)
	c.validateMeasures(v)
	c.validateEWaybill(v)
	slices.SortStableFunc(v.errs, func(a, b error) int { return a.(*Error).Line - b.(*Error).Line })
	return v.errs
}

func (c *Config) validateBroker(v *validator) {
	b := c.Broker
	u, err := url.Parse(b.URL)
	if err != nil || u.Host == "" {
		v.failf([]any{"broker", "url"}, "%q is not a broker URL (e.g. tcp://127.0.0.1:1883 or ssl://mq.example.com:8883)", b.URL)
	} else {
		switch u.Scheme {
		case "tcp", "mqtt", "ssl", "tls", "tcps", "mqtts", "ws", "wss":
		default:
			v.failf([]any{"broker", "url"}, "scheme %q: want tcp, ssl, tls, ws or wss", u.Scheme)
		}
	}
	pair(v, "broker", "cert", b.Cert, "key", b.Key)
	if b.Password != "" && b.Username == "" {
		v.failf([]any{"broker", "password"}, "needs broker.username")
	}
	if b.ClientID != "" && !validClientID(b.ClientID) {
		v.failf([]any{"broker", "client_id"}, "%q: 1–128 printable characters without spaces, + or #", b.ClientID)
	}
	switch {
	case b.Replica != "" && !wire.ValidName(b.Replica):
		v.failf([]any{"broker", "replica"}, "%q: 1–64 letters, digits, - or _", b.Replica)
	case b.Replica != "" && b.ClientID != "":
		v.failf([]any{"broker", "replica"}, "set broker.replica or broker.client_id, not both (the replica only shapes the default client id)")
	}
}

// pair reports the one of two fields that go together (a certificate and its key) that is set
// without the other, at the line of the one that is there.
func pair(v *validator, section, k1, v1, k2, v2 string) {
	switch {
	case v1 != "" && v2 == "":
		v.failf([]any{section, k1}, "needs %s.%s (they go together)", section, k2)
	case v1 == "" && v2 != "":
		v.failf([]any{section, k2}, "needs %s.%s (they go together)", section, k1)
	}
}

func validClientID(s string) bool {
	if len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) || r == '+' || r == '#' {
			return false
		}
	}
	return true
}

func (c *Config) validateAPI(v *validator) {
	a := c.API
	if _, _, err := net.SplitHostPort(a.Listen); err != nil {
		v.failf([]any{"api", "listen"}, "%q is not host:port: %v", a.Listen, err)
	}
	pair(v, "api", "tls_cert", a.TLSCert, "tls_key", a.TLSKey)
	for i, h := range a.AllowedHosts {
		switch {
		case h == "" || strings.TrimSpace(h) != h || strings.ContainsAny(h, " /\t"):
			v.failf([]any{"api", "allowed_hosts", i}, "%q is not a host name", h)
		case isHostPort(h):
			v.failf([]any{"api", "allowed_hosts", i}, "%q: write the host name without the port", h)
		}
	}
	switch a.MetricsAuth {
	case MetricsRead, MetricsOpen:
	default:
		v.failf([]any{"api", "metrics_auth"}, "%q: want read (a token with the read scope) or open", a.MetricsAuth)
	}
}

// isHostPort reports whether h is host:port (an IPv6 literal such as ::1 is not).
func isHostPort(h string) bool {
	_, port, err := net.SplitHostPort(h)
	return err == nil && port != ""
}

func (c *Config) validateLog(v *validator) {
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		v.failf([]any{"log", "level"}, "%q: want debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		v.failf([]any{"log", "format"}, "%q: want text or json", c.Log.Format)
	}
}

// redactStore hides a password in a store URL quoted back in an error.
func redactStore(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			return u.String()
		}
	}
	return s
}

// validateConsole checks the console users (a name once, a known role, a password hash) and the
// allowed origins.
func (c *Config) validateConsole(v *validator) {
	seen := map[string]bool{}
	for i, u := range c.Console.Users {
		at := func(f string) []any { return []any{"console", "users", i, f} }
		switch {
		case !validUserName(u.Name):
			v.failf(at("name"), "%q: 1–64 letters, digits, . _ or -", u.Name)
		case seen[u.Name]:
			v.failf(at("name"), "%q appears twice", u.Name)
		}
		seen[u.Name] = true
		switch u.Role {
		case RoleViewer, RoleSupervisor, RoleAdmin:
		default:
			v.failf(at("role"), "%q: want viewer, supervisor or admin", u.Role)
		}
		if password.Validate(u.PasswordHash) != nil {
			v.failf(at("password_hash"), "not a password hash: create one with `wedge console hash-password`")
		}
	}
	for i, o := range c.Console.AllowedOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.TrimRight(u.Path, "/") != "" || u.RawQuery != "" || u.User != nil {
			v.failf([]any{"console", "allowed_origins", i}, "%q: want scheme://host[:port], e.g. https://hq.example", o)
		}
	}
}

func validUserName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}
