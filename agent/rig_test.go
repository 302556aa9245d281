package agent_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"wedge/agent"
	"wedge/agent/config"
	"wedge/internal/pty"
	"wedge/sync/hub"
	"wedge/sync/wire"
)

// The rig the package's end-to-end tests share: a reference hub, config files, agents, ptys and
// polling. The broker is always a real mosquitto (testbroker.Start) started by the test itself.

// eventually polls cond until it holds or the deadline passes. It asserts an outcome, not a timing:
// the deadline only bounds a hung test.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rigHubKey signs what the tests' hubs publish; every agent config of these tests pins its public
// key, rigHubPub, in broker.hub_keys.
var rigHubKey, rigHubPub = func() (ed25519.PrivateKey, string) {
	pub, priv, err := wire.GenerateKey()
	if err != nil {
		panic(err)
	}
	return priv, wire.FormatPublicKey(pub)
}()

// startHub starts the reference hub on brokerURL with its data in dir/hub and its HTTP API on a
// free local port, signing with rigHubKey; it is stopped in t's cleanup.
func startHub(t testing.TB, ctx context.Context, brokerURL, dir, clientID string) *hub.Hub {
	t.Helper()
	h, err := hub.New(ctx, hub.Options{BrokerURL: brokerURL, DataDir: filepath.Join(dir, "hub"), Listen: "127.0.0.1:0", ClientID: clientID,
		SigningKey: rigHubKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, c := context.WithTimeout(context.Background(), 10*time.Second)
		defer c()
		h.Stop(sctx)
	})
	return h
}

// postOrders dispatches orders through the hub's POST /v1/orders and returns the HTTP status.
func postOrders(t testing.TB, h *hub.Hub, orders ...wire.OrderMsg) int {
	t.Helper()
	body, _ := json.Marshal(wire.OrdersRequest{Site: "sz01", Orders: orders})
	resp, err := http.Post("http://"+h.Addr()+"/v1/orders", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// writeConfig writes yaml to path and loads it with opts.
func writeConfig(t testing.TB, path, yaml string, opts *config.Options) *config.Config {
	t.Helper()
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// runAgent starts an agent on cfg; it is stopped in t's cleanup, and a failing Stop fails t.
func runAgent(t testing.TB, ctx context.Context, cfg *config.Config, deps agent.Deps) *agent.Agent {
	t.Helper()
	a, err := agent.New(ctx, cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, c := context.WithTimeout(context.Background(), 10*time.Second)
		defer c()
		if err := a.Stop(sctx); err != nil {
			t.Errorf("stop %s: %v", cfg.Agent, err)
		}
	})
	return a
}

// testLog returns a logger that collects the agent's log and prints it if t fails.
func testLog(t testing.TB) *slog.Logger {
	w := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log("agent log:\n" + w.String())
		}
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// logBuffer is a bytes.Buffer safe for concurrent writers.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// openPTYs opens n pseudo-terminals, closed in t's cleanup. Without pty support the test is skipped.
func openPTYs(t testing.TB, n int) []*pty.Pair {
	t.Helper()
	ps := make([]*pty.Pair, n)
	for i := range ps {
		p, err := pty.Open()
		if err != nil {
			if i == 0 {
				t.Skipf("no pty: %v", err)
			}
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		ps[i] = p
	}
	return ps
}
