package logging

import (
	"context"
	"log/slog"
	"strings"
)

// FromLogf adapts a printf-style log function to a *slog.Logger: each record becomes one line
// "LEVEL msg key=value ...". It lets a component that takes a logger be wired from code (or a test)
// that still logs through a function. A nil f gives Discard.
func FromLogf(f func(format string, args ...any)) *slog.Logger {
	if f == nil {
		return Discard
	}
	return slog.New(&logfHandler{f: f})
}

type logfHandler struct {
	f     func(string, ...any)
	attrs []slog.Attr
	group string
}

func (h *logfHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *logfHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String())
	b.WriteByte(' ')
	b.WriteString(r.Message)
	write := func(a slog.Attr) bool {
		if a.Equal(slog.Attr{}) {
			return true
		}
		b.WriteByte(' ')
		if h.group != "" {
			b.WriteString(h.group + ".")
		}
		b.WriteString(a.Key)
		b.WriteByte('=')
		b.WriteString(a.Value.Resolve().String())
		return true
	}
	for _, a := range h.attrs {
		write(a)
	}
	r.Attrs(write)
	h.f("%s", b.String())
	return nil
}

func (h *logfHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &n
}

func (h *logfHandler) WithGroup(name string) slog.Handler {
	n := *h
	if n.group != "" {
		name = n.group + "." + name
	}
	n.group = name
	return &n
}
