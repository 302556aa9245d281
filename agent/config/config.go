// Package config reads and validates the agent's YAML configuration (wedge.yaml).
//
// Loading is strict: unknown fields are errors, and every problem is reported with the file, the
// line and the field, in the form a person can act on:
//
//	wedge.yaml:14: devices[0].station: "print-9" is not a declared station
//
// Load returns all problems at once (errors.Join of *Error values, each matching ErrInvalid). Zero
// or absent fields take the documented defaults below; relative paths (data_dir, profiles_dir, the
// broker's ca/cert/key) are resolved against the directory of the config file. docs/config.example.yaml
// is the annotated example, and a test loads it.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"wedge/internal/yamlpath"

	"go.yaml.in/yaml/v3"

	"wedge/sync/wire"
)

// Sentinel errors. Match them with errors.Is.
var (
	// ErrInvalid means the configuration breaks a rule; the *Error values name file, line and field.
	ErrInvalid = errors.New("config: invalid")
	// ErrRead means the file could not be read.
	ErrRead = errors.New("config: cannot read file")
)

// Defaults.
const (
	DefaultPairWindow      = 30 * time.Second
	DefaultOperatorPattern = `^OP-[A-Za-z0-9]{2,32}$`
	DefaultAPIListen       = "127.0.0.1:8470"
	DefaultBrokerURL       = "tcp://127.0.0.1:1883"
	DefaultDataDir         = "data"
	DefaultLogLevel        = "info"
	DefaultReprintCode     = "REPRINT"
	DefaultLabelSize       = "76x130"
)

// Station roles.
const (
	RolePrint    = "print"
	RoleHandover = "handover"
)

// Device kinds and transports.
const (
	KindScanner = "scanner"
	KindPrinter = "printer"

	TransportSerial = "serial"
	TransportHID    = "hid"
	TransportTCP    = "tcp"
	TransportUSBLP  = "usblp"
)

// Config is the whole wedge.yaml.
type Config struct {
	Site            string   `yaml:"site"`
	Agent           string   `yaml:"agent"`
	DataDir         string   `yaml:"data_dir"`     // default "data" (beside the config file)
	ProfilesDir     string   `yaml:"profiles_dir"` // optional: firmware profiles that override the embedded ones
	PairWindow      Duration `yaml:"pair_window"`  // default 30s
	OperatorPattern string   `yaml:"operator_pattern"`
	// ReprintCode is the command barcode that, scanned at a print station with a printer, makes the
	// next order code an explicit, journaled reprint (default "REPRINT").
	ReprintCode    string             `yaml:"reprint_code"`
	StrictChannels bool               `yaml:"strict_channels"` // orders of a channel not listed are refused
	Channels       map[string]Channel `yaml:"channels"`
	Broker         Broker             `yaml:"broker"`
	API            API                `yaml:"api"`
	Log            Log                `yaml:"log"`
	Stations       []Station          `yaml:"stations"`
	Devices        []Device           `yaml:"devices"`
	// Issue 5 (agent/config/supervise.go): backlog breaker, overdue alerts, KPI, console.
	Breaker      Breaker  `yaml:"breaker"`
	OverdueAfter Duration `yaml:"overdue_after"` // default 30m
	KPI          KPI      `yaml:"kpi"`
	Console      Console  `yaml:"console"`

	// File is the path the config was loaded from (not in YAML).
	File string `yaml:"-"`

	operator *regexp.Regexp
}

// Channel is the data contract of one sales channel (tmall, jd, douyin, ...).
type Channel struct {
	OrderNoPattern string `yaml:"order_no_pattern"` // channel_order_no must match (Go regexp)

	re *regexp.Regexp
}

// Broker is the MQTT connection.
type Broker struct {
	URL      string `yaml:"url"` // tcp://, ssl://, tls://, ws://, wss://; default tcp://127.0.0.1:1883
	CA       string `yaml:"ca"`
	Cert     string `yaml:"cert"`
	Key      string `yaml:"key"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// API is the agent's local HTTP API.
type API struct {
	Listen string `yaml:"listen"` // default 127.0.0.1:8470; "off" disables the API
	Token  string `yaml:"token"`  // bearer token for state-changing calls; required when Listen is not loopback
}

// Log sets the agent's logging.
type Log struct {
	Level string `yaml:"level"` // debug | info | warn | error (default info)
}

// Station is a place where staff scan.
type Station struct {
	Name string `yaml:"name"`
	Role string `yaml:"role"` // print | handover
}

// Device is a scanner or printer attached to a station.
type Device struct {
	Name      string `yaml:"name"`
	Kind      string `yaml:"kind"` // scanner | printer
	Station   string `yaml:"station"`
	Transport string `yaml:"transport"` // scanner: serial | hid; printer: tcp | serial | usblp
	Port      string `yaml:"port"`      // serial port or device path (/dev/ttyACM0, COM3, /dev/usb/lp0)
	Address   string `yaml:"address"`   // printer host:port for tcp
	Profile   string `yaml:"profile"`   // firmware profile id
	// ProxyListen (printers) is a raw port that stands in for the printer (issue 3).
	ProxyListen string `yaml:"proxy_listen"`
	// ProxyFilter (printers with a proxy) is a Go regexp a barcode in a proxied job must match to be
	// taken as a waybill number; empty keeps every Code 128/39 barcode.
	ProxyFilter string `yaml:"proxy_filter"`
	// LabelSize (printers) is the label stock: 76x130 (default) or 100x180 mm.
	LabelSize string `yaml:"label_size"`
	// Match binds a USB device by its identity instead of a fixed port (issue 4).
	Match *Match `yaml:"match"`
}

// Match selects a USB device by its identity (issue 4 §2). Empty fields match anything; at least
// one must be set. A HID scanner is always bound by match; a serial scanner by a fixed port, by
// match (vid/pid/serial of a USB serial port, port then narrows it to that port name), or both.
type Match struct {
	VID     string `yaml:"vid"`      // 4 hex digits, e.g. "0C2E"
	PID     string `yaml:"pid"`      // 4 hex digits
	Serial  string `yaml:"serial"`   // the USB serial number (iSerial)
	USBPath string `yaml:"usb_path"` // HID only: the HID path, i.e. the USB port (wedge devices prints it)
	// Interface (HID only) is the USB interface number, for composite devices; nil = any.
	Interface *int `yaml:"interface"`
}

// Duration is a time.Duration written as a Go duration string ("30s", "1m30s").
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: want a duration such as \"30s\"", n.Line)}}
	}
	v, err := time.ParseDuration(strings.TrimSpace(n.Value))
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %q is not a duration (write e.g. \"30s\" or \"2m\")", n.Line, n.Value)}}
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Error is one problem in the file (FILE:LINE: FIELD: MSG). It wraps ErrInvalid.
type Error = yamlpath.Error

// Load reads and validates the file at path.
func Load(path string, opts *Options) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRead, err)
	}
	c, err := Parse(path, b, opts)
	if err != nil {
		return nil, err
	}
	c.resolvePaths(filepath.Dir(path))
	return c, nil
}

// Options tune validation. A nil *Options checks everything except profile references.
type Options struct {
	// ProfileKind reports the device kind ("scanner", "printer") of a firmware profile id, and whether
	// it exists. Nil: profile ids are not checked against a profile set.
	ProfileKind func(id string) (kind string, ok bool)
	// ProfileTransports lists the scanner transports ("serial", "hid") a firmware profile id has
	// settings for (agent.ProfileTransports). Nil: not checked.
	ProfileTransports func(id string) []string
}

var lineRE = regexp.MustCompile(`^line (\d+): (.*)$`)
var unknownRE = regexp.MustCompile(`^field (\S+) not found in type \S+$`)

// Parse parses and validates data; name is used in error messages. Paths stay as written.
func Parse(name string, data []byte, opts *Options) (*Config, error) {
	if opts == nil {
		opts = &Options{}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, syntaxError(name, err)
	}
	c := &Config{File: name}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, syntaxError(name, err)
		}
		var errs []error
		for _, s := range te.Errors {
			e := &Error{File: name, Msg: s, Err: ErrInvalid}
			if m := lineRE.FindStringSubmatch(s); m != nil {
				e.Line, _ = strconv.Atoi(m[1])
				e.Msg = m[2]
				key := ""
				if m := unknownRE.FindStringSubmatch(e.Msg); m != nil {
					key = m[1]
					e.Msg = fmt.Sprintf("unknown field %q", key)
				}
				e.Field = fieldAtLine(&root, e.Line, key)
			}
			e.Msg = friendlyType(e.Msg)
			errs = append(errs, e)
		}
		return nil, errors.Join(errs...)
	}
	v := &validator{name: name, root: &root}
	c.validate(v, opts)
	if len(v.errs) > 0 {
		slices.SortStableFunc(v.errs, func(a, b error) int { return a.(*Error).Line - b.(*Error).Line })
		return nil, errors.Join(v.errs...)
	}
	return c, nil
}

func syntaxError(name string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := &Error{File: name, Msg: "YAML syntax: " + msg, Err: ErrInvalid}
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Msg = "YAML syntax: " + m[2]
	}
	return e
}

// validator collects errors with their line numbers.
type validator struct {
	name string
	root *yaml.Node
	errs []error
}

// failf records a problem at the field path, e.g. ("devices", 0, "station").
func (v *validator) failf(path []any, format string, args ...any) {
	v.errs = append(v.errs, &Error{File: v.name, Line: yamlpath.Line(v.root, path), Field: yamlpath.Field(path), Msg: fmt.Sprintf(format, args...), Err: ErrInvalid})
}

// fieldAtLine names the path of the mapping key on line (preferring the key named key), for the
// decoder's errors, which carry only a line.
func fieldAtLine(root *yaml.Node, line int, key string) string {
	best := ""
	var walk func(n *yaml.Node, path []any) bool
	walk = func(n *yaml.Node, path []any) bool {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				if walk(c, path) {
					return true
				}
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, val := n.Content[i], n.Content[i+1]
				p := append(append([]any(nil), path...), k.Value)
				if k.Line == line {
					if key == "" || k.Value == key {
						best = yamlpath.Field(p)
						return true
					}
					if best == "" {
						best = yamlpath.Field(p)
					}
				}
				if walk(val, p) {
					return true
				}
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				if walk(c, append(append([]any(nil), path...), i)) {
					return true
				}
			}
		}
		return false
	}
	walk(root, nil)
	return best
}

var typeRE = regexp.MustCompile(`^cannot unmarshal !!(\w+)(?: .*)? into (\S+)$`)

// friendlyType rewrites the decoder's type errors for people.
func friendlyType(msg string) string {
	m := typeRE.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	name := func(s string) string {
		switch {
		case s == "map" || strings.HasPrefix(s, "map[") || strings.HasPrefix(s, "config."):
			return "a mapping ({key: value})"
		case s == "seq" || strings.HasPrefix(s, "[]"):
			return "a list"
		case s == "str" || s == "string":
			return "text"
		case s == "int" || s == "float" || strings.HasPrefix(s, "int") || strings.HasPrefix(s, "uint"):
			return "a number"
		case s == "bool":
			return "true or false"
		}
		return s
	}
	return fmt.Sprintf("wrong type: got %s, want %s", name(m[1]), name(m[2]))
}

func (c *Config) validate(v *validator, opts *Options) {
	for _, f := range []struct{ key, val string }{{"site", c.Site}, {"agent", c.Agent}} {
		switch {
		case f.val == "":
			v.failf([]any{f.key}, "required (1–64 of A–Z a–z 0–9 _ -)")
		case !wire.ValidName(f.val):
			v.failf([]any{f.key}, "%q is not a valid name (1–64 of A–Z a–z 0–9 _ -)", f.val)
		}
	}
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.PairWindow == 0 {
		c.PairWindow = Duration(DefaultPairWindow)
	} else if c.PairWindow < 0 {
		v.failf([]any{"pair_window"}, "must be positive, got %s", c.PairWindow.D())
	}
	if c.OperatorPattern == "" {
		c.OperatorPattern = DefaultOperatorPattern
	}
	re, err := regexp.Compile(c.OperatorPattern)
	if err != nil {
		v.failf([]any{"operator_pattern"}, "not a valid regular expression: %v", err)
	}
	c.operator = re
	c.validateSupervise(v)

	chans := make(map[string]Channel, len(c.Channels))
	for _, name := range slices.Sorted(maps.Keys(c.Channels)) {
		ch := c.Channels[name]
		key := strings.ToLower(strings.TrimSpace(name))
		if !wire.ValidName(key) {
			v.failf([]any{"channels", name}, "%q is not a valid channel name", name)
		}
		if ch.OrderNoPattern == "" {
			v.failf([]any{"channels", name, "order_no_pattern"}, "required")
		} else if re, err := regexp.Compile(ch.OrderNoPattern); err != nil {
			v.failf([]any{"channels", name, "order_no_pattern"}, "not a valid regular expression: %v", err)
		} else {
			ch.re = re
		}
		chans[key] = ch
	}
	c.Channels = chans

	c.validateBroker(v)

	if c.API.Listen == "" {
		c.API.Listen = DefaultAPIListen
	}
	if c.API.Listen != "off" {
		host, _, err := net.SplitHostPort(c.API.Listen)
		if err != nil {
			v.failf([]any{"api", "listen"}, "%q is not host:port: %v", c.API.Listen, err)
		} else if !isLoopback(host) && c.API.Token == "" {
			v.failf([]any{"api", "token"}, "required when api.listen (%q) is not a loopback address", c.API.Listen)
		}
	}
	if c.ReprintCode == "" {
		c.ReprintCode = DefaultReprintCode
	} else if strings.TrimSpace(c.ReprintCode) != c.ReprintCode {
		v.failf([]any{"reprint_code"}, "%q: no leading or trailing spaces", c.ReprintCode)
	}
	if c.Log.Level == "" {
		c.Log.Level = DefaultLogLevel
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		v.failf([]any{"log", "level"}, "%q: want debug, info, warn or error", c.Log.Level)
	}

	stations := map[string]bool{}
	for i, s := range c.Stations {
		switch {
		case s.Name == "":
			v.failf([]any{"stations", i, "name"}, "required")
		case !wire.ValidName(s.Name):
			v.failf([]any{"stations", i, "name"}, "%q is not a valid name (1–64 of A–Z a–z 0–9 _ -)", s.Name)
		case stations[s.Name]:
			v.failf([]any{"stations", i, "name"}, "duplicate station %q", s.Name)
		}
		switch s.Role {
		case RolePrint, RoleHandover:
		case "":
			v.failf([]any{"stations", i, "role"}, "required: print or handover")
		default:
			v.failf([]any{"stations", i, "role"}, "%q: want print or handover", s.Role)
		}
		if s.Name != "" {
			stations[s.Name] = true
		}
	}
	devices := map[string]bool{}
	for i, d := range c.Devices {
		at := func(f string) []any { return []any{"devices", i, f} }
		switch {
		case d.Name == "":
			v.failf(at("name"), "required")
		case !wire.ValidName(d.Name):
			v.failf(at("name"), "%q is not a valid name (1–64 of A–Z a–z 0–9 _ -)", d.Name)
		case devices[d.Name]:
			v.failf(at("name"), "duplicate device %q", d.Name)
		}
		devices[d.Name] = true
		if d.Kind == "" {
			c.Devices[i].Kind = KindScanner
			d.Kind = KindScanner
		}
		switch d.Station {
		case "":
			v.failf(at("station"), "required: the station this device belongs to")
		default:
			if !stations[d.Station] {
				v.failf(at("station"), "%q is not a declared station", d.Station)
			}
		}
		switch d.Kind {
		case KindScanner:
			switch d.Transport {
			case TransportSerial:
				if d.Port == "" && d.Match == nil {
					v.failf(at("port"), "required for a serial scanner (e.g. /dev/ttyACM0 or COM3), unless match binds it by vid/pid/serial")
				}
				if d.Match != nil {
					if d.Match.USBPath != "" {
						v.failf([]any{"devices", i, "match", "usb_path"}, "binds HID devices only; a serial scanner is bound by port or by vid/pid/serial")
					}
					if d.Match.Interface != nil {
						v.failf([]any{"devices", i, "match", "interface"}, "binds HID devices only; a serial scanner is bound by port or by vid/pid/serial")
					}
				}
			case TransportHID:
				if d.Match == nil {
					v.failf(at("match"), "required for a HID scanner: vid/pid (and serial, usb_path or interface to tell identical scanners apart); `wedge devices` prints it")
				}
				if d.Port != "" {
					v.failf(at("port"), "a HID scanner is bound by match (vid/pid/serial/usb_path/interface), not by port")
				}
			case "":
				v.failf(at("transport"), "required: serial or hid")
			default:
				v.failf(at("transport"), "%q: a scanner uses serial or hid", d.Transport)
			}
		case KindPrinter:
			switch d.Transport {
			case TransportTCP:
				if _, _, err := net.SplitHostPort(d.Address); err != nil {
					v.failf(at("address"), "%q is not host:port (e.g. 192.168.1.50:9100)", d.Address)
				}
			case TransportSerial, TransportUSBLP:
				if d.Port == "" {
					v.failf(at("port"), "required for a %s printer", d.Transport)
				}
			case "":
				v.failf(at("transport"), "required: tcp, serial or usblp")
			default:
				v.failf(at("transport"), "%q: a printer uses tcp, serial or usblp", d.Transport)
			}
			if d.ProxyListen != "" {
				if _, _, err := net.SplitHostPort(d.ProxyListen); err != nil {
					v.failf(at("proxy_listen"), "%q is not host:port", d.ProxyListen)
				}
			}
			if d.ProxyFilter != "" {
				if _, err := regexp.Compile(d.ProxyFilter); err != nil {
					v.failf(at("proxy_filter"), "not a valid regular expression: %v", err)
				}
			}
			switch d.LabelSize {
			case "":
				c.Devices[i].LabelSize = DefaultLabelSize
			case "76x130", "100x180":
			default:
				v.failf(at("label_size"), "%q: want 76x130 or 100x180", d.LabelSize)
			}
			if s, ok := c.Station(d.Station); ok && s.Role != RolePrint {
				v.failf(at("station"), "%q is a %s station; printers belong to print stations", d.Station, s.Role)
			}
		default:
			v.failf(at("kind"), "%q: want scanner or printer", d.Kind)
		}
		if d.ProxyListen != "" && d.Kind != KindPrinter {
			v.failf(at("proxy_listen"), "only printers have a proxy")
		}
		if d.Match != nil {
			if d.Kind != KindScanner {
				v.failf(at("match"), "only scanners are bound by match; a printer uses address or port")
			} else {
				d.Match.validate(v, []any{"devices", i, "match"})
			}
		}
		switch {
		case d.Profile == "":
			v.failf(at("profile"), "required: a firmware profile id (e.g. generic-serial-cr)")
		case opts.ProfileKind != nil:
			kind, ok := opts.ProfileKind(d.Profile)
			if !ok {
				v.failf(at("profile"), "%q is not a known firmware profile", d.Profile)
			} else if kind != d.Kind {
				v.failf(at("profile"), "%q is a %s profile, the device is a %s", d.Profile, kind, d.Kind)
			} else if d.Kind == KindScanner && opts.ProfileTransports != nil && (d.Transport == TransportSerial || d.Transport == TransportHID) {
				if ts := opts.ProfileTransports(d.Profile); !slices.Contains(ts, d.Transport) {
					hint := "generic-serial-cr"
					if d.Transport == TransportHID {
						hint = "generic-hid-pos or generic-keyboard"
					}
					v.failf(at("profile"), "%q has no %s settings (it has: %s); use a %s profile such as %s", d.Profile, d.Transport, orNone(ts), d.Transport, hint)
				}
			}
		}
	}
}

func orNone(ts []string) string {
	if len(ts) == 0 {
		return "none"
	}
	return strings.Join(ts, ", ")
}

// validate checks a match rule: at least one field, 4-hex-digit vid/pid, an interface number.
func (m *Match) validate(v *validator, path []any) {
	at := func(f string) []any { return append(slices.Clip(path), f) }
	if m.VID == "" && m.PID == "" && m.Serial == "" && m.USBPath == "" && m.Interface == nil {
		v.failf(path, "empty: give at least one of vid, pid, serial, usb_path, interface")
	}
	for _, f := range []struct{ key, val string }{{"vid", m.VID}, {"pid", m.PID}} {
		if f.val == "" {
			continue
		}
		if _, err := strconv.ParseUint(f.val, 16, 16); err != nil || len(f.val) != 4 {
			v.failf(at(f.key), "%q is not 4 hex digits (e.g. \"0C2E\"; quote it so YAML keeps it text)", f.val)
		}
	}
	if m.Interface != nil && (*m.Interface < 0 || *m.Interface > 255) {
		v.failf(at("interface"), "%d is not a USB interface number (0–255)", *m.Interface)
	}
}

func (c *Config) validateBroker(v *validator) {
	if c.Broker.URL == "" {
		c.Broker.URL = DefaultBrokerURL
	}
	u, err := url.Parse(c.Broker.URL)
	if err != nil || u.Host == "" {
		v.failf([]any{"broker", "url"}, "%q is not a broker URL (e.g. tcp://127.0.0.1:1883 or ssl://mq.example.com:8883)", c.Broker.URL)
		return
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss":
	default:
		v.failf([]any{"broker", "url"}, "scheme %q: want tcp, ssl, tls, ws or wss", u.Scheme)
	}
	if (c.Broker.Cert == "") != (c.Broker.Key == "") {
		v.failf([]any{"broker", "cert"}, "cert and key go together")
	}
	if c.Broker.Password != "" && c.Broker.Username == "" {
		v.failf([]any{"broker", "username"}, "required when a password is set")
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c *Config) resolvePaths(dir string) {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	c.DataDir = abs(c.DataDir)
	c.ProfilesDir = abs(c.ProfilesDir)
	c.Broker.CA = abs(c.Broker.CA)
	c.Broker.Cert = abs(c.Broker.Cert)
	c.Broker.Key = abs(c.Broker.Key)
	c.Console.SessionKeyFile = abs(c.Console.SessionKeyFile)
}

// OperatorRE is the compiled operator badge pattern.
func (c *Config) OperatorRE() *regexp.Regexp {
	if c.operator == nil {
		c.operator = regexp.MustCompile(DefaultOperatorPattern)
	}
	return c.operator
}

// CheckOrderNo applies the data contract of channel to a channel order number: nil when it passes.
// Orders of a channel without a contract pass unless strict_channels is set.
func (c *Config) CheckOrderNo(channel, orderNo string) error {
	ch, ok := c.Channels[strings.ToLower(strings.TrimSpace(channel))]
	if !ok {
		if c.StrictChannels {
			return fmt.Errorf("channel %q is not declared in the configuration (strict_channels)", channel)
		}
		return nil
	}
	if ch.re == nil {
		re, err := regexp.Compile(ch.OrderNoPattern)
		if err != nil {
			return fmt.Errorf("channel %q: bad pattern: %v", channel, err)
		}
		ch.re = re
	}
	if !ch.re.MatchString(orderNo) {
		return fmt.Errorf("channel_order_no %q of channel %q does not match %s", orderNo, channel, ch.OrderNoPattern)
	}
	return nil
}

// Station returns the station with the given name.
func (c *Config) Station(name string) (Station, bool) {
	for _, s := range c.Stations {
		if s.Name == name {
			return s, true
		}
	}
	return Station{}, false
}
