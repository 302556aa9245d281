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
	"strings"
	"sync"
	"syscall"
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
	log     syncBuffer
	waitErr chan error
}

// Options tune the broker. The zero value is mosquitto's defaults plus anonymous access.
type Options struct {
	// MaxQueued sets max_queued_messages (0 = mosquitto's default, 1000).
	MaxQueued int
	// Persistence turns on mosquitto persistence (in the test's temp dir).
	Persistence bool
	// Config, if set, returns the listener and security part of mosquitto.conf for the broker's
	// port, instead of the default anonymous plain-TCP listener on 127.0.0.1. It is how tests run a
	// TLS listener with client certificates, an ACL file and a CRL (internal/pki generates such a
	// configuration); connect to URL with the ssl scheme then (TLSURL). MaxQueued and Persistence
	// are appended to it.
	Config func(port int) string
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
	if opts.Config != nil {
		conf = strings.TrimRight(opts.Config(b.Port), "\n") + "\n"
		if os.Geteuid() == 0 {
			// mosquitto started as root drops to the "mosquitto" user, which cannot read the
			// certificates and ACL in the test's private temp dir. "user root" keeps it as root.
			conf += "user root\n"
		}
	}
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

// TLSURL is the broker's ssl:// URL, for a listener configured with Options.Config.
func (b *Broker) TLSURL() string { return "ssl://127.0.0.1:" + strconv.Itoa(b.Port) }

// Dir is the broker's directory (its mosquitto.conf, persistence); removed after the test.
func (b *Broker) Dir() string { return b.dir }

// Log is what mosquitto printed so far (with Options.Config, add "log_type all" to see more).
func (b *Broker) Log() string { return b.log.String() }

// Reload sends SIGHUP, as `systemctl reload mosquitto` does: mosquitto re-reads its ACL file and
// some TLS files. It returns once mosquitto has logged the reload (or fails the test after 10 s).
func (b *Broker) Reload() {
	b.t.Helper()
	b.mu.Lock()
	if b.cmd == nil {
		b.mu.Unlock()
		b.t.Fatalf("testbroker: Reload of a stopped broker")
	}
	before := strings.Count(b.log.String(), "Reloading config")
	err := b.cmd.Process.Signal(syscall.SIGHUP)
	b.mu.Unlock()
	if err != nil {
		b.t.Fatalf("testbroker: SIGHUP: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Count(b.Log(), "Reloading config") > before {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.t.Fatalf("testbroker: mosquitto did not log a reload after SIGHUP\n%s", b.Log())
}

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

// syncBuffer is a bytes.Buffer that mosquitto's output goroutine and the test can share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
