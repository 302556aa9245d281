// Package logging builds the log/slog loggers wedge uses: text by default, JSON on request, and a
// level filter where warn hides info but never an error. Components take a *slog.Logger option;
// Or turns a nil one into a logger that discards everything.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Structured field names shared by every component, so journald and Loki users can query them.
const (
	KeySite    = "site"
	KeyAgent   = "agent"
	KeyOrder   = "order"
	KeyStation = "station"
	KeyDevice  = "device"
	KeySeq     = "seq"
	KeyErr     = "err"
)

// Formats.
const (
	FormatText = "text" // default
	FormatJSON = "json"
)

// Discard is a logger that writes nothing.
var Discard = slog.New(slog.DiscardHandler)

// Or returns l, or Discard when l is nil.
func Or(l *slog.Logger) *slog.Logger {
	if l == nil {
		return Discard
	}
	return l
}

// ParseLevel parses debug, info (default for ""), warn/warning or error.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("logging: level %q: want debug, info, warn or error", s)
}

// New returns a logger writing to w at level (see ParseLevel) in format ("" or text, json).
func New(w io.Writer, level, format string) (*slog.Logger, error) {
	lv, err := ParseLevel(level)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(strings.TrimSpace(format)) {
	case "", FormatText:
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case FormatJSON:
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("logging: format %q: want text or json", format)
}

// Err is the attribute for an error.
func Err(err error) slog.Attr { return slog.Any(KeyErr, err) }

// Enabled reports whether l logs at level (a cheap check before building costly attributes).
func Enabled(l *slog.Logger, level slog.Level) bool { return l.Enabled(context.Background(), level) }
