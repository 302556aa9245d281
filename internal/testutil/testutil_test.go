package testutil

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeT records a failure instead of ending the test.
type fakeT struct {
	testing.TB
	failed atomic.Bool
	msg    string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.failed.Store(true)
	f.msg = format
	panic(f)
}

func run(f *fakeT, timeout time.Duration, cond func() bool) {
	defer func() {
		if r := recover(); r != nil && r != f {
			panic(r)
		}
	}()
	Eventually(f, timeout, "the thing", cond)
}

func TestEventually(t *testing.T) {
	var n atomic.Int32
	f := &fakeT{TB: t}
	run(f, 10*time.Second, func() bool { return n.Add(1) >= 3 })
	if f.failed.Load() || n.Load() != 3 {
		t.Fatalf("failed=%v after %d polls", f.failed.Load(), n.Load())
	}
	f = &fakeT{TB: t}
	run(f, 20*time.Millisecond, func() bool { return false })
	if !f.failed.Load() || !strings.Contains(f.msg, "never happened") {
		t.Fatalf("a condition that never holds passed: %+v", f)
	}
}

// logT records what is logged.
type logT struct {
	testing.TB
	lines []string
}

func (l *logT) Helper()         {}
func (l *logT) Log(args ...any) { l.lines = append(l.lines, args[0].(string)) }

func TestLogger(t *testing.T) {
	l := &logT{TB: t}
	Logger(l).Debug("hello", "k", "v")
	if len(l.lines) != 1 || !strings.Contains(l.lines[0], "level=DEBUG msg=hello k=v") || strings.HasSuffix(l.lines[0], "\n") {
		t.Fatalf("logged %q", l.lines)
	}
}
