package hub

import (
	"bytes"
	"strings"
	"testing"
)

// The key builders write the bytes the store's layout defines (store.go), as the plain
// concatenation they replace did: a key built differently would miss every stored row.
func TestKeyBytes(t *testing.T) {
	cat := func(parts ...string) []byte { return []byte(strings.Join(parts, "\x00")) }
	seq := string(u64(0x0102030405060708))
	cases := []struct{ got, want []byte }{
		{join(), []byte{}},
		{join("a"), []byte("a")},
		{join("a", "", "bc"), []byte("a\x00\x00bc")},
		{journalKey("sz01", "pack01", "j1"), cat("sz01", "pack01", "j1")},
		{entryKey("sz01", "pack01", "j1", 0x0102030405060708), cat("sz01", "pack01", "j1", seq)},
		{entryKey("", "", "", 0), cat("", "", "", string(u64(0)))},
		{historyKey("O-1", "2026-01-22T08:00:00.000Z", "sz01", "pack01", 0x0102030405060708, "j1"),
			cat("O-1", "2026-01-22T08:00:00.000Z", "sz01", "pack01", seq, "j1")},
	}
	for i, c := range cases {
		if !bytes.Equal(c.got, c.want) || c.got == nil {
			t.Errorf("case %d: %q, want %q", i, c.got, c.want)
		}
	}
}
