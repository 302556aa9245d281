package hidscan_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"wedge/drivers/profile"
	"wedge/drivers/scanner"
	"wedge/drivers/scanner/hidscan"
	h "wedge/drivers/scanner/hidscan/hidscantest"
)

var t0 = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

func feedAll(t *testing.T, dc hidscan.Decoder, reps [][]byte) ([]scanner.Read, []error) {
	t.Helper()
	var reads []scanner.Read
	var errs []error
	for i, r := range reps {
		var err error
		reads, err = dc.Feed(reads, r, t0.Add(time.Duration(i)*time.Millisecond))
		if err != nil {
			errs = append(errs, err)
		}
	}
	return reads, errs
}

func texts(rs []scanner.Read) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Text)
	}
	return out
}

func mustPOS(t *testing.T, o hidscan.POSOptions) *hidscan.POSDecoder {
	t.Helper()
	d, err := hidscan.NewPOSDecoder(o)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mustKbd(t *testing.T, o hidscan.KeyboardOptions) *hidscan.KeyboardDecoder {
	t.Helper()
	d, err := hidscan.NewKeyboardDecoder(o)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestPOSAccessISWorkedExample(t *testing.T) {
	// 60-byte QR: the first report has len 56, AIM ]Q0, code id 's', byte 63 = 1; the second holds
	// the remaining 4 bytes.
	payload := []byte(strings.Repeat("0123456789", 6))
	reps := h.POSA("]Q0", 's', payload)
	if len(reps) != 2 || reps[0][1] != 56 || reps[0][61] != 's' || reps[0][63] != 1 || reps[1][63] != 0 {
		t.Fatalf("builder does not match the worked example: % X", reps[0])
	}
	reads, errs := feedAll(t, mustPOS(t, hidscan.POSOptions{Layout: hidscan.LayoutPOSA, Suffix: "none"}), reps)
	if len(errs) > 0 || len(reads) != 1 || reads[0].Text != string(payload) || reads[0].AIM != "]Q0" {
		t.Fatalf("reads %+v errs %v", reads, errs)
	}
	if string(reads[0].Raw) != string(payload) {
		t.Errorf("raw %q", reads[0].Raw)
	}
}

func TestPOSEdgeCases(t *testing.T) {
	d := mustPOS(t, hidscan.POSOptions{})
	// another report id (e.g. a command reply) is ignored, not an error
	other := make([]byte, 64)
	other[0] = 0x03
	if r, err := d.Feed(nil, other, t0); err != nil || len(r) != 0 {
		t.Fatalf("other rid: %v %v", r, err)
	}
	// too short
	if _, err := d.Feed(nil, []byte{0x02}, t0); !errors.Is(err, hidscan.ErrReport) || !errors.Is(err, scanner.ErrNoise) {
		t.Fatalf("short report err = %v", err)
	}
	// a length byte beyond the field is clamped, not trusted
	r := h.POSB(0, []byte("ABC\r"))[0]
	r[1] = 0xFF
	reads, err := d.Feed(nil, r, t0)
	if err != nil || len(reads) != 1 || !strings.HasPrefix(reads[0].Text, "ABC") {
		t.Fatalf("clamped: %q %v", texts(reads), err)
	}
	// empty payload is noise
	if _, err := d.Feed(nil, h.POSB(0, []byte("\r"))[0], t0); !errors.Is(err, scanner.ErrNoise) {
		t.Fatalf("empty err = %v", err)
	}
	// invalid UTF-8 in utf-8 mode is a charset error; auto falls back to GBK
	gb := append(gbk(t, "中通"), '\r')
	if _, err := d.Feed(nil, h.POSB(0, gb)[0], t0); !errors.Is(err, hidscan.ErrCharset) {
		t.Fatalf("gbk in utf-8 mode: %v", err)
	}
	auto := mustPOS(t, hidscan.POSOptions{Charset: hidscan.CharsetAuto})
	if reads, err := auto.Feed(nil, h.POSB(0, gb)[0], t0); err != nil || reads[0].Text != "中通" || string(reads[0].Raw) != string(gb[:len(gb)-1]) {
		t.Fatalf("auto: %q %v", texts(reads), err)
	}
	// a multi-report payload whose last report never comes is flushed as noise
	p := mustPOS(t, hidscan.POSOptions{})
	first := h.POSA("]Q1", 's', []byte(strings.Repeat("x", 80)))[0]
	if _, err := p.Feed(nil, first, t0); err != nil || !p.Pending() {
		t.Fatalf("first: %v pending %v", err, p.Pending())
	}
	if _, err := p.Flush(nil, t0); !errors.Is(err, scanner.ErrNoise) || p.Pending() {
		t.Fatalf("flush: %v", err)
	}
	// then the decoder is clean again
	if reads, err := p.Feed(nil, h.POSA("]C0", 'j', []byte("ZTO\r"))[0], t0); err != nil || reads[0].Text != "ZTO" {
		t.Fatalf("after flush: %q %v", texts(reads), err)
	}
}

func TestPOSOverlongResyncs(t *testing.T) {
	d := mustPOS(t, hidscan.POSOptions{MaxPayload: 100})
	_, errs := feedAll(t, d, h.POSA("]Q1", 's', []byte(strings.Repeat("x", 300))))
	if len(errs) != 1 || !errors.Is(errs[0], scanner.ErrOverlong) {
		t.Fatalf("errs %v", errs)
	}
	reads, errs := feedAll(t, d, h.POSA("]C0", 'j', []byte("SF1385628716739\r")))
	if len(errs) != 0 || len(reads) != 1 || reads[0].Text != "SF1385628716739" {
		t.Fatalf("after overlong: %q %v", texts(reads), errs)
	}
}

func TestPOSSuffixes(t *testing.T) {
	for _, c := range []struct{ suffix, in, want string }{
		{"", "A\r\n", "A"}, {"", "A\r", "A"}, {"", "A\n", "A"}, {"", "A", "A"},
		{"cr", "A\r", "A"}, {"cr", "A\r\n", "A\r\n"}, {"crlf", "A\r\n", "A"}, {"tab", "A\t", "A"},
		{"none", "A\r", "A\r"},
	} {
		d := mustPOS(t, hidscan.POSOptions{Suffix: c.suffix})
		reads, err := d.Feed(nil, h.POSB(0, []byte(c.in))[0], t0)
		if err != nil || len(reads) != 1 || reads[0].Text != c.want {
			t.Errorf("suffix %q on %q: %q %v, want %q", c.suffix, c.in, texts(reads), err, c.want)
		}
	}
}

func TestOptionsRejected(t *testing.T) {
	for _, o := range []hidscan.POSOptions{{Layout: "pos_c"}, {Suffix: "etx"}, {Charset: "big5"}} {
		if _, err := hidscan.NewPOSDecoder(o); !errors.Is(err, hidscan.ErrOptions) {
			t.Errorf("%+v: err %v", o, err)
		}
	}
	for _, o := range []hidscan.KeyboardOptions{{AltCodes: "oem"}, {Suffix: "etx"}, {IdleCut: -1}} {
		if _, err := hidscan.NewKeyboardDecoder(o); !errors.Is(err, hidscan.ErrOptions) {
			t.Errorf("%+v: err %v", o, err)
		}
	}
}

func TestKeyboardEdgesAndModifiers(t *testing.T) {
	d := mustKbd(t, hidscan.KeyboardOptions{})
	reps := h.Concat(
		h.Type("11"), // press/release/press/release: two 1s
		[][]byte{h.Key(0, 0x1F), h.Key(0, 0x1F), h.Release()}, // a held key (repeated report) counts once
		[][]byte{h.Key(0, h.CapsLock), h.Release()},
		h.Type("ab"), // caps on: AB
		[][]byte{h.Key(h.ModLShift, 0x04), h.Release()}, // caps XOR shift: a
		[][]byte{h.Key(0, h.CapsLock), h.Release()},
		[][]byte{h.Key(0, 0x59), h.Release(), h.Key(0, 0x62), h.Release()}, // keypad 1, 0
		[][]byte{{0, 0, 1, 1, 1, 1, 1, 1}},                                 // ErrorRollOver: ignored
		h.Type("x!"),
		[][]byte{h.Key(0, 0x3A), h.Release()}, // F1: not data
		h.Type("\r"),
	)
	reads, errs := feedAll(t, d, reps)
	if len(errs) != 0 || len(reads) != 1 {
		t.Fatalf("reads %q errs %v", texts(reads), errs)
	}
	if want := "112ABa10x!"; reads[0].Text != want {
		t.Fatalf("text %q, want %q", reads[0].Text, want)
	}
}

func TestKeyboardTwoKeysInOneReport(t *testing.T) {
	d := mustKbd(t, hidscan.KeyboardOptions{})
	reps := [][]byte{{0, 0, 0x04, 0x05, 0, 0, 0, 0}, {0, 0, 0x05, 0, 0, 0, 0, 0}, h.Release(), h.Key(0, 0x28), h.Release()}
	reads, errs := feedAll(t, d, reps)
	if len(errs) != 0 || len(reads) != 1 || reads[0].Text != "ab" {
		t.Fatalf("%q %v", texts(reads), errs)
	}
}

func TestKeyboardReportID(t *testing.T) {
	d := mustKbd(t, hidscan.KeyboardOptions{})
	var reps [][]byte
	for _, r := range h.Type("Z9\r") {
		reps = append(reps, append([]byte{0x02}, r...)) // 9-byte reports with report id 2
	}
	reads, errs := feedAll(t, d, reps)
	if len(errs) != 0 || len(reads) != 1 || reads[0].Text != "Z9" {
		t.Fatalf("%q %v", texts(reads), errs)
	}
	if _, err := d.Feed(nil, make([]byte, 5), t0); !errors.Is(err, hidscan.ErrReport) {
		t.Fatalf("5-byte report: %v", err)
	}
}

func TestKeyboardTerminatorsBySuffix(t *testing.T) {
	d := mustKbd(t, hidscan.KeyboardOptions{Suffix: "cr"})
	reads, errs := feedAll(t, d, h.Type("A\tB\r"))
	if len(errs) != 0 || len(reads) != 1 || reads[0].Text != "A\tB" {
		t.Fatalf("%q %v", texts(reads), errs)
	}
	// an Enter with nothing before it is noise, not a read
	if _, errs := feedAll(t, d, h.Type("\r")); len(errs) != 1 || !errors.Is(errs[0], scanner.ErrNoise) {
		t.Fatalf("empty: %v", errs)
	}
}

func TestKeyboardIdleCutoff(t *testing.T) {
	d := mustKbd(t, hidscan.KeyboardOptions{IdleCut: 100 * time.Millisecond, Suffix: "none"})
	var reads []scanner.Read
	at := t0
	for _, r := range h.Type("7361055558") {
		var err error
		if reads, err = d.Feed(reads, r, at); err != nil {
			t.Fatal(err)
		}
		at = at.Add(5 * time.Millisecond)
	}
	if len(reads) != 0 || !d.Pending() {
		t.Fatalf("early read %q", texts(reads))
	}
	// the next barcode starts after a quiet gap: the first one is cut off at its last key
	last := at.Add(-5 * time.Millisecond)
	for _, r := range h.Type("88") {
		reads, _ = d.Feed(reads, r, at.Add(time.Second))
	}
	if len(reads) != 1 || reads[0].Text != "7361055558" || !reads[0].At.Equal(last) {
		t.Fatalf("cut-off read %+v", reads)
	}
	reads, err := d.Flush(nil, at.Add(2*time.Second))
	if err != nil || len(reads) != 1 || reads[0].Text != "88" || d.Pending() {
		t.Fatalf("flush %q %v", texts(reads), err)
	}
}

func TestKeyboardAltCodes(t *testing.T) {
	for _, c := range []struct {
		mode string
		reps [][]byte
		want string
		err  error
	}{
		{hidscan.AltUnicode, h.Concat(h.Alt("0029"), h.Type("\r")), "\x1d", nil},
		{hidscan.AltUnicode, h.Concat(h.Alt("65"), h.Type("\r")), "A", nil},
		{hidscan.AltUnicode, h.Concat(h.Alt("233"), h.Type("\r")), "é", nil},
		{hidscan.AltUnicode, h.Concat(h.Alt("55296"), h.Type("\r")), "", hidscan.ErrCharset}, // surrogate
		{hidscan.AltUnicode, h.Concat(h.Alt("99999999999"), h.Type("\r")), "", hidscan.ErrCharset},
		{hidscan.AltGBK, h.Concat(h.Alt("48327"), h.Type("\r")), "记", nil},
		{hidscan.AltGBK, h.Concat(h.Alt("029"), h.Type("\r")), "\x1d", nil},
		{hidscan.AltGBK, h.Concat(h.Alt("300"), h.Type("\r")), "", hidscan.ErrCharset}, // 0x012C: no GBK lead byte
	} {
		d := mustKbd(t, hidscan.KeyboardOptions{AltCodes: c.mode})
		reads, errs := feedAll(t, d, c.reps)
		if c.err != nil {
			if len(errs) != 1 || !errors.Is(errs[0], c.err) || len(reads) != 0 {
				t.Errorf("%s: reads %q errs %v, want %v", c.mode, texts(reads), errs, c.err)
			}
			continue
		}
		if len(errs) != 0 || len(reads) != 1 || reads[0].Text != c.want {
			t.Errorf("%s: reads %q errs %v, want %q", c.mode, texts(reads), errs, c.want)
		}
	}
}

func TestKeyboardOverlong(t *testing.T) {
	d := mustKbd(t, hidscan.KeyboardOptions{MaxPayload: 8})
	reads, errs := feedAll(t, d, h.Type("0123456789\rOK\r"))
	if len(errs) != 1 || !errors.Is(errs[0], scanner.ErrOverlong) || len(reads) != 1 || reads[0].Text != "OK" {
		t.Fatalf("%q %v", texts(reads), errs)
	}
}

// FuzzPOS: any report sequence neither panics nor grows the buffer past the limit.
func FuzzPOS(f *testing.F) {
	for _, r := range h.POSA("]Q1", 's', []byte(qrText+"\r")) {
		f.Add(r, byte(0))
	}
	f.Add(h.POSB(0, []byte("A\r"))[0], byte(1))
	f.Add([]byte{0x02, 0xFF, ']'}, byte(2))
	f.Fuzz(func(t *testing.T, data []byte, mode byte) {
		layouts := []string{hidscan.LayoutPOSA, hidscan.LayoutPOSB, hidscan.LayoutPOSAuto}
		charsets := []string{"utf-8", "gbk", "auto"}
		d, err := hidscan.NewPOSDecoder(hidscan.POSOptions{Layout: layouts[int(mode)%3], Charset: charsets[int(mode/3)%3], BracketAt3: mode&0x10 != 0, MaxPayload: 200})
		if err != nil {
			t.Fatal(err)
		}
		// split the input into reports of 64 bytes (the last may be short), forcing rid 2
		for len(data) > 0 {
			n := min(64, len(data))
			r := append([]byte(nil), data[:n]...)
			r[0] = 2
			data = data[n:]
			reads, _ := d.Feed(nil, r, t0)
			for _, rd := range reads {
				if len(rd.Raw) > 200 {
					t.Fatalf("read of %d bytes over the limit", len(rd.Raw))
				}
			}
		}
		d.Flush(nil, t0)
	})
}

// FuzzKeyboard: any report sequence neither panics nor yields a read over the limit.
func FuzzKeyboard(f *testing.F) {
	for _, tr := range [][][]byte{h.Concat(h.Alt("31508"), h.Type("\r")), h.Type("SF1385628716739\r"), h.Concat(h.Alt("029"), h.Type("a\t"))} {
		var b []byte
		for _, r := range tr {
			b = append(b, r...)
		}
		f.Add(b, false)
	}
	f.Fuzz(func(t *testing.T, data []byte, gbkMode bool) {
		alt := hidscan.AltUnicode
		if gbkMode {
			alt = hidscan.AltGBK
		}
		d, err := hidscan.NewKeyboardDecoder(hidscan.KeyboardOptions{AltCodes: alt, MaxPayload: 64, IdleCut: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		at := t0
		for len(data) >= 8 {
			reads, _ := d.Feed(nil, data[:8], at)
			at = at.Add(time.Duration(data[1]%2) * time.Millisecond)
			data = data[8:]
			for _, rd := range reads {
				if len(rd.Raw) > 64 {
					t.Fatalf("read of %d bytes over the limit", len(rd.Raw))
				}
			}
		}
		d.Flush(nil, at)
	})
}

func TestPOSAFallsBackToLayoutB(t *testing.T) {
	d := mustPOS(t, hidscan.POSOptions{Layout: hidscan.LayoutPOSA, Suffix: "cr"})
	reads, errs := feedAll(t, d, h.POSB(0x31, []byte(qrText+"\r")))
	if len(errs) != 0 || len(reads) != 1 || reads[0].Text != qrText || reads[0].AIM != "" {
		t.Fatalf("%q %v", texts(reads), errs)
	}
	// explicit pos_b never looks for an AIM: a payload starting with ']' stays data
	b := mustPOS(t, hidscan.POSOptions{Layout: hidscan.LayoutPOSB, Suffix: "cr"})
	reads, errs = feedAll(t, b, h.POSB(0, []byte("]C0ABC\r")))
	if len(errs) != 0 || reads[0].Text != "]C0ABC" || reads[0].AIM != "" {
		t.Fatalf("%+v %v", reads, errs)
	}
}

func TestModeHID(t *testing.T) {
	p := profile.Profile{HID: &profile.HID{Layout: hidscan.LayoutPOSA, ReportID: 2, SetupReports: []string{"FE01"}}}
	if got := hidscan.ModeHID(p, "hid_pos"); got.Layout != hidscan.LayoutPOSA || len(got.SetupReports) != 1 {
		t.Errorf("hid_pos: %+v", got)
	}
	if got := hidscan.ModeHID(p, "keyboard"); got.Layout != hidscan.LayoutKeyboard || len(got.SetupReports) != 0 || got.IdleCutMS != 300 {
		t.Errorf("keyboard: %+v", got)
	}
	k := profile.Profile{HID: &profile.HID{Layout: hidscan.LayoutKeyboard, AltCodes: "gbk"}}
	if got := hidscan.ModeHID(k, "keyboard"); got.AltCodes != "gbk" {
		t.Errorf("keyboard profile: %+v", got)
	}
	if got := hidscan.ModeHID(k, "hid_pos"); got.Layout != hidscan.LayoutPOSAuto {
		t.Errorf("hid_pos of a keyboard profile: %+v", got)
	}
	if _, err := hidscan.NewDecoder(hidscan.ModeHID(k, "hid_pos")); err != nil {
		t.Error(err)
	}
}

// Every scanner profile shipped in firmware-profiles gives a working decoder for each HID mode.
func TestEmbeddedProfilesDecode(t *testing.T) {
	set, err := profile.LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range set {
		if p.HID == nil {
			continue
		}
		n++
		for _, mode := range []string{"", "hid_pos", "keyboard"} {
			if _, err := hidscan.NewDecoder(hidscan.ModeHID(p, mode)); err != nil {
				t.Errorf("%s (%s): %v", p.ID, mode, err)
			}
		}
	}
	if n < 17 {
		t.Errorf("only %d profiles with a hid block", n)
	}
}

func TestConfigFor(t *testing.T) {
	set, err := profile.LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	p, ok := set.Get("honeywell-xenon-1950g")
	if !ok {
		t.Fatal("no honeywell-xenon-1950g")
	}
	kbd := hidscan.ConfigFor("pack-2", hidscan.Match{VID: 0x0C2E, PID: 0x1001, Interface: hidscan.AnyInterface}, p)
	if kbd.HID.Layout != hidscan.LayoutKeyboard || kbd.HID.Suffix != "cr" || kbd.Name != "pack-2" {
		t.Errorf("keyboard-mode 1950g hid: %+v", kbd.HID)
	}
	if kbd.Feedback == nil || kbd.Feedback.Protocol != "none" {
		t.Errorf("keyboard-mode 1950g feedback: %+v, want its modes.keyboard override (none)", kbd.Feedback)
	}
	pos := hidscan.ConfigFor("pack-2", hidscan.Match{VID: 0x0C2E, Interface: hidscan.AnyInterface}, p)
	if pos.HID.Layout != hidscan.LayoutPOSA || len(pos.HID.SetupReports) != 1 {
		t.Errorf("1950g by vid only: %+v", pos)
	}
	if pos.Feedback == nil || pos.Feedback.Protocol != "honeywell_hid" {
		t.Errorf("1950g by vid only feedback: %+v, want the top-level block", pos.Feedback)
	}
}

// Every shipped profile, bound by one of its HID-mode USB identities, gets a decoder and a feedback
// the HID driver can send (a report, or none): serial-line feedback belongs to its serial mode.
func TestEmbeddedProfilesHIDModes(t *testing.T) {
	set, err := profile.LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range set {
		for _, u := range p.USB {
			if u.Mode != profile.ModeHIDPOS && u.Mode != profile.ModeKeyboard {
				continue
			}
			var vid, pid uint64
			fmt.Sscanf(u.VID+" "+u.PID, "%x %x", &vid, &pid)
			cfg := hidscan.ConfigFor("s", hidscan.Match{VID: uint16(vid), PID: uint16(pid), Interface: hidscan.AnyInterface}, p)
			if (u.Mode == profile.ModeKeyboard) != (cfg.HID.Layout == hidscan.LayoutKeyboard) {
				t.Errorf("%s %s:%s (%s): layout %s", p.ID, u.VID, u.PID, u.Mode, cfg.HID.Layout)
			}
			if _, err := hidscan.NewDecoder(cfg.HID); err != nil {
				t.Errorf("%s %s:%s: %v", p.ID, u.VID, u.PID, err)
			}
			if cfg.Feedback != nil && cfg.Feedback.Via == "serial" {
				t.Errorf("%s %s:%s (%s): feedback goes over serial, which this mode has not", p.ID, u.VID, u.PID, u.Mode)
			}
			n++
		}
	}
	if n < 5 {
		t.Errorf("only %d HID-mode identities checked", n)
	}
}

// A profile's modes.<mode>.hid wins over the fallback for that mode.
func TestModeHIDOverride(t *testing.T) {
	p := profile.Profile{HID: &profile.HID{Layout: hidscan.LayoutPOSA},
		Modes: map[string]profile.Mode{"keyboard": {HID: &profile.HID{Layout: hidscan.LayoutKeyboard, AltCodes: "gbk", IdleCutMS: 150}}}}
	if got := hidscan.ModeHID(p, "keyboard"); got.AltCodes != "gbk" || got.IdleCutMS != 150 {
		t.Errorf("keyboard: %+v, want the override", got)
	}
	if got := hidscan.ModeHID(p, "hid_pos"); got.Layout != hidscan.LayoutPOSA {
		t.Errorf("hid_pos: %+v", got)
	}
}

// hid.aim_prefix: an AIM identifier inside the data (layout B, keyboard) moves to Read.AIM; layout
// A's own AIM is kept; a read without one passes; an AIM alone is noise.
func TestAIMPrefix(t *testing.T) {
	b, err := hidscan.NewDecoder(profile.HID{Layout: hidscan.LayoutPOSB, Suffix: "cr", AIMPrefix: true})
	if err != nil {
		t.Fatal(err)
	}
	reads, errs := feedAll(t, b, h.Concat(h.POSB(0, []byte("]C1SF1385628716739\r")), h.POSB(0, []byte("YT123\r")), h.POSB(0, []byte("]Q1\r"))))
	if len(reads) != 2 || reads[0].AIM != "]C1" || reads[0].Text != "SF1385628716739" || string(reads[0].Raw) != "SF1385628716739" ||
		reads[1].AIM != "" || reads[1].Text != "YT123" {
		t.Fatalf("pos_b: %+v", reads)
	}
	if len(errs) != 1 || !errors.Is(errs[0], scanner.ErrNoise) {
		t.Fatalf("AIM alone: errs %v, want one ErrNoise", errs)
	}
	auto, err := hidscan.NewDecoder(profile.HID{Layout: hidscan.LayoutPOSAuto, Suffix: "cr", AIMPrefix: true})
	if err != nil {
		t.Fatal(err)
	}
	reads, errs = feedAll(t, auto, h.Concat(h.POSA("]Q1", 0, []byte("]C0X\r")), h.POSB(0, []byte("]E0690123\r"))))
	if len(errs) != 0 || len(reads) != 2 || reads[0].AIM != "]Q1" || reads[0].Text != "]C0X" || reads[1].AIM != "]E0" || reads[1].Text != "690123" {
		t.Fatalf("pos_auto: %+v %v", reads, errs)
	}
	// a layout B payload over two reports with the AIM prefix: told from layout A by its length byte
	long := strings.Repeat("0123456789", 7)
	reads, errs = feedAll(t, auto, h.POSB(0, []byte("]Q1"+long+"\r")))
	if len(errs) != 0 || len(reads) != 1 || reads[0].AIM != "]Q1" || reads[0].Text != long {
		t.Fatalf("pos_auto, two B reports: %+v %v", reads, errs)
	}
	// without aim_prefix such a report is still layout B, its AIM kept as data (never NULs as text)
	noStrip, _ := hidscan.NewDecoder(profile.HID{Layout: hidscan.LayoutPOSA, Suffix: "cr"})
	if reads, errs = feedAll(t, noStrip, h.POSB(0, []byte("]E0690123\r"))); len(errs) != 0 || len(reads) != 1 || reads[0].Text != "]E0690123" || reads[0].AIM != "" {
		t.Fatalf("pos_a on a B report with an AIM: %+v %v", reads, errs)
	}
	kbd, err := hidscan.NewDecoder(profile.HID{Layout: hidscan.LayoutKeyboard, AIMPrefix: true})
	if err != nil {
		t.Fatal(err)
	}
	reads, errs = feedAll(t, kbd, h.Type("]d2010950110153\r"))
	if len(errs) != 0 || len(reads) != 1 || reads[0].AIM != "]d2" || reads[0].Text != "010950110153" {
		t.Fatalf("keyboard: %+v %v", reads, errs)
	}
	plain, _ := hidscan.NewDecoder(profile.HID{Layout: hidscan.LayoutPOSB, Suffix: "cr"})
	if reads, _ = feedAll(t, plain, h.POSB(0, []byte("]C1AB\r"))); len(reads) != 1 || reads[0].Text != "]C1AB" {
		t.Fatalf("without aim_prefix the data is kept: %+v", reads)
	}
}
