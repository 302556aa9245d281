package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"wedge/agent/config"
	"wedge/agent/journal"
	"wedge/agent/journal/journaltest"
	"wedge/drivers/discovery"
)

func TestExit(t *testing.T) {
	for _, c := range []struct {
		levels []Level
		want   int
	}{
		{nil, ExitOK}, {[]Level{OK, Skip}, ExitOK}, {[]Level{OK, Warn, Skip}, ExitWarn},
		{[]Level{Warn, Fail, OK}, ExitFail}, {[]Level{Fail}, ExitFail},
	} {
		var rs []Result
		for _, l := range c.levels {
			rs = append(rs, Result{Level: l})
		}
		if got := Exit(rs); got != c.want {
			t.Errorf("%v: exit %d, want %d", c.levels, got, c.want)
		}
	}
}

func TestWrite(t *testing.T) {
	var b strings.Builder
	Write(&b, []Result{{Check: "disk 磁盘", Level: Warn, Detail: "/d 剩余 free 900 MiB", Fix: "清理 clean\nfree space"}, {Check: "x", Level: OK, Detail: "y"}})
	want := "WARN disk 磁盘: /d 剩余 free 900 MiB\n     → 清理 clean\n     → free space\nOK   x: y\n\n1 OK, 1 WARN, 0 FAIL, 0 SKIP\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// The clock check reads the hub's Date header: a few seconds off warns, more fails.
func TestClock(t *testing.T) {
	hubNow := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	hub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Date", hubNow.Format(http.TimeFormat))
	}))
	defer hub.Close()
	for off, want := range map[time.Duration]Level{0: OK, 2 * time.Second: OK, -5 * time.Second: Warn, 30 * time.Second: Warn, 31 * time.Second: Fail, -time.Hour: Fail} {
		now := func() time.Time { return hubNow.Add(off) }
		if r := Clock(context.Background(), hub.Client(), hub.URL+"/", now); r.Level != want {
			t.Errorf("offset %v: %v %q, want %v", off, r.Level, r.Detail, want)
		}
	}
	if r := Clock(context.Background(), hub.Client(), "", time.Now); r.Level != Skip {
		t.Errorf("no hub: %v", r.Level)
	}
	if r := Clock(context.Background(), hub.Client(), "http://127.0.0.1:1", time.Now); r.Level != Warn {
		t.Errorf("unreachable hub: %v", r.Level)
	}
}

func TestConfig(t *testing.T) {
	if r := Config("/etc/wedge/wedge.yaml", fmt.Errorf("read: %w", fs.ErrPermission), ""); r.Level != Fail || !strings.Contains(r.Fix, "sudo wedge doctor") {
		t.Errorf("unreadable: %+v", r)
	}
	if r := Config("w.yaml", errors.New("line 3: site: required"), ""); r.Level != Fail || !strings.Contains(r.Fix, "wedge run --check") {
		t.Errorf("invalid: %+v", r)
	}
	if r := Config("w.yaml", nil, "site sz01"); r.Level != OK || r.Fix != "" {
		t.Errorf("valid: %+v", r)
	}
}

func TestDisk(t *testing.T) {
	for n, want := range map[uint64]Level{10 << 30: OK, DiskWarn - 1: Warn, DiskFail - 1: Fail} {
		if r := Disk("/d", func(string) (uint64, error) { return n, nil }); r.Level != want {
			t.Errorf("%d free: %v", n, r.Level)
		}
	}
	if r := Disk("/nope", func(string) (uint64, error) { return 0, fs.ErrNotExist }); r.Level != Fail {
		t.Errorf("missing dir: %v", r.Level)
	}
	if n, err := FreeBytes(t.TempDir()); err != nil || n == 0 {
		t.Errorf("FreeBytes: %d %v", n, err)
	}
}

// The journal check on a real journal: OK when closed and intact, SKIP while an agent holds it.
func TestJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wedge.db")
	s := journaltest.OpenPath(t, path, &journal.Options{Site: "sz01", Agent: "pack02"})
	if r := Journal(path, true, journal.Verify); r.Level != Skip || !strings.Contains(r.Fix, "wedge journal backup") {
		t.Errorf("held by the agent: %v %q", r.Level, r.Detail)
	}
	s.Close()
	if r := Journal(path, true, journal.Verify); r.Level != OK {
		t.Errorf("closed: %v %q", r.Level, r.Detail)
	}
	if r := Journal(path, true, func(string) (journal.Report, error) {
		return journal.Report{FirstBad: 3, Problem: "edited"}, nil
	}); r.Level != Fail {
		t.Errorf("broken chain: %v", r.Level)
	}
	if r := Journal(path+"x", false, journal.Verify); r.Level != Warn {
		t.Errorf("no journal: %v", r.Level)
	}
}

func TestBacklog(t *testing.T) {
	for _, c := range []struct {
		st   Status
		err  error
		want Level
	}{
		{Status{Unsynced: 0, BrokerConnected: true}, nil, OK},
		{Status{Unsynced: 5, BrokerConnected: true}, nil, OK},
		{Status{Unsynced: 5}, nil, Warn},
		{Status{Unsynced: BacklogWarn + 1, BrokerConnected: true}, nil, Warn},
		{Status{}, errors.New("connection refused"), Warn},
	} {
		if r := Backlog(c.st, c.err); r.Level != c.want {
			t.Errorf("%+v %v: %v", c.st, c.err, r.Level)
		}
	}
}

func TestUdevRules(t *testing.T) {
	dir := t.TempDir()
	has := func(p string) bool { _, err := os.Stat(p); return err == nil }
	if r := UdevRules("linux", has, dir); r.Level != Warn {
		t.Errorf("missing: %v", r.Level)
	}
	os.WriteFile(filepath.Join(dir, "99-wedge-scanners.rules"), nil, 0o644)
	if r := UdevRules("linux", has, "/nonexistent", dir); r.Level != OK {
		t.Errorf("installed: %v", r.Level)
	}
	if r := UdevRules("windows", has, dir); r.Level != Skip {
		t.Errorf("windows: %v", r.Level)
	}
}

// fakeNode is a device node's FileInfo with a mode.
type fakeNode struct {
	fs.FileInfo
	mode fs.FileMode
}

func (f fakeNode) Mode() fs.FileMode { return f.mode }

func TestDevices(t *testing.T) {
	nodes := map[string]fakeNode{
		"/dev/ttyACM0": {mode: fs.ModeDevice | fs.ModeCharDevice | 0o660},
		"/dev/ttyS0":   {mode: fs.ModeDevice | fs.ModeCharDevice | 0o620},
		"/dev/open":    {mode: fs.ModeDevice | fs.ModeCharDevice | 0o666},
	}
	groups := map[string]string{"/dev/ttyACM0": "dialout", "/dev/ttyS0": "tty"}
	stat := func(p string) (fs.FileInfo, error) {
		n, ok := nodes[p]
		if !ok {
			return nil, fs.ErrNotExist
		}
		n.FileInfo = nameInfo(p)
		return n, nil
	}
	acc := NodeAccess{GroupOf: func(fi fs.FileInfo) (string, bool) { g, ok := groups[fi.Name()]; return g, ok }}
	found := []discovery.Device{{VID: "0C2E", PID: "0B61", Path: "1-2:1.0", Product: "Xenon", Profiles: []string{"honeywell-hid-pos"}}}
	devs := []config.Device{
		{Name: "a", Kind: "scanner", Transport: "serial", Port: "/dev/ttyACM0"},                                                      // OK: group dialout
		{Name: "b", Kind: "scanner", Transport: "serial", Port: "/dev/ttyS0"},                                                        // FAIL: group tty
		{Name: "c", Kind: "printer", Transport: "usblp", Port: "/dev/usb/lp0"},                                                       // FAIL: missing
		{Name: "d", Kind: "scanner", Transport: "hid", Profile: "honeywell-hid-pos", Match: &config.Match{VID: "0c2e", PID: "0b61"}}, // OK
		{Name: "e", Kind: "scanner", Transport: "hid", Profile: "zebra-hid-pos", Match: &config.Match{VID: "0C2E"}},                  // WARN: profile
		{Name: "f", Kind: "scanner", Transport: "hid", Match: &config.Match{VID: "05E0"}},                                            // FAIL: absent
		{Name: "g", Kind: "printer", Transport: "tcp", Address: "10.0.0.9:9100"},                                                     // SKIP
		{Name: "h", Kind: "scanner", Transport: "serial", Port: "/dev/open"},                                                         // OK: world rw
	}
	want := []Level{OK, Fail, Fail, OK, Warn, Fail, Skip, OK}
	rs := Devices(devs, found, stat, acc)
	for i, r := range rs {
		if r.Level != want[i] {
			t.Errorf("%s: %v %q, want %v", devs[i].Name, r.Level, r.Detail, want[i])
		}
		if (r.Level == Fail || r.Level == Warn) && r.Fix == "" {
			t.Errorf("%s: %v without what to do", devs[i].Name, r.Level)
		}
	}
}

// nameInfo is a FileInfo that only knows its name (the path, so the fake GroupOf can look it up).
type nameInfo string

func (n nameInfo) Name() string       { return string(n) }
func (n nameInfo) Size() int64        { return 0 }
func (n nameInfo) Mode() fs.FileMode  { return 0 }
func (n nameInfo) ModTime() time.Time { return time.Time{} }
func (n nameInfo) IsDir() bool        { return false }
func (n nameInfo) Sys() any           { return nil }
