package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The Debian release the install test runs in: the one the packages target (see docs/PACKAGING.md).
const installSuite = "bookworm"

// TestInstallInThrowawayRoot installs the .deb into a throwaway Debian root (a minimal bookworm
// made by mmdebstrap once and cached as a tarball, unpacked afresh for every run) and checks what
// the maintainer scripts do there: install, reinstall (the scripts are idempotent), remove (the
// journal and the config stay), purge (they go; the system user stays, as Debian advises). The
// machine running the test is not changed, apart from the cached tarball. It needs root (tar
// keeps the root's owners, dpkg runs under chroot); it is skipped, saying why, without root, or
// when no cached root exists and none can be made (see cachedRoot and docs/PACKAGING.md).
func TestInstallInThrowawayRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (chroot, tar keeping owners); skipping the install test")
	}
	for _, tool := range []string{"chroot", "tar"} {
		needTool(t, tool)
	}
	root := unpackRoot(t, cachedRoot(t, installSuite)) // first: a skip here builds nothing
	deb := pkg(t, "deb")
	data, err := os.ReadFile(deb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "tmp/wedge.deb"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	in := func(args ...string) string {
		t.Helper()
		return runTool(t, "chroot", append([]string{root}, args...)...)
	}

	in("dpkg", "-i", "/tmp/wedge.deb")
	checkInstalled(t, in)
	in("dpkg", "-i", "/tmp/wedge.deb") // again: preinst and postinst run on an installed package
	checkInstalled(t, in)

	// A journal file, and a file of the operator's in /etc/wedge (which dpkg alone would not remove).
	in("sh", "-c", "echo journal > /var/lib/wedge/keep; echo site > /etc/wedge/local.yaml")
	in("dpkg", "-r", "wedge")
	wantLines(t, "after remove", in("stat", "-c", "%U:%G %n", "/var/lib/wedge/keep", "/etc/wedge/wedge.yaml"),
		"root:root /var/lib/wedge/keep", "root:wedge /etc/wedge/wedge.yaml")
	if out := in("sh", "-c", "test -e /usr/bin/wedge && echo present || echo gone"); out != "gone\n" {
		t.Errorf("after remove /usr/bin/wedge: %s", out)
	}

	in("dpkg", "-P", "wedge")
	if out := in("sh", "-c", "ls -d /var/lib/wedge /etc/wedge 2>/dev/null; true"); out != "" {
		t.Errorf("after purge these remain:\n%s", out)
	}
	wantLines(t, "after purge getent passwd", in("getent", "passwd", "wedge"), "wedge:x:")
	// Purged: dpkg forgets the package (no output) or calls it not-installed; never config-files.
	if out := in("sh", "-c", "dpkg-query -W -f '${Status}' wedge 2>/dev/null; true"); out != "" && !strings.HasSuffix(out, " not-installed") {
		t.Errorf("after purge dpkg still knows wedge: %q", out)
	}
}

// checkInstalled checks an installed package in the root that in runs commands in.
func checkInstalled(t *testing.T, in func(args ...string) string) {
	t.Helper()
	groups := []string{"wedge", "dialout", "lp"}
	if in("sh", "-c", "getent group plugdev >/dev/null && echo yes || echo no") == "yes\n" {
		groups = append(groups, "plugdev")
	}
	ids := " " + strings.TrimSpace(in("id", "-nG", "wedge")) + " "
	for _, g := range groups {
		if !strings.Contains(ids, " "+g+" ") {
			t.Errorf("id -nG wedge = %q: not in %s", ids, g)
		}
	}
	wantLines(t, "getent passwd wedge", in("getent", "passwd", "wedge"), ":/var/lib/wedge:/usr/sbin/nologin\n")
	wantLines(t, "stat", in("stat", "-c", "%U:%G %a %n", "/var/lib/wedge", "/etc/wedge/wedge.yaml", "/usr/bin/wedge",
		"/lib/systemd/system/wedge.service", "/lib/systemd/system/wedge-hub.service", "/lib/udev/rules.d/99-wedge-scanners.rules"),
		"wedge:wedge 750 /var/lib/wedge\n", "root:wedge 640 /etc/wedge/wedge.yaml\n", "root:root 755 /usr/bin/wedge\n",
		"root:root 644 /lib/systemd/system/wedge.service\n", "root:root 644 /lib/systemd/system/wedge-hub.service\n",
		"root:root 644 /lib/udev/rules.d/99-wedge-scanners.rules\n")
	wantLines(t, "dpkg-query conffiles", in("dpkg-query", "-W", "-f", "${Status}\n${Conffiles}\n", "wedge"),
		"install ok installed\n", " /etc/wedge/wedge.yaml ")
	// The binary runs on the root's own libc: the Depends line is true.
	wantLines(t, "wedge version", in("/usr/bin/wedge", "version"), "wedge ")
}

// cachedRoot returns the tarball of a minimal Debian root of suite, made once with mmdebstrap
// into the user's cache directory ($XDG_CACHE_HOME or ~/.cache, then wedge-test/) and reused.
// Delete the tarball to refresh it. Making it takes about 40 s and the Debian mirror; without a
// tarball it skips the test when the mirror is out of reach or mmdebstrap is missing (the
// latter fails under CI, like every missing tool: .ci/run installs it).
func cachedRoot(t *testing.T, suite string) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Skipf("no cache directory for the Debian root (%v); skipping the install test", err)
	}
	dir := filepath.Join(cache, "wedge-test")
	tarball := filepath.Join(dir, "debian-root-"+suite+".tar")
	if _, err := os.Stat(tarball); err == nil {
		return tarball
	}
	t.Logf("no cached Debian root %s: making one with mmdebstrap (about a minute)", tarball)
	needTool(t, "mmdebstrap") // under CI a failure: .ci/run installs it
	if err := makeRoot(dir, suite, tarball); err != nil {
		t.Skipf("cannot make the Debian root (is the mirror reachable?); skipping the install test: %v", err)
	}
	return tarball
}

// makeRoot runs mmdebstrap into a temporary file beside tarball and renames it into place, so
// that an interrupted or concurrent run never leaves a partial root in the cache.
func makeRoot(dir, suite, tarball string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(dir, "making-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "root.tar")
	if b, err := exec.Command("mmdebstrap", "--quiet", "--variant=apt", suite, out).CombinedOutput(); err != nil {
		return fmt.Errorf("mmdebstrap --variant=apt %s: %w\n%s", suite, err, b)
	}
	return os.Rename(out, tarball)
}

// unpackRoot unpacks the root tarball into a fresh temporary directory, owners kept.
func unpackRoot(t *testing.T, tarball string) string {
	t.Helper()
	root := t.TempDir()
	runTool(t, "tar", "--numeric-owner", "--same-owner", "-xpf", tarball, "-C", root)
	return root
}
