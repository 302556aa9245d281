package legacylog

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"wedge/internal/logging"
)

func TestLogger(t *testing.T) {
	var lines []string
	logf := func(f string, a ...any) { lines = append(lines, fmt.Sprintf(f, a...)) }
	Logger(nil, logf).With(logging.KeySite, "sz01").Debug("catch-up requested", logging.KeySeq, 7)
	Logger(nil, logf).Warn("connection lost", logging.Err(errors.New("EOF")))
	if len(lines) != 2 {
		t.Fatalf("lines %q, want 2", lines)
	}
	if lines[0] != `level=DEBUG msg="catch-up requested" site=sz01 seq=7` {
		t.Errorf("line %q", lines[0])
	}
	if !strings.HasPrefix(lines[1], "level=WARN") || !strings.Contains(lines[1], "err=EOF") || strings.Contains(lines[1], "time=") {
		t.Errorf("line %q", lines[1])
	}

	// Logger wins over Logf; neither discards.
	var buf bytes.Buffer
	Logger(slog.New(slog.NewTextHandler(&buf, nil)), logf).Info("to the logger")
	if len(lines) != 2 || !strings.Contains(buf.String(), "to the logger") {
		t.Errorf("Logger set: logf got %q, logger got %q", lines, buf.String())
	}
	Logger(nil, nil).Error("discarded") // must not panic
}
