// Package testpg runs a real PostgreSQL server for tests. Start initdb's a cluster in a temporary
// directory and starts it with pg_ctl on a random loopback port; NewDatabase gives each test (or
// subtest) a fresh database on it. With the environment variable WEDGE_TEST_PG set to a DSN, that
// server is used instead (databases are created and dropped on it). When PostgreSQL is not
// installed the test is skipped locally but fails under CI (CI set), because .ci/run installs it
// and a silently skipped database test would prove nothing.
//
// initdb refuses to run as root, so as root the cluster is made and run as the "postgres" user
// (runuser), in a directory that user owns. Crash and Restart stop a started server as a crash
// would and start it again on the same port and data, for tests of a database restart.
package testpg

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is one PostgreSQL server.
type Server struct {
	// DSN connects to its maintenance database as a superuser.
	DSN string

	// ctl runs pg_ctl on the server's data directory (nil for WEDGE_TEST_PG's server).
	ctl       func(args ...string) ([]byte, error)
	logPath   string
	opts      string // the server's options: port, socket directory, settings
	startWait string // pg_ctl -t for start and stop (a kept cluster may replay its WAL for long)
	mu        sync.Mutex
	running   bool
}

// binDir finds the directory of initdb and pg_ctl, or "".
func binDir() string {
	if p, err := exec.LookPath("pg_config"); err == nil {
		if out, err := exec.Command(p, "--bindir").Output(); err == nil {
			d := string(bytes.TrimSpace(out))
			if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
				return d
			}
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(matches) > 0 {
		return filepath.Dir(matches[len(matches)-1])
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(r)
		}
	}
	return ""
}

// Start returns the server of WEDGE_TEST_PG, or starts one and registers its shutdown with
// t.Cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	if dsn := os.Getenv("WEDGE_TEST_PG"); dsn != "" {
		return &Server{DSN: dsn}
	}
	bin := binDir()
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL is not installed (CI must install it: see .ci/run), and WEDGE_TEST_PG is not set")
		}
		t.Skip("PostgreSQL is not installed (apt-get install postgresql) and WEDGE_TEST_PG names no server")
	}
	// Not t.TempDir: its parents are private to the test's user, and the server may run as postgres.
	dir, err := os.MkdirTemp("", "testpg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return startIn(t, bin, dir, "", false)
}

// StartIn is Start with the cluster kept in dir (made there on first use, reused after), for
// benchmarks whose data outlives one run; settings are more server options (-c name=value …).
// The server is stopped at the end of the test, the directory stays. WEDGE_TEST_PG is not used.
func StartIn(t testing.TB, dir, settings string) *Server {
	t.Helper()
	bin := binDir()
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL is not installed (CI must install it: see .ci/run)")
		}
		t.Skip("PostgreSQL is not installed (apt-get install postgresql)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return startIn(t, bin, dir, settings, true)
}

// startIn starts (after initdb when dir holds no cluster yet) a server on the cluster in dir. A
// kept cluster is shut down cleanly (a checkpoint), so its next start has no WAL to replay, and
// its start may take long (a replay after a crash); a throwaway one is stopped at once.
func startIn(t testing.TB, bin, dir, settings string, kept bool) *Server {
	t.Helper()
	var asUser []string
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, and there is no postgres user to run the server as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	run := func(name string, args ...string) ([]byte, error) {
		argv := append(append(append([]string(nil), asUser...), filepath.Join(bin, name)), args...)
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir = dir
		return cmd.CombinedOutput()
	}
	startWait, stopMode := "60", "immediate"
	if kept {
		startWait, stopMode = "1800", "fast"
	}
	data := filepath.Join(dir, "data")
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); err != nil {
		if out, err := run("initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "--no-locale"); err != nil {
			t.Fatalf("initdb: %v\n%s", err, out)
		}
	}
	port := freePort(t)
	s := &Server{
		DSN:       fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port),
		ctl:       func(args ...string) ([]byte, error) { return run("pg_ctl", append([]string{"-D", data}, args...)...) },
		logPath:   filepath.Join(dir, "log"),
		opts:      fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=100 %s", port, dir, settings),
		startWait: startWait,
	}
	s.Restart(t)
	t.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if !s.running {
			return
		}
		if out, err := s.ctl("-m", stopMode, "-w", "-t", startWait, "stop"); err != nil {
			t.Errorf("pg_ctl stop: %v\n%s", err, out)
		}
		s.running = false
	})
	return s
}

// Crash stops the server as a crash would (pg_ctl stop -m immediate: connections are cut, nothing
// is flushed; committed transactions survive in the WAL). Restart brings it back on the same port
// and data directory. A server named by WEDGE_TEST_PG cannot be stopped: the test is skipped.
func (s *Server) Crash(t testing.TB) {
	t.Helper()
	if s.ctl == nil {
		t.Skip("the server of WEDGE_TEST_PG is not ours to stop")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if out, err := s.ctl("-m", "immediate", "-w", "stop"); err != nil {
		t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
	s.running = false
}

// Restart starts the server (again, after Crash) and waits until it accepts connections.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if s.ctl == nil {
		t.Skip("the server of WEDGE_TEST_PG is not ours to start")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if out, err := s.ctl("-l", s.logPath, "-o", s.opts, "-w", "-t", s.startWait, "start"); err != nil {
		log, _ := os.ReadFile(s.logPath)
		t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	s.running = true
}

var dbCounter atomic.Uint64

// NewDatabase creates an empty database on s, dropped at the end of the test, and returns its DSN.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.DSN)
	if err != nil {
		t.Fatalf("connect to the test server: %v", err)
	}
	defer conn.Close(context.Background())
	name := fmt.Sprintf("wedge_test_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9, dbCounter.Add(1))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, s.DSN)
		if err != nil {
			return // the server is gone already
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u, err := url.Parse(s.DSN)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
