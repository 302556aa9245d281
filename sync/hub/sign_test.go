package hub_test

import (
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"wedge/internal/clock"
	"wedge/internal/testbroker"
	"wedge/sync/hub"
	"wedge/sync/wire"
)

// keys is a hub key pair and a registry of agent keys on disk.
type keys struct {
	hubPub ed25519.PublicKey
	hub    ed25519.PrivateKey
	dir    string // the agent key registry
	agents map[string]*wire.Signer
}

func newKeys(t *testing.T) *keys {
	t.Helper()
	pub, priv, err := wire.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return &keys{hubPub: pub, hub: priv, dir: t.TempDir(), agents: map[string]*wire.Signer{}}
}

// agent makes a key for site/agent and, when register is set, writes it into the registry.
func (k *keys) agent(t *testing.T, site, name string, register bool) *wire.Signer {
	t.Helper()
	pub, priv, err := wire.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	s := wire.NewSigner(priv)
	k.agents[site+"/"+name] = s
	if register {
		k.register(t, site, name, []byte(wire.FormatPublicKey(pub)+"\n"))
	}
	return s
}

func (k *keys) register(t *testing.T, site, name string, content []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(k.dir, site), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(k.dir, site, name+".pub"), content, 0o644); err != nil {
		t.Fatal(err)
	}
}

func newSignedEnv(t *testing.T, k *keys) *env {
	e := &env{t: t, broker: testbroker.Start(t, nil), dir: t.TempDir(), clk: clock.NewFake(t0), logs: &logSink{},
		extra: func(o *hub.Options) { o.SigningKey, o.AgentKeysDir = k.hub, k.dir }}
	e.startHub("wedge-hub-test")
	return e
}

type evidence struct {
	wire.Entry
	Unverified bool   `json:"unverified"`
	Reason     string `json:"reason"`
	KeyID      string `json:"key_id"`
}

// A hub with a signing key and an agent key registry: what it publishes (acks, state rebroadcasts,
// posted orders, catch-up replays, commands) is signed for its topic; batches signed by the agent's
// registered key are applied. Forged batches on the agent's topic — unsigned, or signed by another
// agent's key — carrying the agent's next seqs (chained correctly to its last real entry) are kept
// as evidence, never applied and never acked; the agent's real entries at those seqs are applied
// when they come.
func TestSignedHubAppliesOnlyTheAgentsOwnBatches(t *testing.T) {
	k := newKeys(t)
	pack01 := k.agent(t, "sz01", "pack01", true)
	pack02 := k.agent(t, "sz01", "pack02", true)
	e := newSignedEnv(t, k)
	hubV := wire.NewVerifier(k.hubPub)
	a := newSigningAgent(t, e.broker.URL(), "sz01", "pack01", hubV, pack01)

	real := chain("j1", append(spine("O-1"), wire.Entry{Kind: wire.KindNote, Detail: "shift change"},
		wire.Entry{Kind: wire.KindNote, Detail: "printer fault cleared"})...)
	a.send("j1", real[:3]...)
	if ack := a.waitAck(1); ack.AckedSeq != 3 {
		t.Fatalf("ack = %+v", ack)
	}
	waitFor(t, "signed state rebroadcast", func() bool { return len(a.statesFor("O-1")) == 1 })

	// The forgeries: O-1 re-routed, and a new order straight to 已揽收, at pack01's seqs 4 and 5.
	forged := chain("j1", append(spine("O-1"), wire.Entry{Kind: wire.KindStep, OrderID: "O-1", From: "picked_up", To: "cancelled"},
		wire.Entry{Kind: wire.KindMerge, OrderID: "O-FAKE", To: "picked_up", Waybill: "SF9999999999999"})...)[3:]
	if forged[0].PrevHash != real[2].Hash {
		t.Fatal("test setup: the forgery does not chain to the real seq 3")
	}
	body, _ := json.Marshal(wire.Batch{Site: "sz01", Agent: "pack01", JournalID: "j1", Events: forged})
	a.publish(wire.TopicEvents("sz01", "pack01"), body)
	a.publish(wire.TopicEvents("sz01", "pack01"), pack02.Sign(wire.TopicEvents("sz01", "pack01"), body))
	// pack01's own key, but signed for pack02's topic and replayed on pack01's.
	a.publish(wire.TopicEvents("sz01", "pack01"), pack01.Sign(wire.TopicEvents("sz01", "pack02"), body))

	// Barrier: the real seqs 4 and 5. The next ack is for them (the forgeries were not acked).
	a.send("j1", real[3:]...)
	if ack := a.waitAck(2); ack.AckedSeq != 5 {
		t.Fatalf("ack after the real entries = %+v, want 5", ack)
	}
	s := e.stats()
	if s.SignatureRefused != 3 || s.Unverified != 6 || s.EventsIngested != 5 || s.Conflicts != 0 {
		t.Fatalf("stats = %+v", s)
	}
	if o := e.order("O-1"); o.State != "picked_up" || len(o.History) != 3 {
		t.Fatalf("O-1 = %+v", o)
	}
	var nf map[string]string
	getJSON(t, e.hub, "/v1/orders/O-FAKE", http.StatusNotFound, &nf)
	var ev []evidence
	getJSON(t, e.hub, "/v1/agents/sz01/pack01/unverified", http.StatusOK, &ev)
	if len(ev) != 6 {
		t.Fatalf("evidence = %+v", ev)
	}
	for _, x := range ev {
		if !x.Unverified || (x.Seq != 4 && x.Seq != 5) || !strings.Contains(x.Reason, "not signed") {
			t.Fatalf("evidence record %+v", x)
		}
	}
	// Per seq, in arrival order: unsigned, pack02's key, pack01's key for pack02's topic.
	if ev[0].KeyID != "" || ev[1].KeyID != pack02.KeyID() || ev[2].KeyID != pack01.KeyID() {
		t.Fatalf("evidence key ids %q %q %q", ev[0].KeyID, ev[1].KeyID, ev[2].KeyID)
	}
	if !e.logs.contains("level=ERROR") || !e.logs.contains("batch refused") {
		t.Fatalf("forgeries not logged at error: %v", e.logs.lines)
	}

	// Everything else the hub publishes is signed too: a posted order, a catch-up replay, a command.
	postN(t, e.hub, "sz01", 2)
	req, _ := json.Marshal(wire.CatchupRequest{JournalID: "j1", Since: 0})
	a.publish(wire.TopicCatchup("sz01", "pack01"), req)
	waitFor(t, "signed replay", func() bool { a.mu.Lock(); defer a.mu.Unlock(); return len(a.direct) > 0 })
	var mu sync.Mutex
	var cmds [][]byte
	tok := a.cli.Subscribe(wire.TopicCommand("sz01", "pack01"), 1, func(_ mqtt.Client, m mqtt.Message) {
		mu.Lock()
		cmds = append(cmds, append([]byte(nil), m.Payload()...))
		mu.Unlock()
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	var rec map[string]any
	postJSON(t, e.hub, "/v1/agents/sz01/pack01/commands", json.RawMessage(`{"type":"breaker_thresholds","by":"ops","max_backlog":300}`), http.StatusAccepted, &rec)
	waitFor(t, "command", func() bool { mu.Lock(); defer mu.Unlock(); return len(cmds) == 1 })
	mu.Lock()
	cmd, _, err := hubV.Verify(wire.TopicCommand("sz01", "pack01"), cmds[0])
	mu.Unlock()
	if err != nil || !strings.Contains(string(cmd), `"max_backlog":300`) {
		t.Fatalf("command %q: %v", cmd, err)
	}
	// The audit keeps the command body (what the agent reads), not the signature frame.
	var list []commandView
	getJSON(t, e.hub, "/v1/agents/sz01/pack01/commands", http.StatusOK, &list)
	if len(list) != 1 || string(list[0].Payload) != string(cmd) {
		t.Fatalf("audit %+v, published %q", list, cmd)
	}
}

// A PC whose key IT registers after the hub started: its batches are evidence until the registry is
// read again (SIGHUP in `wedge hub`), then its resent entries are applied. A registry file may hold
// several keys (rotation), one-line or PEM.
func TestAgentKeyRegistryReload(t *testing.T) {
	k := newKeys(t)
	k.agent(t, "sz01", "pack01", true)
	e := newSignedEnv(t, k)
	pub3, priv3, _ := wire.GenerateKey()
	pack03 := wire.NewSigner(priv3)
	a := newSigningAgent(t, e.broker.URL(), "sz01", "pack03", wire.NewVerifier(k.hubPub), pack03)
	entries := chain("j3", spine("O-3")...)
	a.send("j3", entries...)
	waitFor(t, "the unregistered batch kept as evidence", func() bool { return e.stats().Unverified == 3 })
	var ev []evidence
	getJSON(t, e.hub, "/v1/agents/sz01/pack03/unverified", http.StatusOK, &ev)
	if len(ev) != 3 || !strings.Contains(ev[0].Reason, "no key registered") || ev[0].KeyID != wire.KeyID(pub3) {
		t.Fatalf("evidence %+v", ev)
	}

	oldPub, _, _ := wire.GenerateKey()
	pem, err := wire.MarshalPublicKey(pub3)
	if err != nil {
		t.Fatal(err)
	}
	oldPEM, _ := wire.MarshalPublicKey(oldPub)
	k.register(t, "sz01", "pack03", append(oldPEM, pem...))
	k.register(t, "sz01", "bad", []byte("not a key"))
	if err := e.hub.ReloadAgentKeys(); err != nil {
		t.Fatal(err)
	}
	a.send("j3", entries...)
	if ack := a.waitAck(1); ack.AckedSeq != 3 {
		t.Fatalf("ack = %+v", ack)
	}
	if !e.logs.contains("agent key file skipped") {
		t.Fatalf("the bad key file was not reported: %v", e.logs.lines)
	}
	// The registry directory gone: the keys loaded before stay.
	os.RemoveAll(k.dir)
	if err := e.hub.ReloadAgentKeys(); err == nil {
		t.Fatal("reload of a missing registry succeeded")
	}
	more := chain("j3", append(spine("O-3"), wire.Entry{Kind: wire.KindNote})...)
	a.send("j3", more[3])
	if ack := a.waitAck(2); ack.AckedSeq != 4 {
		t.Fatalf("ack after a failed reload = %+v", ack)
	}
	// IT takes the PC out: its key file is gone from a readable registry; from the next reload on
	// its batches are evidence.
	if err := os.MkdirAll(k.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := e.hub.ReloadAgentKeys(); err != nil {
		t.Fatal(err)
	}
	before := e.stats().Unverified
	more = chain("j3", append(spine("O-3"), wire.Entry{Kind: wire.KindNote}, wire.Entry{Kind: wire.KindNote})...)
	a.send("j3", more[4])
	waitFor(t, "the removed agent's batch kept as evidence", func() bool { return e.stats().Unverified == before+1 })
	if got := a.ackCount(); got != 2 {
		t.Fatalf("%d acks, want no ack for the removed agent's batch", got)
	}
}

// Without an agent key registry a hub takes signed and unsigned batches alike (the chain must still
// link), and a hub without a signing key publishes unsigned; both are logged as warnings at start.
func TestUnsignedModeWarns(t *testing.T) {
	e := newEnv(t)
	_, priv, _ := wire.GenerateKey()
	a := newSigningAgent(t, e.broker.URL(), "sz01", "pack01", nil, wire.NewSigner(priv))
	a.send("j1", chain("j1", spine("O-1")...)...)
	if ack := a.waitAck(1); ack.AckedSeq != 3 {
		t.Fatalf("ack = %+v", ack)
	}
	for _, w := range []string{"no signing key", "no agent key registry"} {
		if !e.logs.contains(w) {
			t.Errorf("no warning %q: %v", w, e.logs.lines)
		}
	}
	if _, err := hub.New(t.Context(), hub.Options{BrokerURL: e.broker.URL(), DataDir: t.TempDir(), Listen: "127.0.0.1:0",
		AgentKeysDir: filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Fatal("a missing agent key registry was accepted")
	}
	if _, err := hub.New(t.Context(), hub.Options{BrokerURL: e.broker.URL(), DataDir: t.TempDir(), Listen: "127.0.0.1:0",
		SigningKey: priv[:5]}); err == nil {
		t.Fatal("a short signing key was accepted")
	}
}

// An entry waiting beyond a gap that turns out not to link (a forgery in unsigned mode) is kept as
// evidence when the gap fills, and the agent's real entry at that seq is applied.
func TestWaitingEntryThatDoesNotLinkIsEvidence(t *testing.T) {
	e := newEnv(t)
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	real := chain("j1", append(spine("O-1"), wire.Entry{Kind: wire.KindNote, Detail: "real"})...)
	fake := chain("j1", append(spine("O-1"), wire.Entry{Kind: wire.KindNote, Detail: "fake"})...)[3]
	fake.PrevHash = "0000"
	fake.Hash = fake.ComputeHash()
	a.send("j1", real[0], real[1], fake)
	if ack := a.waitAck(1); ack.AckedSeq != 2 {
		t.Fatalf("ack = %+v", ack)
	}
	a.send("j1", real[2], real[3])
	if ack := a.waitAck(2); ack.AckedSeq != 4 {
		t.Fatalf("ack = %+v", ack)
	}
	s := e.stats()
	if s.EventsIngested != 4 || s.Unverified != 1 || s.ChainBreaks != 1 {
		t.Fatalf("stats = %+v", s)
	}
	var ev []evidence
	getJSON(t, e.hub, "/v1/agents/sz01/pack01/unverified", http.StatusOK, &ev)
	if len(ev) != 1 || ev[0].Detail != "fake" {
		t.Fatalf("evidence %+v", ev)
	}
}
