package uplink_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"wedge/internal/clock"
	"wedge/internal/testbroker"
	"wedge/sync/uplink"
	"wedge/sync/uplink/uplinktest"
	"wedge/sync/wire"
)

func start(t *testing.T, src uplink.Source, o uplink.Options) *uplink.Uplink {
	t.Helper()
	o.Site, o.Agent = site, agent
	if len(o.HubKeys) == 0 {
		// The test hubs of this file ack unsigned; the signature tests pin keys (sign_test.go).
		o.AcceptUnsigned = true
	}
	if testing.Verbose() {
		o.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	u, err := uplink.New(context.Background(), src, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := u.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return u
}

func TestAllDeliveredAndAcked(t *testing.T) {
	b := testbroker.Start(t, nil)
	hub := startHub(t, b.URL(), ^uint64(0))
	src := uplinktest.NewMemSource(jid)
	src.Append(1200)
	u := start(t, src, uplink.Options{URL: b.URL()})
	src.Append(800) // more while running: Committed wakes the owner
	eventually(t, 30*time.Second, "acked seq reaches 2000", func() bool { return src.AckedSeq() == 2000 })
	for seq := uint64(1); seq <= 2000; seq++ {
		if hub.count(seq) == 0 {
			t.Fatalf("seq %d never reached the hub", seq)
		}
	}
	hub.check()
	st := u.Stats()
	if st.Acks == 0 || st.Batches < 4 || u.LastAck().IsZero() || !u.Connected() {
		t.Errorf("stats %+v, last ack %v, connected %v", st, u.LastAck(), u.Connected())
	}
	// The journal saw only hub acks, in increasing order.
	calls := src.AckCalls()
	for i := 1; i < len(calls); i++ {
		if calls[i] <= calls[i-1] {
			t.Errorf("Ack calls not increasing: %v", calls)
		}
	}
}

// The broker accepts (PUBACKs) and delivers everything, but the hub never acks: nothing is synced.
func TestNoHubAckMeansNotSynced(t *testing.T) {
	b := testbroker.Start(t, nil)
	hub := startHub(t, b.URL(), 0)
	src := uplinktest.NewMemSource(jid)
	src.Append(2000)
	// A window large enough for all 2000 (batches are ~250 entries of 64 KiB), so no ack is needed to send them.
	u := start(t, src, uplink.Options{URL: b.URL(), Window: 20})
	eventually(t, 30*time.Second, "hub receives all 2000", func() bool { return hub.contiguous() == 2000 })
	if got := src.AckedSeq(); got != 0 {
		t.Fatalf("AckedSeq = %d without any hub ack, want 0", got)
	}
	if calls := src.AckCalls(); len(calls) != 0 {
		t.Fatalf("Ack called %v without any hub ack", calls)
	}
	if !u.LastAck().IsZero() {
		t.Errorf("LastAck = %v without any hub ack", u.LastAck())
	}
	hub.check()
}

// The window bounds what is in flight without acks: with the hub silent, only Window batches go out.
func TestWindowBoundsInFlight(t *testing.T) {
	b := testbroker.Start(t, nil)
	hub := startHub(t, b.URL(), 0)
	src := uplinktest.NewMemSource(jid)
	src.Append(2000)
	clk := clock.NewFake(time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC))
	u := start(t, src, uplink.Options{URL: b.URL(), Window: 2, Clock: clk})
	eventually(t, 30*time.Second, "two batches published", func() bool { return u.Stats().Batches >= 2 })
	// A new commit wakes the owner; the window is still full, so nothing more may go out.
	src.Append(1)
	time.Sleep(300 * time.Millisecond) // give a wrong implementation the chance to send more
	if n := u.Stats().Batches; n != 2 {
		t.Fatalf("with Window 2 and no acks: %d batches published", n)
	}
	eventually(t, 30*time.Second, "hub receives them", func() bool { return hub.contiguous() > 0 && hub.contiguous() == hub.maxSeq() })
	if max := hub.maxSeq(); max >= 2000 || max < 2 {
		t.Fatalf("two batches carried seq 1..%d", max)
	}
}

func TestBrokerRestartMidStream(t *testing.T) {
	b := testbroker.Start(t, nil)
	hub := startHub(t, b.URL(), 500) // the hub stores all but acks only 500 before the crash
	src := uplinktest.NewMemSource(jid)
	u := start(t, src, uplink.Options{URL: b.URL(), ResendAfter: time.Second, Window: 20})
	src.Append(1500)
	eventually(t, 30*time.Second, "first part delivered, 500 acked", func() bool {
		return src.AckedSeq() == 500 && hub.contiguous() == 1500
	})
	b.Stop() // SIGKILL: whatever the broker held is gone
	eventually(t, 30*time.Second, "uplink notices the broker is gone", func() bool { return !u.Connected() })
	src.Append(500) // journaled while the broker is down
	hub.setAckLimit(^uint64(0))
	b.Restart()
	eventually(t, 60*time.Second, "everything acked after the restart", func() bool { return src.AckedSeq() == 2000 })
	for seq := uint64(1); seq <= 2000; seq++ {
		if hub.count(seq) == 0 {
			t.Fatalf("seq %d lost", seq)
		}
	}
	if u.Stats().Resends == 0 {
		t.Errorf("no resend counted across a broker restart with 1000 unacked in flight: %+v", u.Stats())
	}
	hub.check()
}

func TestResendAfterHubGoesSilent(t *testing.T) {
	b := testbroker.Start(t, nil)
	hub := startHub(t, b.URL(), 600) // acks up to 600, then silent
	src := uplinktest.NewMemSource(jid)
	src.Append(1500)
	clk := clock.NewFake(time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC))
	u := start(t, src, uplink.Options{URL: b.URL(), Clock: clk, ResendAfter: 10 * time.Second, Window: 20})
	eventually(t, 30*time.Second, "acked 600 and all sent once", func() bool {
		return src.AckedSeq() == 600 && hub.contiguous() == 1500
	})
	if st := u.Stats(); st.Resends != 0 {
		t.Fatalf("before ResendAfter: %+v, want no resend", st)
	}
	// paho may have resent a batch from its session store right after connecting: count from here.
	before := make(map[uint64]int)
	for seq := uint64(1); seq <= 1500; seq++ {
		before[seq] = hub.count(seq)
	}
	clk.Advance(9 * time.Second)
	time.Sleep(100 * time.Millisecond)
	if st := u.Stats(); st.Resends != 0 {
		t.Fatalf("resent before ResendAfter passed: %+v", st)
	}
	clk.Advance(time.Second)
	eventually(t, 30*time.Second, "unacked part resent", func() bool {
		for seq := uint64(601); seq <= 1500; seq++ {
			if hub.count(seq) <= before[seq] {
				return false
			}
		}
		return true
	})
	for seq := uint64(1); seq <= 600; seq++ {
		if n := hub.count(seq); n != before[seq] {
			t.Fatalf("acked seq %d was resent (%d times before ResendAfter, %d after)", seq, before[seq], n)
		}
	}
	if st := u.Stats(); st.Resends != 1 {
		t.Errorf("stats %+v, want 1 resend", st)
	}
	if got := src.AckedSeq(); got != 600 {
		t.Errorf("AckedSeq = %d, want 600", got)
	}
	hub.check()
}

func TestDownlinkBurstWithSlowConsumer(t *testing.T) {
	// mosquitto drops QoS 1 messages beyond max_queued_messages (default 1000) even for an online
	// client that is behind: that is the broker's limit (the hub's catch-up covers it), not ours.
	b := testbroker.Start(t, &testbroker.Options{MaxQueued: 20000})
	hub := startHub(t, b.URL(), ^uint64(0))
	_ = hub
	src := uplinktest.NewMemSource(jid)
	src.Append(1)
	u := start(t, src, uplink.Options{URL: b.URL()})
	// An ack arriving proves the subscriptions (sent in one SUBSCRIBE) are in place.
	eventually(t, 30*time.Second, "first ack", func() bool { return src.AckedSeq() == 1 })

	const n = 5000
	pub := client(t, b.URL(), "test-pub", nil)
	topics := []string{wire.TopicOrders(site), wire.TopicDirect(site, agent), wire.TopicCommand(site, agent)}
	toks := make([]mqtt.Token, 0, n)
	for i := 0; i < n; i++ {
		p, _ := json.Marshal(wire.OrderMsg{Type: wire.TypeCancel, HSeq: uint64(i + 1), OrderID: fmt.Sprintf("O%d", i)})
		toks = append(toks, pub.Publish(topics[i%3], 1, false, p))
	}
	for _, tok := range toks {
		if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	// Nobody has read Downlink yet. paho must not be blocked: acks still flow.
	src.Append(100)
	eventually(t, 30*time.Second, "acks flow while the downlink is unread", func() bool { return src.AckedSeq() == 101 })
	eventually(t, 30*time.Second, "all downlink received", func() bool { return u.Stats().Downlink >= n })

	seen := make(map[uint64]bool, n)
	timeout := time.After(60 * time.Second)
	for len(seen) < n {
		select {
		case m := <-u.Downlink():
			var om wire.OrderMsg
			if err := json.Unmarshal(m.Payload, &om); err != nil {
				t.Fatalf("payload %q: %v", m.Payload, err)
			}
			if want := topics[(om.HSeq-1)%3]; m.Topic != want {
				t.Fatalf("hseq %d on topic %s, want %s", om.HSeq, m.Topic, want)
			}
			if seen[om.HSeq] {
				t.Fatalf("hseq %d delivered twice", om.HSeq)
			}
			seen[om.HSeq] = true
			if len(seen)%1000 == 0 {
				time.Sleep(20 * time.Millisecond) // a slow consumer
			}
		case <-timeout:
			t.Fatalf("only %d of %d downlink messages delivered", len(seen), n)
		}
	}
}

func TestBadAcksAreIgnored(t *testing.T) {
	b := testbroker.Start(t, nil)
	src := uplinktest.NewMemSource(jid)
	src.Append(10)
	var logs lockedBuffer
	o := uplink.Options{URL: b.URL(), Site: site, Agent: agent, AcceptUnsigned: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	u, err := uplink.New(context.Background(), src, o)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Stop(context.Background())
	eventually(t, 10*time.Second, "connected", u.Connected)
	hub := client(t, b.URL(), "test-hand-hub", nil)
	// Wait until the uplink's subscription is active: retained-free probe with a valid ack of 1.
	ack := func(p string) { hub.Publish(wire.TopicAck(site, agent), 1, false, []byte(p)).Wait() }
	eventually(t, 10*time.Second, "probe ack applied", func() bool {
		ack(`{"journal_id":"` + jid + `","acked_seq":1}`)
		return src.AckedSeq() == 1
	})
	before := u.Stats().IgnoredAcks
	for _, p := range []string{
		`not json`,
		``,
		`{"journal_id":"` + jid + `","acked_seq":"7"}`,
		`{"journal_id":"J-other","acked_seq":5}`,
		`{"journal_id":"` + jid + `","acked_seq":11}`, // above LastSeq
		`{"journal_id":"","acked_seq":3}`,
		`[1,2,3]`,
	} {
		ack(p)
	}
	eventually(t, 10*time.Second, "7 bad acks ignored", func() bool { return u.Stats().IgnoredAcks-before >= 7 })
	if got := src.AckedSeq(); got != 1 {
		t.Fatalf("AckedSeq = %d after bad acks, want 1", got)
	}
	ack(`{"journal_id":"` + jid + `","acked_seq":10}`)
	eventually(t, 10*time.Second, "good ack after bad ones", func() bool { return src.AckedSeq() == 10 })
	if calls := src.AckCalls(); len(calls) != 2 || calls[len(calls)-1] != 10 {
		t.Errorf("Ack calls %v, want the probe and 10", calls)
	}
	if err := u.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	all := logs.String()
	for _, want := range []string{"malformed hub ack", "journal=J-other", "above our last seq", "seq=11 last_seq=10", "site=" + site + " agent=" + agent} {
		if !strings.Contains(all, want) {
			t.Errorf("log lacks %q:\n%s", want, all)
		}
	}
}

// A journal that fails to record an ack is not advanced; the next ack tries again.
func TestAckErrorKeepsSeq(t *testing.T) {
	b := testbroker.Start(t, nil)
	src := uplinktest.NewMemSource(jid)
	src.Append(5)
	u := start(t, src, uplink.Options{URL: b.URL()})
	hub := client(t, b.URL(), "test-hand-hub", nil)
	ack := func(n uint64) {
		p, _ := json.Marshal(wire.Ack{JournalID: jid, AckedSeq: n})
		hub.Publish(wire.TopicAck(site, agent), 1, false, p).Wait()
	}
	eventually(t, 10*time.Second, "probe", func() bool { ack(1); return src.AckedSeq() == 1 })
	src.SetAckErr(errors.New("disk full"))
	acksBefore := u.Stats().Acks
	ack(3)
	time.Sleep(100 * time.Millisecond)
	if src.AckedSeq() != 1 || u.Stats().Acks != acksBefore {
		t.Fatalf("ack applied although the journal failed: acked %d, stats %+v", src.AckedSeq(), u.Stats())
	}
	src.SetAckErr(nil)
	eventually(t, 10*time.Second, "ack 3 again", func() bool { ack(3); return src.AckedSeq() == 3 })
}

func TestStatusCatchupAndLastWill(t *testing.T) {
	b := testbroker.Start(t, nil)
	px := startProxy(t, b.Addr())
	obs := client(t, b.URL(), "test-observer", nil)
	var mu sync.Mutex
	var states []wire.Status
	var catchups []wire.CatchupRequest
	subscribe(t, obs, wire.TopicStatus(site, agent), func(m mqtt.Message) {
		var s wire.Status
		if err := json.Unmarshal(m.Payload(), &s); err != nil {
			t.Errorf("status payload %q: %v", m.Payload(), err)
		}
		mu.Lock()
		states = append(states, s)
		mu.Unlock()
	})
	subscribe(t, obs, wire.TopicCatchup(site, agent), func(m mqtt.Message) {
		var c wire.CatchupRequest
		if err := json.Unmarshal(m.Payload(), &c); err != nil {
			t.Errorf("catchup payload %q: %v", m.Payload(), err)
		}
		mu.Lock()
		catchups = append(catchups, c)
		mu.Unlock()
	})
	last := func() wire.Status {
		mu.Lock()
		defer mu.Unlock()
		if len(states) == 0 {
			return wire.Status{}
		}
		return states[len(states)-1]
	}
	// paho may resend a request from its session store right after a connect: duplicates are
	// harmless, so look for the request rather than count them.
	sawCatchup := func(from int, since uint64) (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		for i := from; i < len(catchups); i++ {
			if c := catchups[i]; c.Since == since && c.JournalID == jid {
				return len(catchups), true
			}
		}
		return len(catchups), false
	}

	src := uplinktest.NewMemSource(jid)
	src.Append(3)
	var breaker atomic.Bool
	var since atomic.Uint64
	since.Store(7)
	u := start(t, src, uplink.Options{URL: px.URL(),
		Status: func() wire.Status {
			return wire.Status{Site: site, Agent: agent, JournalID: jid, BreakerOpen: breaker.Load(), Unsynced: src.LastSeq() - src.AckedSeq()}
		},
		CatchupSince: since.Load})
	eventually(t, 10*time.Second, "online status", func() bool { s := last(); return s.State == "online" && s.Unsynced == 3 })
	eventually(t, 10*time.Second, "catch-up since 7 on connect", func() bool { _, ok := sawCatchup(0, 7); return ok })

	breaker.Store(true)
	u.PublishStatus()
	eventually(t, 10*time.Second, "status with breaker", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range states {
			if s.State == "online" && s.BreakerOpen {
				return true
			}
		}
		return false
	})
	u.RequestCatchup(42)
	eventually(t, 10*time.Second, "explicit catch-up", func() bool { _, ok := sawCatchup(0, 42); return ok })

	// The connection vanishes without DISCONNECT: the broker publishes the last will.
	since.Store(50)
	mu.Lock()
	mark := len(states)
	mu.Unlock()
	px.Cut()
	eventually(t, 20*time.Second, "last will offline", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range states[mark:] {
			if s.State == "offline" && s.JournalID == jid && s.At == "" {
				return true
			}
		}
		return false
	})
	// paho reconnects through the proxy: online again, and a new catch-up request.
	eventually(t, 30*time.Second, "online again", func() bool { return last().State == "online" && u.Connected() })
	eventually(t, 10*time.Second, "catch-up since 50 on reconnect", func() bool { _, ok := sawCatchup(0, 50); return ok })

	if err := u.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if u.Connected() {
		t.Error("Connected after Stop")
	}
	// A normal Stop leaves a retained offline status (with its time: not the will).
	late := client(t, b.URL(), "test-late", nil)
	got := make(chan wire.Status, 4)
	subscribe(t, late, wire.TopicStatus(site, agent), func(m mqtt.Message) {
		var s wire.Status
		_ = json.Unmarshal(m.Payload(), &s)
		got <- s
	})
	select {
	case s := <-got:
		if s.State != "offline" || s.At == "" || s.JournalID != jid {
			t.Errorf("retained status after Stop %+v, want offline with a time", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no retained status after Stop")
	}
	if _, ok := <-u.Downlink(); ok {
		t.Error("Downlink open after Stop")
	}
}

func TestCatchupRequestedWhileOfflineIsSentOnConnect(t *testing.T) {
	b := testbroker.Start(t, nil)
	got := watchCatchups(t, b.URL())
	px := startProxy(t, b.Addr())
	px.SetDown(true)
	src := uplinktest.NewMemSource(jid)
	u := start(t, src, uplink.Options{URL: px.URL()})
	eventually(t, 15*time.Second, "a failed connect", func() bool { return u.LastError() != nil })
	u.RequestCatchup(9)
	u.RequestCatchup(5) // the lowest wins
	px.SetDown(false)
	select {
	case c := <-got:
		if c.Since != 5 || c.JournalID != jid {
			t.Errorf("catch-up %+v, want since 5", c)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("catch-up requested while offline never sent")
	}
}

func TestTLSClientCertificate(t *testing.T) {
	tb := startTLSBroker(t)
	src := uplinktest.NewMemSource(jid)
	u := start(t, src, uplink.Options{URL: tb.URL, CAFile: tb.CA, CertFile: tb.ClientCert, KeyFile: tb.ClientKey})
	eventually(t, 15*time.Second, "TLS connect", u.Connected)
	if err := u.LastError(); err != nil {
		t.Errorf("LastError after connecting: %v", err)
	}
}

func TestTLSWrongCAFailsClearly(t *testing.T) {
	tb := startTLSBroker(t)
	src := uplinktest.NewMemSource(jid)
	u := start(t, src, uplink.Options{URL: tb.URL, CAFile: tb.OtherCA, CertFile: tb.ClientCert, KeyFile: tb.ClientKey})
	eventually(t, 15*time.Second, "a connect error", func() bool { return u.LastError() != nil })
	err := u.LastError()
	if !errors.Is(err, uplink.ErrConnect) || !strings.Contains(err.Error(), "certificate") || !strings.Contains(err.Error(), tb.URL) {
		t.Errorf("LastError = %v; want ErrConnect naming the broker and the certificate problem", err)
	}
	if u.Connected() {
		t.Error("connected with the wrong CA")
	}
}

func TestTLSWithoutClientCertIsRefused(t *testing.T) {
	tb := startTLSBroker(t)
	src := uplinktest.NewMemSource(jid)
	u := start(t, src, uplink.Options{URL: tb.URL, CAFile: tb.CA})
	eventually(t, 15*time.Second, "a connect error", func() bool { return u.LastError() != nil })
	if u.Connected() {
		t.Error("connected without the required client certificate")
	}
}

func TestOptionsErrors(t *testing.T) {
	src := uplinktest.NewMemSource(jid)
	dir := t.TempDir()
	cases := []struct {
		name string
		o    uplink.Options
		want error
	}{
		{"no url", uplink.Options{Site: site, Agent: agent}, uplink.ErrOptions},
		{"bad scheme", uplink.Options{URL: "http://x:1", Site: site, Agent: agent}, uplink.ErrOptions},
		{"bad site", uplink.Options{URL: "tcp://x:1", Site: "a/b", Agent: agent}, uplink.ErrOptions},
		{"wildcard agent", uplink.Options{URL: "tcp://x:1", Site: site, Agent: "+"}, uplink.ErrOptions},
		{"tls files on tcp", uplink.Options{URL: "tcp://x:1", Site: site, Agent: agent, CAFile: "ca.pem"}, uplink.ErrOptions},
		{"cert without key", uplink.Options{URL: "ssl://x:1", Site: site, Agent: agent, CertFile: "c.pem"}, uplink.ErrOptions},
		{"missing CA", uplink.Options{URL: "ssl://x:1", Site: site, Agent: agent, CAFile: dir + "/none.pem"}, uplink.ErrTLS},
		{"missing cert", uplink.Options{URL: "tls://x:1", Site: site, Agent: agent, CertFile: dir + "/c", KeyFile: dir + "/k"}, uplink.ErrTLS},
		{"no hub key", uplink.Options{URL: "tcp://x:1", Site: site, Agent: agent}, uplink.ErrOptions},
		{"short hub key", uplink.Options{URL: "tcp://x:1", Site: site, Agent: agent, HubKeys: []ed25519.PublicKey{{1, 2}}}, uplink.ErrOptions},
	}
	for _, c := range cases {
		u, err := uplink.New(context.Background(), src, c.o)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.want)
		}
		if u != nil {
			t.Errorf("%s: got an uplink", c.name)
		}
	}
	if _, err := uplink.New(context.Background(), nil, uplink.Options{URL: "tcp://x:1", Site: site, Agent: agent}); !errors.Is(err, uplink.ErrOptions) {
		t.Errorf("nil source: %v", err)
	}
}

// Cancelling New's context stops the uplink (goleak checks its goroutines are gone).
func TestContextCancelStops(t *testing.T) {
	b := testbroker.Start(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	u, err := uplink.New(ctx, uplinktest.NewMemSource(jid), uplink.Options{URL: b.URL(), Site: site, Agent: agent, AcceptUnsigned: true})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "connected", u.Connected)
	cancel()
	select {
	case _, ok := <-u.Downlink():
		if ok {
			t.Fatal("unexpected downlink")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Downlink not closed after the context ended")
	}
	if err := u.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// watchCatchups subscribes an observer to the agent's catch-up topic and hands over each request.
func watchCatchups(t *testing.T, url string) <-chan wire.CatchupRequest {
	t.Helper()
	obs := client(t, url, "test-observer", nil)
	got := make(chan wire.CatchupRequest, 4)
	subscribe(t, obs, wire.TopicCatchup(site, agent), func(m mqtt.Message) {
		var c wire.CatchupRequest
		_ = json.Unmarshal(m.Payload(), &c)
		got <- c
	})
	return got
}
