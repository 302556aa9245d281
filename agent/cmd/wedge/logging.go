package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"wedge/internal/logging"
)

// newLogger builds the process logger: level and format as in the config's log section (or the
// hub's --log-level and --log-format flags), written to w, standard error, which journald or the
// Windows service log collects. warn hides info lines, never errors.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	return logging.New(w, level, format)
}

// logfShim hands l to a package whose option is still Logf func(string, ...any). Such lines have
// no level: one that carries an error is logged at Error, so no log level hides a failure, the rest
// at Info. It goes once those packages take a *slog.Logger.
func logfShim(l *slog.Logger) func(string, ...any) {
	return func(format string, args ...any) {
		level := slog.LevelInfo
		for _, a := range args {
			if _, ok := a.(error); ok {
				level = slog.LevelError
				break
			}
		}
		ctx := context.Background()
		if !l.Enabled(ctx, level) {
			return
		}
		l.Log(ctx, level, strings.TrimRight(fmt.Sprintf(format, args...), "\n"))
	}
}
