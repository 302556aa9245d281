package logging

import (
	"context"
	"log/slog"
	"slices"
	"strings"
)

// FromLogf returns a logger that writes each record at Info level or above through logf, as
// "msg key=value …" with the attribute values passed as arguments, so an error value reaches logf
// as an error. It bridges callers that still hold a Logf func(string, ...any) to packages that take
// a *slog.Logger, and goes once every caller has a logger. A nil logf gives Discard.
func FromLogf(logf func(format string, args ...any)) *slog.Logger {
	if logf == nil {
		return Discard
	}
	return slog.New(logfHandler{logf: logf})
}

type logfHandler struct {
	logf   func(string, ...any)
	group  string // prefix of the keys added from now on ("g." inside WithGroup("g"))
	format string // the attributes added by WithAttrs, as " key=%v" …
	args   []any  // … and their values
}

func (h logfHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h logfHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(escape(r.Message))
	b.WriteString(h.format)
	args := slices.Clone(h.args)
	r.Attrs(func(a slog.Attr) bool {
		args = appendAttr(&b, args, h.group, a)
		return true
	})
	h.logf(b.String(), args...)
	return nil
}

func (h logfHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(h.format)
	args := slices.Clone(h.args)
	for _, a := range attrs {
		args = appendAttr(&b, args, h.group, a)
	}
	h.format, h.args = b.String(), args
	return h
}

func (h logfHandler) WithGroup(name string) slog.Handler {
	if name != "" {
		h.group += name + "."
	}
	return h
}

// appendAttr writes " key=%v" for a (each member of a group) and returns args with its value.
func appendAttr(b *strings.Builder, args []any, prefix string, a slog.Attr) []any {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		if a.Key != "" {
			prefix += a.Key + "."
		}
		for _, m := range v.Group() {
			args = appendAttr(b, args, prefix, m)
		}
		return args
	}
	if a.Equal(slog.Attr{}) {
		return args
	}
	b.WriteString(" " + escape(prefix+a.Key) + "=%v")
	return append(args, v.Any())
}

func escape(s string) string { return strings.ReplaceAll(s, "%", "%%") }
