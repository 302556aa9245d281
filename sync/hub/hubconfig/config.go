// Package hubconfig reads and validates the hub's YAML configuration (hub.yaml, `wedge hub
// --config`).
//
// Loading is strict, as the agent's wedge.yaml: unknown fields are errors, and every problem is
// reported with the file, the line and the field:
//
//	hub.yaml:7: broker.url: scheme "http": want tcp, ssl, tls, ws or wss
//
// Load returns all problems at once (errors.Join of *Error values, each matching ErrInvalid). It runs
// in steps: decode, fill the defaults (Defaults and setDefaults, the one place they are set), then
// validate (validate.go, which only reports). Relative paths are resolved against the directory of
// the file. docs/hub.example.yaml is the annotated example, and a test loads it.
//
// The file holds what `wedge hub`'s flags hold; a flag given explicitly on the command line overrides
// the file (the command applies that). The package is plain data and checks: it imports no runtime
// package (neither the hub nor anything under agent/).
package hubconfig

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"wedge/internal/yamlpath"
)

// Sentinel errors. Match them with errors.Is.
var (
	// ErrInvalid means the configuration breaks a rule; the *Error values name file, line and field.
	ErrInvalid = errors.New("hubconfig: invalid")
	// ErrRead means the file could not be read.
	ErrRead = errors.New("hubconfig: cannot read file")
)

// Defaults. They match the defaults of `wedge hub`'s flags.
const (
	DefaultBrokerURL   = "tcp://127.0.0.1:1883"
	DefaultDataDir     = "hub-data"
	DefaultListen      = "127.0.0.1:8480"
	DefaultLogLevel    = "info"
	DefaultLogFormat   = "text"
	DefaultMetricsAuth = MetricsRead
)

// Values of api.metrics_auth.
const (
	// MetricsRead serves GET /metrics only to a bearer token with the read scope.
	MetricsRead = "read"
	// MetricsOpen serves GET /metrics to anyone who reaches the listener, like /healthz.
	MetricsOpen = "open"
)

// Config is the whole hub.yaml.
type Config struct {
	// DataDir holds hub.db (default "hub-data", beside the config file).
	DataDir string `yaml:"data_dir"`
	// Store is where the hub keeps its state: "" or "bolt:DIR" (a bbolt file, DataDir) or a
	// PostgreSQL URL (postgres://user:pass@host:5432/db?sslmode=verify-full), which replicas share.
	Store  string `yaml:"store"`
	Broker Broker `yaml:"broker"`
	API    API    `yaml:"api"`
	// SigningKey is the hub's Ed25519 private key file (PEM), shared by every replica; "" = the hub
	// publishes unsigned (agents must then accept unsigned messages).
	SigningKey string `yaml:"signing_key"`
	// AgentKeys is the agent key registry directory, {dir}/{site}/{agent}.pub; "" = unsigned batches
	// are accepted.
	AgentKeys string `yaml:"agent_keys"`
	Log       Log    `yaml:"log"`
	// Notify configures notifications (notify.go); nil = none.
	Notify *Notify `yaml:"notify"`
	// Tracking configures the carriers' pushes (POST /v1/tracking/kuaidi100).
	Tracking Tracking `yaml:"tracking"`
	// Console is the central console at /console/ (no users: no console).
	Console Console `yaml:"console"`
	// Sites, Measures and SMTP configure the central measures and the daily report (measures.go).
	Sites    map[string]Site `yaml:"sites"`
	Measures Measures        `yaml:"measures"`
	SMTP     SMTP            `yaml:"smtp"`
	// EWaybill is where the hub obtains e-waybill numbers (ewaybill.go); absent = never.
	EWaybill EWaybill `yaml:"ewaybill"`

	// File is the path the config was loaded from (not in YAML).
	File string `yaml:"-"`
}

// Broker is the hub's MQTT connection.
type Broker struct {
	URL      string `yaml:"url"`  // tcp://, ssl://, tls://, ws://, wss://; default tcp://127.0.0.1:1883
	CA       string `yaml:"ca"`   // CA file that verifies the broker
	Cert     string `yaml:"cert"` // client certificate (with key)
	Key      string `yaml:"key"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// ClientID is the MQTT client id; it must stay the same across restarts (persistent session).
	// "" = wedge-hub-<hostname>, or wedge-hub-<hostname>-<replica> with Replica.
	ClientID string `yaml:"client_id"`
	// Replica names this hub among several replicas on one host (letters, digits, - and _, at most
	// 64); it is appended to the default client id. Set it or ClientID, not both.
	Replica string `yaml:"replica"`
	// Shared subscribes with the shared-subscription prefix so several hubs split the stream
	// (default true). Hubs sharing the load must share one store.
	Shared *bool `yaml:"shared"`
}

// API is the hub's HTTP API.
type API struct {
	Listen string `yaml:"listen"` // host:port, default 127.0.0.1:8480
	// TLSCert and TLSKey, both set, make the API serve HTTPS.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// AllowedHosts are the host names (without port) the API answers to besides localhost and the
	// listen address's own IP.
	AllowedHosts []string `yaml:"allowed_hosts"`
	// BootstrapTokenFile, when the token store is empty, receives a new admin token at start.
	BootstrapTokenFile string `yaml:"bootstrap_token_file"`
	// MetricsAuth guards GET /metrics: "read" (default) needs a bearer token with the read scope,
	// "open" serves it to anyone who reaches the listener, like /healthz.
	MetricsAuth string `yaml:"metrics_auth"`
}

// Console roles (see sync/hub/hubconsole): viewer reads, supervisor also sends breaker threshold
// commands, admin has every API scope.
const (
	RoleViewer     = "viewer"
	RoleSupervisor = "supervisor"
	RoleAdmin      = "admin"
)

// Console is the hub's central console for head office, served at /console/ on the API listener.
// Every user signs in, whatever the role.
type Console struct {
	// Users who may sign in; without any, the hub serves no console.
	Users []ConsoleUser `yaml:"users"`
	// SessionKeyFile holds the key (≥ 32 bytes) that signs session cookies; "" = a random key per
	// start (logins end with a restart). Hub replicas behind one address need the same file.
	SessionKeyFile string `yaml:"session_key_file"`
	// AllowedOrigins are extra origins (scheme://host[:port]) accepted for sign-in, commands and
	// the WebSocket besides the console's own, e.g. a TLS proxy's https://hq.example.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// SecureCookies sets the cookie's Secure attribute on plain HTTP behind a TLS proxy.
	SecureCookies bool `yaml:"secure_cookies"`
}

// ConsoleUser is one console user.
type ConsoleUser struct {
	Name string `yaml:"name"`
	Role string `yaml:"role"` // viewer | supervisor | admin
	// PasswordHash is the output of `wedge console hash-password`.
	PasswordHash string `yaml:"password_hash"`
}

// SessionKey reads console.session_key_file (nil when not set).
func (c *Config) SessionKey() ([]byte, error) {
	if c.Console.SessionKeyFile == "" {
		return nil, nil
	}
	b, err := os.ReadFile(c.Console.SessionKeyFile)
	if err != nil {
		return nil, fmt.Errorf("%w: console.session_key_file: %w", ErrRead, err)
	}
	return []byte(strings.TrimSpace(string(b))), nil
}

// Log sets the hub's logging (log/slog to standard error).
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error (default info)
	Format string `yaml:"format"` // text | json (default text)
}

// Error is one problem in the file (FILE:LINE: FIELD: MSG). It wraps ErrInvalid.
type Error = yamlpath.Error

// Defaults returns the configuration of an empty file: what `wedge hub` runs with when neither a
// file nor flags say otherwise.
func Defaults() *Config {
	c := &Config{}
	c.setDefaults()
	return c
}

// Load reads and validates the file at path, and resolves relative paths against its directory.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRead, err)
	}
	c, err := Parse(path, b)
	if err != nil {
		return nil, err
	}
	c.resolvePaths(filepath.Dir(path))
	return c, nil
}

// Parse parses and validates data; name is used in error messages. Paths stay as written.
func Parse(name string, data []byte) (*Config, error) {
	c := &Config{File: name}
	root, err := yamlpath.DecodeStrict(name, data, c, ErrInvalid)
	if err != nil {
		return nil, err
	}
	c.setDefaults()
	if errs := c.validate(name, root); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// SharedSubscription reports broker.shared with its default (true).
func (c *Config) SharedSubscription() bool { return c.Broker.Shared == nil || *c.Broker.Shared }

// setDefaults fills every zero or absent field that has a documented default. It is the one place
// defaults are set; validate runs after it and only reports.
func (c *Config) setDefaults() {
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.Broker.URL == "" {
		c.Broker.URL = DefaultBrokerURL
	}
	if c.API.Listen == "" {
		c.API.Listen = DefaultListen
	}
	if c.API.MetricsAuth == "" {
		c.API.MetricsAuth = DefaultMetricsAuth
	}
	if c.Log.Level == "" {
		c.Log.Level = DefaultLogLevel
	}
	if c.Log.Format == "" {
		c.Log.Format = DefaultLogFormat
	}
	c.EWaybill.setDefaults()
}

func (c *Config) resolvePaths(dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	for _, p := range []*string{&c.DataDir, &c.Broker.CA, &c.Broker.Cert, &c.Broker.Key, &c.API.TLSCert, &c.API.TLSKey,
		&c.API.BootstrapTokenFile, &c.SigningKey, &c.AgentKeys, &c.Tracking.Kuaidi100SaltFile, &c.SMTP.PasswordFile, &c.Console.SessionKeyFile} {
		abs(p)
	}
	c.EWaybill.resolvePaths(abs)
	if c.Notify == nil {
		return
	}
	for name, ch := range c.Notify.Channels {
		abs(&ch.SecretFile)
		c.Notify.Channels[name] = ch
	}
}
