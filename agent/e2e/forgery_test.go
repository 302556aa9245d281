package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"wedge/internal/pki"
	"wedge/sync/wire"
)

// MQTT does not say who published. These tests are the attacks of a client that can publish and
// subscribe on the broker, against the real `wedge hub` and `wedge run`, both signing. The attacks
// run on both brokers (eachBroker): on the anonymous one anybody can make them, on the secure one
// the attacker holds broker credentials that the ACL lets publish there (another hub replica's, or
// the agent's own), and on both only the application-layer signatures refuse them.

const refusedLine = "hub message refused"

// sniffer records what a plain client receives on a topic filter (the attacker's view).
type sniffer struct {
	cli  mqtt.Client
	mu   sync.Mutex
	msgs []mqtt.Message
}

// sniff subscribes as identity as (b.clientOptions).
func sniff(t *testing.T, b *e2eBroker, as, filter string, onMsg func(c mqtt.Client, m mqtt.Message)) *sniffer {
	t.Helper()
	s := &sniffer{}
	c := mqtt.NewClient(b.clientOptions(t, as).SetCleanSession(true).SetOrderMatters(true))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("%s: connect: %v", as, tok.Error())
	}
	s.cli = c
	t.Cleanup(func() { c.Disconnect(250) })
	tok := c.Subscribe(filter, 1, func(c mqtt.Client, m mqtt.Message) {
		s.mu.Lock()
		s.msgs = append(s.msgs, m)
		s.mu.Unlock()
		if onMsg != nil {
			onMsg(c, m)
		}
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("%s: subscribe %s: %v", as, filter, tok.Error())
	}
	return s
}

// leave disconnects (a thief leaves the hub's shared group).
func (s *sniffer) leave() { s.cli.Disconnect(250) }

func (s *sniffer) all() []mqtt.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]mqtt.Message(nil), s.msgs...)
}

// body strips a signature frame.
func body(p []byte) []byte {
	if wire.IsSigned(p) {
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			return p[i+1:]
		}
	}
	return p
}

func newSigner(t *testing.T) *wire.Signer {
	t.Helper()
	_, k, err := wire.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return wire.NewSigner(k)
}

// Threats 1 and 4. A forged `state picked_up` on the site's orders topic (unsigned, signed by some
// other key, or the hub's signature for another site) is refused by the agent: journaled, the order
// unchanged at the agent and at the hub. A forged breaker command (unsigned or by another key) is
// refused: the breaker is untouched and the hub's audit stays empty. The hub's own command is
// applied once, and the very same signed bytes replayed by a sniffer are refused as a replay. The
// forger publishes as another hub replica: on the secure broker only hubs may write these topics.
func TestForgedDownlinkAndCommandsRefused(t *testing.T) {
	eachBroker(t, testForgedDownlinkAndCommandsRefused)
}

func testForgedDownlinkAndCommandsRefused(t *testing.T, dir string, b *e2eBroker) {
	h := startHub(t, dir, b, freeAddr(t))
	ps := openPty(t)
	a := newAgent(t, dir, "pack01", b, stationSpec{"print-1", "print", ps})
	orders := makeOrders("FG", 2)
	h.dispatch(t, "sz01", orders)
	waitFor(t, 60*time.Second, "the agent receives the orders", func() bool {
		return a.orderState(t, orders[0].OrderID) == "pending_allocation" && a.orderState(t, orders[1].OrderID) == "pending_allocation"
	})
	cmdTopic, ordersTopic := wire.TopicCommand("sz01", "pack01"), wire.TopicOrders("sz01")
	var captured *sniffer
	if !b.secure {
		// With the ACL only the agent itself may read its command topic (see the replay below).
		captured = sniff(t, b, replicaB, cmdTopic, nil)
	}

	mallory, hubKey := newSigner(t), h.keys.hubSigner(t)
	state := fmt.Sprintf(`{"type":"state","order_id":%q,"state":"picked_up"}`, orders[0].OrderID)
	publish(t, b, replicaA, ordersTopic, state, string(mallory.Sign(ordersTopic, []byte(state))), string(hubKey.Sign(wire.TopicOrders("sz02"), []byte(state))))
	evil := `{"type":"breaker_thresholds","id":"evil-1","by":"mallory","max_backlog":1}`
	publish(t, b, replicaA, cmdTopic, evil, string(mallory.Sign(cmdTopic, []byte(evil))))
	// Barrier: the hub's real cancel of the other order comes after the forgeries.
	h.dispatch(t, "sz01", []wire.OrderMsg{{Type: wire.TypeCancel, OrderID: orders[1].OrderID, Reason: "barrier"}})
	waitFor(t, 60*time.Second, "the hub's cancel applies", func() bool { return a.orderState(t, orders[1].OrderID) == "cancelled" })
	waitFor(t, 30*time.Second, "five refusals logged", func() bool { return strings.Count(a.log(), refusedLine) >= 5 })
	if st := a.orderState(t, orders[0].OrderID); st != "pending_allocation" {
		t.Fatalf("forged state message moved %s to %s", orders[0].OrderID, st)
	}
	a.drained(t, h, 60*time.Second)
	if ho, _ := h.order(orders[0].OrderID); ho.State != "pending_allocation" {
		t.Fatalf("%s at the hub is %s after forged state messages", orders[0].OrderID, ho.State)
	}
	var audit []map[string]any
	if code, err := getJSONAuth(h.url("/v1/agents/sz01/pack01/commands"), h.token, &audit); err != nil || code != 200 || len(audit) != 0 {
		t.Fatalf("hub audit %d %v %v, want empty", code, err, audit)
	}

	// The hub's command, then a replay of exactly what the hub published.
	req, _ := http.NewRequest(http.MethodPost, h.url("/v1/agents/sz01/pack01/commands"),
		strings.NewReader(`{"type":"breaker_thresholds","by":"ops-e2e","reason":"双十一","max_backlog":300}`))
	req.Header.Set("Authorization", "Bearer "+h.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var posted struct {
		Payload json.RawMessage `json:"payload"` // what the hub signed and published
	}
	err = json.NewDecoder(resp.Body).Decode(&posted)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || err != nil {
		t.Fatalf("POST command: %s %v", resp.Status, err)
	}
	waitFor(t, 30*time.Second, "the agent applies the hub's command", func() bool { return strings.Contains(a.log(), "by=hub:e2e:ops-e2e") })
	// The hub's record signed again is exactly what the hub published (Ed25519 signatures are
	// deterministic). On the plain broker the sniffer's copy must be those bytes. On the secure
	// broker no identity but the agent may read its command topic: the attacker took the bytes
	// from the PC, which cannot write commands, and replays them with a hub replica's credentials.
	var compact bytes.Buffer
	if err := json.Compact(&compact, posted.Payload); err != nil {
		t.Fatalf("the hub's command record: %v", err)
	}
	real := hubKey.Sign(cmdTopic, compact.Bytes())
	if captured != nil {
		var sniffed []byte
		for _, m := range captured.all() {
			if bytes.Contains(m.Payload(), []byte("ops-e2e")) {
				sniffed = m.Payload()
			}
		}
		if !wire.IsSigned(sniffed) {
			t.Fatalf("the sniffer saw no signed command: %q", sniffed)
		}
		if !bytes.Equal(sniffed, real) {
			t.Fatalf("the sniffer saw %q, the hub's record signed again is %q", sniffed, real)
		}
	}
	publish(t, b, replicaA, cmdTopic, string(real))
	waitFor(t, 30*time.Second, "the replay is refused", func() bool { return strings.Contains(a.log(), "replayed hub command refused") })
	a.drained(t, h, 60*time.Second)
	a.stop()
	a.verify(t)

	var refused, replayed []string
	applied := 0
	for _, e := range a.entries(t) {
		switch {
		case e.Kind == wire.KindNote && e.Reason == "message_refused":
			refused = append(refused, e.Detail)
		case e.Kind == wire.KindNote && e.Reason == "command_replayed":
			replayed = append(replayed, e.Code)
		case e.Kind == wire.KindBreaker && e.Trigger == wire.TriggerHub:
			applied++
			if e.Code != "hub-1" {
				t.Errorf("breaker entry from a command %q", e.Code)
			}
		}
	}
	all := strings.Join(refused, "\n")
	if len(refused) != 5 || strings.Count(all, "refused on "+ordersTopic+":") != 3 || strings.Count(all, "refused on "+cmdTopic+":") != 2 || !strings.Contains(all, "unsigned") {
		t.Errorf("refusal notes:\n%s", all)
	}
	if applied != 1 || len(replayed) != 1 || replayed[0] != "hub-1" {
		t.Errorf("hub command applied %d times, replays refused %v", applied, replayed)
	}
	if s := h.stats(t); s.Unverified != 0 || s.ChainBreaks != 0 || s.Conflicts != 0 {
		t.Errorf("hub stats %+v", s)
	}
}

// Threat 3. A client in the hub's shared group takes some of the agent's batches (thiefTakes, then
// it leaves) and acks them (unsigned, or with its own key): the agent refuses those acks, so it is
// not synced until the real hub has every entry (the batches it stole are resent). Forged entries
// at the agent's next seqs, chained to its last real entry — unsigned, signed by another agent's
// registered key, or by a key nobody registered — are kept as evidence at the hub, never applied
// or acked, and the agent's real entries at those seqs are applied when they come. The thief and
// the listener hold other hub replicas' credentials; the forged entries are published as the agent
// itself (on the secure broker only the agent's own certificate may write its events topic).
func TestForgedAcksAndEntries(t *testing.T) {
	eachBroker(t, testForgedAcksAndEntries)
}

// thiefTakes is how many batches the thief of TestForgedAcksAndEntries takes before it leaves the
// group. Each one costs the agent a resend timeout; a thief that stayed took about 20 in a run and
// made the test last two minutes, without showing more.
const thiefTakes = 3

func testForgedAcksAndEntries(t *testing.T, dir string, b *e2eBroker) {
	h := startHub(t, dir, b, freeAddr(t))
	ps := openPty(t)
	a := newAgent(t, dir, "pack01", b, stationSpec{"print-1", "print", ps})
	events := wire.TopicEvents("sz01", "pack01")
	// The attacker's view of everything the agent sends (not in the group: it sees every batch).
	seen := sniff(t, b, replicaA, events, nil)
	mallory := newSigner(t)
	var stolenMu sync.Mutex
	stolen := 0
	thief := sniff(t, b, replicaB, wire.SharedGroup+wire.FilterEvents, func(c mqtt.Client, m mqtt.Message) {
		var bt wire.Batch
		if json.Unmarshal(body(m.Payload()), &bt) != nil || len(bt.Events) == 0 {
			return
		}
		stolenMu.Lock()
		stolen++
		enough := stolen == thiefTakes
		stolenMu.Unlock()
		ack, _ := json.Marshal(wire.Ack{JournalID: bt.JournalID, AckedSeq: bt.Events[len(bt.Events)-1].Seq})
		topic := wire.TopicAck(bt.Site, bt.Agent)
		c.Publish(topic, 1, false, ack)
		c.Publish(topic, 1, false, mallory.Sign(topic, ack))
		if enough {
			go c.Disconnect(250) // not from paho's delivery goroutine, which Disconnect waits for
		}
	})

	orders := makeOrders("FA", 6)
	h.dispatch(t, "sz01", orders)
	waitFor(t, 60*time.Second, "the agent receives the orders", func() bool { return a.orderState(t, orders[5].OrderID) == "pending_allocation" })
	waitFor(t, 30*time.Second, "the scanner is open", func() bool { return a.devicesConnected(t) })
	scan(t, ps, "OP-e2e01")
	for _, o := range orders[:3] {
		scan(t, ps, o.OrderID, o.Waybill)
	}
	waitFor(t, 30*time.Second, "three orders printed", func() bool { return a.orderState(t, orders[2].OrderID) == "waybill_printed" })
	last := a.drained(t, h, 120*time.Second)
	stolenMu.Lock()
	n := stolen
	stolenMu.Unlock()
	if n == 0 {
		t.Fatal("the thief got no batch: the test proves nothing")
	}
	if !strings.Contains(a.log(), "topic=wedge/v1/sz01/pack01/ack") {
		t.Fatalf("no refused ack in the agent's log after %d stolen batches", n)
	}
	t.Logf("the thief took %d batches; the agent synced all %d entries with the real hub", n, last)
	thief.leave() // if it has not left yet: from now on the hub receives every batch

	// The attacker forges the agent's next entries, chained to the last one it saw.
	var prev wire.Entry
	for _, m := range seen.all() {
		var bt wire.Batch
		if json.Unmarshal(body(m.Payload()), &bt) == nil {
			for _, e := range bt.Events {
				if e.Seq == last {
					prev = e
				}
			}
		}
	}
	if prev.Seq != last {
		t.Fatalf("the listener never saw seq %d", last)
	}
	forged := []wire.Entry{
		{Kind: wire.KindMerge, OrderID: orders[0].OrderID, To: "picked_up", Waybill: orders[0].Waybill, Trigger: wire.TriggerHub},
		{Kind: wire.KindIntake, OrderID: "FA-FAKE", To: "picked_up", Trigger: wire.TriggerHub},
	}
	for i := range forged {
		forged[i].JournalID, forged[i].Seq, forged[i].At = prev.JournalID, last+uint64(i)+1, wire.Time(time.Now())
		forged[i].Seal(prev.Hash)
		prev = forged[i]
	}
	batch, _ := json.Marshal(wire.Batch{Site: "sz01", Agent: "pack01", JournalID: prev.JournalID, Events: forged})
	dock := newSigner(t) // registered, for another agent
	registerAgent(t, dir, "dock09", []byte(wire.FormatPublicKey(dock.Public())+"\n"))
	if b.secure {
		// The forger has a copy of the agent's certificate, not of its signing key. The broker gives
		// a certificate's session to whichever client connected last with it, so a copy used while
		// the agent runs would only take the session from it and back: the forger publishes while
		// the PC is off.
		a.stop()
	}
	publish(t, b, pki.AgentCN("sz01", "pack01"), events, string(batch), string(dock.Sign(events, batch)), string(mallory.Sign(events, batch)))
	waitFor(t, 30*time.Second, "three forged batches refused at the hub", func() bool { return h.stats(t).SignatureRefused == 3 })
	if ho, _ := h.order(orders[0].OrderID); ho.State != "waybill_printed" {
		t.Fatalf("%s at the hub is %s after forged entries", orders[0].OrderID, ho.State)
	}
	if _, ok := h.order("FA-FAKE"); ok {
		t.Fatal("the forged order exists at the hub")
	}
	if ha := h.agents()["pack01"]; ha.AckedSeq != last {
		t.Fatalf("hub acked %d after forged entries, want %d", ha.AckedSeq, last)
	}
	var ev []struct {
		wire.Entry
		Unverified bool   `json:"unverified"`
		Reason     string `json:"reason"`
		KeyID      string `json:"key_id"`
	}
	if code, err := getJSONAuth(h.url("/v1/agents/sz01/pack01/unverified"), h.token, &ev); err != nil || code != 200 || len(ev) != 6 {
		t.Fatalf("evidence %d %v %+v", code, err, ev)
	}
	for _, e := range ev {
		if !e.Unverified || e.Seq <= last || !strings.Contains(e.Reason, "not signed") {
			t.Fatalf("evidence record %+v", e)
		}
	}
	if !strings.Contains(h.log(), "batch refused") {
		t.Fatal("the hub did not log the forged batches")
	}

	// The agent's real entries at those seqs are applied when they come.
	if b.secure {
		a.run(t)
		waitFor(t, 30*time.Second, "the scanner is open again", func() bool { return a.devicesConnected(t) })
		scan(t, ps, "OP-e2e01") // the operator badges in again after the restart
	}
	for _, o := range orders[3:] {
		scan(t, ps, o.OrderID, o.Waybill)
	}
	waitFor(t, 30*time.Second, "three more printed", func() bool { return a.orderState(t, orders[5].OrderID) == "waybill_printed" })
	final := a.drained(t, h, 120*time.Second)
	for _, o := range orders[:6] {
		if ho, _ := h.order(o.OrderID); ho.State != "waybill_printed" {
			t.Errorf("%s at the hub is %q", o.OrderID, ho.State)
		}
	}
	if s := h.stats(t); s.EventsIngested != final || s.Unverified != 6 || s.Conflicts != 0 || s.ChainBreaks != 0 {
		t.Errorf("hub stats %+v, want %d entries ingested and the 6 forged ones unverified", s, final)
	}
	a.stop()
	a.verify(t)
}

// An agent's key made on first start: `wedge run` refuses to start without a hub key (zh/en), makes
// data/agent.key and agent.pub and logs the public key; until IT registers it the hub keeps the
// agent's batches as evidence; after registering and SIGHUP to the hub, the agent's resent batches
// are applied and everything syncs.
func TestSigningKeyMadeOnFirstStartThenRegistered(t *testing.T) {
	needE2E(t)
	dir := t.TempDir()
	b := startBroker(t, dir)

	bare := filepath.Join(dir, "bare.yaml")
	os.WriteFile(bare, []byte(fmt.Sprintf("site: sz01\nagent: pack09\ndata_dir: bare-data\nbroker: {url: %q}\napi: {listen: \"off\"}\nstations:\n  - {name: print-1, role: print}\n", b.URL())), 0o644)
	out, err := exec.Command(wedgeBin, "run", "--config", bare).CombinedOutput()
	if code := exitCode(err); code != 2 || !strings.Contains(string(out), "未配置中心公钥") || !strings.Contains(string(out), "no hub public key") {
		t.Fatalf("wedge run without a hub key: exit %d\n%s", code, out)
	}

	h := startHub(t, dir, b, freeAddr(t))
	ps := openPty(t)
	a := newAgentWith(t, dir, "pack01", b, false, stationSpec{"print-1", "print", ps})
	pub, err := os.ReadFile(filepath.Join(a.data, "agent.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(a.log(), strings.TrimSpace(string(pub))) {
		t.Fatalf("the agent did not log its new public key %s", pub)
	}
	orders := makeOrders("FK", 1)
	h.dispatch(t, "sz01", orders)
	waitFor(t, 60*time.Second, "the agent receives the order (the hub's signature is good)", func() bool {
		return a.orderState(t, orders[0].OrderID) == "pending_allocation"
	})
	waitFor(t, 60*time.Second, "the hub keeps the unregistered agent's batches as evidence", func() bool { return h.stats(t).SignatureRefused > 0 })
	if _, ok := h.order(orders[0].OrderID); ok {
		if ho, _ := h.order(orders[0].OrderID); len(ho.History) > 0 {
			t.Fatalf("an unregistered agent's entry was applied: %+v", ho.History)
		}
	}

	registerAgent(t, dir, "pack01", pub)
	last := a.drained(t, h, 120*time.Second)
	if ho, ok := h.order(orders[0].OrderID); !ok || len(ho.History) == 0 {
		t.Fatalf("after registering, the hub has no history of %s (%d entries synced)", orders[0].OrderID, last)
	}
	h.alive()
	a.stop()
	a.verify(t)
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}
