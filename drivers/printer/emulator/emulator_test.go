package emulator

import (
	"bytes"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"wedge/drivers/printer"
	"wedge/drivers/printer/tspl"
	"wedge/drivers/printer/zpl"
	"wedge/internal/clock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func dial(t *testing.T, e *Emulator) net.Conn {
	t.Helper()
	addr, err := e.ListenTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func read(t *testing.T, c io.Reader, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("reading %d bytes: %v", n, err)
	}
	return b
}

func TestZPLRepliesByteExact(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	e := NewZPL(&Options{Clock: clk, PrintTime: time.Second})
	defer e.Close()
	c := dial(t, e)
	// A query split over two writes, with a job around it.
	c.Write([]byte("^XA^FDa^FS^X"))
	c.Write([]byte("Z~H"))
	time.Sleep(5 * time.Millisecond)
	c.Write([]byte("S^XA^PQ3^FDb^FS^XZ"))
	want := zpl.FormatHS(zpl.HostStatus{CommSettings: 30, LabelLength: 1040, FormatsInBuffer: 1, FunctionSettings: 1, PrintMode: 2, LabelsRemaining: 1, FormatWhilePrint: true})
	if got := read(t, c, len(want)); !bytes.Equal(got, want) {
		t.Fatalf("~HS reply %q, want %q", got, want)
	}
	hs, _, err := zpl.ParseHS(want)
	if err != nil || hs.FormatsInBuffer != 1 {
		t.Fatal(hs, err)
	}
	for len(e.Jobs()) < 2 {
		time.Sleep(time.Millisecond)
	}
	if got := e.Jobs(); string(got[0]) != "^XA^FDa^FS^XZ" || string(got[1]) != "^XA^PQ3^FDb^FS^XZ" {
		t.Fatalf("jobs %q", got)
	}
	if got := string(e.Received()); got != "^XA^FDa^FS^XZ^XA^PQ3^FDb^FS^XZ" {
		t.Fatalf("received %q (queries must be cut out)", got)
	}
	clk.Advance(2 * time.Second)
	if e.Printed() != 2 {
		t.Fatalf("printed %d after 2 s, want 2", e.Printed())
	}
	clk.Advance(10 * time.Second)
	if e.Printed() != 4 {
		t.Fatalf("printed %d, want 4 (1 + ^PQ3)", e.Printed())
	}
	e.SetFault(printer.FaultHeadOpen)
	c.Write([]byte("~HQES"))
	want = zpl.FormatHQES(zpl.ErrorsWarnings{Errors: zpl.ErrHeadOpen})
	if got := read(t, c, len(want)); !bytes.Equal(got, want) {
		t.Fatalf("~HQES reply %q, want %q", got, want)
	}
}

func TestTSPLRepliesOverPTY(t *testing.T) {
	e := NewTSPL(nil)
	defer e.Close()
	name, err := e.ServePTY()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write(tspl.QueryStatus)
	if got := read(t, f, 1); got[0] != 0x00 {
		t.Fatalf("idle <ESC>!? = %#x", got[0])
	}
	e.SetFault(printer.FaultPaperOut)
	f.Write([]byte{0x1B, '!'})
	time.Sleep(5 * time.Millisecond)
	f.Write([]byte{'?'})
	if got := read(t, f, 1); got[0] != tspl.BitPaperOut {
		t.Fatalf("paper out <ESC>!? = %#x, want 0x04", got[0])
	}
	f.Write(tspl.QueryExtended)
	if got, want := read(t, f, 8), []byte{0x02, 'E', '@', '@', 'A', 0x03, '\r', '\n'}; !bytes.Equal(got, want) {
		t.Fatalf("<ESC>!S = %q, want %q", got, want)
	}
	e.SetFault(NoAnswer)
	f.Write(tspl.QueryStatus)
	f.Write([]byte("CLS\r\nPRINT 2\r\n"))
	for len(e.Jobs()) < 1 {
		time.Sleep(time.Millisecond)
	}
	if e.Queries() != 4 {
		t.Fatalf("queries %d", e.Queries())
	}
	e.SetFault("")
	f.Write(tspl.QueryStatus)
	if got := read(t, f, 1); got[0] != tspl.BitPrinting { // nothing was sent for the silent query
		t.Fatalf("after recovery <ESC>!? = %#x, want printing", got[0])
	}
}

func TestSilentOnFault(t *testing.T) {
	e := NewZPL(&Options{SilentOnFault: true})
	defer e.Close()
	c := dial(t, e)
	e.SetFault(printer.FaultPaperOut)
	c.Write([]byte("~HS"))
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, _ := c.Read(make([]byte, 10)); n != 0 {
		t.Fatal("answered ~HS while out of paper with SilentOnFault")
	}
}

func TestRecordingIsBounded(t *testing.T) {
	e := NewTSPL(&Options{MaxJobs: 2, MaxReceived: 30})
	defer e.Close()
	c := dial(t, e)
	c.Write([]byte("CLS\r\nPRINT 1\r\nCLS\r\nPRINT 2\r\nCLS\r\nPRINT 3\r\n"))
	c.Write(tspl.QueryStatus) // answered after the jobs: a sync point
	read(t, c, 1)
	if j := e.Jobs(); len(j) != 2 || string(j[1]) != "CLS\r\nPRINT 3\r\n" {
		t.Fatalf("jobs %q", j)
	}
	if r := e.Received(); len(r) != 30 {
		t.Fatalf("received %d bytes, want the last 30", len(r))
	}
}

// ~JA split over two writes drops every waiting and half-received format (the format being
// received when it arrives never prints), is not recorded as job bytes, and later formats print.
func TestZPLCancelAll(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	e := NewZPL(&Options{Clock: clk, PrintTime: time.Second})
	defer e.Close()
	c := dial(t, e)
	c.Write([]byte("^XA^PQ2^FDa^FS^XZ^XA^FDb^FS^XZ^XA^FDhalf"))
	c.Write([]byte("~J"))
	time.Sleep(5 * time.Millisecond)
	c.Write([]byte("A^FS^XZ"))
	c.Write([]byte("~HS"))
	// The ~HS after it reports an empty buffer.
	want := zpl.FormatHS(zpl.HostStatus{CommSettings: 30, LabelLength: 1040, FunctionSettings: 1, PrintMode: 2, FormatWhilePrint: true})
	if got := read(t, c, len(want)); !bytes.Equal(got, want) {
		t.Fatalf("~HS after ~JA %q, want %q", got, want)
	}
	if n := e.Cancels(); n != 1 {
		t.Fatalf("%d cancels, want 1", n)
	}
	clk.Advance(10 * time.Second)
	if n := e.Printed(); n != 0 {
		t.Fatalf("%d labels printed after ~JA, want 0", n)
	}
	if bytes.Contains(e.Received(), []byte("~J")) {
		t.Fatalf("~JA recorded as job bytes: %q", e.Received())
	}
	c.Write([]byte("^XA^FDc^FS^XZ"))
	for i := 0; len(e.Jobs()) < 3; i++ {
		if i > 500 {
			t.Fatalf("jobs %q", e.Jobs())
		}
		time.Sleep(2 * time.Millisecond)
	}
	clk.Advance(time.Second)
	if n := e.Printed(); n != 1 {
		t.Fatalf("%d labels printed after ~JA and one more format, want 1", n)
	}
}

// Options.Ending: framed replies end at ETX (every string of ~HS, ~HQES, <ESC>!S), or at ETX with
// the CR LF written after the reply; the 1-byte <ESC>!? reply has no frame and is unchanged.
func TestReplyEndings(t *testing.T) {
	hs := zpl.FormatHS(zpl.HostStatus{CommSettings: 30, LabelLength: 1040, FunctionSettings: 1, PrintMode: 2, FormatWhilePrint: true})
	hqes := zpl.FormatHQES(zpl.ErrorsWarnings{})
	etxOnly := func(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\x03\r\n"), []byte("\x03")) }
	for _, c := range []struct {
		end      Ending
		hs, hqes []byte
		extended []byte
		stripped int // bytes left out of the ~HS reply
	}{
		{EndCRLF, hs, hqes, []byte{0x02, '@', '@', '@', '@', 0x03, '\r', '\n'}, 0},
		{EndETX, etxOnly(hs), etxOnly(hqes), []byte{0x02, '@', '@', '@', '@', 0x03}, 6},
		{EndETXLateCRLF, hs, hqes, []byte{0x02, '@', '@', '@', '@', 0x03, '\r', '\n'}, 0}, // CR LF in its own write: TestLateCRLFIsASeparateWrite
	} {
		z := NewZPL(&Options{Ending: c.end})
		zc := dial(t, z)
		zc.Write([]byte("~HS"))
		if got := read(t, zc, len(c.hs)); !bytes.Equal(got, c.hs) {
			t.Fatalf("ending %d: ~HS reply %q, want %q", c.end, got, c.hs)
		}
		if len(hs)-len(c.hs) != c.stripped {
			t.Fatalf("ending %d: ~HS reply is %d bytes, want %d", c.end, len(c.hs), len(hs)-c.stripped)
		}
		zc.Write([]byte("~HQES"))
		if got := read(t, zc, len(c.hqes)); !bytes.Equal(got, c.hqes) {
			t.Fatalf("ending %d: ~HQES reply %q, want %q", c.end, got, c.hqes)
		}
		z.Close()
		ts := NewTSPL(&Options{Ending: c.end})
		tc := dial(t, ts)
		tc.Write(tspl.QueryStatus)
		tc.Write(tspl.QueryExtended)
		if got := read(t, tc, 1+len(c.extended)); !bytes.Equal(got, append([]byte{0x00}, c.extended...)) {
			t.Fatalf("ending %d: <ESC>!? <ESC>!S replies % x, want 00 % x", c.end, got, c.extended)
		}
		ts.Close()
	}
}

// EndETXLateCRLF writes the CR LF separately: a reader sees the reply complete at ETX first.
func TestLateCRLFIsASeparateWrite(t *testing.T) {
	e := NewTSPL(&Options{Ending: EndETXLateCRLF})
	defer e.Close()
	var w writes
	e.send(&w, tspl.FormatExtended(tspl.Extended{}))
	if len(w) != 2 || !bytes.Equal(w[0], []byte{0x02, '@', '@', '@', '@', 0x03}) || string(w[1]) != "\r\n" {
		t.Fatalf("writes %q, want the reply up to ETX, then CR LF", w)
	}
	w = nil
	e.send(&w, []byte{0x04}) // <ESC>!? has no frame
	if len(w) != 1 || !bytes.Equal(w[0], []byte{0x04}) {
		t.Fatalf("writes %q, want the byte as is", w)
	}
}

type writes [][]byte

func (w *writes) Write(b []byte) (int, error) {
	*w = append(*w, append([]byte(nil), b...))
	return len(b), nil
}
