package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"wedge/internal/pty"
	"wedge/internal/testbroker"
	"wedge/internal/testutil"
)

// doctorLine finds the line of one check in doctor's output.
func doctorLine(out, check string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, " "+check+" ") || strings.Contains(l, " "+check+":") {
			return l
		}
	}
	return ""
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// A healthy install: a running agent on a real broker with a serial scanner on a real pty, a hub
// whose clock agrees, the udev rules in place. Every line is OK (the journal is SKIP: the running
// agent holds it), exit 0. Then the same with the scanner unplugged, the hub's clock 10 s off and
// the agent stopped: FAIL for the device, WARN for the clock and the backlog, exit 1; with only
// the warnings, exit 2.
func TestDoctor(t *testing.T) {
	b := testbroker.Start(t, nil)
	port, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer port.Close()
	if err := os.Chmod(port.Name, 0o666); err != nil {
		t.Fatal(err)
	}
	var hubSkew atomic.Int64
	hub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", time.Now().Add(time.Duration(hubSkew.Load())).UTC().Format(http.TimeFormat))
	}))
	defer hub.Close()
	rules := t.TempDir()
	os.WriteFile(filepath.Join(rules, "99-wedge-scanners.rules"), []byte("#\n"), 0o644)
	old := udevDirs
	udevDirs = []string{rules}
	t.Cleanup(func() { udevDirs = old })

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "wedge.yaml")
	writeCfg := func(dev string) {
		os.WriteFile(cfgPath, []byte(fmt.Sprintf("site: sz01\nagent: pack07\ndata_dir: data\nbroker: {url: %q, accept_unsigned: true}\n"+
			"api: {listen: %q}\nstations:\n  - {name: dock-1, role: handover}\ndevices:\n"+
			"  - {name: scan-d1, kind: scanner, station: dock-1, transport: serial, port: %s, profile: generic-serial-cr}\n",
			b.URL(), freePort(t), dev)), 0o644)
	}
	writeCfg(port.Name)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuf
	done := make(chan int, 1)
	go func() {
		done <- runAgent(ctx, []string{"--config", cfgPath}, &out, &errb, runHooks{ready: func(string) {}, stopping: func() {}})
	}()
	testutil.Eventually(t, 30*time.Second, "agent running", func() bool { return strings.Contains(out.String(), "running") })

	doctorRun := func(args ...string) (string, int) {
		var o, e strings.Builder
		code := run(append([]string{"doctor", "--config", cfgPath, "--hub", hub.URL}, args...), &o, &e)
		return o.String() + e.String(), code
	}
	got, code := doctorRun()
	for _, c := range []string{"config", "device", "udev", "broker", "clock", "disk", "backlog"} {
		if l := doctorLine(got, c); !strings.HasPrefix(l, "OK ") {
			t.Errorf("%s: %q, want OK", c, l)
		}
	}
	if l := doctorLine(got, "journal"); !strings.HasPrefix(l, "SKIP") {
		t.Errorf("journal of a running agent: %q, want SKIP", l)
	}
	if code != 0 {
		t.Fatalf("healthy: exit %d\n%s", code, got)
	}

	cancel()
	if c := <-done; c != exitOK {
		t.Fatalf("agent exit %d: %s", c, errb.String())
	}
	hubSkew.Store(int64(10 * time.Second))
	got, code = doctorRun()
	if code != 2 || !strings.HasPrefix(doctorLine(got, "clock"), "WARN") || !strings.HasPrefix(doctorLine(got, "backlog"), "WARN") ||
		!strings.HasPrefix(doctorLine(got, "journal"), "OK") {
		t.Fatalf("hub clock off, agent stopped: exit %d, want 2 with clock and backlog WARN, journal OK\n%s", code, got)
	}
	writeCfg(filepath.Join(dir, "ttyACM9"))
	got, code = doctorRun()
	if code != 1 || !strings.HasPrefix(doctorLine(got, "device"), "FAIL") || !strings.Contains(got, "plug the device in") {
		t.Fatalf("unplugged scanner: exit %d, want 1 with the device FAIL and what to do\n%s", code, got)
	}
	if _, code := doctorRun("--bogus"); code != exitDoctorUsage {
		t.Errorf("bad flag: exit %d, want %d", code, exitDoctorUsage)
	}
}
