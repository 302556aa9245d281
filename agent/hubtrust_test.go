package agent_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"wedge/agent"
	"wedge/agent/config"
	"wedge/internal/clock"
	"wedge/internal/testbroker"
	"wedge/order"
	"wedge/sync/wire"
)

// Without a hub key, and without broker.accept_unsigned, the agent does not start (and writes
// nothing); with a key, its own signing key is created on first start, private, with its public key
// beside it, and the same key is used on the next start.
func TestSigningKeysAtStart(t *testing.T) {
	b := testbroker.Start(t, nil)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	yaml := "site: sz01\nagent: pack01\ndata_dir: %s\nbroker: {url: %q%s}\napi: {listen: \"off\"}\nstations:\n  - {name: print-1, role: print}\n"
	cfg := writeConfig(t, filepath.Join(dir, "bare.yaml"), fmt.Sprintf(yaml, data, b.URL(), ""), nil)
	if _, err := agent.New(context.Background(), cfg, agent.Deps{}); !errors.Is(err, agent.ErrStart) || !errors.Is(err, config.ErrNoHubKey) {
		t.Fatalf("start without a hub key: %v", err)
	}
	if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused start left %s behind: %v", data, err)
	}

	cfg = writeConfig(t, filepath.Join(dir, "wedge.yaml"), fmt.Sprintf(yaml, data, b.URL(), ", hub_keys: [\""+rigHubPub+"\"]"), nil)
	a, err := agent.New(context.Background(), cfg, agent.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	stop := func() {
		sctx, c := context.WithTimeout(context.Background(), 10*time.Second)
		defer c()
		if err := a.Stop(sctx); err != nil {
			t.Fatal(err)
		}
	}
	stop()
	st, err := os.Stat(filepath.Join(data, "agent.key"))
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm() != 0o600 {
		t.Fatalf("agent.key mode %v", st.Mode().Perm())
	}
	pubText, err := os.ReadFile(filepath.Join(data, "agent.pub"))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := wire.ParsePublicKey(pubText)
	if err != nil {
		t.Fatal(err)
	}
	key, err := wire.LoadPrivateKey(filepath.Join(data, "agent.key"))
	if err != nil || !pub.Equal(key.Public()) {
		t.Fatalf("agent.pub does not match agent.key: %v", err)
	}
	if a, err = agent.New(context.Background(), cfg, agent.Deps{}); err != nil {
		t.Fatal(err)
	}
	stop()
	again, _ := os.ReadFile(filepath.Join(data, "agent.pub"))
	if string(again) != string(pubText) {
		t.Fatal("the agent key changed on the second start")
	}
}

// In one process, over mosquitto: a forged state message and a forged command (unsigned, or signed
// by another key) are refused and journaled, the order and the breaker stay as they were; a command
// signed by the hub is applied once, and the same signed bytes sent again are refused as a replay.
// Past the refusal budget, refusals are counted into one note instead of one note each.
func TestForgedHubMessagesRefusedInProcess(t *testing.T) {
	b := testbroker.Start(t, nil)
	dir := t.TempDir()
	clk := clock.NewFake(time.Date(2026, 11, 11, 2, 0, 0, 0, time.UTC))
	cfg := writeConfig(t, filepath.Join(dir, "wedge.yaml"), fmt.Sprintf("site: sz01\nagent: pack01\ndata_dir: %s\nbroker: {url: %q, hub_keys: [%q]}\n"+
		"api: {listen: \"off\"}\nstations:\n  - {name: print-1, role: print}\n", filepath.Join(dir, "data"), b.URL(), rigHubPub), nil)
	a := runAgent(t, context.Background(), cfg, agent.Deps{Clock: clk})
	ctx := context.Background()
	if err := a.Intake().ApplyAuthenticated(ctx, []byte(`{"type":"order","order_id":"F1","channel":"jd","channel_order_no":"JD0000000000F1","buyer_id":"b","ordered_at":"2026-11-11T00:00:00Z","skus":["S1"],"carrier":"sf"}`)); err != nil {
		t.Fatal(err)
	}
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("test-forger"))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer c.Disconnect(100)
	pub := func(topic string, p []byte) {
		t.Helper()
		if tok := c.Publish(topic, 1, false, p); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	notes := func(reason string) (n int, details []string) {
		es, err := a.Store().Entries(0, 10000, 1<<26)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.Kind == wire.KindNote && e.Reason == reason {
				n++
				details = append(details, e.Detail)
			}
		}
		return n, details
	}
	hub := wire.NewSigner(rigHubKey)
	_, otherKey, _ := wire.GenerateKey()
	mallory := wire.NewSigner(otherKey)
	orders, cmdTopic := wire.TopicOrders("sz01"), wire.TopicCommand("sz01", "pack01")
	state := []byte(`{"type":"state","order_id":"F1","state":"picked_up"}`)
	evil := []byte(`{"type":"breaker_thresholds","id":"evil-1","by":"mallory","max_backlog":1}`)
	// The uplink subscribes after it connects: repeat the forgery until its refusal is journaled.
	eventually(t, "a forged state message is refused", func() bool {
		pub(orders, state)
		n, _ := notes(agent.ReasonMessageRefused)
		return n > 0
	})
	pub(orders, mallory.Sign(orders, state))
	pub(cmdTopic, evil)
	pub(cmdTopic, mallory.Sign(cmdTopic, evil))
	pub(cmdTopic, hub.Sign(wire.TopicCommand("sz01", "pack02"), evil)) // the hub's, for another agent

	real := hub.Sign(cmdTopic, []byte(`{"type":"breaker_thresholds","id":"hub-1","by":"ops","max_backlog":300}`))
	pub(cmdTopic, real)
	eventually(t, "the hub's command applies", func() bool { return a.Supervisor().Breaker().State().Thresholds.MaxBacklog == 300 })
	pub(cmdTopic, real) // a replay: byte for byte what the hub sent
	eventually(t, "the replay is refused", func() bool { n, _ := notes(agent.ReasonCommandReplayed); return n == 1 })

	if o, _, _ := a.Store().Order("F1"); o.State != order.PendingAllocation {
		t.Fatalf("F1 is %s after forged state messages", o.State)
	}
	if th := a.Supervisor().Breaker().State().Thresholds; th.MaxBacklog != 300 {
		t.Fatalf("thresholds %+v", th)
	}
	n, details := notes(agent.ReasonMessageRefused)
	if n < 5 || !strings.Contains(strings.Join(details, "\n"), "wedge/v1/sz01/pack01/command") || !strings.Contains(strings.Join(details, "\n"), "unsigned") {
		t.Fatalf("%d refusal notes: %v", n, details)
	}
	es, _ := a.Store().Entries(0, 10000, 1<<26)
	applied := 0
	for _, e := range es {
		if e.Kind == wire.KindBreaker && e.Trigger == wire.TriggerHub {
			applied++
			if e.Code != "hub-1" {
				t.Fatalf("breaker entry from %+v", e)
			}
		}
	}
	if applied != 1 {
		t.Fatalf("the hub's command was applied %d times", applied)
	}

	// A flood: at most RefusedBurst notes in a window, then one summary when the next starts.
	for range agent.RefusedBurst + 10 {
		pub(orders, state)
	}
	pub(orders, hub.Sign(orders, []byte(`{"type":"cancel","order_id":"F1","reason":"barrier"}`)))
	eventually(t, "the barrier is applied", func() bool { o, _, _ := a.Store().Order("F1"); return o.State == order.Cancelled })
	refused, _ := notes(agent.ReasonMessageRefused)
	replayed, _ := notes(agent.ReasonCommandReplayed)
	if refused+replayed != agent.RefusedBurst {
		t.Fatalf("%d+%d refusal notes in one window, want %d", refused, replayed, agent.RefusedBurst)
	}
	clk.Advance(agent.RefusedWindow)
	pub(orders, state)
	eventually(t, "the summary note", func() bool {
		_, d := notes(agent.ReasonMessageRefused)
		return strings.Contains(strings.Join(d, "\n"), "were not journaled one by one")
	})
}
