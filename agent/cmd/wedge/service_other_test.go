//go:build !windows

package main

import (
	"strings"
	"testing"
)

// Outside Windows `wedge service` installs nothing: it points at systemd, in Chinese then
// English, and exits 3 whatever follows it.
func TestServiceOutsideWindowsPointsAtSystemd(t *testing.T) {
	for _, args := range [][]string{{"service"}, {"service", "install", "--config", "/etc/wedge/wedge.yaml"}, {"service", "uninstall"}} {
		code, out, errs := wedge(t, args...)
		if code != exitNotYet {
			t.Errorf("%q: exit %d, want %d", args, code, exitNotYet)
		}
		if out != "" {
			t.Errorf("%q: stdout %q, want nothing", args, out)
		}
		zh, en := strings.Index(errs, "此系统用 systemd"), strings.Index(errs, "on this system wedge runs under systemd")
		if zh < 0 || en < 0 || zh > en {
			t.Errorf("%q: want the Chinese then the English systemd message, got %q", args, errs)
		}
		if !strings.Contains(errs, "packaging/systemd") {
			t.Errorf("%q: message does not name packaging/systemd: %q", args, errs)
		}
	}
	if _, out, _ := wedge(t, "help"); !strings.Contains(out, "wedge service install") {
		t.Errorf("help does not list wedge service: %q", out)
	}
}
