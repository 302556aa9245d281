// Command mkpkg builds wedge's Linux packages (.deb, .rpm) from packaging/nfpm.yaml with nfpm used
// as a library: one declarative spec for both formats, no fpm/rpmbuild/dpkg-deb on the build machine.
//
//	go run ./packaging/cmd/mkpkg -format deb -version 1.2.0 [-binary bin/wedge] [-out dist]
//
// Without -binary it builds the release binary first (see BuildBinary). It writes
// dist/wedge_<version>_<arch>.<format> and prints its path. The version is made package-safe
// (see PackageVersion); the package's own version adds release "-1" (Debian revision, RPM release).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the rpm packager
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mkpkg", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o Options
	fs.StringVar(&o.Format, "format", "deb", "deb, rpm or msi")
	fs.StringVar(&o.Version, "version", "", "version (git describe output is accepted)")
	fs.StringVar(&o.Arch, "arch", runtime.GOARCH, "Go architecture of the binary")
	fs.StringVar(&o.Binary, "binary", "", "the wedge binary to package (default: build it into <out>/build)")
	fs.StringVar(&o.Spec, "spec", "packaging/nfpm.yaml", "the nfpm spec")
	fs.StringVar(&o.Root, "root", ".", "repository root (sources in the spec are relative to it)")
	fs.StringVar(&o.OutDir, "out", "dist", "output directory")
	var sign MSIOptions
	fs.StringVar(&sign.Cert, "sign-cert", "", "msi: Authenticode certificate (PEM) for wedge.exe and the MSI")
	fs.StringVar(&sign.Key, "sign-key", "", "msi: its private key (PEM)")
	fs.StringVar(&sign.CAFile, "sign-ca", "", "msi: verify the signatures against this CA (PEM)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.Format == "msi" {
		sign.Version, sign.Root, sign.OutDir = o.Version, o.Root, o.OutDir
		path, err := BuildMSI(sign)
		if err != nil {
			fmt.Fprintf(stderr, "mkpkg: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, path)
		return 0
	}
	if o.Binary == "" {
		o.Binary = filepath.Join(o.OutDir, "build", "wedge")
		if err := BuildBinary(o.Root, o.Version, o.Binary); err != nil {
			fmt.Fprintf(stderr, "mkpkg: %v\n", err)
			return 1
		}
	}
	path, err := Build(o)
	if err != nil {
		fmt.Fprintf(stderr, "mkpkg: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, path)
	return 0
}

// Options say what to build. Every field is required except Spec (default packaging/nfpm.yaml
// under Root) and OutDir (default dist under Root).
type Options struct {
	Format, Version, Arch, Binary, Spec, Root, OutDir string
	Date                                              time.Time // of the changelog entry; zero: now
}

// BuildBinary builds the wedge binary for packaging into out, for this machine's architecture:
// cgo on (the HID driver compiles hidapi and libusb), position-independent, without symbol tables
// (Debian's policy and lintian ask for both), paths trimmed, the version linked in.
func BuildBinary(root, version, out string) error {
	cmd := exec.Command("go", "build", "-buildmode=pie", "-trimpath",
		"-ldflags", "-s -w -X wedge/agent/version.Version="+version, "-o", out, "./agent/cmd/wedge")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, b)
	}
	return nil
}

// ErrVersion is returned for a version that cannot be made into a package version.
var ErrVersion = errors.New("bad version")

// Build writes the package and returns its path.
func Build(o Options) (string, error) {
	root, err := filepath.Abs(o.Root)
	if err != nil {
		return "", err
	}
	ver, err := PackageVersion(o.Version)
	if err != nil {
		return "", err
	}
	bin, err := filepath.Abs(o.Binary)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("binary: %w", err)
	}
	spec := o.Spec
	if spec == "" {
		spec = filepath.Join(root, "packaging", "nfpm.yaml")
	}
	env := map[string]string{"WEDGE_VERSION": ver, "WEDGE_ARCH": o.Arch, "WEDGE_BINARY": bin, "WEDGE_ROOT": root}
	cfg, err := parseSpec(spec, env)
	if err != nil {
		return "", fmt.Errorf("%s: %w", spec, err)
	}
	info, err := cfg.Get(o.Format)
	if err != nil {
		return "", err
	}
	info = nfpm.WithDefaults(info)
	if o.Format == "deb" {
		// Debian wants a changelog in every binary package: one entry for this build.
		cl, err := writeChangelog(info, o.Date)
		if err != nil {
			return "", err
		}
		defer os.Remove(cl)
		info.Changelog = cl
	}
	if err := nfpm.PrepareForPackager(info, o.Format); err != nil {
		return "", fmt.Errorf("%s: %w", o.Format, err)
	}
	pkgr, err := nfpm.Get(o.Format)
	if err != nil {
		return "", err
	}
	out := o.OutDir
	if out == "" {
		out = filepath.Join(root, "dist")
	}
	return write(pkgr, info, filepath.Join(out, fmt.Sprintf("wedge_%s_%s.%s", ver, o.Arch, o.Format)))
}

// ErrSpec is returned for a spec naming a ${VARIABLE} that mkpkg does not set.
var ErrSpec = errors.New("unknown variable")

// parseSpec expands ${WEDGE_…} everywhere in the spec text (nfpm itself expands only some fields,
// not scripts or sources) and parses the result. A variable mkpkg does not set is an error, not
// an empty string.
func parseSpec(path string, env map[string]string) (nfpm.Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nfpm.Config{}, err
	}
	var unknown []string
	text := os.Expand(string(b), func(k string) string {
		v, ok := env[k]
		if !ok {
			unknown = append(unknown, k)
		}
		return v
	})
	if len(unknown) > 0 {
		return nfpm.Config{}, fmt.Errorf("%w: %s", ErrSpec, strings.Join(unknown, ", "))
	}
	return nfpm.ParseWithEnvMapping(strings.NewReader(text), func(k string) string { return env[k] })
}

// writeChangelog writes a one-entry chglog file (the format nfpm turns into changelog.Debian.gz)
// for info's version and returns its path.
func writeChangelog(info *nfpm.Info, date time.Time) (string, error) {
	if date.IsZero() {
		date = time.Now()
	}
	f, err := os.CreateTemp("", "mkpkg-changelog-*.yml")
	if err != nil {
		return "", err
	}
	full := info.Version
	if info.Release != "" {
		full += "-" + info.Release
	}
	_, err = fmt.Fprintf(f, "- semver: %q\n  date: %s\n  packager: %q\n  deb: {urgency: medium, distributions: [stable]}\n  changes:\n    - note: %q\n",
		full, date.UTC().Format(time.RFC3339), info.Maintainer,
		"Release "+info.Version+": see README.md and docs/ in /usr/share/doc/wedge.")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// write packages info into path through a temporary file, so a failed build leaves no package.
func write(pkgr nfpm.Packager, info *nfpm.Info, path string) (string, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".mkpkg-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	if err := pkgr.Package(info, f); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return "", err
	}
	return path, os.Rename(f.Name(), path)
}

// numericStart reports whether v starts with a dotted number ending at its end or at '-', '+' or
// '~' ("1.2.0-3-g…" does, a commit id like "251d35b" does not).
func numericStart(v string) bool {
	i := 0
	for i < len(v) && (v[i] >= '0' && v[i] <= '9' || v[i] == '.' && i > 0) {
		i++
	}
	return i > 0 && (i == len(v) || strings.ContainsRune("-+~", rune(v[i])))
}

// PackageVersion turns a release tag or git describe output into a version both dpkg and rpm
// order sensibly: "v1.2.0" → "1.2.0"; "1.2.0-3-gabc123" → "1.2.0+3.gabc123"; a bare commit
// "251d35b-dirty" → "0.0.0+git.251d35b.dirty". A '-' would be dpkg's revision separator and is
// not allowed in an rpm version, so it becomes '.' (after a '+' for the first).
func PackageVersion(v string) (string, error) {
	v = strings.TrimPrefix(strings.TrimSpace(v), "v")
	if v == "" {
		return "", fmt.Errorf("%w: empty", ErrVersion)
	}
	for _, r := range v {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || strings.ContainsRune(".+-~", r)) {
			return "", fmt.Errorf("%w: %q has %q", ErrVersion, v, r)
		}
	}
	if !numericStart(v) {
		v = "0.0.0+git." + v
	}
	if i := strings.IndexByte(v, '-'); i >= 0 && !strings.Contains(v[:i], "+") {
		v = v[:i] + "+" + v[i+1:]
	}
	return strings.ReplaceAll(v, "-", "."), nil
}
