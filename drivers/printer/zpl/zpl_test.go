package zpl

import (
	"errors"
	"strings"
	"testing"
)

const hsIdle = "\x02030,0,0,1245,000,0,0,0,000,0,0,0\x03\r\n\x02001,0,0,0,1,2,6,0,00000000,1,000\x03\r\n\x021234,0\x03\r\n"

func TestParseHS(t *testing.T) {
	hs, n, err := ParseHS([]byte(hsIdle + "junk"))
	if err != nil || n != len(hsIdle) {
		t.Fatalf("ParseHS = %v, %d, %v", hs, n, err)
	}
	if hs.PaperOut || hs.Paused || hs.HeadUp || hs.FormatsInBuffer != 0 || hs.LabelsRemaining != 0 || hs.LabelLength != 1245 || hs.PrintMode != 2 || !hs.ThermalTransfer || hs.String3 != "1234,0" {
		t.Fatalf("idle: %+v", hs)
	}
	// paper out, paused, 2 formats, buffer full, over temp; head up, ribbon out, 7 labels remaining.
	busy := "\x02030,1,1,1245,002,1,0,1,000,0,1,1\x03\r\n\x02001,0,1,1,0,2,6,0,00000007,1,000\x03\r\n\x021234,0\x03\r\n"
	hs, _, err = ParseHS([]byte(busy))
	if err != nil {
		t.Fatal(err)
	}
	if !hs.PaperOut || !hs.Paused || hs.FormatsInBuffer != 2 || !hs.BufferFull || !hs.PartialFormat || !hs.UnderTemperature || !hs.OverTemperature || !hs.HeadUp || !hs.RibbonOut || hs.LabelsRemaining != 7 {
		t.Fatalf("busy: %+v", hs)
	}
	// Every prefix is incomplete up to the third string's ETX; from there on (ETX, ETX CR) the reply
	// is complete (see TestETXOnlyReplies).
	last := strings.LastIndexByte(hsIdle, ETX)
	for i := 0; i < len(hsIdle); i++ {
		_, n, err := ParseHS([]byte(hsIdle[:i]))
		if i <= last && !errors.Is(err, ErrIncomplete) {
			t.Fatalf("prefix of %d bytes: %v, want ErrIncomplete", i, err)
		}
		if i > last && (err != nil || n != i) {
			t.Fatalf("prefix of %d bytes ending at or after the last ETX: n=%d, %v; want complete", i, n, err)
		}
	}
	for _, bad := range []string{"x", "\x02030,0,0\x03\r\n\x02a\x03\r\n\x02b\x03\r\n",
		"\x02030,2,0,1245,000,0,0,0,000,0,0,0\x03\r\n\x02001,0,0,0,1,2,6,0,00000000,1,000\x03\r\n\x021234,0\x03\r\n",
		"\x02030,0,0,-1,000,0,0,0,000,0,0,0\x03\r\n\x02001,0,0,0,1,2,6,0,00000000,1,000\x03\r\n\x021234,0\x03\r\n"} {
		if _, _, err := ParseHS([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseHS(%q) = %v, want ErrMalformed", bad, err)
		}
	}
}

func TestFormatHSRoundTrip(t *testing.T) {
	in := HostStatus{CommSettings: 30, PaperOut: true, LabelLength: 1040, FormatsInBuffer: 3, HeadUp: true, LabelsRemaining: 12, PrintMode: 2, FormatWhilePrint: true, String3: "1234,0"}
	out, n, err := ParseHS(FormatHS(in))
	if err != nil || out != in || n != len(FormatHS(in)) {
		t.Fatalf("round trip: %+v, %v; want %+v", out, err, in)
	}
}

func TestParseHQES(t *testing.T) {
	r := "\x02\r\n  PRINTER STATUS\r\n   ERRORS:         1 00000000 00000005\r\n   WARNINGS:       1 00000000 00000008\r\n\x03\r\n"
	ew, n, err := ParseHQES([]byte(r))
	if err != nil || n != len(r) {
		t.Fatal(err, n)
	}
	if !ew.AnyError || ew.Errors != ErrMediaOut|ErrHeadOpen || !ew.AnyWarning || ew.Warnings != WarnPaperNearEnd {
		t.Fatalf("%+v", ew)
	}
	back, _, err := ParseHQES(FormatHQES(ew))
	if err != nil || back != ew {
		t.Fatalf("round trip %+v, %v", back, err)
	}
	last := strings.LastIndexByte(r, ETX)
	for i := 0; i < len(r); i++ {
		_, n, err := ParseHQES([]byte(r[:i]))
		if i <= last && !errors.Is(err, ErrIncomplete) {
			t.Fatalf("prefix %d: %v", i, err)
		}
		if i > last && (err != nil || n != i) {
			t.Fatalf("prefix %d ending at or after the ETX: n=%d, %v; want complete", i, n, err)
		}
	}
	for _, bad := range []string{"\x02PRINTER STATUS\x03\r\n", "\x02PRINTER STATUS\r\nERRORS: 1 0000000G 00000000\r\nWARNINGS: 0 00000000 00000000\x03\r\n", "\x02hello\x03\r\n"} {
		if _, _, err := ParseHQES([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseHQES(%q) = %v, want ErrMalformed", bad, err)
		}
	}
}

// etxOnly is r as sent by a printer that ends every string at ETX, without the CR LF.
func etxOnly(r string) string { return strings.ReplaceAll(r, "\x03\r\n", "\x03") }

// A printer that ends its replies at ETX has answered: the reply is complete there. The CR LF that
// another printer sends late (after the reply was taken) is consumed as line noise in front of the
// next reply, never taken for its start.
func TestETXOnlyReplies(t *testing.T) {
	want, _, err := ParseHS([]byte(hsIdle))
	if err != nil {
		t.Fatal(err)
	}
	hqes := string(FormatHQES(ErrorsWarnings{Errors: ErrMediaOut, Warnings: WarnPaperNearEnd}))
	wantEW, _, err := ParseHQES([]byte(hqes))
	if err != nil {
		t.Fatal(err)
	}
	mixed := strings.Replace(hsIdle, "\x03\r\n", "\x03\r", 1) // string 1 ends ETX CR
	mixed = strings.Replace(mixed, "\x03\r\n", "\x03", 1)     // string 2 ends at ETX
	for name, c := range map[string]struct {
		hs   string
		rest string // what follows the reply in the buffer
	}{
		"ETX only":                      {etxOnly(hsIdle), ""},
		"ETX only, next reply follows":  {etxOnly(hsIdle), etxOnly(hsIdle)},
		"mixed endings":                 {mixed, ""},
		"ETX only, then its late CR LF": {etxOnly(hsIdle), "\r\n"},
	} {
		b := []byte(c.hs + c.rest)
		hs, n, err := ParseHS(b)
		if err != nil || hs != want || n != len(c.hs)+crlfAfter([]byte(c.rest)) {
			t.Fatalf("%s: ParseHS = %+v, n=%d (of %d), %v", name, hs, n, len(b), err)
		}
		if c.rest == etxOnly(hsIdle) {
			if hs, m, err := ParseHS(b[n:]); err != nil || hs != want || n+m != len(b) {
				t.Fatalf("%s: the next reply: %+v, n=%d, %v", name, hs, m, err)
			}
		}
	}
	// The late CR LF of one reply, then the next reply (ETX only or not): it is skipped.
	for _, next := range []string{hsIdle, etxOnly(hsIdle)} {
		b := []byte("\r\n" + next)
		if hs, n, err := ParseHS(b); err != nil || hs != want || n != len(b) {
			t.Fatalf("late CR LF before %q: %+v, n=%d, %v", next, hs, n, err)
		}
	}
	for _, r := range []string{etxOnly(hqes), "\r\n" + etxOnly(hqes), "\r\n" + hqes} {
		if ew, n, err := ParseHQES([]byte(r)); err != nil || ew != wantEW || n != len(r) {
			t.Fatalf("ParseHQES(%q) = %+v, n=%d, %v", r, ew, n, err)
		}
	}
	// ETX only, the next reply right behind it: exactly this reply is consumed.
	two := etxOnly(hqes) + hqes
	if ew, n, err := ParseHQES([]byte(two)); err != nil || ew != wantEW || n != len(etxOnly(hqes)) {
		t.Fatalf("two HQES replies: %+v, n=%d, %v", ew, n, err)
	}
	// Bytes after the ETX that are not CR LF do not make the reply malformed: they are not part of it.
	if _, n, err := ParseHQES([]byte(etxOnly(hqes) + "\x02junk")); err != nil || n != len(etxOnly(hqes)) {
		t.Fatalf("HQES then junk: n=%d, %v", n, err)
	}
}

func FuzzParseHS(f *testing.F) {
	f.Add([]byte(hsIdle))
	f.Add([]byte(etxOnly(hsIdle)))                   // a printer that ends every string at ETX
	f.Add([]byte("\r\n" + etxOnly(hsIdle)))          // the late CR LF of the previous reply first
	f.Add([]byte(etxOnly(hsIdle) + "\r\n" + hsIdle)) // ETX only, its CR LF late, the next reply
	f.Add([]byte(strings.Replace(hsIdle, "\x03\r\n", "\x03\r", 2)))
	f.Add([]byte("\x02\x03\r\n"))
	f.Add(FormatHS(HostStatus{PaperOut: true, LabelsRemaining: 99999999}))
	f.Fuzz(func(t *testing.T, b []byte) {
		hs, n, err := ParseHS(b)
		if err == nil && (n <= 0 || n > len(b) || hs.FormatsInBuffer < 0 || hs.LabelsRemaining < 0) {
			t.Fatalf("ok parse with n=%d of %d, %+v", n, len(b), hs)
		}
		if err != nil && !errors.Is(err, ErrIncomplete) && !errors.Is(err, ErrMalformed) {
			t.Fatalf("error %v is neither incomplete nor malformed", err)
		}
		if errors.Is(err, ErrIncomplete) && len(b) > 3*MaxReply+16 {
			t.Fatalf("still incomplete after %d bytes: unbounded", len(b))
		}
	})
}

func FuzzParseHQES(f *testing.F) {
	f.Add(FormatHQES(ErrorsWarnings{Errors: 1}))
	f.Add([]byte(etxOnly(string(FormatHQES(ErrorsWarnings{Errors: 1})))))            // ends at ETX
	f.Add([]byte("\r\n" + etxOnly(string(FormatHQES(ErrorsWarnings{Warnings: 8}))))) // a late CR LF first
	f.Add([]byte("\x02PRINTER STATUS\r\nERRORS: 0 00000000 00000000\r\nWARNINGS: 0 00000000 00000000\x03\r"))
	f.Add([]byte("\x02PRINTER STATUS\r\nERRORS: 0 00000000 00000000\r\nWARNINGS: 0 00000000 00000000\x03"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, n, err := ParseHQES(b)
		if err == nil && (n <= 0 || n > len(b)) {
			t.Fatalf("n=%d of %d", n, len(b))
		}
		if err != nil && !errors.Is(err, ErrIncomplete) && !errors.Is(err, ErrMalformed) {
			t.Fatal(err)
		}
		if errors.Is(err, ErrIncomplete) && len(b) > MaxReply+16 {
			t.Fatalf("still incomplete after %d bytes", len(b))
		}
	})
}
