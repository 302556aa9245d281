package main

import (
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"wedge/agent/config"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files of wedge config diff")

// TestConfigDiffGolden runs `wedge config diff` on each pair under testdata/configdiff (a.yaml,
// b.yaml, optional flags) and compares exit code, stdout and stderr with the case's "want" file.
func TestConfigDiffGolden(t *testing.T) {
	cases, err := filepath.Glob("testdata/configdiff/*")
	if err != nil || len(cases) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, dir := range cases {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			args := []string{"config", "diff"}
			if b, err := os.ReadFile(filepath.Join(dir, "flags")); err == nil {
				args = append(args, strings.Fields(string(b))...)
			}
			args = append(args, filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml"))
			code, out, errs := wedge(t, args...)
			got := "exit " + strconv.Itoa(code) + "\n--- stdout\n" + out + "--- stderr\n" + errs
			wantFile := filepath.Join(dir, "want")
			if *updateGolden {
				if err := os.WriteFile(wantFile, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(wantFile)
			if err != nil {
				t.Fatalf("%v (run with -update to write it)", err)
			}
			if got != string(want) {
				t.Errorf("wedge %s:\n got:\n%s\nwant:\n%s", strings.Join(args, " "), got, want)
			}
		})
	}
}

// What the golden files show: equal shared settings exit 0 whatever the per-PC fields; --all sees
// those; secrets never appear; a file that does not load exits 2 with its file:line.
func TestConfigDiffExitCodes(t *testing.T) {
	d := "testdata/configdiff/"
	if code, out, _ := wedge(t, "config", "diff", d+"equal/a.yaml", d+"equal/b.yaml"); code != exitOK || !strings.Contains(out, "配置一致") {
		t.Errorf("equal: %d\n%s", code, out)
	}
	code, out, _ := wedge(t, "config", "diff", "--all", d+"all/a.yaml", d+"all/b.yaml")
	if code != exitFailure || !strings.Contains(out, "\nagent\n") || !strings.Contains(out, "\napi.token\n") {
		t.Errorf("--all: %d\n%s", code, out)
	}
	for _, secret := range []string{"pack01-token", "dock01-token", "pack01-secret", "dock01-secret"} {
		if strings.Contains(out, secret) {
			t.Errorf("--all printed the secret %q", secret)
		}
	}
	code, out, _ = wedge(t, "config", "diff", d+"differ/a.yaml", d+"differ/b.yaml")
	if code != exitFailure || !strings.Contains(out, "breaker.max_backlog\n- "+d+"differ/a.yaml:7") || !strings.Contains(out, "(default)") {
		t.Errorf("differ: %d\n%s", code, out)
	}
	if code, _, errs := wedge(t, "config", "diff", d+"bad/a.yaml", d+"bad/b.yaml"); code != exitUsage || !strings.Contains(errs, "b.yaml:4: breaker.max_backlog") {
		t.Errorf("bad: %d %q", code, errs)
	}
	for _, args := range [][]string{{"config"}, {"config", "diff", "x.yaml"}, {"config", "diff", "--nope", "a", "b"}, {"config", "hash"}, {"config", "frob"}} {
		if code, _, _ := wedge(t, args...); code != exitUsage {
			t.Errorf("%q: exit %d, want %d", args, code, exitUsage)
		}
	}
	if code, _, _ := wedge(t, "config", "diff", d+"equal/a.yaml", d+"missing.yaml"); code != exitUsage {
		t.Errorf("missing file: exit %d", code)
	}
}

// `wedge config hash` prints the hash the agent publishes (config.SettingsHash, one function), equal
// for the two PCs of the equal pair and different for the differ pair.
func TestConfigHash(t *testing.T) {
	d := "testdata/configdiff/"
	code, out, errs := wedge(t, "config", "hash", d+"equal/a.yaml", d+"equal/b.yaml", d+"differ/b.yaml")
	if code != exitOK {
		t.Fatalf("hash: %d %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("hash output:\n%s", out)
	}
	hash := func(i int) string { return strings.Fields(lines[i])[0] }
	c, err := config.Load(d+"equal/a.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if hash(0) != c.SettingsHash() || lines[0] != c.SettingsHash()+"  "+d+"equal/a.yaml" {
		t.Errorf("hash line %q, config.SettingsHash %s", lines[0], c.SettingsHash())
	}
	if hash(0) != hash(1) || hash(0) == hash(2) {
		t.Errorf("hashes: %v", lines)
	}
	code, out, _ = wedge(t, "config", "hash", "--canonical", d+"equal/b.yaml")
	if code != exitOK || !strings.Contains(out, "\nwedge-settings v2\n") || !strings.Contains(out, "breaker.max_avg_wait=\"10m0s\"") || strings.Contains(out, "dock01") {
		t.Errorf("canonical: %d\n%s", code, out)
	}
	if code, _, errs := wedge(t, "config", "hash", d+"bad/b.yaml"); code != exitUsage || !strings.Contains(errs, "b.yaml:4") {
		t.Errorf("bad file: %d %q", code, errs)
	}
}
