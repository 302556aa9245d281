package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// root is the repository root, from this package's directory.
const root = "../../.."

func TestPackageVersion(t *testing.T) {
	for in, want := range map[string]string{
		"v1.2.0":                  "1.2.0",
		"1.2.0":                   "1.2.0",
		"1.2.0-3-gabc123":         "1.2.0+3.gabc123",
		"v1.2.0-3-gabc123-dirty":  "1.2.0+3.gabc123.dirty",
		"251d35b":                 "0.0.0+git.251d35b",
		"251d35b-dirty":           "0.0.0+git.251d35b.dirty",
		"abc1234":                 "0.0.0+git.abc1234",
		"2.0.0~rc1":               "2.0.0~rc1",
		"1.2.0+build.7":           "1.2.0+build.7",
		" v1.0.0\n":               "1.0.0",
		"12":                      "12",
		"1.2.0-rc.1":              "1.2.0+rc.1",
		"1.2.0+meta-with-hyphens": "1.2.0+meta.with.hyphens",
	} {
		got, err := PackageVersion(in)
		if err != nil || got != want {
			t.Errorf("PackageVersion(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "v", "1.2 0", "1.2/0", "1.2_0", "版本"} {
		if got, err := PackageVersion(bad); !errors.Is(err, ErrVersion) {
			t.Errorf("PackageVersion(%q) = %q, %v; want ErrVersion", bad, got, err)
		}
	}
}

func TestSpecUnknownVariableIsAnError(t *testing.T) {
	spec := filepath.Join(t.TempDir(), "nfpm.yaml")
	if err := os.WriteFile(spec, []byte("name: wedge\narch: ${WEDGE_ARCH}\nversion: ${WEDGE_VERSON}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := parseSpec(spec, map[string]string{"WEDGE_ARCH": "amd64"})
	if !errors.Is(err, ErrSpec) || !strings.Contains(err.Error(), "WEDGE_VERSON") {
		t.Fatalf("err = %v, want ErrSpec naming WEDGE_VERSON", err)
	}
}

func TestBuildRefusesAMissingBinary(t *testing.T) {
	_, err := Build(Options{Format: "deb", Version: "1.0.0", Arch: "amd64", Root: root,
		Binary: filepath.Join(t.TempDir(), "nope"), OutDir: t.TempDir()})
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want a missing binary", err)
	}
}

// needTool returns the path of an external tool; without it the test fails under CI (which
// installs it, see .ci/run) and is skipped elsewhere.
// pkgOf names the Debian package of a tool whose package is not named like it.
var pkgOf = map[string]string{"x86_64-w64-mingw32-gcc": "gcc-mingw-w64-x86-64", "msiinfo": "msitools", "msiextract": "msitools"}

func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		pkg := pkgOf[name]
		if pkg == "" {
			pkg = name
		}
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is required under CI (apt-get install %s): %v", name, pkg, err)
		}
		t.Skipf("%s not installed (apt-get install %s); skipping", name, pkg)
	}
	return p
}

// built is the release binary and the packages made from it, once per test run.
var built struct {
	once    sync.Once
	dir     string
	bin     string
	err     error
	pkgs    map[string]string
	pkgErrs map[string]error
	mu      sync.Mutex
}

const testVersion = "1.4.2-5-gdeadbee"

// release builds the release binary once (cgo, PIE, stripped) into a temporary directory.
func release(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the release binary; skipped with -short")
	}
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "mkpkg-test-")
		if built.err != nil {
			return
		}
		built.bin = filepath.Join(built.dir, "wedge")
		built.err = BuildBinary(root, testVersion, built.bin)
		built.pkgs, built.pkgErrs = map[string]string{}, map[string]error{}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

// pkg builds (once) the package of format from the release binary and returns its path.
func pkg(t *testing.T, format string) string {
	t.Helper()
	bin := release(t)
	built.mu.Lock()
	defer built.mu.Unlock()
	if _, ok := built.pkgs[format]; !ok {
		built.pkgs[format], built.pkgErrs[format] = Build(Options{Format: format, Version: testVersion,
			Arch: "amd64", Binary: bin, Root: root, OutDir: built.dir, Date: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)})
	}
	if err := built.pkgErrs[format]; err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(built.dir, "wedge_1.4.2+5.gdeadbee_amd64."+format)
	if got := built.pkgs[format]; got != want {
		t.Fatalf("package path %s, want %s", got, want)
	}
	return built.pkgs[format]
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// runTool runs a tool and returns its standard output.
func runTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// wantLines fails for every wanted substring that no line of out contains.
func wantLines(t *testing.T, what, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("%s: no %q in\n%s", what, w, out)
		}
	}
}
