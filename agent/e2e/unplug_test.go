package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"wedge/internal/pty"
)

// TestUnplug pulls a serial scanner out and plugs it back in while the agent runs. The config names
// a stable symlink (like /dev/serial/by-id/…) that points at the current pty; unplugging closes the
// pty and removes the link, replugging makes a new pty behind the same link. The agent keeps
// running, reports the device disconnected, reopens it and accepts the next scan.
func TestUnplug(t *testing.T) {
	needE2E(t)
	dir := t.TempDir()
	b := startBroker(t, dir)
	h := startHub(t, dir, b, freeAddr(t))
	link := filepath.Join(dir, "ttyScanner0")
	plug := func() *pty.Pair {
		t.Helper()
		p := openPty(t)
		os.Remove(link)
		if err := os.Symlink(p.Name, link); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := plug()
	a := newAgent(t, dir, "pack01", b, stationSpec{"print-1", "print", &pty.Pair{Name: link}})
	waitFor(t, 30*time.Second, "the scanner is open", func() bool { return a.devicesConnected(t) })

	accepted := func(code string) {
		t.Helper()
		scan(t, p, code)
		waitFor(t, 30*time.Second, code+" accepted", func() bool {
			for _, o := range a.outcomes(t) {
				if o.code == code {
					if o.result != "accepted" {
						t.Fatalf("%s: %+v", code, o)
					}
					return true
				}
			}
			return false
		})
	}
	accepted("OP-before")
	for i := range 3 {
		p.Close()
		os.Remove(link)
		waitFor(t, 30*time.Second, "the agent sees the scanner gone", func() bool { return !a.devicesConnected(t) })
		time.Sleep(time.Duration(i) * 500 * time.Millisecond) // unplugged for a while (the agent retries)
		p = plug()
		waitFor(t, 60*time.Second, "the agent reopens the scanner", func() bool { return a.devicesConnected(t) })
		accepted("OP-after" + string(rune('a'+i)))
	}
	last := a.drained(t, h, 60*time.Second)
	a.stop()
	a.verify(t)
	if last != 4 {
		t.Errorf("journal has %d entries, want the 4 badge scans", last)
	}
}
