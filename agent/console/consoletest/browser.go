package consoletest

import (
	"context"
	"testing"

	"wedge/internal/browsertest"
)

// Chromium is browsertest.Chromium: the system browser, failing under CI=true when it is missing.
func Chromium(t testing.TB) string { return browsertest.Chromium(t) }

// Browser is browsertest.Browser: a chromedp context for a fresh headless chromium.
func Browser(t testing.TB, exe string, width, height int) context.Context {
	return browsertest.Browser(t, exe, width, height)
}
