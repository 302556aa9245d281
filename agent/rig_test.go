package agent_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
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
	"wedge/sync/apitoken"
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
	resp, err := hubDo(t, h, hubToken(t, h), http.MethodPost, "/v1/orders", body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// hubTokens holds an admin token of each hub's API, made by hubToken on first use.
var hubTokens sync.Map // *hub.Hub → string

// hubToken returns an admin token of h's API.
func hubToken(t testing.TB, h *hub.Hub) string {
	t.Helper()
	if v, ok := hubTokens.Load(h); ok {
		return v.(string)
	}
	v, _ := hubTokens.LoadOrStore(h, newHubToken(t, h, fmt.Sprintf("test-%d", time.Now().UnixNano())))
	return v.(string)
}

// newHubToken makes an admin token named name in h's store.
func newHubToken(t testing.TB, h *hub.Hub, name string) string {
	t.Helper()
	raw, _, err := apitoken.Create(context.Background(), h.Tokens(), name, []apitoken.Scope{apitoken.Admin}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// hubDo sends a request to h's API with token.
func hubDo(t testing.TB, h *hub.Hub, token, method, path string, body []byte) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+h.Addr()+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	return http.DefaultClient.Do(req)
}

// hubGetJSON GETs h's path with an admin token and decodes the answer into v.
func hubGetJSON(t testing.TB, h *hub.Hub, path string, v any) (int, error) {
	t.Helper()
	resp, err := hubDo(t, h, hubToken(t, h), http.MethodGet, path, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return resp.StatusCode, json.NewDecoder(resp.Body).Decode(v)
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
