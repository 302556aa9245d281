package profile

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

var update = flag.Bool("update", false, "rewrite the expected.out / load.err files of testdata/cases")

// TestCases walks testdata/cases/<name>/: profile.yaml is loaded as <name>.yaml (so its id must be
// <name>); the loaded profile as JSON must equal expected.out, or the error must equal load.err.
func TestCases(t *testing.T) {
	dirs, err := filepath.Glob("testdata/cases/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no test cases: %v", err)
	}
	for _, dir := range dirs {
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, "profile.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			set, err := Load(fstest.MapFS{name + ".yaml": {Data: data}}, ".")
			var got, file string
			if err != nil {
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("error does not wrap ErrInvalid: %v", err)
				}
				got, file = err.Error()+"\n", "load.err"
			} else {
				if len(set) != 1 {
					t.Fatalf("loaded %d profiles, want 1", len(set))
				}
				b, _ := json.MarshalIndent(set[0], "", "  ")
				got, file = string(b)+"\n", "expected.out"
			}
			path := filepath.Join(dir, file)
			if *update {
				os.Remove(filepath.Join(dir, "load.err"))
				os.Remove(filepath.Join(dir, "expected.out"))
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%s: %v\ngot:\n%s", path, err, got)
			}
			if got != string(want) {
				t.Fatalf("%s differs.\ngot:\n%s\nwant:\n%s", path, got, want)
			}
			if strings.HasPrefix(name, "ok-") != (file == "expected.out") {
				t.Fatalf("case %s: ok- cases must load, bad- cases must fail", name)
			}
		})
	}
}

// Every profile compiled into the binary loads, and the serial scanner profiles hold the facts
// the drivers rely on.
func TestEmbedded(t *testing.T) {
	set, err := LoadEmbedded()
	if err != nil {
		t.Fatalf("embedded profiles are invalid:\n%v", err)
	}
	entries, _ := os.ReadDir("../../firmware-profiles")
	n := 0
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".yaml") {
			n++
			id := strings.TrimSuffix(e.Name(), ".yaml")
			p, ok := set.Get(id)
			if !ok {
				t.Errorf("%s is not in the embedded set", e.Name())
				continue
			}
			if p.File != "firmware-profiles/"+e.Name() {
				t.Errorf("%s: File = %q", id, p.File)
			}
			if err := p.Validate(); err != nil {
				t.Errorf("%s: loaded profile does not validate: %v", id, err)
			}
		}
	}
	if n != len(set) {
		t.Errorf("embedded set has %d profiles, the folder %d yaml files", len(set), n)
	}

	gen, ok := set.Get("generic-serial-cr")
	if !ok || gen.Serial == nil {
		t.Fatal("generic-serial-cr missing")
	}
	if s := *gen.Serial; s.Baud != 9600 || s.DataBits != 8 || s.Parity != "none" || s.StopBits != 1 || s.Terminator != "cr" || s.Charset != "utf-8" {
		t.Errorf("generic-serial-cr: %+v, want 9600 8N1 CR", s)
	}
	for _, c := range []struct{ vid, pid, id, mode string }{
		{"05E0", "1701", "zebra-cdc", "cdc_serial"},
		{"05e0", "1701", "zebra-cdc", "cdc_serial"}, // case-insensitive
		{"1EAB", "1D06", "newland-cdc", "cdc_serial"},
		{"1eab", "8206", "newland-cdc", "cdc_serial"},
		{"1EAB", "0106", "newland-cdc", "cdc_serial"},
		{"05F9", "4204", "datalogic-usb-com", "usb_com"},
	} {
		m := set.MatchUSB(c.vid, c.pid)
		found := false
		for _, p := range m {
			if p.ID == c.id {
				found = true
			}
		}
		if !found {
			t.Errorf("MatchUSB(%s, %s) = %v, want %s", c.vid, c.pid, ids(m), c.id)
		}
	}
	for id, want := range map[string][2]string{
		"honeywell-serial-cdc": {"1B 37", "1B 38"},
		"honeywell-xenon-cdc":  {"1B 37 2C", "1B 38 2C"},
		"datalogic-usb-com":    {"42", "46"},
	} {
		p, _ := set.Get(id)
		if p.Feedback == nil || p.Feedback.Good != want[0] || p.Feedback.Bad != want[1] || p.Feedback.Via != "serial" {
			t.Errorf("%s feedback = %+v, want good %s bad %s via serial", id, p.Feedback, want[0], want[1])
		}
	}
	for _, id := range []string{"generic-serial-cr", "honeywell-serial-cdc", "honeywell-xenon-cdc", "zebra-cdc", "newland-cdc", "datalogic-usb-com"} {
		p, ok := set.Get(id)
		if !ok || p.Kind != KindScanner || p.Serial == nil || len(p.Sources) == 0 {
			t.Errorf("%s: want a serial scanner profile with sources, got %+v", id, p)
		}
		if id != "generic-serial-cr" && len(p.Uncertain) == 0 {
			t.Errorf("%s: vendor profiles list what is uncertain", id)
		}
	}
	if m := set.MatchUSB("FFFF", "0000"); len(m) != 0 {
		t.Errorf("MatchUSB(FFFF, 0000) = %v", ids(m))
	}
}

func ids(ps []Profile) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.ID)
	}
	return out
}

func TestLoadDirMergeAndErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// An override of an embedded profile, a new one, and files that are not profiles.
	write("generic-serial-cr.yaml", "schema: 1\nid: generic-serial-cr\nkind: scanner\nvendor: site\nmodel: 7E1 line\nserial: {data_bits: 7, parity: even}\nsources: [site survey]\n")
	write("site-scanner.yaml", "schema: 1\nid: site-scanner\nkind: scanner\nvendor: site\nmodel: x\nserial: {terminator: lf}\nsources: [site survey]\n")
	write("README.md", "not a profile")
	over, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(over) != 2 || over[0].ID != "generic-serial-cr" || over[0].File != filepath.Join(dir, "generic-serial-cr.yaml") {
		t.Fatalf("LoadDir = %+v", over)
	}
	emb, err := LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	merged := Merge(emb, over)
	if len(merged) != len(emb)+1 {
		t.Fatalf("Merge: %d profiles, want %d", len(merged), len(emb)+1)
	}
	g, _ := merged.Get("generic-serial-cr")
	if g.Vendor != "site" || g.Serial.DataBits != 7 || g.Serial.Baud != 9600 {
		t.Fatalf("override did not replace the embedded profile: %+v %+v", g, g.Serial)
	}
	if _, ok := merged.Get("site-scanner"); !ok {
		t.Fatal("new override profile missing")
	}
	if e, _ := emb.Get("generic-serial-cr"); e.Vendor == "site" {
		t.Fatal("Merge modified its argument")
	}
	for i := 1; i < len(merged); i++ {
		if merged[i-1].ID >= merged[i].ID {
			t.Fatal("Merge result not sorted by id")
		}
	}
	all := merged.All()
	all[0].ID = "changed"
	if merged[0].ID == "changed" {
		t.Fatal("All returned the set's own slice")
	}

	// Errors of several files are all reported; the valid files are still returned.
	write("broken-a.yaml", "schema: 1\nid: broken-a\n")
	write("broken-b.yml", "schema: 1\n")
	set, err := LoadDir(dir)
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("LoadDir error = %v, want ErrInvalid", err)
	}
	msg := err.Error()
	for _, want := range []string{
		filepath.Join(dir, "broken-a.yaml") + ":1: kind: required",
		filepath.Join(dir, "broken-a.yaml") + ":1: sources: required",
		filepath.Join(dir, "broken-b.yml") + ": profile files must end in .yaml",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not contain %q:\n%s", want, msg)
		}
	}
	if len(set) != 2 {
		t.Errorf("valid files alongside broken ones: %d loaded, want 2", len(set))
	}

	if _, err := LoadDir(filepath.Join(dir, "missing")); !errors.Is(err, ErrRead) {
		t.Errorf("LoadDir of a missing directory = %v, want ErrRead", err)
	}
}

func TestWithDefaults(t *testing.T) {
	var nilSerial *Serial
	if got := nilSerial.WithDefaults(); got != (Serial{Baud: 9600, DataBits: 8, Parity: "none", StopBits: 1, Terminator: "cr", Charset: "utf-8"}) {
		t.Fatalf("nil.WithDefaults() = %+v", got)
	}
	s := &Serial{Baud: 115200, Terminator: "tab", AIMPrefix: true, IdleCutMS: 50, Charset: "gbk", StopBits: 2, DataBits: 7, Parity: "odd"}
	if got := s.WithDefaults(); got != *s {
		t.Fatalf("WithDefaults changed set fields: %+v", got)
	}
	if got := s.WithDefaults(); got.WithDefaults() != got {
		t.Fatal("WithDefaults is not idempotent")
	}
}

func TestParseHexAndSSI(t *testing.T) {
	for in, want := range map[string]string{"1B37": "\x1b7", "1b 37 2c": "\x1b7,", "FD:03,16 07": "\xfd\x03\x16\x07", "0x1B,0X37 0x2c": "\x1b7,"} {
		got, err := ParseHex(in)
		if err != nil || string(got) != want {
			t.Errorf("ParseHex(%q) = % X, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "1", "1G", "  ", "0x", "1B 7 2C", "0x1B0x37"} {
		if _, err := ParseHex(in); err == nil {
			t.Errorf("ParseHex(%q) accepted", in)
		}
	}
	// The reference's worked checksums.
	if c := SSIChecksum([]byte{0x05, 0xE6, 0x04, 0x00, 0x00}); c != 0xFF11 {
		t.Errorf("BEEP checksum %04X, want FF11", c)
	}
	if c := SSIChecksum([]byte{0x04, 0xC4, 0x04, 0x00}); c != 0xFF34 {
		t.Errorf("AIM_OFF checksum %04X, want FF34", c)
	}
}

// The per-mode overrides pick hid and feedback by the usb mode a device enumerated in; a mode
// without an override, or an unknown one, gets the top-level blocks.
func TestModeOverrides(t *testing.T) {
	data, err := os.ReadFile("testdata/cases/ok-hid-modes/profile.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, errs := Parse("ok-hid-modes.yaml", "ok-hid-modes", data)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if got := p.ModeOf("0c2e", "1001"); got != ModeKeyboard {
		t.Errorf("ModeOf(0c2e:1001) = %q", got)
	}
	if got := p.ModeOf("0C2E", "9999"); got != "" {
		t.Errorf("ModeOf(unlisted) = %q", got)
	}
	if h := p.HIDFor(ModeKeyboard); h == nil || h.Layout != "keyboard" || h.AltCodes != "gbk" {
		t.Errorf("HIDFor(keyboard) = %+v", h)
	}
	for _, m := range []string{ModeHIDPOS, "", ModeCDCSerial} {
		if h := p.HIDFor(m); h != p.HID {
			t.Errorf("HIDFor(%q) = %+v, want the top-level block", m, h)
		}
	}
	if f := p.FeedbackFor(ModeKeyboard); f == nil || f.Protocol != "none" {
		t.Errorf("FeedbackFor(keyboard) = %+v", f)
	}
	if f := p.FeedbackFor(ModeCDCSerial); f == nil || f.Protocol != "honeywell_serial" {
		t.Errorf("FeedbackFor(cdc_serial) = %+v", f)
	}
	if f := p.FeedbackFor(ModeHIDPOS); f != p.Feedback {
		t.Errorf("FeedbackFor(hid_pos) = %+v, want the top-level block", f)
	}
	if f := p.SerialFeedback(); f == nil || f.Protocol != "honeywell_serial" {
		t.Errorf("SerialFeedback() = %+v", f)
	}
	var plain Profile
	plain.Feedback = &Feedback{Protocol: "datalogic"}
	if f := plain.SerialFeedback(); f != plain.Feedback {
		t.Errorf("SerialFeedback without modes = %+v", f)
	}
	if plain.HIDFor(ModeKeyboard) != nil {
		t.Error("HIDFor on a profile without hid is not nil")
	}
}

// The noise cut-off: the default for a serial block that sets neither cut-off (and for a hand-built
// or nil one), the profile's own value, none when the idle cut-off ends frames instead; both set
// or out of range is invalid.
func TestNoiseCutoff(t *testing.T) {
	var nilSerial *Serial
	for _, c := range []struct {
		s    *Serial
		want time.Duration
	}{
		{nilSerial, DefaultNoiseCutMS * time.Millisecond},
		{&Serial{}, 100 * time.Millisecond},
		{&Serial{NoiseCutMS: 250}, 250 * time.Millisecond},
		{&Serial{IdleCutMS: 300}, 0},
	} {
		if got := c.s.NoiseCutoff(); got != c.want {
			t.Errorf("%+v.NoiseCutoff() = %v, want %v", c.s, got, c.want)
		}
		if c.s != nil {
			if err := c.s.Validate(); err != nil {
				t.Errorf("%+v: %v", c.s, err)
			}
			if d := c.s.WithDefaults(); d.NoiseCutoff() != c.want {
				t.Errorf("%+v: the defaults change the noise cut-off to %v", c.s, d.NoiseCutoff())
			}
		}
	}
	for _, s := range []Serial{{NoiseCutMS: 19}, {NoiseCutMS: 10001}, {NoiseCutMS: -1}, {NoiseCutMS: 100, IdleCutMS: 300}} {
		if err := s.Validate(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "serial.noise_cutoff_ms") {
			t.Errorf("%+v: Validate = %v, want a serial.noise_cutoff_ms error", s, err)
		}
	}
	set, err := LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	if gen, _ := set.Get("generic-serial-cr"); gen.Serial.NoiseCutoff() != 100*time.Millisecond {
		t.Errorf("generic-serial-cr noise cut-off %v, want 100ms", gen.Serial.NoiseCutoff())
	}
}
