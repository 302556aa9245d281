// Package testbroker runs a real mosquitto broker on a random loopback port for tests. Tests that
// need it call Start; when mosquitto is not installed the test is skipped locally but fails under
// CI (CI=true), because .ci/run installs it and a silently skipped broker test would prove nothing.
package testbroker

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Broker is one mosquitto process.
type Broker struct {
	t       testing.TB
	dir     string
	Port    int
	mu      sync.Mutex
	cmd     *exec.Cmd
	log     bytes.Buffer
	waitErr chan error
}

// Options tune the broker. The zero value is mosquitto's defaults plus anonymous access.
type Options struct {
	// MaxQueued sets max_queued_messages (0 = mosquitto's default, 1000).
	MaxQueued int
	// Persistence turns on mosquitto persistence (in the test's temp dir).
	Persistence bool
}

// Path returns the mosquitto binary, or "" if none is installed.
func Path() string {
	for _, p := range []string{"mosquitto", "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
		if lp, err := exec.LookPath(p); err == nil {
			return lp
		}
	}
	return ""
}

// Start starts mosquitto and registers its shutdown with t.Cleanup.
func Start(t testing.TB, opts *Options) *Broker {
	t.Helper()
	bin := Path()
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("mosquitto is not installed (CI must install it: see .ci/run)")
		}
		t.Skip("mosquitto is not installed; apt-get install mosquitto")
	}
	if opts == nil {
		opts = &Options{}
	}
	b := &Broker{t: t, dir: t.TempDir(), Port: freePort(t)}
	conf := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\n", b.Port)
	if opts.MaxQueued > 0 {
		conf += fmt.Sprintf("max_queued_messages %d\n", opts.MaxQueued)
	}
	if opts.Persistence {
		conf += fmt.Sprintf("persistence true\npersistence_location %s/\n", b.dir)
	}
	if err := os.WriteFile(filepath.Join(b.dir, "mosquitto.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	b.start()
	t.Cleanup(b.Stop)
	return b
}

// URL is the broker's tcp:// URL.
func (b *Broker) URL() string { return "tcp://127.0.0.1:" + strconv.Itoa(b.Port) }

// Addr is host:port.
func (b *Broker) Addr() string { return "127.0.0.1:" + strconv.Itoa(b.Port) }

func (b *Broker) start() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	cmd := exec.Command(Path(), "-c", filepath.Join(b.dir, "mosquitto.conf"))
	cmd.Stdout, cmd.Stderr = &b.log, &b.log
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("start mosquitto: %v", err)
	}
	b.cmd = cmd
	b.waitErr = make(chan error, 1)
	go func() { b.waitErr <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", b.Addr(), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		select {
		case err := <-b.waitErr:
			b.t.Fatalf("mosquitto exited: %v\n%s", err, b.log.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	b.t.Fatalf("mosquitto did not listen on %s\n%s", b.Addr(), b.log.String())
}

// Stop kills the broker (as a crash would: SIGKILL) and waits for it. Stopping twice is fine.
func (b *Broker) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return
	}
	_ = b.cmd.Process.Kill()
	<-b.waitErr
	b.cmd = nil
}

// Restart starts a stopped broker again on the same port.
func (b *Broker) Restart() {
	b.Stop()
	b.start()
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
