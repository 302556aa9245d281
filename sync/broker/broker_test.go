package broker_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/goleak"

	"wedge/sync/broker"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func start(t *testing.T) *broker.Broker {
	t.Helper()
	b, err := broker.Start("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

type inbox struct {
	mu   sync.Mutex
	msgs []mqtt.Message
}

func (in *inbox) add(_ mqtt.Client, m mqtt.Message) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.msgs = append(in.msgs, m)
}

func (in *inbox) len() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.msgs)
}

func (in *inbox) all() []mqtt.Message {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]mqtt.Message(nil), in.msgs...)
}

func connect(t *testing.T, b *broker.Broker, id string, clean bool, in *inbox) mqtt.Client {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID(id).SetCleanSession(clean).SetAutoReconnect(false)
	if in != nil {
		o.SetDefaultPublishHandler(in.add)
	}
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", id, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c
}

func wait(t *testing.T, tok mqtt.Token) {
	t.Helper()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("token: %v", tok.Error())
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second) // generous: make test runs packages side by side under -race on 2 cores
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestQoS1RoundTripAndRetained(t *testing.T) {
	b := start(t)
	var in inbox
	sub := connect(t, b, "sub", true, &in)
	wait(t, sub.Subscribe("wedge/v1/sz01/+/events", 1, nil))
	pub := connect(t, b, "pub", true, nil)
	wait(t, pub.Publish("wedge/v1/sz01/pack01/events", 1, false, []byte(`{"n":1}`)))
	waitFor(t, "the message", func() bool { return in.len() == 1 })
	if m := in.all()[0]; string(m.Payload()) != `{"n":1}` || m.Qos() != 1 || m.Topic() != "wedge/v1/sz01/pack01/events" {
		t.Fatalf("got %s qos %d on %s", m.Payload(), m.Qos(), m.Topic())
	}

	// A retained status reaches a subscriber that comes later.
	wait(t, pub.Publish("wedge/v1/sz01/pack01/status", 1, true, []byte(`{"state":"online"}`)))
	var late inbox
	c := connect(t, b, "late", true, &late)
	wait(t, c.Subscribe("wedge/v1/+/+/status", 1, nil))
	// mochi acks a QoS 1 publish before it forwards it to the subscribers, so a subscriber that
	// comes in between gets the message twice: as the retained copy its subscription is sent and
	// as the live publish (MQTT allows both). Wait for the retained copy, not for a count.
	waitFor(t, "the retained status", func() bool {
		for _, m := range late.all() {
			if m.Retained() {
				return true
			}
		}
		return false
	})
	for _, m := range late.all() {
		if string(m.Payload()) != `{"state":"online"}` || m.Topic() != "wedge/v1/sz01/pack01/status" {
			t.Fatalf("late subscriber got %s on %s", m.Payload(), m.Topic())
		}
	}
}

func TestPersistentSessionQueuesWhileAway(t *testing.T) {
	b := start(t)
	away := connect(t, b, "wedge-sz01-pack01", false, nil)
	wait(t, away.Subscribe("wedge/v1/sz01/orders", 1, nil))
	away.Disconnect(50)
	// Publish only once the broker has seen the client go: messages are then queued for the
	// session, not written to a connection that is closing.
	waitFor(t, "the broker to see the client leave", func() bool { return !b.Online("wedge-sz01-pack01") })

	pub := connect(t, b, "hub", true, nil)
	for i := range 3 {
		wait(t, pub.Publish("wedge/v1/sz01/orders", 1, false, fmt.Appendf(nil, `{"hseq":%d}`, i+1)))
	}
	// mochi acks a publish before it forwards it: wait until the session holds all three, so the
	// reconnect below cannot race the forwarding (a message forwarded while the session is taken
	// over can be lost: docs/KNOWN-ISSUES.md).
	waitFor(t, "three messages queued for the session", func() bool { return b.Queued("wedge-sz01-pack01") == 3 })
	// Same client id, CleanSession=false: the subscription and the queued messages are still there.
	var in inbox
	connect(t, b, "wedge-sz01-pack01", false, &in)
	// mochi resends queued messages ordered only by the second they were created, so within a
	// second the order is arbitrary: compare as a set (wedge orders by seq and hseq, not arrival).
	// QoS 1 is at least once, and mochi acks a publish before it forwards it, so a message can
	// also come twice (queued and live): wait for the three distinct messages, not for a count.
	distinct := func() map[string]bool {
		got := map[string]bool{}
		for _, m := range in.all() {
			got[string(m.Payload())] = true
		}
		return got
	}
	waitFor(t, "three queued messages", func() bool { return len(distinct()) >= 3 })
	got := distinct()
	for i := range 3 {
		if want := fmt.Sprintf(`{"hseq":%d}`, i+1); !got[want] {
			t.Fatalf("queued message %s missing; got %v", want, got)
		}
	}
	if len(got) != 3 {
		t.Fatalf("got messages %v, want the three queued ones", got)
	}
}

func TestSharedSubscriptionDeliversEachMessageOnce(t *testing.T) {
	b := start(t)
	var in1, in2 inbox
	h1 := connect(t, b, "hub-1", true, &in1)
	h2 := connect(t, b, "hub-2", true, &in2)
	wait(t, h1.Subscribe("$share/wedge-hub/wedge/v1/+/+/events", 1, nil))
	wait(t, h2.Subscribe("$share/wedge-hub/wedge/v1/+/+/events", 1, nil))
	pub := connect(t, b, "agent", true, nil)
	const n = 60
	for i := range n {
		wait(t, pub.Publish("wedge/v1/sz01/pack01/events", 1, false, fmt.Appendf(nil, "%d", i)))
	}
	waitFor(t, "all messages", func() bool { return in1.len()+in2.len() == n })
	seen := map[string]bool{}
	for _, m := range append(in1.all(), in2.all()...) {
		if seen[string(m.Payload())] {
			t.Fatalf("message %s delivered twice", m.Payload())
		}
		seen[string(m.Payload())] = true
	}
	if in1.len() == 0 || in2.len() == 0 {
		t.Fatalf("split %d / %d: both members should get part of the load", in1.len(), in2.len())
	}
}

func TestStartRejectsNonLoopbackAndBusyPort(t *testing.T) {
	if _, err := broker.Start("0.0.0.0:0", nil); !errors.Is(err, broker.ErrOptions) {
		t.Fatalf("non-loopback: %v, want ErrOptions", err)
	}
	if _, err := broker.Start("nonsense", nil); !errors.Is(err, broker.ErrOptions) {
		t.Fatalf("bad address: %v, want ErrOptions", err)
	}
	b := start(t)
	if _, err := broker.Start(b.Addr(), nil); !errors.Is(err, broker.ErrStart) {
		t.Fatalf("busy port: %v, want ErrStart", err)
	}
	var logs lockedBuf
	b2, err := broker.Start("127.0.0.1:0", &broker.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := b2.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b2.Close(); err != nil { // twice is fine
		t.Fatal(err)
	}
	if s := logs.String(); s == "" || !strings.Contains(s, "component=broker") {
		t.Fatalf("the logger got no broker records: %q", s)
	}
}

// lockedBuf is a bytes.Buffer safe for the broker's goroutines.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
