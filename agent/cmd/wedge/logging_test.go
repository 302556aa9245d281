package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// With log.level warn, `wedge run` still prints an error (here: the data directory cannot be
// opened) but not its info lines; with the default level both appear. JSON is one object a line.
func TestRunLogLevel(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "not-a-dir")
	os.WriteFile(blocker, []byte("x"), 0o644)
	run := func(logSection string) (int, string) {
		p := filepath.Join(dir, "wedge.yaml")
		os.WriteFile(p, []byte(fmt.Sprintf("site: sz01\nagent: pack09\ndata_dir: %q\nbroker: {accept_unsigned: true}\napi: {listen: \"127.0.0.1:0\"}\n%s", filepath.Join(blocker, "data"), logSection)), 0o644)
		code, _, errs := wedge(t, "run", "--config", p)
		return code, errs
	}
	code, errs := run("log: {level: warn}\n")
	if code == exitOK || !strings.Contains(errs, "level=ERROR") || !strings.Contains(errs, "cannot start") || !strings.Contains(errs, "not-a-dir") {
		t.Errorf("warn level: exit %d, the error is missing from stderr:\n%s", code, errs)
	}
	if strings.Contains(errs, "level=INFO") || strings.Contains(errs, "starting") {
		t.Errorf("warn level printed info lines:\n%s", errs)
	}
	_, errs = run("")
	if !strings.Contains(errs, "level=INFO") || !strings.Contains(errs, "starting") || !strings.Contains(errs, "level=ERROR") || !strings.Contains(errs, "site=sz01") {
		t.Errorf("default level: want the info and the error line:\n%s", errs)
	}
	_, errs = run("log: {level: error, format: json}\n")
	lines := strings.Split(strings.TrimSpace(errs), "\n")
	var rec map[string]any
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &rec) != nil || rec["level"] != "ERROR" || rec["agent"] != "pack09" || !strings.Contains(fmt.Sprint(rec["err"]), "not-a-dir") {
		t.Errorf("json at error level: want one error object:\n%s", errs)
	}
}

// An unknown level is refused.
func TestNewLoggerRefusesUnknownLevel(t *testing.T) {
	var buf bytes.Buffer
	if _, err := newLogger(&buf, "loud", "text"); err == nil {
		t.Error("level loud accepted")
	}
}

// The hub takes its log settings as flags; bad ones are a usage error.
func TestHubLogFlags(t *testing.T) {
	for _, args := range [][]string{{"hub", "--log-level", "loud"}, {"hub", "--log-format", "xml"}} {
		if code, _, errs := wedge(t, args...); code != exitUsage || !strings.Contains(errs, "invalid log settings") {
			t.Errorf("%q: exit %d %s", args, code, errs)
		}
	}
}
