// Package testutil holds helpers shared by tests: Eventually, the one wait for a condition that
// another goroutine or process makes true (where testing/synctest cannot be used: real sockets,
// real processes), and Logger, a slog logger writing to the test's log.
package testutil

import (
	"bytes"
	"log/slog"
	"testing"
	"time"
)

// Eventually polls cond until it holds, and fails the test when timeout passes first. It asserts
// an outcome, not a timing: the timeout only bounds a hung test, so make it generous.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for wait := time.Millisecond; !cond(); wait = min(2*wait, 50*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("never happened within %s: %s", timeout, what)
		}
		time.Sleep(wait)
	}
}

// Logger returns a logger that writes each record to t.Log, at debug level and above.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tlog{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tlog struct{ t testing.TB }

func (w tlog) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}
