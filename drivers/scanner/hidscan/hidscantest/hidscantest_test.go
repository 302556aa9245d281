package hidscantest

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestTraceRoundTrip(t *testing.T) {
	in := Spaced(0, 4*time.Millisecond, Type("Ab1\r")...)
	var buf bytes.Buffer
	if err := WriteTrace(&buf, in); err != nil {
		t.Fatal(err)
	}
	out, err := ParseTrace(strings.NewReader("# comment\n\n" + buf.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("%d reports, want %d", len(out), len(in))
	}
	for i := range in {
		if out[i].At != in[i].At || !bytes.Equal(out[i].Data, in[i].Data) {
			t.Fatalf("report %d: %+v, want %+v", i, out[i], in[i])
		}
	}
	if _, err := ParseTrace(strings.NewReader(`{"t_ms":0,"hex":"zz"}`)); err == nil {
		t.Fatal("bad hex accepted")
	}
}

// A trace holds what the host sent too: only "in" events are input reports, and times keep their
// fractions of a millisecond.
func TestTraceInputOnly(t *testing.T) {
	out, err := ParseTrace(strings.NewReader(`{"t_ms":0,"hex":"0201"}
{"t_ms":1.5,"dir":"out","hex":"fd021b37"}
{"t_ms":2.25,"dir":"in","hex":"0202"}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Report{{0, []byte{2, 1}}, {2250 * time.Microsecond, []byte{2, 2}}}
	if len(out) != len(want) {
		t.Fatalf("%d reports, want %d: %+v", len(out), len(want), out)
	}
	for i := range want {
		if out[i].At != want[i].At || !bytes.Equal(out[i].Data, want[i].Data) {
			t.Fatalf("report %d: %+v, want %+v", i, out[i], want[i])
		}
	}
	var buf bytes.Buffer
	if err := WriteTrace(&buf, out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"t_ms":2.25`) {
		t.Fatalf("fraction lost: %s", buf.String())
	}
}

func TestBuilders(t *testing.T) {
	if r := POSA("]C0", 'j', []byte("A"))[0]; len(r) != 64 || r[0] != 2 || r[1] != 1 || string(r[2:6]) != "]C0A" || r[61] != 'j' || r[63] != 0 {
		t.Fatalf("POSA % X", r)
	}
	if rs := POSB(0, make([]byte, 57)); len(rs) != 2 || rs[0][63] != 1 || rs[1][1] != 1 {
		t.Fatalf("POSB split wrong")
	}
	if a := Alt("029"); len(a) != 8 || a[1][2] != 0x62 || a[3][2] != 0x5A || a[5][2] != 0x61 {
		t.Fatalf("Alt %v", a)
	}
}
