package uplink_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"wedge/internal/testbroker"
	"wedge/sync/uplink"
	"wedge/sync/uplink/uplinktest"
	"wedge/sync/wire"
)

// refusals records Options.OnRefused calls.
type refusals struct {
	mu  sync.Mutex
	got []refusal
}

type refusal struct {
	topic   string
	reason  error
	excerpt string
}

func (r *refusals) on(topic string, reason error, excerpt []byte) {
	r.mu.Lock()
	r.got = append(r.got, refusal{topic, reason, string(excerpt)})
	r.mu.Unlock()
}

func (r *refusals) list() []refusal {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]refusal(nil), r.got...)
}

func genKey(t *testing.T) (ed25519.PublicKey, *wire.Signer) {
	t.Helper()
	pub, priv, err := wire.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return pub, wire.NewSigner(priv)
}

func publish(t *testing.T, c mqtt.Client, topic string, payload []byte) {
	t.Helper()
	if tok := c.Publish(topic, 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

func ackBody(seq uint64) []byte {
	b, _ := json.Marshal(wire.Ack{JournalID: jid, AckedSeq: seq})
	return b
}

// Acks are believed only when the pinned hub key signed them for this agent's ack topic, and never
// for more than the uplink has sent: a forged ack (unsigned, another key, another agent's signed
// ack, an ack beyond what was sent) leaves the acked seq where it was, and each forgery is
// reported to OnRefused; the real hub's acks move it.
func TestForgedAcksRefused(t *testing.T) {
	b := testbroker.Start(t, nil)
	hubPub, hub := genKey(t)
	_, mallory := genKey(t)
	src := uplinktest.NewMemSource(jid)
	src.Append(5)
	var ref refusals
	// Window 1: the first batch (seq 1..5) stays in flight until acked, so seq 6..10 are not sent.
	u := start(t, src, uplink.Options{URL: b.URL(), HubKeys: []ed25519.PublicKey{hubPub}, Window: 1, OnRefused: ref.on})
	obs := client(t, b.URL(), "test-observer", nil)
	sent := make(chan uint64, 100)
	subscribe(t, obs, wire.TopicEvents(site, agent), func(m mqtt.Message) {
		_, body, _ := splitSigned(m.Payload())
		var bt wire.Batch
		if json.Unmarshal(body, &bt) == nil && len(bt.Events) > 0 {
			sent <- bt.Events[len(bt.Events)-1].Seq
		}
	})
	eventually(t, 10*time.Second, "connected", u.Connected)
	select {
	case s := <-sent:
		if s != 5 {
			t.Fatalf("first batch ends at %d, want 5", s)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no batch published")
	}
	src.Append(5) // not sent: the window is full

	fake := client(t, b.URL(), "test-forger", nil)
	topic := wire.TopicAck(site, agent)
	publish(t, fake, topic, ackBody(5))                                                 // unsigned
	publish(t, fake, topic, mallory.Sign(topic, ackBody(5)))                            // another key
	publish(t, fake, topic, hub.Sign(wire.TopicAck(site, "pc2"), ackBody(5)))           // the hub's, for another agent
	publish(t, fake, topic, []byte("wedge-sig-v1 kid=zz sig=!!!\n"+string(ackBody(5)))) // a broken frame
	eventually(t, 10*time.Second, "4 forged acks refused", func() bool { return len(ref.list()) >= 4 })
	for _, r := range ref.list() {
		if r.topic != topic || !(errors.Is(r.reason, wire.ErrUnsigned) || errors.Is(r.reason, wire.ErrBadSignature)) || r.excerpt == "" {
			t.Errorf("refusal %+v", r)
		}
	}
	if got := ref.list()[0].reason; !errors.Is(got, wire.ErrUnsigned) {
		t.Errorf("first refusal %v, want unsigned", got)
	}

	// Signed by the hub, but beyond what was sent (10 is in the journal, only 5 went out).
	publish(t, fake, topic, hub.Sign(topic, ackBody(10)))
	eventually(t, 10*time.Second, "ack beyond the sent seq ignored", func() bool { return u.Stats().IgnoredAcks >= 1 })
	if a := src.AckedSeq(); a != 0 || len(src.AckCalls()) != 0 {
		t.Fatalf("acked seq %d (calls %v) after forged acks, want 0", a, src.AckCalls())
	}
	if st := u.Stats(); st.Refused != 4 || st.Acks != 0 {
		t.Fatalf("stats %+v, want 4 refused, no ack", st)
	}

	// The real ack moves it, the window opens, the rest is sent and acked.
	publish(t, fake, topic, hub.Sign(topic, ackBody(5)))
	eventually(t, 10*time.Second, "acked 5", func() bool { return src.AckedSeq() == 5 })
	eventually(t, 10*time.Second, "batch up to 10 sent", func() bool {
		for {
			select {
			case s := <-sent:
				if s == 10 {
					return true
				}
			default:
				return false
			}
		}
	})
	publish(t, fake, topic, hub.Sign(topic, ackBody(10)))
	eventually(t, 10*time.Second, "acked 10", func() bool { return src.AckedSeq() == 10 })
}

// splitSigned splits a possibly signed payload into its header and body.
func splitSigned(p []byte) (header string, body []byte, signed bool) {
	if !wire.IsSigned(p) {
		return "", p, false
	}
	for i, c := range p {
		if c == '\n' {
			return string(p[:i]), p[i+1:], true
		}
	}
	return string(p), nil, true
}

// The downlink and commands: signed by the pinned hub key for their own topic they are delivered
// authenticated; unsigned, by another key, for another topic, or tampered with they are refused and
// never delivered.
func TestDownlinkAndCommandSignatures(t *testing.T) {
	b := testbroker.Start(t, nil)
	hubPub, hub := genKey(t)
	_, mallory := genKey(t)
	var ref refusals
	u := start(t, uplinktest.NewMemSource(jid), uplink.Options{URL: b.URL(), HubKeys: []ed25519.PublicKey{hubPub}, OnRefused: ref.on})
	eventually(t, 10*time.Second, "connected", u.Connected)
	fake := client(t, b.URL(), "test-forger", nil)
	orders, cmd := wire.TopicOrders(site), wire.TopicCommand(site, agent)
	state := []byte(`{"type":"state","order_id":"O-1","state":"picked_up"}`)
	command := []byte(`{"type":"breaker_thresholds","id":"c-1","by":"ops","max_backlog":1}`)
	tampered := hub.Sign(orders, state)
	tampered[len(tampered)-3] ^= 1

	// The subscription is up once a probe (signed by the hub) arrives.
	probe := []byte(`{"type":"cancel","order_id":"probe"}`)
	eventually(t, 10*time.Second, "probe delivered", func() bool {
		publish(t, fake, orders, hub.Sign(orders, probe))
		select {
		case m := <-u.Downlink():
			return m.Authenticated && string(m.Payload) == string(probe)
		case <-time.After(200 * time.Millisecond):
			return false
		}
	})
	for drained := false; !drained; {
		select {
		case <-u.Downlink():
		case <-time.After(300 * time.Millisecond):
			drained = true
		}
	}
	before := len(ref.list())
	forged := []struct {
		topic string
		p     []byte
	}{
		{orders, state},
		{orders, mallory.Sign(orders, state)},
		{orders, hub.Sign(wire.TopicOrders("other-site"), state)},
		{orders, tampered},
		{cmd, command},
		{cmd, mallory.Sign(cmd, command)},
		{cmd, hub.Sign(wire.TopicCommand(site, "pc2"), command)},
	}
	for _, f := range forged {
		publish(t, fake, f.topic, f.p)
	}
	// Then the real ones, in order after the forgeries.
	publish(t, fake, orders, hub.Sign(orders, state))
	publish(t, fake, cmd, hub.Sign(cmd, command))
	var got []uplink.Message
	for len(got) < 2 {
		select {
		case m := <-u.Downlink():
			got = append(got, m)
		case <-time.After(15 * time.Second):
			t.Fatalf("delivered %d of 2 real messages", len(got))
		}
	}
	if got[0].Topic != orders || string(got[0].Payload) != string(state) || !got[0].Authenticated ||
		got[1].Topic != cmd || string(got[1].Payload) != string(command) || !got[1].Authenticated {
		t.Fatalf("delivered %+v", got)
	}
	if n := len(ref.list()) - before; n != len(forged) {
		t.Fatalf("%d refusals, want %d: %+v", n, len(forged), ref.list())
	}
	select {
	case m := <-u.Downlink():
		t.Fatalf("a forged message was delivered: %+v", m)
	case <-time.After(200 * time.Millisecond):
	}
}

// With AcceptUnsigned, unsigned payloads (and those signed by a key not pinned) are delivered as
// unauthenticated, but a payload signed under a pinned key that does not verify is still refused.
func TestAcceptUnsigned(t *testing.T) {
	b := testbroker.Start(t, nil)
	hubPub, hub := genKey(t)
	_, other := genKey(t)
	var ref refusals
	u := start(t, uplinktest.NewMemSource(jid), uplink.Options{URL: b.URL(), HubKeys: []ed25519.PublicKey{hubPub},
		AcceptUnsigned: true, OnRefused: ref.on})
	eventually(t, 10*time.Second, "connected", u.Connected)
	fake := client(t, b.URL(), "test-publisher", nil)
	orders := wire.TopicOrders(site)
	msg := func(id string) []byte { return []byte(`{"type":"cancel","order_id":"` + id + `"}`) }
	eventually(t, 10*time.Second, "probe delivered", func() bool {
		publish(t, fake, orders, msg("probe"))
		select {
		case m := <-u.Downlink():
			return !m.Authenticated && string(m.Payload) == string(msg("probe"))
		case <-time.After(200 * time.Millisecond):
			return false
		}
	})
	for drained := false; !drained; {
		select {
		case <-u.Downlink():
		case <-time.After(300 * time.Millisecond):
			drained = true
		}
	}
	tampered := hub.Sign(orders, msg("tampered"))
	tampered[len(tampered)-3] ^= 1
	publish(t, fake, orders, tampered)
	publish(t, fake, orders, other.Sign(orders, msg("other-key")))
	publish(t, fake, orders, hub.Sign(orders, msg("hub")))
	want := []struct {
		id   string
		auth bool
	}{{"other-key", false}, {"hub", true}}
	for _, w := range want {
		select {
		case m := <-u.Downlink():
			if string(m.Payload) != string(msg(w.id)) || m.Authenticated != w.auth {
				t.Fatalf("got %q authenticated %v, want %s %v", m.Payload, m.Authenticated, w.id, w.auth)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("%s not delivered", w.id)
		}
	}
	if r := ref.list(); len(r) != 1 || !errors.Is(r[0].reason, wire.ErrBadSignature) {
		t.Fatalf("refusals %+v, want the tampered one", r)
	}
}

// Batches carry the agent's signature for its own events topic.
func TestBatchesSigned(t *testing.T) {
	b := testbroker.Start(t, nil)
	agentPub, agentKey, err := wire.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	hubPub, _ := genKey(t)
	src := uplinktest.NewMemSource(jid)
	src.Append(3)
	obs := client(t, b.URL(), "test-observer", nil)
	got := make(chan []byte, 10)
	subscribe(t, obs, wire.TopicEvents(site, agent), func(m mqtt.Message) { got <- m.Payload() })
	start(t, src, uplink.Options{URL: b.URL(), HubKeys: []ed25519.PublicKey{hubPub}, SigningKey: agentKey})
	var p []byte
	select {
	case p = <-got:
	case <-time.After(15 * time.Second):
		t.Fatal("no batch")
	}
	body, kid, err := wire.NewVerifier(agentPub).Verify(wire.TopicEvents(site, agent), p)
	if err != nil || kid != wire.KeyID(agentPub) {
		t.Fatalf("batch signature: kid %q err %v", kid, err)
	}
	var bt wire.Batch
	if err := json.Unmarshal(body, &bt); err != nil || len(bt.Events) != 3 {
		t.Fatalf("batch %s: %v", body, err)
	}
	if _, err := uplink.New(context.Background(), src, uplink.Options{URL: b.URL(), Site: site, Agent: agent,
		HubKeys: []ed25519.PublicKey{hubPub}, SigningKey: agentKey[:10]}); !errors.Is(err, uplink.ErrOptions) {
		t.Fatalf("short signing key: %v", err)
	}
}
