package tspl

import (
	"errors"
	"testing"
)

func TestParseStatus(t *testing.T) {
	for _, c := range []struct {
		b    byte
		want []byte
	}{{0x00, nil}, {0x04, []byte{BitPaperOut}}, {0x05, []byte{BitPaperOut, BitHeadOpen}}, {0x0C, []byte{BitRibbonOut, BitPaperOut}}, {0x10, []byte{BitPause}}, {0x20, []byte{BitPrinting}}} {
		s, n, err := ParseStatus([]byte{c.b, 0xFF})
		if err != nil || n != 1 {
			t.Fatal(err, n)
		}
		if s.Ready() != (c.b == 0) {
			t.Errorf("0x%02x Ready=%v", c.b, s.Ready())
		}
		var got byte
		for _, bit := range c.want {
			if !s.Has(bit) {
				t.Errorf("0x%02x lacks bit 0x%02x", c.b, bit)
			}
			got |= bit
		}
		if got != c.b {
			t.Errorf("0x%02x: bits %02x", c.b, got)
		}
	}
	if _, _, err := ParseStatus(nil); !errors.Is(err, ErrIncomplete) {
		t.Fatal(err)
	}
}

func TestParseExtended(t *testing.T) {
	r := []byte{0x02, 'E', '@', '@', 'A', 0x03, '\r', '\n'}
	e, n, err := ParseExtended(r)
	if err != nil || n != 8 || e.Message != MsgError || e.Error2 != ErrPaperEmpty || e.Warning != 0 || e.Error1 != 0 {
		t.Fatalf("%+v %d %v", e, n, err)
	}
	e, _, err = ParseExtended([]byte{0x02, '@', 'H', 'H', 'B', 0x03, '\r', '\n'})
	if err != nil || e.Message != MsgNormal || e.Warning != WarnBufferFull || e.Error1 != ErrCutterJam || e.Error2 != ErrPaperJam {
		t.Fatalf("%+v %v", e, err)
	}
	// Incomplete up to the ETX; complete from there on (ETX, ETX CR: see TestExtendedEndsAtETX).
	for i := 0; i < len(r); i++ {
		_, n, err := ParseExtended(r[:i])
		if i < 6 && !errors.Is(err, ErrIncomplete) {
			t.Fatalf("prefix %d: %v", i, err)
		}
		if i >= 6 && (err != nil || n != i) {
			t.Fatalf("prefix %d ending at or after the ETX: n=%d, %v; want complete", i, n, err)
		}
	}
	for _, bad := range [][]byte{{'@'}, {0x02, 0x01}, {0x02, '@', '@', '@', '@', '@', '\r', '\n'}, {0x02, '@', '@', 0x03}, {0x02, '@', '@', '@', '@', 'x'}} {
		if _, _, err := ParseExtended(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseExtended(% x) = %v, want ErrMalformed", bad, err)
		}
	}
	if got, _, _ := ParseExtended(FormatExtended(Extended{Message: MsgPause, Error2: ErrRibbon})); got.Message != MsgPause || got.Error2 != ErrRibbon {
		t.Fatalf("round trip %+v", got)
	}
}

// A printer that ends the <ESC>!S reply at ETX has answered. A CR LF that comes after the reply was
// taken is skipped in front of the next one; what follows the ETX and is not CR LF is left for the
// next parse (it is not part of this reply).
func TestExtendedEndsAtETX(t *testing.T) {
	want := Extended{Message: MsgError, Error2: ErrPaperEmpty}
	etx := []byte{0x02, 'E', '@', '@', 'A', 0x03}
	for _, c := range []struct {
		b    []byte
		n    int
		what string
	}{
		{etx, 6, "ETX only"},
		{append(append([]byte{}, etx...), '\r'), 7, "ETX CR"},
		{append([]byte("\r\n"), etx...), 8, "the previous reply's late CR LF, then ETX only"},
		{append(append([]byte{}, etx...), etx...), 6, "ETX only, the next reply right behind"},
		{append(append([]byte{}, etx...), '\n', '\r'), 6, "ETX, LF CR (not this reply's CR LF)"},
	} {
		e, n, err := ParseExtended(c.b)
		if err != nil || e != want || n != c.n {
			t.Errorf("%s: ParseExtended(% x) = %+v, n=%d, %v; want n=%d", c.what, c.b, e, n, err, c.n)
		}
	}
	// Two ETX-only replies with a late CR LF between them parse one after the other.
	b := []byte{0x02, 'E', '@', '@', 'A', 0x03, '\r', '\n', 0x02, '@', '@', '@', '@', 0x03}
	_, n1, err1 := ParseExtended(b)
	e2, n2, err2 := ParseExtended(b[n1:])
	if err1 != nil || err2 != nil || e2.Message != MsgNormal || n1+n2 != len(b) {
		t.Fatalf("two replies: n=%d,%d %v %v %+v", n1, n2, err1, err2, e2)
	}
}

func FuzzParseTSPLStatus(f *testing.F) {
	f.Add([]byte{0x00})
	f.Add([]byte{0x02, 'E', '@', '@', 'A', 0x03, '\r', '\n'})
	f.Add([]byte{0x02, 'E', '@', '@', 'A', 0x03})                                 // ends at ETX
	f.Add([]byte{'\r', '\n', 0x02, '@', '@', '@', '@', 0x03})                     // a late CR LF, then ETX only
	f.Add([]byte{0x02, 'P', '@', '@', '@', 0x03, 0x02, '@', '@', '@', '@', 0x03}) // two ETX-only replies
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, n, err := ParseStatus(b); (err == nil) != (len(b) > 0) || (err == nil && n != 1) {
			t.Fatalf("ParseStatus(% x) n=%d err=%v", b, n, err)
		}
		e, n, err := ParseExtended(b)
		if err == nil && (n < 6 || n > len(b) || e.Warning >= 0xC0) {
			t.Fatalf("ParseExtended ok with n=%d of %d", n, len(b))
		}
		if err != nil && !errors.Is(err, ErrIncomplete) && !errors.Is(err, ErrMalformed) {
			t.Fatal(err)
		}
		if errors.Is(err, ErrIncomplete) {
			k := 0
			for k < len(b) && (b[k] == '\r' || b[k] == '\n') {
				k++
			}
			if len(b)-k >= 6 {
				t.Fatalf("incomplete with %d bytes after the noise", len(b)-k)
			}
		}
	})
}
