package serialscan

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"wedge/drivers/profile"
	"wedge/drivers/scanner"
	"wedge/drivers/scanner/scannertest"
)

// lineNoise is about 100 KiB of what a serial line carries when it goes wrong: an overlong run
// without a terminator (ended by a CR), frames of random bytes that each start with a control byte
// (so none is a barcode), another overlong run, then tail, unterminated: only the noise cut-off
// ends it. Every run has control bytes throughout, so no piece of it could pass for a barcode.
func lineNoise(tail string) []byte {
	rng := rand.New(rand.NewPCG(7, 11))
	b := append(bytes.Repeat([]byte("\x00\x01~"), 8<<10/3), '\r')
	for len(b) < 95<<10 {
		b = append(b, 0x00)
		for range 1 + rng.IntN(1000) {
			c := byte(rng.UintN(256))
			if c == '\r' {
				c = 0xFF
			}
			b = append(b, c)
		}
		b = append(b, '\r')
	}
	b = append(b, bytes.Repeat([]byte{0x1b, 0x1b, '?'}, 6<<10/3)...)
	b = append(b, '\r')
	return append(b, tail...)
}

// writeAsync writes b to the device side from a goroutine (a pty holds only a few KiB, so the write
// waits for the driver to read) and reports the write's error to the test at its end.
func writeAsync(t *testing.T, w interface{ Write([]byte) (int, error) }, b []byte) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { _, err := w.Write(b); errc <- err }()
	t.Cleanup(func() {
		if err := <-errc; err != nil {
			t.Errorf("writing the noise: %v", err)
		}
	})
}

// A good scan right after 100 KiB of noise is read (generic CR framing, the default noise cut-off,
// the real clock): every frame of the noise is rejected, none is read as a barcode, the
// unterminated garbage at its end is dropped when the line goes quiet, and the next barcode is
// read on its own.
func TestGoodScanAfterNoiseOverPTY(t *testing.T) {
	p := newPTY(t)
	sc := open(t, p.Name, profile.Serial{}, nil)
	const tail = "\x00NOISE-END"
	noise := lineNoise(tail)
	if len(noise) < 100<<10 {
		t.Fatalf("noise is %d bytes", len(noise))
	}
	writeAsync(t, p, noise)
	tailHex := fmt.Sprintf("% X", tail)
	overlong := 0
	for {
		r, err := scannertest.ReadWithin(t, sc, readWait)
		if err == nil {
			t.Fatalf("noise read as a barcode: %q", r.Text)
		}
		if errors.Is(err, scanner.ErrOverlong) {
			overlong++
			continue
		}
		if !errors.Is(err, scanner.ErrNoise) {
			t.Fatalf("Read: %v, want noise", err)
		}
		if strings.Contains(err.Error(), "unfinished") && strings.Contains(err.Error(), tailHex) {
			break // the tail, dropped at the cut-off
		}
	}
	if overlong < 2 {
		t.Errorf("%d overlong reports, want 2", overlong)
	}
	write(t, p, "JT5261988016578\r")
	mustText(t, sc, "JT5261988016578")
}

// The field case: on a CR profile, a barcode right after an overlong garbage line without a
// terminator was discarded with it. The noise cut-off ends the overlong line when the line goes
// quiet (logged), and the barcode is read.
func TestBarcodeAfterOverlongLineOverPTY(t *testing.T) {
	p := newPTY(t)
	var logs logLines
	sc := open(t, p.Name, profile.Serial{Terminator: "cr"}, &Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	writeAsync(t, p, bytes.Repeat([]byte("A"), 5<<10))
	mustErr(t, sc, scanner.ErrOverlong)
	waitFor(t, "the noise cut-off to end the overlong line", func() bool {
		for _, l := range logs.get() {
			if strings.Contains(l, "quiet after an overlong frame") && strings.Contains(l, "bytes=5120") {
				return true
			}
		}
		return false
	})
	write(t, p, "OP-ok2\r")
	mustText(t, sc, "OP-ok2")
}

// A profile with an idle cut-off keeps its behaviour (the quiet frame is a barcode); the noise
// cut-off is not used there.
func TestIdleCutoffProfileHasNoNoiseCutoff(t *testing.T) {
	sc := open(t, newPTY(t).Name, profile.Serial{Terminator: "crlf", IdleCutMS: 300}, nil)
	if sc.noise != 0 || sc.quiet() != 300*time.Millisecond {
		t.Fatalf("noise %v, quiet %v; want no noise cut-off, the 300 ms idle one", sc.noise, sc.quiet())
	}
	if sc := open(t, newPTY(t).Name, profile.Serial{NoiseCutMS: 250}, nil); sc.quiet() != 250*time.Millisecond {
		t.Fatalf("quiet %v, want the profile's 250 ms", sc.quiet())
	}
}
