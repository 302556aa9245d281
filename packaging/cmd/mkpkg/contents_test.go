package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The files both packages carry, by format (Debian keeps units and udev rules under /lib).
var wantFiles = map[string][]string{
	"deb": {"/usr/bin/wedge", "/lib/systemd/system/wedge.service", "/lib/systemd/system/wedge-hub.service",
		"/lib/udev/rules.d/99-wedge-scanners.rules", "/etc/wedge/wedge.yaml", "/usr/share/doc/wedge/copyright",
		"/usr/share/doc/wedge/changelog.Debian.gz", "/usr/share/lintian/overrides/wedge"},
	"rpm": {"/usr/bin/wedge", "/usr/lib/systemd/system/wedge.service", "/usr/lib/systemd/system/wedge-hub.service",
		"/usr/lib/udev/rules.d/99-wedge-scanners.rules", "/etc/wedge/wedge.yaml"},
}

// What the install scripts must do, in both formats.
var wantScripts = []string{"useradd --system", "groupadd --system wedge", "for g in dialout plugdev lp",
	"install -d -m 0750 -o wedge -g wedge /var/lib/wedge", "chgrp wedge /etc/wedge/wedge.yaml",
	"udevadm control --reload-rules"}

func TestDebContents(t *testing.T) {
	needTool(t, "dpkg-deb")
	deb := pkg(t, "deb")
	list := runTool(t, "dpkg-deb", "-c", deb)
	for _, f := range wantFiles["deb"] {
		wantLines(t, "dpkg-deb -c", list, "."+f+"\n")
	}
	wantLines(t, "dpkg-deb -c", list, "-rwxr-xr-x root/root", "-rw-r----- root/root") // binary; config 0640
	info := runTool(t, "dpkg-deb", "-I", deb)
	wantLines(t, "dpkg-deb -I", info, "Package: wedge\n", "Version: 1.4.2+5.gdeadbee-1\n",
		"Architecture: amd64\n", "Depends: passwd, libc6 (>= 2.34)\n", "conffiles", "preinst", "postinst", "prerm", "postrm")
	if got := runTool(t, "dpkg-deb", "-I", deb, "conffiles"); got != "/etc/wedge/wedge.yaml\n" {
		t.Errorf("conffiles = %q", got)
	}
	var scripts strings.Builder
	for _, s := range []string{"preinst", "postinst", "prerm", "postrm"} {
		scripts.WriteString(runTool(t, "dpkg-deb", "-I", deb, s))
	}
	wantLines(t, "maintainer scripts", scripts.String(), append(wantScripts, `if [ "$1" = purge ]`, "rm -rf /var/lib/wedge")...)
}

func TestRPMContents(t *testing.T) {
	needTool(t, "rpm")
	r := pkg(t, "rpm")
	list := runTool(t, "rpm", "-qlp", r)
	for _, f := range wantFiles["rpm"] {
		wantLines(t, "rpm -qlp", list, f+"\n")
	}
	// FILEFLAGS "cn": %config(noreplace).
	flags := runTool(t, "rpm", "-qp", "--qf", "[%{FILENAMES} %{FILEFLAGS:fflags} %{FILEMODES:perms}\n]", r)
	wantLines(t, "rpm file flags", flags, "/etc/wedge/wedge.yaml cn -rw-r-----\n", "/usr/bin/wedge  -rwxr-xr-x\n")
	wantLines(t, "rpm -qi", runTool(t, "rpm", "-qip", r), "Version     : 1.4.2+5.gdeadbee", "Release     : 1", "Architecture: x86_64")
	wantLines(t, "rpm --scripts", runTool(t, "rpm", "-qp", "--scripts", r), append(wantScripts, "preinstall scriptlet", "postuninstall scriptlet")...)
	wantLines(t, "rpm --requires", runTool(t, "rpm", "-qp", "--requires", r), "shadow-utils")
}

// TestLintian: the .deb is clean for lintian, pedantic tags included; every remaining tag is
// overridden with its reason in packaging/deb/lintian-overrides (an unused override is a tag too).
func TestLintian(t *testing.T) {
	needTool(t, "lintian")
	deb := pkg(t, "deb")
	cmd := exec.Command("lintian", "--no-cfg", "--pedantic", "--info", "--fail-on", "error,warning,info,pedantic", deb)
	out, err := cmd.CombinedOutput()
	var tags []string
	for _, l := range strings.Split(string(out), "\n") {
		if len(l) > 2 && l[1] == ':' && strings.Contains("EWIPX", l[:1]) {
			tags = append(tags, l)
		}
	}
	if err != nil || len(tags) > 0 {
		t.Fatalf("lintian: %v\n%s", err, out)
	}
}
