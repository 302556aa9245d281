package config

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"wedge/internal/yamlpath"
	"wedge/sync/wire"
)

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

// validate reports every rule the configuration breaks, sorted by line; it changes nothing (the
// defaults are already set). name and root give the file name and the parsed document for lines.
func (c *Config) validate(name string, root *yaml.Node, opts *Options) []error {
	v := &validator{name: name, root: root}
	c.validateNames(v)
	c.validateTiming(v)
	c.validateSupervise(v)
	c.validateChannels(v)
	c.validateBroker(v)
	c.validateSigning(v)
	c.validateAPI(v)
	c.validateLog(v)
	stations := c.validateStations(v)
	c.validateDevices(v, stations, opts)
	slices.SortStableFunc(v.errs, func(a, b error) int { return a.(*Error).Line - b.(*Error).Line })
	return v.errs
}

const nameRule = "1–64 of A–Z a–z 0–9 _ -"

func (c *Config) validateNames(v *validator) {
	for _, f := range []struct{ key, val string }{{"site", c.Site}, {"agent", c.Agent}} {
		switch {
		case f.val == "":
			v.failf([]any{f.key}, "required (%s)", nameRule)
		case !wire.ValidName(f.val):
			v.failf([]any{f.key}, "%q is not a valid name (%s)", f.val, nameRule)
		}
	}
}

// validateTiming checks the pairing window and the operator badge pattern.
func (c *Config) validateTiming(v *validator) {
	if c.PairWindow < 0 {
		v.failf([]any{"pair_window"}, "must be positive, got %s", c.PairWindow.D())
	}
	if _, err := regexp.Compile(c.OperatorPattern); err != nil {
		v.failf([]any{"operator_pattern"}, "not a valid regular expression: %v", err)
	}
}

func (c *Config) validateChannels(v *validator) {
	if _, err := regexp.Compile(c.Contract.DefaultOrderNoPattern); err != nil {
		v.failf([]any{"contract", "default_order_no_pattern"}, "not a valid regular expression: %v", err)
	}
	seen := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(c.Channels)) {
		ch := c.Channels[name]
		key := channelKey(name)
		if !wire.ValidName(key) {
			v.failf([]any{"channels", name}, "%q is not a valid channel name", name)
		} else if other, dup := seen[key]; dup {
			v.failf([]any{"channels", name}, "%q is the same channel as %q (names are matched case-insensitively)", name, other)
		}
		seen[key] = name
		if ch.OrderNoPattern == "" {
			v.failf([]any{"channels", name, "order_no_pattern"}, "required")
		} else if _, err := regexp.Compile(ch.OrderNoPattern); err != nil {
			v.failf([]any{"channels", name, "order_no_pattern"}, "not a valid regular expression: %v", err)
		}
	}
}

func (c *Config) validateBroker(v *validator) {
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
	if c.Broker.DownlinkGrace < 0 {
		v.failf([]any{"broker", "downlink_grace"}, "must not be negative, got %s", c.Broker.DownlinkGrace.D())
	}
}

// validateAPI checks the API address (a token is required off loopback) and the reprint code.
func (c *Config) validateAPI(v *validator) {
	if c.API.Listen != "off" {
		host, _, err := net.SplitHostPort(c.API.Listen)
		if err != nil {
			v.failf([]any{"api", "listen"}, "%q is not host:port: %v", c.API.Listen, err)
		} else if !isLoopback(host) && c.API.Token == "" {
			v.failf([]any{"api", "token"}, "required when api.listen (%q) is not a loopback address", c.API.Listen)
		}
	}
	if strings.TrimSpace(c.ReprintCode) != c.ReprintCode {
		v.failf([]any{"reprint_code"}, "%q: no leading or trailing spaces", c.ReprintCode)
	}
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

// validateStations checks the stations and returns the set of declared names.
func (c *Config) validateStations(v *validator) map[string]bool {
	stations := map[string]bool{}
	for i, s := range c.Stations {
		switch {
		case s.Name == "":
			v.failf([]any{"stations", i, "name"}, "required")
		case !wire.ValidName(s.Name):
			v.failf([]any{"stations", i, "name"}, "%q is not a valid name (%s)", s.Name, nameRule)
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
	return stations
}

func (c *Config) validateDevices(v *validator, stations map[string]bool, opts *Options) {
	devices := map[string]bool{}
	for i, d := range c.Devices {
		at := func(f string) []any { return []any{"devices", i, f} }
		switch {
		case d.Name == "":
			v.failf(at("name"), "required")
		case !wire.ValidName(d.Name):
			v.failf(at("name"), "%q is not a valid name (%s)", d.Name, nameRule)
		case devices[d.Name]:
			v.failf(at("name"), "duplicate device %q", d.Name)
		}
		devices[d.Name] = true
		switch {
		case d.Station == "":
			v.failf(at("station"), "required: the station this device belongs to")
		case !stations[d.Station]:
			v.failf(at("station"), "%q is not a declared station", d.Station)
		}
		switch d.Kind {
		case KindScanner:
			validateScanner(v, i, d)
		case KindPrinter:
			c.validatePrinter(v, i, d)
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
		validateProfile(v, i, d, opts)
	}
}

// validateScanner checks how scanner i is bound: a serial scanner by port and/or vid/pid/serial, a
// HID scanner by match only.
func validateScanner(v *validator, i int, d Device) {
	at := func(f string) []any { return []any{"devices", i, f} }
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
}

// validatePrinter checks printer i: its transport and address, proxy, label stock and station.
func (c *Config) validatePrinter(v *validator, i int, d Device) {
	at := func(f string) []any { return []any{"devices", i, f} }
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
	case "76x130", "100x180":
	default:
		v.failf(at("label_size"), "%q: want 76x130 or 100x180", d.LabelSize)
	}
	if s, ok := c.Station(d.Station); ok && s.Role != RolePrint {
		v.failf(at("station"), "%q is a %s station; printers belong to print stations", d.Station, s.Role)
	}
}

// validateProfile checks device i's firmware profile id, and against the profile set when opts has
// one: it exists, is of the device's kind, and (scanners) has settings for the device's transport.
func validateProfile(v *validator, i int, d Device, opts *Options) {
	at := []any{"devices", i, "profile"}
	switch {
	case d.Profile == "":
		v.failf(at, "required: a firmware profile id (e.g. generic-serial-cr)")
	case opts.ProfileKind != nil:
		kind, ok := opts.ProfileKind(d.Profile)
		if !ok {
			v.failf(at, "%q is not a known firmware profile", d.Profile)
		} else if kind != d.Kind {
			v.failf(at, "%q is a %s profile, the device is a %s", d.Profile, kind, d.Kind)
		} else if d.Kind == KindScanner && opts.ProfileTransports != nil && (d.Transport == TransportSerial || d.Transport == TransportHID) {
			if ts := opts.ProfileTransports(d.Profile); !slices.Contains(ts, d.Transport) {
				hint := "generic-serial-cr"
				if d.Transport == TransportHID {
					hint = "generic-hid-pos or generic-keyboard"
				}
				v.failf(at, "%q has no %s settings (it has: %s); use a %s profile such as %s", d.Profile, d.Transport, orNone(ts), d.Transport, hint)
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

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
