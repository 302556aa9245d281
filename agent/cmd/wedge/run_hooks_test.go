package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"wedge/internal/testbroker"
)

// hookLog records runHooks calls in order; the Windows service handler maps ready to Running and
// stopping to StopPending, so this order is what the service control manager will see.
type hookLog struct {
	mu     sync.Mutex
	events []string
}

func (h *hookLog) add(e string) { h.mu.Lock(); defer h.mu.Unlock(); h.events = append(h.events, e) }
func (h *hookLog) get() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.events...)
}
func (h *hookLog) hooks() runHooks {
	return runHooks{
		ready:    func(status string) { h.add("ready " + status) },
		stopping: func() { h.add("stopping") },
	}
}

// runAgent reports ready only once the agent is up (after its API listens), and stopping only
// after the cancel that stands for SIGTERM or a service Stop; the stop is graceful (exit 0).
func TestRunAgentHooksOrder(t *testing.T) {
	b := testbroker.Start(t, nil)
	dir := t.TempDir()
	p := filepath.Join(dir, "wedge.yaml")
	os.WriteFile(p, []byte(fmt.Sprintf("site: sz01\nagent: pack07\ndata_dir: data\nbroker: {url: %q, accept_unsigned: true}\napi: {listen: \"127.0.0.1:0\"}\nstations:\n  - {name: dock-1, role: handover}\n", b.URL())), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var h hookLog
	var out, errb syncBuf
	done := make(chan int, 1)
	go func() { done <- runAgent(ctx, []string{"--config", p}, &out, &errb, h.hooks()) }()
	deadline := time.Now().Add(20 * time.Second)
	for len(h.get()) == 0 {
		select {
		case code := <-done:
			t.Fatalf("runAgent exited early with %d: %s", code, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("never ready: %s", errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ev := h.get(); len(ev) != 1 || !strings.HasPrefix(ev[0], "ready site sz01 agent pack07, API 127.0.0.1:") {
		t.Fatalf("before the stop: hooks %q, want one ready with the site, agent and API address", ev)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("stop: exit %d: %s", code, errb.String())
	}
	if ev := h.get(); len(ev) != 2 || ev[1] != "stopping" {
		t.Errorf("after the stop: hooks %q, want ready then stopping", ev)
	}
}

// A config that cannot start never reports ready, so a service is never shown Running with it.
func TestRunAgentBadConfigNeverReady(t *testing.T) {
	var h hookLog
	var out, errb syncBuf
	code := runAgent(context.Background(), []string{"--config", filepath.Join(t.TempDir(), "missing.yaml")}, &out, &errb, h.hooks())
	if code != exitUsage || !strings.Contains(errb.String(), "missing.yaml") {
		t.Errorf("missing config: exit %d, stderr %q", code, errb.String())
	}
	if ev := h.get(); len(ev) != 0 {
		t.Errorf("hooks called for a config that cannot start: %q", ev)
	}
}
