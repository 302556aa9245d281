package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// MSIOptions say how to build the Windows installer. Cert and Key (PEM), when both set, sign
// wedge.exe and the MSI with osslsigncode (Authenticode, SHA-256); CAFile, when set, is used to
// verify both signatures after signing.
type MSIOptions struct {
	Version, Root, OutDir string
	Cert, Key, CAFile     string
}

// MSIVersion is the numeric a.b.c an MSI ProductVersion needs, from a package version
// ("1.4.2+5.gabc" → "1.4.2", "0.0.0+git.abc" → "0.0.0", "2.0" → "2.0.0").
func MSIVersion(pkgVersion string) string {
	i := strings.IndexAny(pkgVersion, "+~-")
	if i < 0 {
		i = len(pkgVersion)
	}
	parts := strings.Split(pkgVersion[:i], ".")
	for len(parts) < 3 {
		parts = append(parts, "0")
	}
	return strings.Join(parts[:3], ".")
}

// BuildMSI cross-builds wedge.exe with cgo through MinGW-w64 (the HID driver's hidapi needs it),
// signs it when asked, packs it with wixl into OutDir/wedge_<version>_amd64.msi, signs and verifies
// that too, and returns the MSI's path.
func BuildMSI(o MSIOptions) (string, error) {
	ver, err := PackageVersion(o.Version)
	if err != nil {
		return "", err
	}
	root, err := filepath.Abs(o.Root)
	if err != nil {
		return "", err
	}
	stage := filepath.Join(o.OutDir, "windows")
	if err := os.MkdirAll(stage, 0o755); err != nil {
		return "", err
	}
	exe := filepath.Join(stage, "wedge.exe")
	if err := buildExe(root, o.Version, exe); err != nil {
		return "", err
	}
	if err := signed(o, exe); err != nil {
		return "", err
	}
	for src, dst := range map[string]string{"README.md": "README.md", "docs/config.example.yaml": "wedge.example.yaml"} {
		b, err := os.ReadFile(filepath.Join(root, src))
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(stage, dst), b, 0o644); err != nil {
			return "", err
		}
	}
	msi, err := filepath.Abs(filepath.Join(o.OutDir, fmt.Sprintf("wedge_%s_amd64.msi", ver)))
	if err != nil {
		return "", err
	}
	// wixl takes file sources relative to its working directory only.
	if err := tool(stage, "wixl", "-a", "x64", "-D", "Version="+MSIVersion(ver), "-D", "SourceDir=.",
		"-o", msi, filepath.Join(root, "packaging", "windows", "wedge.wxs")); err != nil {
		return "", err
	}
	return msi, signed(o, msi)
}

// buildExe cross-compiles wedge.exe for windows/amd64 with MinGW-w64's gcc.
func buildExe(root, version, out string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X wedge/agent/version.Version="+version,
		"-o", out, "./agent/cmd/wedge")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1", "GOOS=windows", "GOARCH=amd64", "CC=x86_64-w64-mingw32-gcc")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build (windows, mingw-w64): %w\n%s", err, b)
	}
	return nil
}

// signed signs file in place with osslsigncode when a certificate and key are given, then
// verifies the signature against CAFile when given.
func signed(o MSIOptions, file string) error {
	if o.Cert == "" || o.Key == "" {
		return nil
	}
	tmp := file + ".signed"
	if err := tool("", "osslsigncode", "sign", "-certs", o.Cert, "-key", o.Key, "-n", "wedge", "-h", "sha256",
		"-in", file, "-out", tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, file); err != nil {
		return err
	}
	if o.CAFile == "" {
		return nil
	}
	return tool("", "osslsigncode", "verify", "-CAfile", o.CAFile, "-in", file)
}

// tool runs an external tool, returning its output with the error.
func tool(dir, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w\n%s", name, err, b)
	}
	return nil
}
