package main

import (
	"io"
	"log/slog"

	"wedge/internal/logging"
)

// newLogger builds the process logger: level and format as in the config's log section (or the
// hub's --log-level and --log-format flags), written to w, standard error, which journald or the
// Windows service log collects. warn hides info lines, never errors.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	return logging.New(w, level, format)
}
