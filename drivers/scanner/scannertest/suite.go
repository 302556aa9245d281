// Package scannertest is what every scanner driver is tested with: the conformance suite (Run)
// that each implementation of scanner.Scanner, the fake included, must pass under -race; a Fake
// scanner for the layers above the drivers; and byte traces with timestamps (Trace, Recorder,
// Replay/Play) for recording real devices and replaying them without hardware. Traces are
// generic (bytes with times and a direction), so serial reads and HID reports use the same format.
package scannertest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"wedge/drivers/scanner"
)

// NewPair makes a fresh scanner under test and a function that makes its device send raw bytes.
// The suite sends each barcode as its text followed by CR ("SF1385628716739\r"); inject must turn
// that into one barcode for the scanner (a serial pair writes it to the line, a HID pair builds the
// reports). The suite closes the scanner; anything else the pair opened must be released with
// t.Cleanup.
type NewPair func(t *testing.T) (s scanner.Scanner, inject func([]byte) error)

// wait bounds every blocking step of the suite, so a broken driver fails instead of hanging.
var wait = 10 * time.Second

// Run runs the conformance suite: each subtest gets its own pair. It checks that a barcode is read
// (text, device, time), that reads keep their order, that Close unblocks a pending Read with
// ErrClosed, that Read after Close returns ErrClosed, that Close twice is fine, that concurrent
// Read and Close are safe, that Feedback (if implemented) returns within its context without
// blocking the next read, that Health (if implemented) counts reads, and that no goroutine is left
// behind after Close.
func Run(t *testing.T, newPair NewPair) {
	t.Run("ReadsBarcode", func(t *testing.T) {
		s, inject := open(t, newPair)
		defer s.Close()
		if s.String() == "" {
			t.Error("String() is empty; it should name the device")
		}
		before := time.Now().Add(-time.Hour)
		mustInject(t, inject, "SF1385628716739\r")
		r := mustRead(t, s)
		if r.Text != "SF1385628716739" {
			t.Fatalf("Read().Text = %q, want %q", r.Text, "SF1385628716739")
		}
		if string(r.Raw) != "SF1385628716739" {
			t.Errorf("Read().Raw = %q, want the payload bytes %q", r.Raw, "SF1385628716739")
		}
		if r.Device == "" {
			t.Error("Read().Device is empty; drivers set the configured device name")
		}
		if r.At.Before(before) {
			t.Errorf("Read().At = %v, want the time the barcode arrived", r.At)
		}
	})

	t.Run("ReadsInOrder", func(t *testing.T) {
		s, inject := open(t, newPair)
		defer s.Close()
		const n = 20
		go func() {
			for i := range n {
				if err := inject(fmt.Appendf(nil, "YT%013d\r", i)); err != nil {
					return // the reads below fail and say so
				}
			}
		}()
		for i := range n {
			r := mustRead(t, s)
			if want := fmt.Sprintf("YT%013d", i); r.Text != want {
				t.Fatalf("read %d = %q, want %q", i, r.Text, want)
			}
		}
	})

	t.Run("CloseUnblocksRead", func(t *testing.T) {
		s, _ := open(t, newPair)
		errc := make(chan error, 1)
		started := make(chan struct{})
		go func() {
			close(started)
			_, err := s.Read()
			errc <- err
		}()
		<-started
		time.Sleep(20 * time.Millisecond) // let Read block; the assertion does not depend on it
		closeDone := make(chan error, 1)
		go func() { closeDone <- s.Close() }()
		err := recvWithin(t, errc, "Close did not unblock a pending Read")
		if !errors.Is(err, scanner.ErrClosed) {
			t.Fatalf("pending Read after Close returned %v, want ErrClosed", err)
		}
		if scanner.Recoverable(err) {
			t.Fatalf("scanner.Recoverable(%v) = true after Close", err)
		}
		if err := recvWithin(t, closeDone, "Close did not return"); err != nil {
			t.Fatalf("Close: %v", err)
		}
	})

	t.Run("ReadAfterClose", func(t *testing.T) {
		s, inject := open(t, newPair)
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		_ = inject([]byte("JT5261988016578\r")) // may fail: the device side may be gone
		for range 3 {
			_, err := ReadWithin(t, s, wait)
			if !errors.Is(err, scanner.ErrClosed) {
				t.Fatalf("Read after Close returned %v, want ErrClosed", err)
			}
		}
	})

	t.Run("DoubleClose", func(t *testing.T) {
		s, _ := open(t, newPair)
		if err := s.Close(); err != nil {
			t.Fatalf("first Close: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close: %v, want nil", err)
		}
	})

	t.Run("ConcurrentReadClose", func(t *testing.T) {
		s, inject := open(t, newPair)
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for range 4 {
			wg.Go(func() {
				for {
					_, err := s.Read()
					if err == nil || scanner.Recoverable(err) {
						continue
					}
					if !errors.Is(err, scanner.ErrClosed) {
						errs <- fmt.Errorf("Read: %v, want a read or ErrClosed", err)
					}
					return
				}
			})
		}
		wg.Go(func() {
			for i := range 10 {
				if inject(fmt.Appendf(nil, "JD%013d\r", i)) != nil {
					return
				}
			}
		})
		for range 3 {
			wg.Go(func() {
				if err := s.Close(); err != nil {
					errs <- fmt.Errorf("Close: %v", err)
				}
			})
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		recvWithin(t, done, "concurrent Read and Close did not all return")
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})

	t.Run("Feedback", func(t *testing.T) {
		s, inject := open(t, newPair)
		defer s.Close()
		fb, ok := s.(scanner.Feedbacker)
		if !ok {
			t.Skip("not a scanner.Feedbacker")
		}
		mustInject(t, inject, "SF1023574626292\r")
		mustRead(t, s)
		for _, o := range []scanner.Outcome{scanner.Good, scanner.Bad} {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			done := make(chan error, 1)
			go func() { done <- fb.Feedback(ctx, o) }()
			// An error is allowed (a device may refuse); not returning is not.
			recvWithin(t, done, "Feedback did not return within its context")
			cancel()
		}
		// Feedback while a Read is pending must not block either of them.
		readc := make(chan scanner.Read, 1)
		go func() {
			r, _ := s.Read()
			readc <- r
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		fbDone := make(chan error, 1)
		go func() { fbDone <- fb.Feedback(ctx, scanner.Good) }()
		mustInject(t, inject, "DPK202252612836\r")
		if r := recvWithin(t, readc, "Read blocked while Feedback ran"); r.Text != "DPK202252612836" {
			t.Fatalf("read after feedback = %q, want %q", r.Text, "DPK202252612836")
		}
		recvWithin(t, fbDone, "Feedback did not return within its context")
	})

	t.Run("Health", func(t *testing.T) {
		s, inject := open(t, newPair)
		defer s.Close()
		hr, ok := s.(scanner.HealthReporter)
		if !ok {
			t.Skip("not a scanner.HealthReporter")
		}
		before := hr.Health().Reads
		mustInject(t, inject, "773277027280336\r")
		r := mustRead(t, s)
		h := hr.Health()
		if !h.Connected {
			t.Errorf("Health().Connected = false after a read")
		}
		if h.Reads != before+1 {
			t.Errorf("Health().Reads = %d after one read, want %d", h.Reads, before+1)
		}
		if !h.LastRead.Equal(r.At) {
			t.Errorf("Health().LastRead = %v, want the read's time %v", h.LastRead, r.At)
		}
	})
}

// open makes a pair and, registered before the pair's own cleanups so that it runs after them,
// checks that nothing the scanner started outlives the subtest.
func open(t *testing.T, newPair NewPair) (scanner.Scanner, func([]byte) error) {
	t.Helper()
	opts := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		if err := goleak.Find(opts); err != nil {
			t.Errorf("goroutines left behind after Close: %v", err)
		}
	})
	s, inject := newPair(t)
	t.Cleanup(func() { s.Close() })
	return s, inject
}

func mustInject(t *testing.T, inject func([]byte) error, s string) {
	t.Helper()
	if err := inject([]byte(s)); err != nil {
		t.Fatalf("inject %q: %v", s, err)
	}
}

// recvWithin returns the next value from c, or fails the test with msg if none comes within wait.
func recvWithin[T any](t *testing.T, c <-chan T, msg string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(wait):
		t.Fatalf("%s (waited %s)", msg, wait)
		var zero T
		return zero
	}
}

// mustRead returns the next barcode, failing on an error or after wait.
func mustRead(t *testing.T, s scanner.Scanner) scanner.Read {
	t.Helper()
	r, err := ReadWithin(t, s, wait)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return r
}

// ReadWithin calls s.Read on another goroutine and returns its read or error. If Read does not
// return within d it closes s (which unblocks a conforming driver's Read), waits up to d more for
// that goroutine to end, so nothing is left behind for goleak, and fails the test. Driver tests use
// it so that a hung Read fails instead of hanging the test binary.
func ReadWithin(t testing.TB, s scanner.Scanner, d time.Duration) (scanner.Read, error) {
	t.Helper()
	type res struct {
		r   scanner.Read
		err error
	}
	c := make(chan res, 1)
	go func() {
		r, err := s.Read()
		c <- res{r, err}
	}()
	select {
	case x := <-c:
		return x.r, x.err
	case <-time.After(d):
		s.Close()
		select {
		case <-c:
		case <-time.After(d):
		}
		t.Fatalf("Read did not return within %s", d)
		return scanner.Read{}, nil
	}
}
