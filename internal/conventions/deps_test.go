package conventions

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// The import-shape rules, checked on the transitive imports of the non-test code as `go list -deps`
// sees them for each target system (build tags change the files, so the imports): a rule binds
// every package matched by its patterns, and names the chain of imports that breaks it.

// goosList are the systems wedge is built for.
var goosList = []string{"linux", "windows"}

// listed is one package of `go list -deps -json`.
type listed struct {
	ImportPath string
	Imports    []string
	Standard   bool
	DepOnly    bool // not matched by the patterns, only imported
}

// goList lists patterns and their transitive imports for goos, by import path.
func goList(t *testing.T, goos string, patterns ...string) map[string]*listed {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	args := append([]string{"list", "-e", "-deps", "-json=ImportPath,Imports,Standard,DepOnly"}, patterns...)
	cmd := exec.Command(goTool, args...)
	cmd.Dir = root(t)
	cmd.Env = append(os.Environ(), "GOOS="+goos, "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s (GOOS=%s): %v\n%s", strings.Join(args, " "), goos, err, stderr.String())
	}
	pkgs := map[string]*listed{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listed
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs[p.ImportPath] = &p
	}
	return pkgs
}

// depRule is one import-shape rule.
type depRule struct {
	name     string
	patterns []string              // the packages it binds (go list patterns)
	ok       func(dep string) bool // whether a package may be imported, directly or not
	why      string
}

// inModule reports whether p is wedge/dir or below it.
func inModule(p, dir string) bool { return p == "wedge/"+dir || strings.HasPrefix(p, "wedge/"+dir+"/") }

// check reports, for each package the rule binds, every package it may not import, with a chain
// of imports that leads there.
func (r depRule) check(t *testing.T) {
	t.Helper()
	for _, goos := range goosList {
		pkgs := goList(t, goos, r.patterns...)
		roots := 0
		for _, p := range sortedKeys(pkgs) {
			if pkgs[p].DepOnly {
				continue
			}
			roots++
			for _, chain := range badChains(pkgs, p, r.ok) {
				t.Errorf("GOOS=%s: %s: %s (%s)", goos, p, strings.Join(chain, " → "), r.why)
			}
		}
		if roots == 0 {
			t.Fatalf("GOOS=%s: %v match no package: the rule checks nothing", goos, r.patterns)
		}
	}
}

// badChains walks the imports of from breadth first and returns, for every package ok refuses, the
// shortest chain of imports from `from` to it (the walk does not go on below a refused package).
func badChains(pkgs map[string]*listed, from string, ok func(string) bool) [][]string {
	parent := map[string]string{from: ""}
	queue := []string{from}
	var bad [][]string
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p != from && !isStd(pkgs, p) && !ok(p) {
			var chain []string
			for q := p; q != ""; q = parent[q] {
				chain = append(chain, q)
			}
			slices.Reverse(chain)
			bad = append(bad, chain)
			continue
		}
		if pkgs[p] == nil {
			continue
		}
		for _, imp := range pkgs[p].Imports {
			if _, seen := parent[imp]; !seen {
				parent[imp] = p
				queue = append(queue, imp)
			}
		}
	}
	return bad
}

func isStd(pkgs map[string]*listed, p string) bool {
	if p == "C" || p == "unsafe" {
		return true
	}
	l := pkgs[p]
	return l != nil && l.Standard
}

func sortedKeys(m map[string]*listed) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Nothing under sync/ depends on the agent: the hub and the uplink share the wire format and the
// order domain with the agent, not the agent's code.
func TestSyncDoesNotImportAgent(t *testing.T) {
	depRule{
		name:     "sync",
		patterns: []string{"./sync/..."},
		ok:       func(p string) bool { return !inModule(p, "agent") },
		why:      "sync/ never imports agent/",
	}.check(t)
}

// The order domain is pure: the standard library, the waybill rules and the wire format only.
func TestOrderImportsOnlyStdlibWaybillWire(t *testing.T) {
	depRule{
		name:     "order",
		patterns: []string{"./order/..."},
		ok: func(p string) bool {
			return inModule(p, "order") || p == "wedge/sync/wire"
		},
		why: "order imports only the standard library, order/… and sync/wire",
	}.check(t)
	// wedge/order itself: of the order domain, only the waybill rules.
	depRule{
		name:     "order package",
		patterns: []string{"wedge/order"},
		ok:       func(p string) bool { return p == "wedge/order/waybill" || p == "wedge/sync/wire" },
		why:      "wedge/order imports only the standard library, order/waybill and sync/wire",
	}.check(t)
}

// Drivers talk to devices; they know neither the agent nor the sync layer, not even through another
// package (TestDriversImportNeitherAgentNorSync checks the direct imports, test files' included).
func TestDriversDependOnNeitherAgentNorSync(t *testing.T) {
	depRule{
		name:     "drivers",
		patterns: []string{"./drivers/..."},
		ok:       func(p string) bool { return !inModule(p, "agent") && !inModule(p, "sync") },
		why:      "drivers/ import neither agent/ nor sync/",
	}.check(t)
}

// configPure are the packages the configuration may import besides the standard library: the
// YAML decoder, the FILE:LINE: FIELD: MSG error helper and the wire format (names).
// internal/webauth/password is the pure (standard library only) hash format the console checks
// passwords against; the config checks console.users hashes with the same function.
var configPure = []string{"go.yaml.in/yaml/v3", "wedge/internal/yamlpath", "wedge/internal/webauth/password", "wedge/sync/wire"}

// The configuration is plain data and checks: it imports no runtime package (journal, console,
// drivers, MQTT …), so anything may read it without starting anything.
func TestConfigImportsNoRuntimePackage(t *testing.T) {
	depRule{
		name:     "config",
		patterns: []string{"./agent/config/..."},
		ok:       func(p string) bool { return slices.Contains(configPure, p) },
		why:      "agent/config imports only the standard library and " + strings.Join(configPure, ", "),
	}.check(t)
}

// The rules above fail when they should: a package that imports what a rule forbids, two steps
// away, is reported with its chain.
func TestBadChains(t *testing.T) {
	pkgs := map[string]*listed{
		"wedge/sync/hub":      {ImportPath: "wedge/sync/hub", Imports: []string{"fmt", "wedge/order"}},
		"wedge/order":         {ImportPath: "wedge/order", Imports: []string{"wedge/agent/breaker"}, DepOnly: true},
		"wedge/agent/breaker": {ImportPath: "wedge/agent/breaker", Imports: []string{"wedge/agent/x"}, DepOnly: true},
		"fmt":                 {ImportPath: "fmt", Standard: true, DepOnly: true},
	}
	got := badChains(pkgs, "wedge/sync/hub", func(p string) bool { return !inModule(p, "agent") })
	want := [][]string{{"wedge/sync/hub", "wedge/order", "wedge/agent/breaker"}}
	if len(got) != 1 || !slices.Equal(got[0], want[0]) {
		t.Fatalf("chains %q, want %q", got, want)
	}
}
