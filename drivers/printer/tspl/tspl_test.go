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
	for i := 0; i < len(r); i++ {
		if _, _, err := ParseExtended(r[:i]); !errors.Is(err, ErrIncomplete) {
			t.Fatalf("prefix %d: %v", i, err)
		}
	}
	for _, bad := range [][]byte{{'@'}, {0x02, 0x01}, {0x02, '@', '@', '@', '@', '@', '\r', '\n'}, {0x02, '@', '@', '@', '@', 0x03, '\n', '\r'}} {
		if _, _, err := ParseExtended(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseExtended(% x) = %v, want ErrMalformed", bad, err)
		}
	}
	if got, _, _ := ParseExtended(FormatExtended(Extended{Message: MsgPause, Error2: ErrRibbon})); got.Message != MsgPause || got.Error2 != ErrRibbon {
		t.Fatalf("round trip %+v", got)
	}
}

func FuzzParseTSPLStatus(f *testing.F) {
	f.Add([]byte{0x00})
	f.Add([]byte{0x02, 'E', '@', '@', 'A', 0x03, '\r', '\n'})
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, n, err := ParseStatus(b); (err == nil) != (len(b) > 0) || (err == nil && n != 1) {
			t.Fatalf("ParseStatus(% x) n=%d err=%v", b, n, err)
		}
		e, n, err := ParseExtended(b)
		if err == nil && (n < 8 || n > len(b) || e.Warning >= 0xC0) {
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
			if len(b)-k >= 8 {
				t.Fatalf("incomplete with %d bytes after the noise", len(b)-k)
			}
		}
	})
}
