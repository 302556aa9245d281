// Package browsertest starts a real headless chromium for the browser tests of wedge's web
// consoles (the agent's supervisor console and the hub's central console): Chromium finds the
// browser (failing under CI when it is missing), Browser gives a chromedp context.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/chromedp/chromedp"
)

// Chromium finds the system browser: $WEDGE_CHROMIUM, /usr/bin/chromium, /usr/bin/chromium-browser,
// then chromium on PATH. When none is found the test fails under CI=true (CI must install it) and
// is skipped otherwise.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, p := range []string{os.Getenv("WEDGE_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not found (CI must install it)")
	}
	t.Skip("chromium not installed")
	return ""
}

// Browser returns a chromedp context for a fresh headless chromium at exe (from Chromium) with a
// window of width×height and a throwaway profile. The browser is closed in t's cleanup, so it
// goes before anything the test set up earlier (its cleanups run later).
func Browser(t testing.TB, exe string, width, height int) context.Context {
	t.Helper()
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(width, height))
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	return ctx
}
