// Package discovery finds barcode scanners attached to the machine: it enumerates HID interfaces
// (through hidscan's seam over karalabe/hid) and serial ports (go.bug.st/serial/enumerator), matches
// their USB identity (VID/PID, interface, serial number) against the firmware profiles, binds
// configured devices by match rules (vid/pid/serial/usb path or port name), watches for plug and
// unplug with a debounce (a brief drop-out is not a removal), and builds the report behind
// `wedge devices`: what is attached, which profile matched, which mode it is in, a config snippet
// to paste, and warnings (a keyboard-mode scanner on Windows cannot be read by a service).
//
// Both enumerations are function fields in Options, so tests drive them with fakes; the report
// is a pure function of the enumeration and GOOS.
package discovery

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"wedge/drivers/profile"
	"wedge/drivers/scanner/hidscan"
	"wedge/internal/clock"
	"wedge/internal/logging"
)

// Sentinel errors.
var (
	// ErrRule means a match rule is malformed (bad hex, nothing to match on).
	ErrRule = errors.New("discovery: invalid match rule")
	// ErrEnumerate means the serial port list could not be read (HID enumeration cannot fail:
	// it yields nothing instead).
	ErrEnumerate = errors.New("discovery: cannot enumerate serial ports")
)

// Transports.
const (
	TransportHID    = "hid"
	TransportSerial = "serial"
)

// Port is a serial port as the enumerator reports it (VID/PID hex strings, any case).
type Port struct {
	Name         string
	IsUSB        bool
	VID, PID     string
	SerialNumber string
	Product      string
}

// Device is one attached HID interface or serial port, with the profiles its USB identity matched.
type Device struct {
	Key          string `json:"key"`       // "hid:<path>" or "serial:<port>": stable while plugged in
	Transport    string `json:"transport"` // hid | serial
	Path         string `json:"path"`      // HID path (Linux: bus-port:config.interface) or port name
	VID          string `json:"vid,omitempty"`
	PID          string `json:"pid,omitempty"`
	Interface    int    `json:"interface"` // HID interface number; -1 for serial ports
	Serial       string `json:"serial,omitempty"`
	Manufacturer string `json:"manufacturer,omitempty"`
	Product      string `json:"product,omitempty"`
	UsagePage    uint16 `json:"usage_page,omitempty"` // 0 on Linux
	Usage        uint16 `json:"usage,omitempty"`
	// Profiles are the ids of the scanner profiles listing this VID/PID, sorted.
	Profiles []string `json:"profiles,omitempty"`
	// Mode is the interface mode: from the matched profile's usb entry, else inferred (HID usage
	// page 0x8C → hid_pos, generic desktop keyboard → keyboard, a USB serial port → cdc_serial),
	// else "".
	Mode string `json:"mode,omitempty"`
}

// Options are discovery's seams. The zero value means the system enumerators, no profiles,
// runtime.GOOS, the real clock, a 500 ms re-scan and a 1 s debounce.
type Options struct {
	HIDEnumerate func(vid, pid uint16) []hidscan.DeviceInfo
	SerialPorts  func() ([]Port, error)
	Profiles     []profile.Profile
	GOOS         string
	Clock        clock.Clock
	// Logger receives a Watcher's enumeration failures (nil = discard).
	Logger *slog.Logger
	// Interval is the re-scan period of a Watcher (default 500 ms: a replugged device is seen
	// again well within 2 s).
	Interval time.Duration
	// Debounce is how long a device must stay absent before a Watcher reports it removed
	// (default 1 s).
	Debounce time.Duration
}

func (o *Options) withDefaults() Options {
	var out Options
	if o != nil {
		out = *o
	}
	if out.HIDEnumerate == nil {
		out.HIDEnumerate = hidscan.SystemEnumerate
	}
	if out.SerialPorts == nil {
		out.SerialPorts = SystemSerialPorts
	}
	if out.GOOS == "" {
		out.GOOS = runtime.GOOS
	}
	out.Clock = clock.Or(out.Clock)
	out.Logger = logging.Or(out.Logger)
	if out.Interval <= 0 {
		out.Interval = 500 * time.Millisecond
	}
	if out.Debounce <= 0 {
		out.Debounce = time.Second
	}
	return out
}

// Scan enumerates once: every HID interface and serial port, matched against the profiles, sorted
// by key. A failing serial enumeration still returns the HID devices, with the error.
func Scan(opts *Options) ([]Device, error) {
	o := opts.withDefaults()
	var out []Device
	for _, d := range o.HIDEnumerate(0, 0) {
		out = append(out, Device{
			Key: "hid:" + d.Path, Transport: TransportHID, Path: d.Path,
			VID: hex4(d.VendorID), PID: hex4(d.ProductID), Interface: d.Interface,
			Serial: d.Serial, Manufacturer: d.Manufacturer, Product: d.Product,
			UsagePage: d.UsagePage, Usage: d.Usage,
		})
	}
	ports, err := o.SerialPorts()
	if err != nil {
		ports = nil
	}
	for _, p := range ports {
		out = append(out, Device{
			Key: "serial:" + p.Name, Transport: TransportSerial, Path: p.Name,
			VID: strings.ToUpper(p.VID), PID: strings.ToUpper(p.PID), Interface: -1,
			Serial: p.SerialNumber, Product: p.Product,
		})
		if !p.IsUSB {
			out[len(out)-1].VID, out[len(out)-1].PID = "", ""
		}
	}
	for i := range out {
		classify(&out[i], o.Profiles)
	}
	slices.SortFunc(out, func(a, b Device) int { return strings.Compare(a.Key, b.Key) })
	return out, err
}

func hex4(v uint16) string { return fmt.Sprintf("%04X", v) }

// classify fills Profiles and Mode.
func classify(d *Device, profiles []profile.Profile) {
	d.Profiles, d.Mode = nil, ""
	if d.VID != "" {
		for _, p := range profiles {
			if p.Kind != profile.KindScanner {
				continue
			}
			for _, u := range p.USB {
				if !strings.EqualFold(u.VID, d.VID) || !strings.EqualFold(u.PID, d.PID) {
					continue
				}
				if u.Interface != nil && d.Transport == TransportHID && *u.Interface != d.Interface {
					continue
				}
				if !slices.Contains(d.Profiles, p.ID) {
					d.Profiles = append(d.Profiles, p.ID)
				}
				if d.Mode == "" && modeFits(u.Mode, d.Transport) {
					d.Mode = u.Mode
				}
			}
		}
		slices.Sort(d.Profiles)
	}
	if d.Mode != "" {
		return
	}
	switch {
	case d.Transport == TransportHID && d.UsagePage == 0x8C:
		d.Mode = "hid_pos"
	case d.Transport == TransportHID && d.UsagePage == 0x01 && d.Usage == 0x06:
		d.Mode = "keyboard"
	case d.Transport == TransportSerial && d.VID != "":
		d.Mode = "cdc_serial"
	}
}

func modeFits(mode, transport string) bool {
	switch mode {
	case "hid_pos", "keyboard":
		return transport == TransportHID
	case "cdc_serial", "usb_com":
		return transport == TransportSerial
	}
	return true
}

// LooksLikeScanner reports whether d is worth listing as a scanner: a profile matched, it speaks
// HID POS, or its product string says barcode/scanner/reader (Odoo's heuristic), or it is a USB
// serial port.
func (d Device) LooksLikeScanner() bool {
	if len(d.Profiles) > 0 || d.Mode == "hid_pos" {
		return true
	}
	p := strings.ToLower(d.Product)
	for _, w := range []string{"barcode", "scanner", "reader", "扫描", "扫码"} {
		if strings.Contains(p, w) {
			return true
		}
	}
	return d.Transport == TransportSerial && d.VID != ""
}

// Rule binds a configured device to an attached one. Empty fields match anything; at least one
// must be set. VID/PID are 4 hex digits (any case). USBPath is the HID path; Port the serial port
// name (COM3, /dev/ttyACM0).
type Rule struct {
	VID, PID  string
	Serial    string
	USBPath   string
	Port      string
	Interface *int
}

// Check validates r.
func (r Rule) Check() error {
	if r.VID == "" && r.PID == "" && r.Serial == "" && r.USBPath == "" && r.Port == "" {
		return fmt.Errorf("%w: give at least one of vid, pid, serial, usb_path, port", ErrRule)
	}
	for name, v := range map[string]string{"vid": r.VID, "pid": r.PID} {
		if v == "" {
			continue
		}
		if _, err := strconv.ParseUint(v, 16, 16); err != nil || len(v) > 4 {
			return fmt.Errorf("%w: %s %q is not 4 hex digits (e.g. \"0C2E\")", ErrRule, name, v)
		}
	}
	return nil
}

// Matches reports whether d is selected by r.
func (r Rule) Matches(d Device) bool {
	return eqHex(r.VID, d.VID) && eqHex(r.PID, d.PID) &&
		(r.Serial == "" || r.Serial == d.Serial) &&
		(r.USBPath == "" || (d.Transport == TransportHID && r.USBPath == d.Path)) &&
		(r.Port == "" || (d.Transport == TransportSerial && r.Port == d.Path)) &&
		(r.Interface == nil || *r.Interface == d.Interface)
}

func eqHex(rule, v string) bool {
	if rule == "" {
		return true
	}
	a, err1 := strconv.ParseUint(rule, 16, 16)
	b, err2 := strconv.ParseUint(v, 16, 16)
	return err1 == nil && err2 == nil && a == b
}

// HIDMatch turns r into hidscan's Match.
func (r Rule) HIDMatch() (hidscan.Match, error) {
	if err := r.Check(); err != nil {
		return hidscan.Match{}, err
	}
	m := hidscan.Match{Interface: hidscan.AnyInterface, Serial: r.Serial, Path: r.USBPath}
	if r.VID != "" {
		v, _ := strconv.ParseUint(r.VID, 16, 16)
		m.VID = uint16(v)
	}
	if r.PID != "" {
		v, _ := strconv.ParseUint(r.PID, 16, 16)
		m.PID = uint16(v)
	}
	if r.Interface != nil {
		m.Interface = *r.Interface
	}
	return m, nil
}

// Bind returns the devices r selects, in key order. More than one is a configuration problem the
// caller should report (add serial or usb_path to the rule).
func Bind(devs []Device, r Rule) []Device {
	var out []Device
	for _, d := range devs {
		if r.Matches(d) {
			out = append(out, d)
		}
	}
	return out
}
