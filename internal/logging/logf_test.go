package logging

import (
	"errors"
	"fmt"
	"log/slog"
	"testing"
)

// FromLogf passes records at Info and above to logf with their attributes, an error value as an
// error; Debug is dropped and a % in a message stays a %.
func TestFromLogf(t *testing.T) {
	type call struct {
		format string
		args   []any
	}
	var calls []call
	l := FromLogf(func(format string, args ...any) { calls = append(calls, call{format, args}) })
	boom := errors.New("boom")
	l.Debug("chatter")
	l.With(KeyDevice, "s1").WithGroup("g").Warn("100% down", "n", 3, Err(boom), slog.Group("x", "y", 1))
	if len(calls) != 1 {
		t.Fatalf("calls %+v, want one (debug dropped)", calls)
	}
	c := calls[0]
	if got := fmt.Sprintf(c.format, c.args...); got != "100% down device=s1 g.n=3 g.err=boom g.x.y=1" {
		t.Errorf("line %q", got)
	}
	var sawErr bool
	for _, a := range c.args {
		if a == boom {
			sawErr = true
		}
	}
	if !sawErr {
		t.Errorf("args %v: the error is not passed as an error", c.args)
	}
	FromLogf(nil).Error("discarded") // must not panic
}
