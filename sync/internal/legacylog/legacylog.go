// Package legacylog bridges the sync components' deprecated Logf option to log/slog while their
// callers move to the Logger option: a Logf function receives each record as one text line
// (level, message, key=value fields), without the time, which Logf writers add themselves.
package legacylog

import (
	"bytes"
	"log/slog"

	"wedge/internal/logging"
)

// Logger returns l when set; otherwise a logger writing every record (debug included) to logf when
// that is set; otherwise one that discards everything.
func Logger(l *slog.Logger, logf func(format string, args ...any)) *slog.Logger {
	if l != nil || logf == nil {
		return logging.Or(l)
	}
	return slog.New(slog.NewTextHandler(writer(logf), &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
}

// writer hands each write (slog's text handler writes one record per call) to logf as one line.
type writer func(format string, args ...any)

func (w writer) Write(p []byte) (int, error) {
	w("%s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}
