package profile

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// The allowed values of the enumerated fields (documented in firmware-profiles/README.md).
var (
	kinds        = []string{KindScanner, KindPrinter}
	usbModes     = []string{"hid_pos", "keyboard", "cdc_serial", "usb_com", "snapi", "printer", "other"}
	parities     = []string{"none", "even", "odd"}
	terminators  = []string{"cr", "lf", "crlf", "tab"}
	charsets     = []string{"utf-8", "gbk"}
	hidCharsets  = []string{"utf-8", "gbk", "auto"}
	hidLayouts   = []string{"pos_a", "pos_b", "pos_auto", "keyboard"}
	posLayouts   = []string{"pos_a", "pos_b", "pos_auto"}
	hidSuffixes  = []string{"cr", "lf", "crlf", "tab", "none"}
	altCodes     = []string{"unicode", "gbk"}
	protocols    = []string{"none", "honeywell_hid", "honeywell_serial", "zebra_ssi", "datalogic", "newland"}
	vias         = []string{"output_report", "feature_report", "serial"}
	languages    = []string{"zpl", "tspl"}
	dpis         = []int{203, 300}
	statusQuery  = []string{"zpl_hs", "zpl_hqes", "tspl_esc_q", "tspl_esc_s"}
	transports   = []string{"tcp", "serial", "usblp"}
	standardBaud = []int{300, 600, 1200, 2400, 4800, 9600, 14400, 19200, 38400, 57600, 115200, 230400, 460800, 921600}
)

// Limits of the numeric fields.
const (
	MinIdleCutMS  = 20    // a shorter quiet time would split frames at 9600 baud (≈1 ms per byte)
	MaxIdleCutMS  = 10000 // longer is no cut-off at all for a person holding a scanner
	MaxReportSize = 1024
	MaxWidthMM    = 300
)

var (
	idRE  = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	hexRE = regexp.MustCompile(`^[0-9A-Fa-f]{4}$`)
)

// Validate checks p against the schema (all rules except that the id equals the file name) and
// returns every problem found, joined, each an *Error wrapping ErrInvalid (without line numbers:
// use Parse for those). Zero fields that have defaults are valid.
func (p Profile) Validate() error {
	v := &checker{file: p.File}
	if v.file == "" {
		v.file = p.ID
	}
	p.check(v, "")
	return errors.Join(v.errs...)
}

// Validate checks the line settings and framing of s (zero fields mean their defaults).
func (s *Serial) Validate() error {
	v := &checker{}
	s.check(v, []any{"serial"})
	return errors.Join(v.errs...)
}

// ParseHex decodes a byte string written as hex digits, optionally separated by spaces, commas,
// colons or tabs, each group optionally prefixed 0x ("1B37", "1B 37 2C", "0x1B,0x37"). It is how
// feedback commands and set-up reports are written, and the one parser of them: the loader, the
// serial driver and hidscan/feedback all call it, so a profile that validates is one they can send.
func ParseHex(s string) ([]byte, error) {
	groups := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == ':' || r == '\t' })
	for i, g := range groups {
		if len(g) > 2 && (g[:2] == "0x" || g[:2] == "0X") {
			groups[i] = g[2:]
		}
	}
	clean := strings.Join(groups, "")
	if clean == "" {
		return nil, fmt.Errorf("%q has no bytes: want hex such as \"1B 37\"", s)
	}
	if len(clean)%2 != 0 {
		return nil, fmt.Errorf("%q is not whole bytes: want pairs of hex digits such as \"1B 37\"", s)
	}
	out := make([]byte, len(clean)/2)
	for i := range out {
		b, err := strconv.ParseUint(clean[2*i:2*i+2], 16, 8)
		if err != nil {
			return nil, fmt.Errorf("%q is not hex: %q at byte %d (want 0-9, A-F)", s, clean[2*i:2*i+2], i)
		}
		out[i] = byte(b)
	}
	return out, nil
}

func oneOf(v string, allowed []string) bool { return slices.Contains(allowed, v) }

// enum checks a string field against its allowed values: empty is "required: one of …" when the
// field is required and fine otherwise (a default applies); any other value must be allowed. It
// reports whether the value is set and allowed, for checks that depend on it.
func (v *checker) enum(p []any, val string, allowed []string, required bool) bool {
	switch {
	case val == "":
		if required {
			v.failf(p, "required: one of %s", list(allowed))
		}
		return false
	case !oneOf(val, allowed):
		v.failf(p, "%q is not one of %s", val, list(allowed))
		return false
	}
	return true
}

func list(allowed []string) string { return strings.Join(allowed, ", ") }

func ints(allowed []int) string {
	s := make([]string, len(allowed))
	for i, a := range allowed {
		s[i] = strconv.Itoa(a)
	}
	return strings.Join(s, ", ")
}

func at(prefix []any, more ...any) []any { return append(slices.Clone(prefix), more...) }

// check validates p; id, when not empty, is the id the file name demands.
func (p *Profile) check(v *checker, id string) {
	switch {
	case p.Schema == 0:
		v.failf([]any{"schema"}, "required: %d", SchemaVersion)
	case p.Schema != SchemaVersion:
		v.failf([]any{"schema"}, "%d is not supported: this build reads schema %d", p.Schema, SchemaVersion)
	}
	switch {
	case p.ID == "" && id != "":
		v.failf([]any{"id"}, "required: the file name without .yaml (%q)", id)
	case p.ID == "":
		v.failf([]any{"id"}, "required")
	case id != "" && p.ID != id:
		v.failf([]any{"id"}, "%q must equal the file name without .yaml (%q)", p.ID, id)
	case !idRE.MatchString(p.ID):
		v.failf([]any{"id"}, "%q is not a valid id (lower-case letters, digits and single hyphens, e.g. zebra-ds2208)", p.ID)
	}
	v.enum([]any{"kind"}, p.Kind, kinds, true)
	if strings.TrimSpace(p.Vendor) == "" {
		v.failf([]any{"vendor"}, "required")
	}
	if strings.TrimSpace(p.Model) == "" {
		v.failf([]any{"model"}, "required")
	}

	seen := map[string]int{}
	for i, u := range p.USB {
		u.check(v, []any{"usb", i})
		key := strings.ToUpper(u.VID + ":" + u.PID)
		if u.Interface != nil {
			key += "/" + strconv.Itoa(*u.Interface)
		}
		if j, dup := seen[key]; dup && u.VID != "" && u.PID != "" {
			v.failf([]any{"usb", i}, "%s:%s is listed twice (also usb[%d])", u.VID, u.PID, j)
		} else {
			seen[key] = i
		}
	}

	switch p.Kind {
	case KindScanner:
		if p.Serial == nil && p.HID == nil {
			v.failf([]any{"kind"}, "a scanner needs a serial or a hid block")
		}
		if p.Printer != nil {
			v.failf([]any{"printer"}, "only for kind printer")
		}
	case KindPrinter:
		if p.Printer == nil {
			v.failf([]any{"printer"}, "required for kind printer")
		}
		if p.Serial != nil {
			v.failf([]any{"serial"}, "not for kind printer: put line settings in printer.serial")
		}
		if p.HID != nil {
			v.failf([]any{"hid"}, "only for kind scanner")
		}
		if p.Feedback != nil {
			v.failf([]any{"feedback"}, "only for kind scanner")
		}
	}
	if p.Serial != nil {
		p.Serial.check(v, []any{"serial"})
	}
	if p.HID != nil {
		p.HID.check(v, []any{"hid"})
	}
	if p.Feedback != nil {
		p.Feedback.check(v, []any{"feedback"}, p)
	}
	p.checkModes(v)
	if p.Printer != nil {
		p.Printer.check(v, []any{"printer"})
	}

	if len(p.Sources) == 0 {
		v.failf([]any{"sources"}, "required: where the facts come from (manual, usb.ids, reference section)")
	}
	for i, s := range p.Sources {
		if strings.TrimSpace(s) == "" {
			v.failf([]any{"sources", i}, "empty")
		}
	}
	for i, s := range p.Uncertain {
		if strings.TrimSpace(s) == "" {
			v.failf([]any{"uncertain", i}, "empty")
		}
	}
}

func (u *USBID) check(v *checker, p []any) {
	for _, f := range []struct{ name, val string }{{"vid", u.VID}, {"pid", u.PID}} {
		switch {
		case f.val == "":
			v.failf(at(p, f.name), "required: 4 hex digits, e.g. \"05E0\"")
		case !hexRE.MatchString(f.val):
			v.failf(at(p, f.name), "%q is not 4 hex digits (e.g. \"05E0\"; quote it so YAML keeps leading zeros)", f.val)
		}
	}
	v.enum(at(p, "mode"), u.Mode, usbModes, true)
	if u.Interface != nil && (*u.Interface < 0 || *u.Interface > 255) {
		v.failf(at(p, "interface"), "%d is out of range 0–255", *u.Interface)
	}
}

func (s *Serial) check(v *checker, p []any) {
	if s.Baud != 0 && !slices.Contains(standardBaud, s.Baud) {
		v.failf(at(p, "baud"), "%d is not one of %s", s.Baud, ints(standardBaud))
	}
	if s.DataBits != 0 && (s.DataBits < 5 || s.DataBits > 8) {
		v.failf(at(p, "data_bits"), "%d is out of range 5–8", s.DataBits)
	}
	v.enum(at(p, "parity"), s.Parity, parities, false)
	if s.StopBits != 0 && s.StopBits != 1 && s.StopBits != 2 {
		v.failf(at(p, "stop_bits"), "%d is not one of 1, 2", s.StopBits)
	}
	v.enum(at(p, "terminator"), s.Terminator, terminators, false)
	checkIdle(v, at(p, "idle_cutoff_ms"), s.IdleCutMS)
	v.enum(at(p, "charset"), s.Charset, charsets, false)
	switch {
	case s.NoiseCutMS != 0 && (s.NoiseCutMS < MinIdleCutMS || s.NoiseCutMS > MaxIdleCutMS):
		v.failf(at(p, "noise_cutoff_ms"), "%d is out of range: 0 (default %d) or %d–%d", s.NoiseCutMS, DefaultNoiseCutMS, MinIdleCutMS, MaxIdleCutMS)
	case s.NoiseCutMS != 0 && s.IdleCutMS != 0:
		v.failf(at(p, "noise_cutoff_ms"), "not with idle_cutoff_ms, which already ends a frame after %d ms of quiet (as a barcode)", s.IdleCutMS)
	}
}

func checkIdle(v *checker, p []any, ms int) {
	if ms != 0 && (ms < MinIdleCutMS || ms > MaxIdleCutMS) {
		v.failf(p, "%d is out of range: 0 (off) or %d–%d", ms, MinIdleCutMS, MaxIdleCutMS)
	}
}

func (h *HID) check(v *checker, p []any) {
	v.enum(at(p, "layout"), h.Layout, hidLayouts, true)
	if h.ReportID < 0 || h.ReportID > 255 {
		v.failf(at(p, "report_id"), "%d is out of range 0–255", h.ReportID)
	}
	if h.ReportSize < 0 || h.ReportSize > MaxReportSize {
		v.failf(at(p, "report_size"), "%d is out of range 0 (default)–%d", h.ReportSize, MaxReportSize)
	}
	v.enum(at(p, "suffix"), h.Suffix, hidSuffixes, false)
	for i, r := range h.SetupReports {
		if _, err := ParseHex(r); err != nil {
			v.failf(at(p, "setup_reports", i), "%v", err)
		}
	}
	if v.enum(at(p, "alt_codes"), h.AltCodes, altCodes, false) && h.Layout != "" && h.Layout != "keyboard" {
		v.failf(at(p, "alt_codes"), "only for layout keyboard (this is %s)", h.Layout)
	}
	checkIdle(v, at(p, "idle_cutoff_ms"), h.IdleCutMS)
	v.enum(at(p, "charset"), h.Charset, hidCharsets, false)
	if h.AIMPrefix && h.Layout == "pos_a" {
		v.failf(at(p, "aim_prefix"), "not for layout pos_a, which carries the AIM in bytes 2–4 (for pos_b, pos_auto or keyboard)")
	}
}

// hidModes and serialModes are the usb modes read by hidscan and by serialscan.
var (
	hidModes    = []string{ModeHIDPOS, ModeKeyboard}
	serialModes = []string{ModeCDCSerial, ModeUSBCOM}
)

// checkModes validates the per-mode overrides: each key is a usb mode, each entry overrides
// something, a hid override fits its mode and has a top-level hid block beside it (the default for
// the other HID modes), and feedback goes over the channel the mode has.
func (p *Profile) checkModes(v *checker) {
	if len(p.Modes) == 0 {
		return
	}
	if p.Kind == KindPrinter {
		v.failf([]any{"modes"}, "only for kind scanner")
		return
	}
	keys := make([]string, 0, len(p.Modes))
	for k := range p.Modes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		m, mp := p.Modes[k], []any{"modes", k}
		if !oneOf(k, usbModes) {
			v.failf(mp, "%q is not a usb mode: want one of %s", k, list(usbModes))
			continue
		}
		if m.HID == nil && m.Feedback == nil {
			v.failf(mp, "empty: give hid and/or feedback for this mode, or leave the mode out")
			continue
		}
		if m.HID != nil {
			hp := at(mp, "hid")
			m.HID.check(v, hp)
			switch {
			case !oneOf(k, hidModes):
				v.failf(hp, "only for modes %s (mode %s is not read as HID)", list(hidModes), k)
			case p.HID == nil:
				v.failf(hp, "needs a top-level hid block (the settings for the other HID modes)")
			case k == ModeKeyboard && m.HID.Layout != "" && m.HID.Layout != "keyboard":
				v.failf(at(hp, "layout"), "mode keyboard sends boot keyboard reports: want keyboard, got %s", m.HID.Layout)
			case k == ModeHIDPOS && m.HID.Layout != "" && !oneOf(m.HID.Layout, posLayouts):
				v.failf(at(hp, "layout"), "mode hid_pos sends HID POS reports: want one of %s, got %s", list(posLayouts), m.HID.Layout)
			}
		}
		if f := m.Feedback; f != nil {
			fp := at(mp, "feedback")
			mode := *p
			mode.HID = p.HIDFor(k)
			f.check(v, fp, &mode)
			switch {
			case f.Protocol == "none" || f.Via == "":
			case oneOf(k, serialModes) && f.Via != "serial":
				v.failf(at(fp, "via"), "mode %s is a serial port: want serial, got %s", k, f.Via)
			case oneOf(k, hidModes) && f.Via == "serial":
				v.failf(at(fp, "via"), "mode %s has no serial line: want output_report or feature_report, or protocol none", k)
			}
		}
	}
}

// serialProtocols are the feedback protocols that go over the serial line.
var serialProtocols = []string{"honeywell_serial", "zebra_ssi", "datalogic"}

func (f *Feedback) check(v *checker, p []any, prof *Profile) {
	v.enum(at(p, "protocol"), f.Protocol, protocols, true)
	cmds := map[string][]byte{}
	for _, c := range []struct{ name, val string }{{"good", f.Good}, {"bad", f.Bad}} {
		if c.val == "" {
			continue
		}
		b, err := ParseHex(c.val)
		if err != nil {
			v.failf(at(p, c.name), "%v", err)
			continue
		}
		cmds[c.name] = b
		if f.Protocol == "zebra_ssi" {
			if err := checkSSI(b); err != nil {
				v.failf(at(p, c.name), "%q: %v", c.val, err)
			}
		}
	}
	if f.Protocol == "none" {
		if f.Good != "" || f.Bad != "" || f.Via != "" || f.ReportID != 0 {
			v.failf(p, "protocol none takes no good, bad, via or report_id")
		}
		return
	}
	if f.Via == "" && (f.Good != "" || f.Bad != "") {
		v.failf(at(p, "via"), "required with good/bad: one of %s", list(vias))
	}
	v.enum(at(p, "via"), f.Via, vias, false)
	if f.ReportID < 0 || f.ReportID > 255 {
		v.failf(at(p, "report_id"), "%d is out of range 1–255", f.ReportID)
	}
	switch {
	case f.Via == "serial" && f.ReportID != 0:
		v.failf(at(p, "report_id"), "only for via output_report or feature_report")
	case (f.Via == "output_report" || f.Via == "feature_report") && f.ReportID == 0:
		v.failf(at(p, "report_id"), "required for via %s (Honeywell 0xFD = 253, Newland 0x04 = 4)", f.Via)
	}
	if oneOf(f.Protocol, serialProtocols) && f.Via != "" && f.Via != "serial" {
		v.failf(at(p, "via"), "protocol %s goes over the serial line: want serial, got %s", f.Protocol, f.Via)
	}
	if f.Protocol == "honeywell_hid" && f.Via != "" && f.Via != "output_report" {
		v.failf(at(p, "via"), "protocol honeywell_hid uses HID output report 0xFD: want output_report, got %s", f.Via)
	}
	if f.Via == "serial" && prof != nil && prof.Serial == nil {
		v.failf(at(p, "via"), "serial feedback needs a serial block")
	}
	if (f.Via == "output_report" || f.Via == "feature_report") && prof != nil && prof.HID == nil {
		v.failf(at(p, "via"), "%s feedback needs a hid block", f.Via)
	}
}

// checkSSI checks a Zebra SSI packet: [len][opcode][source][status][data…][ckHi][ckLo], len counts
// everything but the checksum, the checksum is the 16-bit two's complement of the byte sum, and a
// command from the host has source 0x04.
func checkSSI(b []byte) error {
	if len(b) < 6 {
		return fmt.Errorf("an SSI packet has at least 6 bytes (len, opcode, source, status, 2 checksum bytes), got %d", len(b))
	}
	if int(b[0]) != len(b)-2 {
		return fmt.Errorf("SSI length byte is 0x%02X, want 0x%02X (bytes before the checksum)", b[0], len(b)-2)
	}
	if b[2] != 0x04 {
		return fmt.Errorf("SSI source byte is 0x%02X, want 0x04 (host)", b[2])
	}
	want := SSIChecksum(b[:len(b)-2])
	if got := uint16(b[len(b)-2])<<8 | uint16(b[len(b)-1]); got != want {
		return fmt.Errorf("SSI checksum is %04X, want %04X", got, want)
	}
	return nil
}

// SSIChecksum is the Zebra SSI checksum of a packet without its checksum: the 16-bit two's
// complement of the sum of its bytes (sent high byte first).
func SSIChecksum(b []byte) uint16 {
	var sum uint16
	for _, c := range b {
		sum += uint16(c)
	}
	return -sum
}

func (pr *Printer) check(v *checker, p []any) {
	v.enum(at(p, "language"), pr.Language, languages, true)
	if pr.DPI == 0 {
		v.failf(at(p, "dpi"), "required: one of %s", ints(dpis))
	} else if !slices.Contains(dpis, pr.DPI) {
		v.failf(at(p, "dpi"), "%d is not one of %s", pr.DPI, ints(dpis))
	}
	for i, s := range pr.Status {
		if !oneOf(s, statusQuery) {
			v.failf(at(p, "status", i), "%q is not one of %s", s, list(statusQuery))
		} else if slices.Index(pr.Status, s) != i {
			v.failf(at(p, "status", i), "%q is listed twice", s)
		}
	}
	if len(pr.Transports) == 0 {
		v.failf(at(p, "transports"), "required: one or more of %s", list(transports))
	}
	for i, t := range pr.Transports {
		if !oneOf(t, transports) {
			v.failf(at(p, "transports", i), "%q is not one of %s", t, list(transports))
		} else if slices.Index(pr.Transports, t) != i {
			v.failf(at(p, "transports", i), "%q is listed twice", t)
		}
	}
	if pr.MaxWidthMM < 0 || pr.MaxWidthMM > MaxWidthMM {
		v.failf(at(p, "max_width_mm"), "%d is out of range 0 (unknown)–%d", pr.MaxWidthMM, MaxWidthMM)
	}
	if pr.Serial != nil {
		pr.Serial.check(v, at(p, "serial"))
		if !slices.Contains(pr.Transports, "serial") {
			v.failf(at(p, "serial"), "set, but transports does not list serial")
		}
	}
}
