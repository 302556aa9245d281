// Package profile is the firmware profile schema and its one loader: every YAML file in
// firmware-profiles/ (embedded in the binary) and in an operator's override directory is parsed and
// validated here, by the daemon, by `wedge profiles validate` and by the tests alike.
package profile

import (
	"strings"
	"time"
)

// SchemaVersion is the current profile schema. Files say `schema: 1`.
const SchemaVersion = 1

// Kinds of device.
const (
	KindScanner = "scanner"
	KindPrinter = "printer"
)

// Profile describes one device model (or one generic class of devices).
type Profile struct {
	Schema      int    `yaml:"schema" json:"schema"`
	ID          string `yaml:"id" json:"id"` // must equal the file name without .yaml, e.g. "honeywell-1950g"
	Kind        string `yaml:"kind" json:"kind"`
	Vendor      string `yaml:"vendor" json:"vendor"`
	Model       string `yaml:"model" json:"model"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`

	// USB lists the USB identities of the model, one per interface mode.
	USB []USBID `yaml:"usb,omitempty" json:"usb,omitempty"`

	Serial   *Serial   `yaml:"serial,omitempty" json:"serial,omitempty"`
	HID      *HID      `yaml:"hid,omitempty" json:"hid,omitempty"`
	Feedback *Feedback `yaml:"feedback,omitempty" json:"feedback,omitempty"`
	Printer  *Printer  `yaml:"printer,omitempty" json:"printer,omitempty"`

	// Modes overrides hid and/or feedback for a device that enumerated in one USB interface mode
	// (key: a usb mode such as keyboard or cdc_serial). A real model switches between HID POS,
	// keyboard and serial modes, and each mode decodes and beeps differently; hid and feedback
	// above are the defaults for every mode without an override. Use HIDFor and FeedbackFor.
	Modes map[string]Mode `yaml:"modes,omitempty" json:"modes,omitempty"`

	// Sources name where the facts come from (manual, usb.ids, reference section).
	Sources []string `yaml:"sources" json:"sources"`
	// Uncertain lists facts not confirmed by a primary or second independent source.
	Uncertain []string `yaml:"uncertain,omitempty" json:"uncertain,omitempty"`

	// File is where the profile was loaded from ("firmware-profiles/NAME.yaml" for the embedded
	// ones, else the path in the override directory); not in YAML.
	File string `yaml:"-" json:"file"`
}

// Mode is what differs in one USB interface mode of a model; a nil field means the profile's
// top-level block applies.
type Mode struct {
	HID      *HID      `yaml:"hid,omitempty" json:"hid,omitempty"`
	Feedback *Feedback `yaml:"feedback,omitempty" json:"feedback,omitempty"`
}

// USB interface modes (usb[].mode and the keys of modes).
const (
	ModeHIDPOS    = "hid_pos"
	ModeKeyboard  = "keyboard"
	ModeCDCSerial = "cdc_serial"
	ModeUSBCOM    = "usb_com"
)

// ModeOf returns the usb mode that p lists for vid:pid (4 hex digits, any case), or "" when p does
// not list it.
func (p Profile) ModeOf(vid, pid string) string {
	for _, u := range p.USB {
		if strings.EqualFold(u.VID, vid) && strings.EqualFold(u.PID, pid) {
			return u.Mode
		}
	}
	return ""
}

// HIDFor returns the hid settings for a device in usb mode mode: modes[mode].hid when the profile
// overrides it, else the top-level hid block (nil when there is none). mode "" means unknown.
func (p Profile) HIDFor(mode string) *HID {
	if m, ok := p.Modes[mode]; ok && m.HID != nil {
		return m.HID
	}
	return p.HID
}

// FeedbackFor returns the feedback for a device in usb mode mode: modes[mode].feedback when the
// profile overrides it, else the top-level feedback block (nil when there is none). mode "" means
// unknown.
func (p Profile) FeedbackFor(mode string) *Feedback {
	if m, ok := p.Modes[mode]; ok && m.Feedback != nil {
		return m.Feedback
	}
	return p.Feedback
}

// SerialFeedback returns the feedback for a device read over a serial port whose USB mode is not
// known (bound by its port): the cdc_serial override, else the usb_com override, else the
// top-level feedback.
func (p Profile) SerialFeedback() *Feedback {
	for _, m := range []string{ModeCDCSerial, ModeUSBCOM} {
		if o, ok := p.Modes[m]; ok && o.Feedback != nil {
			return o.Feedback
		}
	}
	return p.Feedback
}

// USBID is one USB identity: VID/PID as 4 hex digits ("0C2E"), the interface mode it means.
type USBID struct {
	VID       string `yaml:"vid" json:"vid"`
	PID       string `yaml:"pid" json:"pid"`
	Mode      string `yaml:"mode" json:"mode"`                               // hid_pos | keyboard | cdc_serial | usb_com | snapi | printer | other
	Interface *int   `yaml:"interface,omitempty" json:"interface,omitempty"` // USB interface number, when it matters
}

// Serial is the line settings and framing of a serial (RS-232 or USB CDC) scanner.
type Serial struct {
	Baud       int    `yaml:"baud" json:"baud"`                                         // default 9600
	DataBits   int    `yaml:"data_bits" json:"data_bits"`                               // default 8
	Parity     string `yaml:"parity" json:"parity"`                                     // none | even | odd (default none)
	StopBits   int    `yaml:"stop_bits" json:"stop_bits"`                               // 1 | 2 (default 1)
	Terminator string `yaml:"terminator" json:"terminator"`                             // cr | lf | crlf | tab (default cr)
	AIMPrefix  bool   `yaml:"aim_prefix" json:"aim_prefix"`                             // the device sends "]Xm" before the data: strip it
	IdleCutMS  int    `yaml:"idle_cutoff_ms,omitempty" json:"idle_cutoff_ms,omitempty"` // end a frame after this quiet time even without terminator (0 = off)
	Charset    string `yaml:"charset,omitempty" json:"charset,omitempty"`               // utf-8 (default) | gbk
	// NoiseCutMS: after this quiet time an unfinished frame (no terminator yet) is noise: it is
	// dropped and the next byte starts a new frame. 0 = DefaultNoiseCutMS; not with IdleCutMS,
	// which ends a frame after quiet as a barcode instead. See NoiseCutoff.
	NoiseCutMS int `yaml:"noise_cutoff_ms,omitempty" json:"noise_cutoff_ms,omitempty"`
}

// DefaultNoiseCutMS is the noise cut-off of a serial profile that sets neither noise_cutoff_ms nor
// idle_cutoff_ms. A scanner sends a barcode and its terminator in one burst (≈1 ms per byte at
// 9600 baud), so 100 ms without a byte in the middle of a frame means the line carried garbage or
// lost the terminator; a person does not scan again within 100 ms.
const DefaultNoiseCutMS = 100

// NoiseCutoff is how long the line may stay quiet with an unfinished frame before that frame is
// dropped as noise (an overlong one stops being discarded): noise_cutoff_ms, DefaultNoiseCutMS
// when it is 0, and 0 (none) when idle_cutoff_ms is set, since that cut-off already ends every
// frame after quiet (as a barcode). A nil s has the default.
func (s *Serial) NoiseCutoff() time.Duration {
	var idle, noise int
	if s != nil {
		idle, noise = s.IdleCutMS, s.NoiseCutMS
	}
	switch {
	case idle > 0:
		return 0
	case noise > 0:
		return time.Duration(noise) * time.Millisecond
	}
	return DefaultNoiseCutMS * time.Millisecond
}

// Serial defaults: what a zero field means (9600 8N1, CR-terminated, UTF-8).
const (
	DefaultBaud       = 9600
	DefaultDataBits   = 8
	DefaultParity     = "none"
	DefaultStopBits   = 1
	DefaultTerminator = "cr"
	DefaultCharset    = "utf-8"
)

// WithDefaults returns a copy of s with every zero field set to its documented default: 9600 baud,
// 8 data bits, no parity, 1 stop bit, CR terminator, UTF-8. A nil s gives all defaults. This is the
// one place defaults are applied; the loader calls it on every profile and drivers call it again
// (it is idempotent) so that a hand-built Serial works too.
func (s *Serial) WithDefaults() Serial {
	var out Serial
	if s != nil {
		out = *s
	}
	if out.Baud == 0 {
		out.Baud = DefaultBaud
	}
	if out.DataBits == 0 {
		out.DataBits = DefaultDataBits
	}
	if out.Parity == "" {
		out.Parity = DefaultParity
	}
	if out.StopBits == 0 {
		out.StopBits = DefaultStopBits
	}
	if out.Terminator == "" {
		out.Terminator = DefaultTerminator
	}
	if out.Charset == "" {
		out.Charset = DefaultCharset
	}
	return out
}

// HID is how to read a USB HID scanner.
type HID struct {
	Layout       string   `yaml:"layout" json:"layout"`                                     // pos_a (AIM in bytes 2–4) | pos_b (data from byte 2) | pos_auto (A or B per report) | keyboard
	ReportID     int      `yaml:"report_id,omitempty" json:"report_id,omitempty"`           // input report id (HID POS: 2)
	ReportSize   int      `yaml:"report_size,omitempty" json:"report_size,omitempty"`       // bytes per input report incl. id (HID POS: 64, keyboard: 8)
	Suffix       string   `yaml:"suffix,omitempty" json:"suffix,omitempty"`                 // configured suffix to strip: cr | lf | crlf | tab | none
	SetupReports []string `yaml:"setup_reports,omitempty" json:"setup_reports,omitempty"`   // feature reports sent after open, hex ("FE01")
	AltCodes     string   `yaml:"alt_codes,omitempty" json:"alt_codes,omitempty"`           // keyboard: unicode | gbk (Alt+keypad decimal meaning)
	IdleCutMS    int      `yaml:"idle_cutoff_ms,omitempty" json:"idle_cutoff_ms,omitempty"` // keyboard: end a barcode after this quiet time
	Charset      string   `yaml:"charset,omitempty" json:"charset,omitempty"`               // HID POS payload charset: utf-8 | gbk | auto (UTF-8 when valid, else GBK)
	AIMPrefix    bool     `yaml:"aim_prefix,omitempty" json:"aim_prefix,omitempty"`         // pos_b/pos_auto/keyboard: the data starts with "]Xm": strip it into Read.AIM
}

// Feedback is how to tell the scanner "good" or "bad" after the business decision.
type Feedback struct {
	Protocol string `yaml:"protocol" json:"protocol"`             // none | honeywell_hid | honeywell_serial | zebra_ssi | datalogic | newland
	Good     string `yaml:"good,omitempty" json:"good,omitempty"` // bytes, hex ("1B37" or "1B 37 2C")
	Bad      string `yaml:"bad,omitempty" json:"bad,omitempty"`
	// Via says which channel carries it: output_report | feature_report | serial.
	Via string `yaml:"via,omitempty" json:"via,omitempty"`
	// ReportID for HID output/feature reports (Honeywell 0xFD, Newland 0x04).
	ReportID int `yaml:"report_id,omitempty" json:"report_id,omitempty"`
}

// Printer describes a label printer model.
type Printer struct {
	Language   string   `yaml:"language" json:"language"`     // zpl | tspl
	DPI        int      `yaml:"dpi" json:"dpi"`               // 203 | 300
	Status     []string `yaml:"status" json:"status"`         // supported status queries: zpl_hs, zpl_hqes, tspl_esc_q (<ESC>!?), tspl_esc_s (<ESC>!S); empty = none (confirm by scan-back)
	Transports []string `yaml:"transports" json:"transports"` // tcp | serial | usblp
	MaxWidthMM int      `yaml:"max_width_mm,omitempty" json:"max_width_mm,omitempty"`
	Serial     *Serial  `yaml:"serial,omitempty" json:"serial,omitempty"` // line settings when on serial
}
