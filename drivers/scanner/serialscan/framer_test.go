package serialscan

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"

	"wedge/drivers/profile"
	"wedge/drivers/scanner"
)

// got renders frames as "text" / "[aim]text" / "!noise" / "!overlong", for compact expectations.
func render(frames []Frame) []string {
	var out []string
	for _, f := range frames {
		switch {
		case errors.Is(f.Err, scanner.ErrNoise):
			out = append(out, "!noise")
		case errors.Is(f.Err, scanner.ErrOverlong):
			out = append(out, "!overlong")
		case f.Err != nil:
			out = append(out, "!"+f.Err.Error())
		case f.Read.AIM != "":
			out = append(out, "["+f.Read.AIM+"]"+f.Read.Text)
		default:
			out = append(out, f.Read.Text)
		}
	}
	return out
}

func TestFramer(t *testing.T) {
	long := strings.Repeat("7", scanner.MaxFrame)
	for _, c := range []struct {
		name string
		s    profile.Serial
		in   string
		want []string
	}{
		{"cr", profile.Serial{}, "SF1385628716739\rYT8962646785389\r", []string{"SF1385628716739", "YT8962646785389"}},
		{"cr keeps the unfinished frame", profile.Serial{}, "A1\rB2", []string{"A1"}},
		{"cr empty frames ignored", profile.Serial{}, "\r\r\rA1\r\r", []string{"A1"}},
		{"cr rejects a stray LF", profile.Serial{}, "A1\r\nB2\r", []string{"A1", "!noise"}},
		{"lf", profile.Serial{Terminator: "lf"}, "A1\nB2\n", []string{"A1", "B2"}},
		{"lf rejects CR in data", profile.Serial{Terminator: "lf"}, "A1\r\n", []string{"!noise"}},
		{"crlf", profile.Serial{Terminator: "crlf"}, "A1\r\nB2\r\n", []string{"A1", "B2"}},
		{"crlf tolerates a lone CR", profile.Serial{Terminator: "crlf"}, "A1\rB2\r\n", []string{"A1", "B2"}},
		{"crlf tolerates a lone LF", profile.Serial{Terminator: "crlf"}, "A1\nB2\n\r", []string{"A1", "B2"}},
		{"tab", profile.Serial{Terminator: "tab"}, "A1\tB2\t", []string{"A1", "B2"}},
		{"tab rejects CR", profile.Serial{Terminator: "tab"}, "A1\r\t", []string{"!noise"}},
		{"aim stripped", profile.Serial{AIMPrefix: true}, "]C0SF1385628716739\r]E04006381333931\r", []string{"[]C0]SF1385628716739", "[]E0]4006381333931"}},
		{"aim absent is accepted", profile.Serial{AIMPrefix: true}, "JT5261988016578\r", []string{"JT5261988016578"}},
		{"aim alone is noise", profile.Serial{AIMPrefix: true}, "]C0\r", []string{"!noise"}},
		{"aim not stripped when off", profile.Serial{}, "]C0ABC\r", []string{"]C0ABC"}},
		{"gs1 separator allowed", profile.Serial{AIMPrefix: true}, "]C101095011010209171719050810ABCD1234\x1d2110\r", []string{"[]C1]01095011010209171719050810ABCD1234\x1d2110"}},
		{"control char is noise, next frame read", profile.Serial{}, "AB\x07C\rGOOD\r", []string{"!noise", "GOOD"}},
		{"nul is noise", profile.Serial{}, "\x00\x00\rOK\r", []string{"!noise", "OK"}},
		{"del is noise", profile.Serial{}, "A\x7f\r", []string{"!noise"}},
		{"invalid utf-8 is noise", profile.Serial{}, "A\xff\xfeB\r", []string{"!noise"}},
		{"c1 control is noise", profile.Serial{}, "A\u0085B\r", []string{"!noise"}},
		{"utf-8 chinese", profile.Serial{}, "顺丰速运 SF1385628716739\r", []string{"顺丰速运 SF1385628716739"}},
		{"gbk", profile.Serial{Charset: "gbk"}, gbk("顺丰速运,收件人:张三") + "\r", []string{"顺丰速运,收件人:张三"}},
		{"gbk euro and ascii", profile.Serial{Charset: "gbk"}, "\x80 5\r", []string{"€ 5"}},
		{"gbk truncated lead byte", profile.Serial{Charset: "gbk"}, "AB\xd6\r", []string{"!noise"}},
		{"gbk bad trail byte", profile.Serial{Charset: "gbk"}, "\xd6\x20\r", []string{"!noise"}},
		{"gbk 0xff", profile.Serial{Charset: "gbk"}, "\xff\r", []string{"!noise"}},
		{"gbk control", profile.Serial{Charset: "gbk"}, gbk("中") + "\x01\r", []string{"!noise"}},
		{"utf-8 rejects gbk bytes", profile.Serial{}, gbk("顺丰") + "\r", []string{"!noise"}},
		{"exactly MaxFrame", profile.Serial{}, long + "\r", []string{long}},
		{"MaxFrame plus aim", profile.Serial{AIMPrefix: true}, "]Q1" + long + "\r", []string{"[]Q1]" + long}},
		{"overlong then resync", profile.Serial{}, long + "8" + strings.Repeat("9", 1000) + "\rOK\r", []string{"!overlong", "OK"}},
		{"overlong reported once", profile.Serial{}, strings.Repeat("x", 3*scanner.MaxFrame) + "\rOK\r", []string{"!overlong", "OK"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := NewFramer(c.s)
			got := render(f.Feed([]byte(c.in)))
			if strings.Join(got, "|") != strings.Join(c.want, "|") {
				t.Fatalf("Feed(%q) = %q, want %q", trim(c.in), trimAll(got), trimAll(c.want))
			}
			// The same bytes one at a time give the same frames.
			f = NewFramer(c.s)
			var frames []Frame
			for i := range len(c.in) {
				frames = append(frames, f.Feed([]byte{c.in[i]})...)
			}
			if got := render(frames); strings.Join(got, "|") != strings.Join(c.want, "|") {
				t.Fatalf("byte by byte: %q, want %q", trimAll(got), trimAll(c.want))
			}
		})
	}
}

func gbk(s string) string {
	b, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(s))
	if err != nil {
		panic(err)
	}
	return string(b)
}

func trim(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

func trimAll(s []string) []string {
	out := make([]string, len(s))
	for i := range s {
		out[i] = trim(s[i])
	}
	return out
}

func TestFramerRawAndGBK(t *testing.T) {
	f := NewFramer(profile.Serial{Charset: "gbk", AIMPrefix: true})
	in := "]Q1" + gbk("收件人:李四") + "\r"
	fr := f.Feed([]byte(in))
	if len(fr) != 1 || fr[0].Err != nil {
		t.Fatalf("frames %+v", fr)
	}
	r := fr[0].Read
	if r.Text != "收件人:李四" || r.AIM != "]Q1" || string(r.Raw) != gbk("收件人:李四") {
		t.Fatalf("read %+v: want the decoded text, the AIM and the raw GBK bytes without AIM", r)
	}
}

func TestFramerNoiseDetail(t *testing.T) {
	f := NewFramer(profile.Serial{})
	fr := f.Feed([]byte("SF13856\x07287167\r"))
	if len(fr) != 1 {
		t.Fatalf("frames %+v", fr)
	}
	msg := fr[0].Err.Error()
	for _, want := range []string{"U+0007", "at byte 7 of a 14-byte frame", "53 46 31 33 38 35 36 [07] 32 38 37"} {
		if !strings.Contains(msg, want) {
			t.Errorf("noise error %q does not contain %q", msg, want)
		}
	}
	fr = NewFramer(profile.Serial{}).Feed([]byte(strings.Repeat("A", 20) + "\xff" + strings.Repeat("B", 20) + "\r"))
	if msg := fr[0].Err.Error(); !strings.Contains(msg, "byte 0xFF is not UTF-8 at byte 20") || !strings.Contains(msg, "… 41 41 41 41 41 41 41 41 [FF] 42") || !strings.HasSuffix(msg, " …") {
		t.Errorf("noise error %q: want the offset and an excerpt around it", msg)
	}
	fr = NewFramer(profile.Serial{}).Feed([]byte(strings.Repeat("Z", scanner.MaxFrame+1)))
	if len(fr) != 1 || !strings.Contains(fr[0].Err.Error(), "more than 4096 bytes without a CR terminator (starts 5A 5A") {
		t.Errorf("overlong error: %v", fr)
	}
}

func TestFramerFlushAndReset(t *testing.T) {
	f := NewFramer(profile.Serial{})
	if f.Pending() || len(f.Flush()) != 0 {
		t.Fatal("a new framer has nothing pending")
	}
	f.Feed([]byte("ABC"))
	if !f.Pending() {
		t.Fatal("Pending() = false with ABC buffered")
	}
	if got := render(f.Flush()); len(got) != 1 || got[0] != "ABC" {
		t.Fatalf("Flush = %q, want ABC (the idle cut-off ends the frame)", got)
	}
	// An idle cut-off also ends the discarding of an overlong frame.
	f.Feed(bytes.Repeat([]byte("x"), scanner.MaxFrame+10))
	if !f.Pending() {
		t.Fatal("Pending() = false while discarding")
	}
	f.Flush()
	if got := render(f.Feed([]byte("OK\r"))); len(got) != 1 || got[0] != "OK" {
		t.Fatalf("after Flush: %q, want OK", got)
	}
	f.Feed([]byte("HALF"))
	if n := f.Reset(); n != 4 || f.Pending() {
		t.Fatalf("Reset = %d, pending %v; want 4 bytes dropped", n, f.Pending())
	}
	if got := render(f.Feed([]byte("NEW\r"))); len(got) != 1 || got[0] != "NEW" {
		t.Fatalf("after Reset: %q", got)
	}
}

// The noise cut-off: an unfinished frame is noise (so it is not glued to the next barcode), the
// discarding of an overlong frame ends (so the next barcode does not end it and go with it).
func TestFramerCut(t *testing.T) {
	f := NewFramer(profile.Serial{})
	if fr, n := f.Cut(); len(fr) != 0 || n != 0 {
		t.Fatalf("Cut with nothing pending = %v, %d", fr, n)
	}
	// Without a cut, garbage without a terminator spoils the next barcode.
	f.Feed([]byte("\x00\x1b[junk"))
	if got := render(f.Feed([]byte("JT5261988016578\r"))); len(got) != 1 || got[0] != "!noise" {
		t.Fatalf("no cut: %q, want the barcode lost in the noise", got)
	}
	for _, garbage := range []string{"\x00\x1b[junk", "half-a-barcode", "\xe4\xb8", strings.Repeat("\xfe", 40)} {
		f.Feed([]byte(garbage))
		fr, n := f.Cut()
		if got := render(fr); len(got) != 1 || got[0] != "!noise" || n != 0 || f.Pending() {
			t.Fatalf("Cut after %q = %q, %d; want one noise frame, nothing pending", garbage, got, n)
		}
		msg := fr[0].Err.Error()
		if want := fmt.Sprintf("unfinished %d-byte frame without its CR terminator", len(garbage)); !strings.Contains(msg, want) {
			t.Errorf("cut error %q does not say %q", msg, want)
		}
		if want := fmt.Sprintf("% X", garbage[:min(16, len(garbage))]); !strings.Contains(msg, "starts "+want) {
			t.Errorf("cut error %q does not show the first bytes %s", msg, want)
		}
		if got := render(f.Feed([]byte("JT5261988016578\r"))); len(got) != 1 || got[0] != "JT5261988016578" {
			t.Fatalf("after the cut: %q, want the barcode", got)
		}
	}
	// Overlong: without a cut the next barcode ends the discarding and is lost with it.
	long := bytes.Repeat([]byte("0123456789ABCDEF"), 8<<10/16)
	if got := render(f.Feed(long)); len(got) != 1 || got[0] != "!overlong" {
		t.Fatalf("8 KiB: %q", got)
	}
	if got := render(f.Feed([]byte("JT5261988016578\r"))); len(got) != 0 {
		t.Fatalf("no cut: %q, want the barcode discarded with the overlong line", got)
	}
	f.Feed(long)
	fr, n := f.Cut()
	if len(fr) != 0 || n != len(long) || f.Pending() {
		t.Fatalf("Cut in an overlong frame = %v, %d; want no second report, %d bytes, nothing pending", render(fr), n, len(long))
	}
	if got := render(f.Feed([]byte("JT5261988016578\r"))); len(got) != 1 || got[0] != "JT5261988016578" {
		t.Fatalf("after the cut: %q, want the barcode", got)
	}
}

// FuzzFramer: any bytes, split anywhere, never panic; every read is valid text without control
// characters (but GS), at most MaxFrame bytes; every error is ErrNoise or ErrOverlong; and the
// split does not change the result.
func FuzzFramer(f *testing.F) {
	f.Add([]byte("SF1385628716739\r"), uint8(0), uint8(3), false, false)
	f.Add([]byte("]C0A\r\n\x07B\r"), uint8(2), uint8(1), true, false)
	f.Add([]byte(gbk("顺丰")+"\xd6\r\t"), uint8(3), uint8(2), false, true)
	f.Add(bytes.Repeat([]byte("x"), 5000), uint8(1), uint8(7), true, true)
	terms := []string{"cr", "lf", "crlf", "tab"}
	f.Fuzz(func(t *testing.T, in []byte, term, split uint8, aim, gbkCS bool) {
		s := profile.Serial{Terminator: terms[int(term)%len(terms)], AIMPrefix: aim}
		if gbkCS {
			s.Charset = "gbk"
		}
		whole := NewFramer(s).Feed(in)
		for _, fr := range whole {
			if fr.Err != nil {
				if !errors.Is(fr.Err, scanner.ErrNoise) && !errors.Is(fr.Err, scanner.ErrOverlong) {
					t.Fatalf("error %v is neither noise nor overlong", fr.Err)
				}
				continue
			}
			r := fr.Read
			if r.Text == "" || len(r.Raw) == 0 || len(r.Raw) > scanner.MaxFrame {
				t.Fatalf("read %+v: empty or too long", r)
			}
			if !utf8.ValidString(r.Text) {
				t.Fatalf("read text %q is not UTF-8", r.Text)
			}
			for _, c := range r.Text {
				if isControl(c) {
					t.Fatalf("read text %q has control character %U", r.Text, c)
				}
			}
			if !gbkCS && r.Text != string(r.Raw) {
				t.Fatalf("utf-8 read: Text %q != Raw %q", r.Text, r.Raw)
			}
		}
		// Split into chunks of size split+1: same frames.
		fr := NewFramer(s)
		var chunked []Frame
		for rest, n := in, int(split)+1; len(rest) > 0; {
			k := min(n, len(rest))
			chunked = append(chunked, fr.Feed(rest[:k])...)
			rest = rest[k:]
		}
		a, b := render(whole), render(chunked)
		if strings.Join(a, "\x00") != strings.Join(b, "\x00") {
			t.Fatalf("chunking changed the frames: %q vs %q", a, b)
		}
		// Whatever came before, after a noise cut-off the next barcode is read on its own.
		cut, _ := fr.Cut()
		for _, c := range cut {
			if !errors.Is(c.Err, scanner.ErrNoise) {
				t.Fatalf("Cut gave %v, want only noise", render(cut))
			}
		}
		end := map[string]string{"cr": "\r", "lf": "\n", "crlf": "\r\n", "tab": "\t"}[s.Terminator]
		if got := render(fr.Feed([]byte("JT5261988016578" + end))); len(got) != 1 || got[0] != "JT5261988016578" {
			t.Fatalf("after %q and a cut: %q, want the barcode", in, got)
		}
	})
}
