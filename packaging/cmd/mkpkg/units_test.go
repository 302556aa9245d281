package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// maxExposure is the highest `systemd-analyze security` exposure a packaged unit may have (0 is
// locked down, 10 fully exposed; below 4 is what systemd calls OK).
const maxExposure = 4.0

// unitCopy writes a copy of packaging/systemd/name with /usr/bin/wedge replaced by an executable
// in a temporary directory, so systemd-analyze finds the binary the unit expects.
func unitCopy(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "packaging", "systemd", name))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "wedge")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(dir, name)
	if err := os.WriteFile(unit, []byte(strings.ReplaceAll(string(b), "/usr/bin/wedge", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	return unit
}

var exposureRE = regexp.MustCompile(`Overall exposure level for [^:]+: ([0-9.]+)`)

func TestUnitsVerifyAndAreHardened(t *testing.T) {
	needTool(t, "systemd-analyze")
	for _, name := range []string{"wedge.service", "wedge-hub.service"} {
		t.Run(name, func(t *testing.T) {
			unit := unitCopy(t, name)
			out, err := exec.Command("systemd-analyze", "verify", "--man=no", unit).CombinedOutput()
			if err != nil || len(strings.TrimSpace(string(out))) > 0 {
				t.Errorf("systemd-analyze verify: %v\n%s", err, out)
			}
			out, err = exec.Command("systemd-analyze", "security", "--offline=true", "--no-pager", unit).CombinedOutput()
			m := exposureRE.FindSubmatch(out)
			if err != nil || m == nil {
				t.Fatalf("systemd-analyze security: %v\n%s", err, out)
			}
			score, _ := strconv.ParseFloat(string(m[1]), 64)
			t.Logf("%s: exposure %.1f", name, score)
			if score >= maxExposure {
				t.Errorf("exposure %.1f, want below %.1f:\n%s", score, maxExposure, out)
			}
		})
	}
}

// TestAgentUnitSettings pins what the agent relies on: notify + watchdog (the agent pings only
// while its journal writer and uplink loop answer), no restart into a damaged journal (65) or a
// bad config (2) — the exit codes of agent/cmd/wedge — and only the device classes it opens.
func TestAgentUnitSettings(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "packaging", "systemd", "wedge.service"))
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, "wedge.service", string(b), "\nType=notify\n", "\nNotifyAccess=main\n", "\nWatchdogSec=",
		"\nRestart=on-failure\n", "\nRestartPreventExitStatus=65 2\n", "\nProtectSystem=strict\n",
		"\nReadWritePaths=/var/lib/wedge\n", "\nNoNewPrivileges=yes\n", "\nPrivateTmp=yes\n",
		"\nDevicePolicy=closed\n", "\nCapabilityBoundingSet=\n",
		"\nDeviceAllow=char-ttyUSB rw\n", "\nDeviceAllow=char-ttyACM rw\n", "\nDeviceAllow=char-hidraw rw\n",
		"\nDeviceAllow=char-usb_device rw\n", "\nDeviceAllow=char-usb rw\n", "\nDeviceAllow=char-lp rw\n")
}
