package feedback

import (
	"bytes"
	"errors"
	"testing"

	"wedge/drivers/profile"
	"wedge/drivers/scanner"
)

func TestSSIChecksumWorkedExamples(t *testing.T) {
	for _, c := range []struct {
		in   []byte
		want [2]byte
	}{
		{[]byte{0x04, 0xC4, 0x04, 0x00}, [2]byte{0xFF, 0x34}},
		{[]byte{0x05, 0xE6, 0x04, 0x00, 0x00}, [2]byte{0xFF, 0x11}},
	} {
		if got := SSIChecksum(c.in); got != c.want {
			t.Errorf("SSIChecksum(% X) = % X, want % X", c.in, got, c.want)
		}
	}
	if got, want := SSI(SSIOpAimOff, 0), []byte{0x04, 0xC4, 0x04, 0x00, 0xFF, 0x34}; !bytes.Equal(got, want) {
		t.Errorf("AIM_OFF = % X, want % X", got, want)
	}
	if got, want := SSIBeep(0), []byte{0x05, 0xE6, 0x04, 0x00, 0x00, 0xFF, 0x11}; !bytes.Equal(got, want) {
		t.Errorf("BEEP 0 = % X, want % X", got, want)
	}
}

func TestNewlandFrameMatchesPublishedExample(t *testing.T) {
	got := NewlandFrame(0x08, 0x0000, []byte{0xD5})
	want := []byte{0x7E, 0x00, 0x08, 0x01, 0x00, 0x00, 0xD5, 0xEF, 0x41}
	if !bytes.Equal(got, want) {
		t.Fatalf("NewlandFrame = % X, want % X", got, want)
	}
}

func TestHoneywellBeep(t *testing.T) {
	if got, want := HoneywellBeep(), []byte{0xFD, 0x03, 0x16, 0x07, 0x0D}; !bytes.Equal(got, want) {
		t.Fatalf("beep = % X, want % X", got, want)
	}
}

func TestEncode(t *testing.T) {
	cases := []struct {
		name  string
		f     *profile.Feedback
		o     scanner.Outcome
		comma bool
		via   string
		want  []byte
		err   error
	}{
		{"nil", nil, scanner.Good, false, "", nil, ErrNoFeedback},
		{"none", &profile.Feedback{Protocol: "none"}, scanner.Good, false, "", nil, ErrNoFeedback},
		{"honeywell serial good", &profile.Feedback{Protocol: HoneywellSerial}, scanner.Good, false, ViaSerial, []byte{0x1B, 0x37}, nil},
		{"honeywell serial bad", &profile.Feedback{Protocol: HoneywellSerial}, scanner.Bad, false, ViaSerial, []byte{0x1B, 0x38}, nil},
		{"xenon comma", &profile.Feedback{Protocol: HoneywellSerial}, scanner.Bad, true, ViaSerial, []byte{0x1B, 0x38, 0x2C}, nil},
		{"honeywell hid good", &profile.Feedback{Protocol: HoneywellHID}, scanner.Good, false, ViaOutputReport, []byte{0xFD, 0x02, 0x1B, 0x37}, nil},
		{"honeywell hid explicit beep", &profile.Feedback{Protocol: HoneywellHID, Good: "16 07 0D"}, scanner.Good, false, ViaOutputReport, []byte{0xFD, 0x03, 0x16, 0x07, 0x0D}, nil},
		{"zebra good", &profile.Feedback{Protocol: ZebraSSI}, scanner.Good, false, ViaSerial, []byte{0x05, 0xE6, 0x04, 0x00, 0x00, 0xFF, 0x11}, nil},
		{"zebra bad", &profile.Feedback{Protocol: ZebraSSI}, scanner.Bad, false, ViaSerial, []byte{0x05, 0xE6, 0x04, 0x00, 0x07, 0xFF, 0x0A}, nil},
		{"datalogic good", &profile.Feedback{Protocol: Datalogic}, scanner.Good, false, ViaSerial, []byte{'B'}, nil},
		{"datalogic bad", &profile.Feedback{Protocol: Datalogic}, scanner.Bad, false, ViaSerial, []byte{'F'}, nil},
		{"newland without bytes", &profile.Feedback{Protocol: Newland}, scanner.Good, false, "", nil, ErrNoFeedback},
		{"newland hid", &profile.Feedback{Protocol: Newland, Via: ViaOutputReport, Good: "7E 00 08 01 00 00 D5 EF 41"}, scanner.Good, false, ViaOutputReport, []byte{0x04, 0x09, 0x7E, 0x00, 0x08, 0x01, 0x00, 0x00, 0xD5, 0xEF, 0x41}, nil},
		{"bad hex", &profile.Feedback{Protocol: Datalogic, Good: "zz"}, scanner.Good, false, "", nil, ErrHex},
		{"unknown", &profile.Feedback{Protocol: "morse"}, scanner.Good, false, "", nil, ErrProtocol},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd, err := Encode(c.f, c.o, c.comma)
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("err = %v, want %v", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cmd.Via != c.via || !bytes.Equal(cmd.Bytes, c.want) {
				t.Fatalf("got %s % X, want %s % X", cmd.Via, cmd.Bytes, c.via, c.want)
			}
		})
	}
}

func TestParseHex(t *testing.T) {
	for in, want := range map[string][]byte{"1B37": {0x1B, 0x37}, "1B 37 2C": {0x1B, 0x37, 0x2C}, "0x1B,0x37": {0x1B, 0x37}, "fe01": {0xFE, 0x01}} {
		got, err := ParseHex(in)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("ParseHex(%q) = % X, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "1", "xy", "1B3"} {
		if _, err := ParseHex(in); !errors.Is(err, ErrHex) {
			t.Errorf("ParseHex(%q) err = %v, want ErrHex", in, err)
		}
	}
}

// The loader and this package accept exactly the same forms: a profile that validates can be sent,
// and one this package would reject does not validate.
func TestParseHexSameAsProfile(t *testing.T) {
	for _, in := range []string{"1B37", "1b 37 2c", "0x1B,0x37", "FD:03\t16", "", "1", "1B3", "1B 7 2C", "0x", "zz", "1B 37 ,"} {
		want, werr := profile.ParseHex(in)
		got, err := ParseHex(in)
		if (err == nil) != (werr == nil) || !bytes.Equal(got, want) {
			t.Errorf("ParseHex(%q) = % X, %v; profile.ParseHex = % X, %v", in, got, err, want, werr)
		}
		if err != nil && !errors.Is(err, ErrHex) {
			t.Errorf("ParseHex(%q) err %v does not wrap ErrHex", in, err)
		}
	}
}

// Every shipped scanner profile's feedback block encodes (or says it has none) for both outcomes.
func TestEmbeddedProfilesEncode(t *testing.T) {
	set, err := profile.LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range set {
		if p.Feedback == nil {
			continue
		}
		for _, o := range []scanner.Outcome{scanner.Good, scanner.Bad} {
			cmd, err := Encode(p.Feedback, o, false)
			if errors.Is(err, ErrNoFeedback) {
				continue
			}
			if err != nil || len(cmd.Bytes) == 0 {
				t.Errorf("%s: %v %v", p.ID, cmd, err)
			}
			if p.ID == "honeywell-xenon-1950g" && o == scanner.Bad && !bytes.Equal(cmd.Bytes, []byte{0xFD, 0x03, 0x1B, 0x38, 0x2C}) {
				t.Errorf("1950g bad = % X", cmd.Bytes)
			}
		}
	}
}
