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
//
// Loading runs in steps: decode, fill the defaults (defaults.go, the one place they are set),
// validate (validate.go, which only reports), then normalise channel names and compile patterns.
// The package is plain data and checks: it imports no runtime package of the agent.
package config

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"wedge/internal/yamlpath"
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
	DefaultLogFormat       = "text"
	DefaultReprintCode     = "REPRINT"
	DefaultLabelSize       = "76x130"
	// DefaultOrderNoPattern is the data contract of a channel without its own: at least 12 letters
	// or digits (渠道订单号必须≥12位字母+数字组合); all-digit platform numbers pass.
	DefaultOrderNoPattern = `^[A-Za-z0-9]{12,64}$`
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
	ReprintCode string `yaml:"reprint_code"`
	// Contract is the data contract of channels not listed in Channels.
	Contract       Contract           `yaml:"contract"`
	StrictChannels bool               `yaml:"strict_channels"` // orders of a channel not listed are refused
	Channels       map[string]Channel `yaml:"channels"`
	Broker         Broker             `yaml:"broker"`
	API            API                `yaml:"api"`
	Log            Log                `yaml:"log"`
	Stations       []Station          `yaml:"stations"`
	Devices        []Device           `yaml:"devices"`
	// Supervision (supervise.go): backlog breaker, overdue alerts, KPI, console.
	Breaker      Breaker  `yaml:"breaker"`
	OverdueAfter Duration `yaml:"overdue_after"` // default 30m
	Intake       Intake   `yaml:"intake"`
	KPI          KPI      `yaml:"kpi"`
	Console      Console  `yaml:"console"`
	// SigningKey is the agent's own Ed25519 key file, which signs its uplink batches (signing.go;
	// default {data_dir}/agent.key, created on first start).
	SigningKey string `yaml:"signing_key"`

	// File is the path the config was loaded from (not in YAML).
	File string `yaml:"-"`

	operator     *regexp.Regexp
	defaultOrder *regexp.Regexp
	root         *yaml.Node // the parsed document, for the lines of settings
}

// Contract is the data contract every order from the hub must meet when its channel has none of
// its own under channels: (and strict_channels is off).
type Contract struct {
	// DefaultOrderNoPattern is the Go regexp channel_order_no must match (default
	// DefaultOrderNoPattern: at least 12 letters or digits).
	DefaultOrderNoPattern string `yaml:"default_order_no_pattern"`
}

// Channel is the data contract of one sales channel (tmall, jd, douyin, ...).
type Channel struct {
	OrderNoPattern string `yaml:"order_no_pattern"` // channel_order_no must match (Go regexp)

	re  *regexp.Regexp
	key string // the name as written in the file (the map is keyed by the lower-cased name)
}

// Broker is the MQTT connection.
type Broker struct {
	URL      string `yaml:"url"` // tcp://, ssl://, tls://, ws://, wss://; default tcp://127.0.0.1:1883
	CA       string `yaml:"ca"`
	Cert     string `yaml:"cert"`
	Key      string `yaml:"key"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// Signing: hub_keys, hub_keys_file, accept_unsigned (signing.go).
	Signing `yaml:",inline"`
	// DownlinkGrace is how long a gap in the hub's downlink sequence may stay open before the
	// agent asks for a catch-up (hub replicas publish out of order). 0 = intake's default, 2s.
	DownlinkGrace Duration `yaml:"downlink_grace"`
}

// API is the agent's local HTTP API.
type API struct {
	Listen string `yaml:"listen"` // default 127.0.0.1:8470; "off" disables the API
	Token  string `yaml:"token"`  // bearer token for state-changing calls; required when Listen is not loopback
	// AllowedHosts are the host names (without port) the API and console answer to besides
	// localhost, 127.0.0.1, ::1 and the listen address's own host, e.g. the PC's name on the LAN.
	// A request naming another host is refused (421): a DNS-rebinding page cannot read the console.
	AllowedHosts []string `yaml:"allowed_hosts"`
}

// Log sets the agent's logging (log/slog to standard error, which journald or the Windows service
// log collects). warn hides info lines but never errors.
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error (default info)
	Format string `yaml:"format"` // text | json (default text)
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
	// ProxyListen (printers) is a raw port that stands in for the printer: jobs that other software
	// sends to it are forwarded to the printer and their waybills taken as printed.
	ProxyListen string `yaml:"proxy_listen"`
	// ProxyFilter (printers with a proxy) is a Go regexp a barcode in a proxied job must match to be
	// taken as a waybill number; empty keeps every Code 128/39 barcode.
	ProxyFilter string `yaml:"proxy_filter"`
	// LabelSize (printers) is the label stock: 76x130 (default) or 100x180 mm.
	LabelSize string `yaml:"label_size"`
	// Match binds a USB device by its identity instead of a fixed port.
	Match *Match `yaml:"match"`
}

// Match selects a USB device by its identity. Empty fields match anything; at least
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

// Parse parses and validates data; name is used in error messages. Paths stay as written.
func Parse(name string, data []byte, opts *Options) (*Config, error) {
	if opts == nil {
		opts = &Options{}
	}
	c := &Config{File: name}
	root, err := yamlpath.DecodeStrict(name, data, c, ErrInvalid)
	if err != nil {
		return nil, err
	}
	c.setDefaults()
	if errs := c.validate(name, root, opts); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	c.compile()
	c.root = root
	return c, nil
}

// compile finishes a valid configuration: channel names are matched case-insensitively (so the
// map is keyed by the lower-cased, trimmed name) and the patterns are compiled once.
func (c *Config) compile() {
	c.operator = regexp.MustCompile(c.OperatorPattern)
	c.defaultOrder = regexp.MustCompile(c.Contract.DefaultOrderNoPattern)
	chans := make(map[string]Channel, len(c.Channels))
	for _, name := range slices.Sorted(maps.Keys(c.Channels)) {
		ch := c.Channels[name]
		ch.re = regexp.MustCompile(ch.OrderNoPattern)
		if ch.key == "" {
			ch.key = name
		}
		chans[channelKey(name)] = ch
	}
	c.Channels = chans
}

// channelKey is the form a channel name is looked up by.
func channelKey(name string) string { return strings.ToLower(strings.TrimSpace(name)) }

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
	c.Broker.HubKeysFile = abs(c.Broker.HubKeysFile)
	c.SigningKey = abs(c.SigningKey)
}

// OperatorRE is the compiled operator badge pattern.
func (c *Config) OperatorRE() *regexp.Regexp {
	if c.operator == nil {
		c.operator = regexp.MustCompile(DefaultOperatorPattern)
	}
	return c.operator
}

// CheckOrderNo applies the data contract of channel to a channel order number: nil when it passes.
// A channel listed under channels: has its own pattern; any other channel is refused with
// strict_channels, else it must meet contract.default_order_no_pattern (by default at least 12
// letters or digits), so an empty or short number never enters 待分仓 unchecked.
func (c *Config) CheckOrderNo(channel, orderNo string) error {
	ch, ok := c.Channels[channelKey(channel)]
	if !ok {
		if c.StrictChannels {
			return fmt.Errorf("渠道 %q 未在配置中声明 / channel %q is not declared in the configuration (strict_channels)", channel, channel)
		}
		re, pattern := c.defaultOrder, c.Contract.DefaultOrderNoPattern
		if pattern == "" {
			pattern = DefaultOrderNoPattern
		}
		if re == nil {
			var err error
			if re, err = regexp.Compile(pattern); err != nil {
				return fmt.Errorf("contract.default_order_no_pattern: bad pattern: %v", err)
			}
		}
		if !re.MatchString(orderNo) {
			return fmt.Errorf("渠道订单号 %q 不符合默认数据契约 %s / channel_order_no %q of channel %q does not match the default contract %s (contract.default_order_no_pattern)",
				orderNo, pattern, orderNo, channel, pattern)
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
