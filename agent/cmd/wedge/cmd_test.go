package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/goleak"

	"wedge/agent/journal"
	"wedge/internal/testbroker"
	"wedge/order"
	"wedge/sync/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func wedge(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runCtx(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestHelpVersionUsage(t *testing.T) {
	code, out, _ := wedge(t, "help")
	if code != exitOK || !strings.Contains(out, "退出码 Exit codes") || !strings.Contains(out, "journal verify") {
		t.Errorf("help: %d %q", code, out)
	}
	if code, out, _ := wedge(t, "version"); code != exitOK || !strings.HasPrefix(out, "wedge ") {
		t.Errorf("version: %d %q", code, out)
	}
	for _, args := range [][]string{{}, {"frobnicate"}, {"journal"}, {"journal", "verify"}, {"profiles"}, {"run", "--nope"}, {"run", "extra"}} {
		if code, _, _ := wedge(t, args...); code != exitUsage {
			t.Errorf("%q: exit %d, want %d", args, code, exitUsage)
		}
	}
	// demo is wired to internal/demo (its own tests run it); a bad flag is a usage error.
	if code, _, _ := wedge(t, "demo", "--no-such-flag"); code != exitUsage {
		t.Errorf("demo with a bad flag: %d", code)
	}
	if code, _, errs := wedge(t, "devices", "extra"); code != exitUsage {
		t.Errorf("devices: %d %q", code, errs)
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "wedge.yaml")
	os.WriteFile(p, []byte("site: sz01\nagent: pack02\nstations:\n  - {name: print-1, role: print}\ndevices:\n  - {name: s1, station: print-9, transport: serial, port: /dev/null, profile: generic-serial-cr}\n"), 0o644)
	code, _, errs := wedge(t, "run", "--config", p)
	if code != exitUsage || !strings.Contains(errs, p+":6: devices[0].station: \"print-9\" is not a declared station") {
		t.Errorf("bad config: %d %s", code, errs)
	}
	code, _, errs = wedge(t, "run", "--config", filepath.Join(dir, "missing.yaml"))
	if code != exitUsage || !strings.Contains(errs, "missing.yaml") {
		t.Errorf("missing config: %d %s", code, errs)
	}
	code, out, errs := wedge(t, "run", "--check", "--config", filepath.Join("..", "..", "..", "docs", "config.example.yaml"))
	if code != exitOK || !strings.Contains(out, "OK") {
		t.Errorf("the example config must pass --check: %d %s %s", code, out, errs)
	}
	// --check loads every certificate and key it names: a missing CA file is a config error.
	tlsConf := filepath.Join(dir, "tls.yaml")
	if err := os.WriteFile(tlsConf, []byte("site: s\nagent: a\ndata_dir: "+dir+"\nbroker: {url: \"ssl://127.0.0.1:8883\", ca: missing-ca.pem}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs = wedge(t, "run", "--check", "--config", tlsConf)
	if code != exitUsage || !strings.Contains(errs, "missing-ca.pem") {
		t.Errorf("missing CA file at --check: %d %s", code, errs)
	}
}

func TestJournalVerify(t *testing.T) {
	dir := t.TempDir()
	if code, _, _ := wedge(t, "journal", "verify", "--data", filepath.Join(dir, "nope")); code != exitUsage {
		t.Errorf("missing data dir: exit %d", code)
	}
	if code, _, _ := wedge(t, "journal", "verify", "--data", dir); code != exitUsage {
		t.Errorf("empty data dir: exit %d", code)
	}
	s, err := journal.Open(filepath.Join(dir, "wedge.db"), &journal.Options{Site: "s", Agent: "a"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		err := s.Do(context.Background(), func(tx *journal.Tx) error {
			tx.PutOrder(order.Order{ID: "O" + string(rune('0'+i)), State: order.PendingAllocation})
			tx.Append(wire.Entry{Kind: wire.KindIntake, OrderID: "O" + string(rune('0'+i)), Trigger: wire.TriggerHub})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	if code, out, errs := wedge(t, "journal", "verify", "--data", dir); code != exitOK || !strings.Contains(out, "OK") {
		t.Errorf("untouched journal: exit %d %s %s", code, out, errs)
	}
	// Edit entry 3 behind the journal's back: verify names it and exits 1.
	db, err := bolt.Open(filepath.Join(dir, "wedge.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("entries"))
		var key [8]byte
		binary.BigEndian.PutUint64(key[:], 3)
		v := b.Get(key[:])
		if v == nil {
			t.Fatal("entry 3 not found under the expected key")
		}
		return b.Put(key[:], bytes.Replace(v, []byte("O2"), []byte("O9"), 1)) // the order id, in either record encoding
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	code, out, _ := wedge(t, "journal", "verify", "--data", dir)
	if code != exitFailure || !strings.Contains(out, "3") || !strings.Contains(out, "BROKEN") {
		t.Errorf("edited journal: exit %d %s", code, out)
	}
}

func TestProfilesValidate(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(filepath.Join("..", "..", "..", "firmware-profiles", "generic-serial-cr.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "generic-serial-cr.yaml"), good, 0o644)
	if code, out, errs := wedge(t, "profiles", "validate", dir); code != exitOK || !strings.Contains(out, "generic-serial-cr") {
		t.Errorf("valid dir: %d %s %s", code, out, errs)
	}
	bad := strings.Replace(string(good), "id: generic-serial-cr", "id: generic-serial-cr\nbogus_field: 1", 1)
	os.WriteFile(filepath.Join(dir, "generic-serial-cr.yaml"), []byte(bad), 0o644)
	if code, _, errs := wedge(t, "profiles", "validate", dir); code != exitFailure || !strings.Contains(errs, "generic-serial-cr.yaml") || !strings.Contains(errs, "bogus_field") {
		t.Errorf("invalid profile: %d %s", code, errs)
	}
	if code, _, _ := wedge(t, "profiles", "validate", filepath.Join(dir, "nope")); code != exitUsage {
		t.Errorf("missing dir: %d", code)
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestRunStopsGracefully: `wedge run` starts against a real broker, answers its API, and a cancel
// (what SIGINT/SIGTERM do) stops it with exit 0 and a journal that verifies.
func TestRunStopsGracefully(t *testing.T) {
	b := testbroker.Start(t, nil)
	dir := t.TempDir()
	p := filepath.Join(dir, "wedge.yaml")
	os.WriteFile(p, []byte(fmt.Sprintf("site: sz01\nagent: pack09\ndata_dir: data\nbroker: {url: %q, accept_unsigned: true}\napi: {listen: \"127.0.0.1:0\"}\nstations:\n  - {name: dock-1, role: handover}\n", b.URL())), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuf
	done := make(chan int, 1)
	go func() { done <- runCtx(ctx, []string{"run", "--config", p}, &out, &errb) }()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), "running; API http://") {
		select {
		case code := <-done:
			t.Fatalf("run exited early with %d: %s", code, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("run never became ready: %s", errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	addr := strings.TrimSpace(out.String()[strings.Index(out.String(), "http://"):])
	resp, err := http.Get(addr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v", err)
	}
	resp.Body.Close()
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("stop: exit %d: %s", code, errb.String())
	}
	if code, out, errs := wedge(t, "journal", "verify", "--data", filepath.Join(dir, "data")); code != exitOK {
		t.Fatalf("journal after stop: %d %s %s", code, out, errs)
	}
}
