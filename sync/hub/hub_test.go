package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/goleak"

	"wedge/internal/clock"
	"wedge/internal/testbroker"
	"wedge/sync/apitoken"
	"wedge/sync/broker"
	"wedge/sync/hub"
	"wedge/sync/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 1, 22, 8, 0, 0, 0, time.UTC)

// waitFor polls cond until it holds; the deadline only guards against a hang.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type env struct {
	t      *testing.T
	broker *testbroker.Broker
	dir    string
	hub    *hub.Hub
	clk    *clock.Fake
	logs   *logSink
	// extra sets more hub options (signing keys) on every start.
	extra func(*hub.Options)
}

type logSink struct {
	mu    sync.Mutex
	lines []string
}

// Write takes one record of slog's text handler.
func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

func (l *logSink) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if bytes.Contains([]byte(line), []byte(s)) {
			return true
		}
	}
	return false
}

func newEnv(t *testing.T) *env {
	e := &env{t: t, broker: testbroker.Start(t, nil), dir: t.TempDir(), clk: clock.NewFake(t0), logs: &logSink{}}
	e.startHub("wedge-hub-test")
	return e
}

// envStore, when set, gives the hubs of newEnv their store (a new handle on the same data at every
// start) instead of the bbolt file in e.dir: the same tests then run against another Store.
var envStore func(t *testing.T) hub.Store

func (e *env) startHub(clientID string) *hub.Hub {
	e.t.Helper()
	extra := []func(*hub.Options){e.extra}
	if envStore != nil {
		extra = append(extra, func(o *hub.Options) { o.Store = envStore(e.t) })
	}
	h := startHub(e.t, e.broker.URL(), e.dir, clientID, e.clk, slog.New(slog.NewTextHandler(e.logs, nil)), extra...)
	e.hub = h
	return h
}

func startHub(t *testing.T, url, dir, clientID string, clk clock.Clock, log *slog.Logger, extra ...func(*hub.Options)) *hub.Hub {
	t.Helper()
	o := hub.Options{BrokerURL: url, DataDir: dir, Listen: "127.0.0.1:0", ClientID: clientID, Clock: clk, Logger: log}
	for _, f := range extra {
		if f != nil {
			f(&o)
		}
	}
	h, err := hub.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Stop(context.Background()) })
	select {
	case <-h.Ready():
	case <-time.After(15 * time.Second):
		t.Fatal("hub did not subscribe")
	}
	return h
}

func (e *env) stopHub() {
	e.t.Helper()
	if err := e.hub.Stop(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

// agent is a raw paho client standing in for a wedge agent.
type agent struct {
	t           *testing.T
	site, name  string
	cli         mqtt.Client
	mu          sync.Mutex
	acks        []wire.Ack
	site_msgs   []wire.OrderMsg
	direct      [][]wire.OrderMsg
	directBytes [][]byte
	// hub, when set, must have signed every message the agent receives (a failure fails the
	// test); signer, when set, signs the batches it sends.
	hub    *wire.Verifier
	signer *wire.Signer
}

func newAgent(t *testing.T, url, site, name string) *agent {
	return newSigningAgent(t, url, site, name, nil, nil)
}

// newSigningAgent is newAgent that checks the hub's signature with hubKey and signs with key (each
// optional).
func newSigningAgent(t *testing.T, url, site, name string, hubKey *wire.Verifier, key *wire.Signer) *agent {
	t.Helper()
	a := &agent{t: t, site: site, name: name, hub: hubKey, signer: key}
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID("test-" + site + "-" + name).SetCleanSession(true)
	a.cli = mqtt.NewClient(o)
	if tok := a.cli.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("agent connect: %v", tok.Error())
	}
	t.Cleanup(func() { a.cli.Disconnect(100) })
	sub := func(topic string, fn func(p []byte)) {
		tok := a.cli.Subscribe(topic, 1, func(_ mqtt.Client, m mqtt.Message) {
			p := m.Payload()
			if a.hub != nil {
				body, _, err := a.hub.Verify(m.Topic(), p)
				if err != nil {
					t.Errorf("%s: not signed by the hub: %v: %q", m.Topic(), err, p)
					return
				}
				p = body
			}
			fn(p)
		})
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe %s: %v", topic, tok.Error())
		}
	}
	sub(wire.TopicAck(site, name), func(p []byte) {
		var ack wire.Ack
		if err := json.Unmarshal(p, &ack); err != nil {
			t.Errorf("bad ack %s: %v", p, err)
			return
		}
		a.mu.Lock()
		a.acks = append(a.acks, ack)
		a.mu.Unlock()
	})
	sub(wire.TopicOrders(site), func(p []byte) {
		msgs, bad, err := wire.ParseDownlink(p)
		if err != nil || len(bad) > 0 {
			t.Errorf("bad downlink %s: %v %v", p, err, bad)
		}
		a.mu.Lock()
		a.site_msgs = append(a.site_msgs, msgs...)
		a.mu.Unlock()
	})
	sub(wire.TopicDirect(site, name), func(p []byte) {
		msgs, bad, err := wire.ParseDownlink(p)
		if err != nil || len(bad) > 0 {
			t.Errorf("bad direct downlink %s: %v %v", p, err, bad)
		}
		a.mu.Lock()
		a.direct = append(a.direct, msgs)
		a.directBytes = append(a.directBytes, append([]byte(nil), p...))
		a.mu.Unlock()
	})
	return a
}

func (a *agent) publish(topic string, payload []byte) {
	a.t.Helper()
	tok := a.cli.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		a.t.Fatalf("publish: %v", tok.Error())
	}
}

func (a *agent) send(jid string, entries ...wire.Entry) {
	a.t.Helper()
	b, err := json.Marshal(wire.Batch{Site: a.site, Agent: a.name, JournalID: jid, Events: entries})
	if err != nil {
		a.t.Fatal(err)
	}
	if a.signer != nil {
		b = a.signer.Sign(wire.TopicEvents(a.site, a.name), b)
	}
	a.publish(wire.TopicEvents(a.site, a.name), b)
}

func (a *agent) ackCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.acks)
}

// waitAck waits for the n-th ack (1-based) and returns it.
func (a *agent) waitAck(n int) wire.Ack {
	a.t.Helper()
	waitFor(a.t, fmt.Sprintf("ack #%d for %s/%s", n, a.site, a.name), func() bool { return a.ackCount() >= n })
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.acks[n-1]
}

func (a *agent) siteMsgs() []wire.OrderMsg {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]wire.OrderMsg(nil), a.site_msgs...)
}

func (a *agent) statesFor(orderID string) []string {
	var out []string
	for _, m := range a.siteMsgs() {
		if m.Type == wire.TypeState && m.OrderID == orderID {
			out = append(out, m.State)
		}
	}
	return out
}

// chain builds a sealed journal from entry templates: seq 1.. and hashes are filled in.
func chain(jid string, tmpl ...wire.Entry) []wire.Entry {
	out := make([]wire.Entry, len(tmpl))
	prev := ""
	for i, e := range tmpl {
		e.JournalID = jid
		e.Seq = uint64(i + 1)
		if e.At == "" {
			e.At = wire.Time(t0.Add(time.Duration(i) * time.Second))
		}
		e.Seal(prev)
		prev = e.Hash
		out[i] = e
	}
	return out
}

func orderMsg(no string) *wire.OrderMsg {
	return &wire.OrderMsg{Type: wire.TypeOrder, OrderID: "O-" + no, Channel: "tmall", ChannelOrderNo: "4012345678" + no,
		BuyerID: "b-1", OrderedAt: "2026-01-22T07:00:00.000Z", SKUs: []string{"SKU-1"}, Payment: "full"}
}

// spine is intake → printed → picked up for one order.
func spine(id string) []wire.Entry {
	return []wire.Entry{
		{Kind: wire.KindIntake, OrderID: id, To: "pending_allocation", Trigger: wire.TriggerHub, Order: orderMsg(id[2:])},
		{Kind: wire.KindStep, OrderID: id, From: "pending_allocation", To: "waybill_printed", Waybill: "SF1234567890123", Carrier: "sf", Station: "print-1", Trigger: wire.TriggerPrint},
		{Kind: wire.KindStep, OrderID: id, From: "waybill_printed", To: "picked_up", Waybill: "SF1234567890123", Station: "handover-1", Operator: "张三", Trigger: wire.TriggerScan},
	}
}

// tokens holds an admin token per hub, made on first use by tokenFor.
var tokens sync.Map // *hub.Hub → string

var tokenSeq atomic.Int64

// tokenFor returns an admin API token of h (one made in its store on first use).
func tokenFor(t *testing.T, h *hub.Hub) string {
	t.Helper()
	if v, ok := tokens.Load(h); ok {
		return v.(string)
	}
	v, _ := tokens.LoadOrStore(h, newToken(t, h, fmt.Sprintf("test-%d", tokenSeq.Add(1)), apitoken.Admin))
	return v.(string)
}

// newToken creates a token named name with scopes in h's store.
func newToken(t *testing.T, h *hub.Hub, name string, scopes ...apitoken.Scope) string {
	t.Helper()
	raw, _, err := apitoken.Create(context.Background(), h.Tokens(), name, scopes, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// do sends an API request to h with token ("" for none) and returns the status and body.
func do(t *testing.T, h *hub.Hub, method, path, token string, body []byte) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+h.Addr()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, rb
}

func getJSON(t *testing.T, h *hub.Hub, path string, want int, v any) {
	t.Helper()
	code, body := do(t, h, http.MethodGet, path, tokenFor(t, h), nil)
	if code != want {
		t.Fatalf("GET %s: %d %s, want %d", path, code, body, want)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, body)
	}
}

func postJSON(t *testing.T, h *hub.Hub, path string, body any, want int, v any) {
	t.Helper()
	postJSONAs(t, h, tokenFor(t, h), path, body, want, v)
}

// postJSONAs is postJSON with a given token.
func postJSONAs(t *testing.T, h *hub.Hub, token, path string, body any, want int, v any) {
	t.Helper()
	b, _ := json.Marshal(body)
	code, rb := do(t, h, http.MethodPost, path, token, b)
	if code != want {
		t.Fatalf("POST %s: %d %s, want %d", path, code, rb, want)
	}
	if err := json.Unmarshal(rb, v); err != nil {
		t.Fatalf("POST %s: %v in %s", path, err, rb)
	}
}

type orderView struct {
	OrderID string `json:"order_id"`
	Site    string `json:"site"`
	State   string `json:"state"`
	Waybill string `json:"waybill"`
	Carrier string `json:"carrier"`
	History []struct {
		wire.Entry
		Site       string `json:"site"`
		Agent      string `json:"agent"`
		ReceivedAt string `json:"received_at"`
		ChainError string `json:"chain_error"`
	} `json:"history"`
}

func (e *env) order(id string) orderView {
	e.t.Helper()
	var v orderView
	getJSON(e.t, e.hub, "/v1/orders/"+id, http.StatusOK, &v)
	return v
}

func (e *env) stats() hub.Stats {
	e.t.Helper()
	var s hub.Stats
	getJSON(e.t, e.hub, "/v1/stats", http.StatusOK, &s)
	return s
}

func TestBatchStoredAckedAndStateAuthoritative(t *testing.T) {
	e := newEnv(t)
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	entries := chain("j1", spine("O-1")...)
	a.send("j1", entries...)
	if ack := a.waitAck(1); ack != (wire.Ack{JournalID: "j1", AckedSeq: 3}) {
		t.Fatalf("ack = %+v, want j1/3", ack)
	}
	o := e.order("O-1")
	if o.State != "picked_up" || o.Waybill != "SF1234567890123" || o.Carrier != "sf" || o.Site != "sz01" {
		t.Fatalf("order = %+v", o)
	}
	if len(o.History) != 3 {
		t.Fatalf("history has %d entries, want 3", len(o.History))
	}
	for i, h := range o.History {
		if h.Seq != uint64(i+1) || h.Hash != entries[i].Hash || h.Agent != "pack01" || h.ReceivedAt != wire.Time(t0) || h.ChainError != "" {
			t.Errorf("history[%d] = %+v", i, h)
		}
	}
	s := e.stats()
	if s.EventsIngested != 3 || s.DuplicatesDropped != 0 || s.OrdersPerState["picked_up"] != 1 || len(s.OrdersPerState) != 1 {
		t.Fatalf("stats = %+v", s)
	}
	var agents []map[string]any
	getJSON(t, e.hub, "/v1/agents", http.StatusOK, &agents)
	if len(agents) != 1 || agents[0]["agent"] != "pack01" || agents[0]["journal_id"] != "j1" || agents[0]["acked_seq"] != 3.0 || agents[0]["online"] != true {
		t.Fatalf("agents = %v", agents)
	}
	// The rebroadcast carries the batch's changes of the order once, as the last entry left it:
	// printed then picked up in one batch is one state message, picked up with the waybill (the
	// intake created the order). Barrier: a later batch's state message comes after it.
	b := chain("j2", spine("O-2")...)
	a.send("j2", b[:2]...)
	waitFor(t, "O-2 state", func() bool { return len(a.statesFor("O-2")) == 1 })
	if got := a.statesFor("O-1"); len(got) != 1 || got[0] != "picked_up" {
		t.Fatalf("states = %v, want one: picked_up", got)
	}
	var msgs = a.siteMsgs()
	if len(msgs) != 2 || msgs[0].HSeq != 1 || msgs[0].Waybill != "SF1234567890123" || msgs[1].HSeq != 2 || msgs[1].OrderID != "O-2" {
		t.Fatalf("downlink = %+v", msgs)
	}
}

func TestDuplicateBatchCountedNotApplied(t *testing.T) {
	e := newEnv(t)
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	entries := chain("j1", spine("O-1")...)
	a.send("j1", entries...)
	a.waitAck(1)
	a.send("j1", entries...)
	if ack := a.waitAck(2); ack.AckedSeq != 3 {
		t.Fatalf("repeated ack = %+v, want 3", ack)
	}
	s := e.stats()
	if s.EventsIngested != 3 || s.DuplicatesDropped != 3 || s.Conflicts != 0 || s.OrdersPerState["picked_up"] != 1 {
		t.Fatalf("stats = %+v", s)
	}
	if o := e.order("O-1"); len(o.History) != 3 || o.State != "picked_up" {
		t.Fatalf("order after duplicate = %+v", o)
	}
	// Barrier: a new order's state message arrives after anything the duplicate could have caused.
	b := chain("j2", spine("O-2")...)
	a.send("j2", b[:2]...)
	waitFor(t, "O-2 state", func() bool { return len(a.statesFor("O-2")) == 1 })
	if got := a.statesFor("O-1"); len(got) != 1 {
		t.Fatalf("O-1 rebroadcast %v, want exactly one (the batch's last state, picked up)", got)
	}
	// A duplicate whose content differs is a conflict: the first stays.
	forged := entries[2]
	forged.Operator = "李四"
	forged.Seal(entries[1].Hash)
	a.send("j1", forged)
	a.waitAck(4)
	if s := e.stats(); s.Conflicts != 1 || s.DuplicatesDropped != 4 {
		t.Fatalf("stats after conflict = %+v", s)
	}
	if o := e.order("O-1"); o.History[2].Operator != "张三" {
		t.Fatalf("conflicting duplicate replaced the stored entry: %+v", o.History[2])
	}
}

func TestGapHoldsAckUntilFilled(t *testing.T) {
	e := newEnv(t)
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	entries := chain("j1", append(spine("O-1"), wire.Entry{Kind: wire.KindNote, Detail: "printer fault cleared"})...)
	a.send("j1", entries[0], entries[1], entries[3])
	if ack := a.waitAck(1); ack.AckedSeq != 2 {
		t.Fatalf("ack with a gap = %d, want 2", ack.AckedSeq)
	}
	a.send("j1", entries[2])
	if ack := a.waitAck(2); ack.AckedSeq != 4 {
		t.Fatalf("ack after the gap filled = %d, want 4", ack.AckedSeq)
	}
	if s := e.stats(); s.EventsIngested != 4 || s.ChainBreaks != 0 {
		t.Fatalf("stats = %+v", s)
	}
}

func TestTwoJournalsOfOneAgentStoredSeparately(t *testing.T) {
	e := newEnv(t)
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	old := chain("old-install", spine("O-1")[:2]...)
	fresh := chain("new-install", spine("O-2")[:2]...)
	a.send("old-install", old...)
	if ack := a.waitAck(1); ack != (wire.Ack{JournalID: "old-install", AckedSeq: 2}) {
		t.Fatalf("ack = %+v", ack)
	}
	a.send("new-install", fresh...) // starts again at seq 1: not a duplicate
	if ack := a.waitAck(2); ack != (wire.Ack{JournalID: "new-install", AckedSeq: 2}) {
		t.Fatalf("ack = %+v", ack)
	}
	if s := e.stats(); s.EventsIngested != 4 || s.DuplicatesDropped != 0 {
		t.Fatalf("stats = %+v", s)
	}
	if o1, o2 := e.order("O-1"), e.order("O-2"); o1.State != "waybill_printed" || o2.State != "waybill_printed" ||
		o1.History[0].JournalID != "old-install" || o2.History[0].JournalID != "new-install" {
		t.Fatalf("orders = %+v / %+v", o1, o2)
	}
	var agents []map[string]any
	getJSON(t, e.hub, "/v1/agents", http.StatusOK, &agents)
	if len(agents) != 1 || agents[0]["journal_id"] != "new-install" {
		t.Fatalf("agents = %v", agents)
	}
}

func TestStateMergeIsMonotonic(t *testing.T) {
	e := newEnv(t)
	pack := newAgent(t, e.broker.URL(), "sz01", "pack01")
	hand := newAgent(t, e.broker.URL(), "sz01", "hand01")
	// The handover PC reports picked up first; the print PC's printed step arrives late.
	hand.send("jh", chain("jh", wire.Entry{Kind: wire.KindMerge, OrderID: "O-1", To: "picked_up", Waybill: "SF1234567890123", At: "2026-01-22T08:05:00.000Z"})...)
	hand.waitAck(1)
	pj := chain("jp", wire.Entry{Kind: wire.KindStep, OrderID: "O-1", From: "pending_allocation", To: "waybill_printed", Waybill: "SF1234567890123", At: "2026-01-22T08:01:00.000Z"},
		wire.Entry{Kind: wire.KindStep, OrderID: "O-9", From: "pending_allocation", To: "waybill_printed", Waybill: "SF9999999999999"})
	pack.send("jp", pj[0])
	pack.waitAck(1)
	if o := e.order("O-1"); o.State != "picked_up" {
		t.Fatalf("state = %s, want picked_up", o.State)
	}
	// History is sorted by the agents' time, not by arrival.
	if o := e.order("O-1"); len(o.History) != 2 || o.History[0].Agent != "pack01" || o.History[1].Agent != "hand01" {
		t.Fatalf("history order = %+v", o.History)
	}
	// Barrier: another order's change; by then O-1 must have been rebroadcast exactly once.
	pack.send("jp", pj[1])
	waitFor(t, "O-9 state", func() bool { return len(pack.statesFor("O-9")) == 1 })
	if got := pack.statesFor("O-1"); len(got) != 1 || got[0] != "picked_up" {
		t.Fatalf("O-1 rebroadcasts = %v, want [picked_up]", got)
	}
	if s := e.stats(); s.OrdersPerState["picked_up"] != 1 || s.OrdersPerState["waybill_printed"] != 1 {
		t.Fatalf("stats = %+v", s)
	}
}

type postResp struct {
	Accepted int      `json:"accepted"`
	OrderIDs []string `json:"order_ids"`
	HSeqs    []uint64 `json:"hseqs"`
	Errors   []struct {
		Index int    `json:"index"`
		Error string `json:"error"`
	} `json:"errors"`
}

func TestPostOrdersPublishesWithHSeqAndFingerprint(t *testing.T) {
	e := newEnv(t)
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	o1 := wire.OrderMsg{Type: wire.TypeOrder, Channel: "tmall", ChannelOrderNo: "4012345678901234", BuyerID: "b-1001",
		OrderedAt: "2026-01-22T08:00:00Z", SKUs: []string{"SKU-2", "SKU-1"}, Payment: "full", Carrier: "sf", Waybill: "SF1234567890123"}
	o2 := wire.OrderMsg{Type: wire.TypeOrder, Channel: "jd", ChannelOrderNo: "JD000000000001", BuyerID: "b-2",
		OrderedAt: "2026-01-22T08:00:00Z", SKUs: []string{"SKU-9"}, Payment: "deposit"}
	bad := wire.OrderMsg{Type: wire.TypeOrder, Channel: "jd"}
	var r postResp
	postJSON(t, e.hub, "/v1/orders", map[string]any{"site": "sz01", "orders": []wire.OrderMsg{o1, bad, o2}}, http.StatusOK, &r)
	want1 := wire.Fingerprint("tmall", "4012345678901234", "b-1001", t0, []string{"SKU-1", "SKU-2"})
	if r.Accepted != 2 || len(r.OrderIDs) != 2 || r.OrderIDs[0] != want1 || r.OrderIDs[1] != o2.ID() {
		t.Fatalf("response = %+v", r)
	}
	if len(r.Errors) != 1 || r.Errors[0].Index != 1 {
		t.Fatalf("errors = %+v", r.Errors)
	}
	waitFor(t, "two orders on the site topic", func() bool { return len(a.siteMsgs()) == 2 })
	msgs := a.siteMsgs()
	if msgs[0].OrderID != want1 || msgs[0].HSeq != 1 || msgs[1].HSeq != 2 || msgs[1].OrderID != r.OrderIDs[1] {
		t.Fatalf("published = %+v", msgs)
	}
	if v := e.order(want1); v.State != "pending_allocation" || v.Site != "sz01" {
		t.Fatalf("order 1 = %+v", v)
	}
	if v := e.order(r.OrderIDs[1]); v.State != "awaiting_balance" {
		t.Fatalf("deposit order = %+v", v)
	}
	// A waybill message is published too and continues the site's hseq.
	postJSON(t, e.hub, "/v1/orders", map[string]any{"site": "sz01", "orders": []wire.OrderMsg{{Type: wire.TypeWaybill, OrderID: r.OrderIDs[1], Carrier: "jd", Waybill: "JD0012345678901"}}}, http.StatusOK, &r)
	if len(r.HSeqs) != 1 || r.HSeqs[0] != 3 {
		t.Fatalf("hseqs = %v", r.HSeqs)
	}
	// Nothing valid → 400 with the reasons; an invalid site → 400.
	postJSON(t, e.hub, "/v1/orders", map[string]any{"site": "sz01", "orders": []wire.OrderMsg{bad}}, http.StatusBadRequest, &r)
	if r.Accepted != 0 || len(r.Errors) != 1 {
		t.Fatalf("all-bad response = %+v", r)
	}
	var er map[string]string
	postJSON(t, e.hub, "/v1/orders", map[string]any{"site": "sz/01", "orders": []wire.OrderMsg{o1}}, http.StatusBadRequest, &er)
	if er["error"] == "" {
		t.Fatal("no error text")
	}
	getJSON(t, e.hub, "/v1/orders/NOPE", http.StatusNotFound, &er)
	if er["error"] == "" {
		t.Fatal("no error text for unknown order")
	}
	for _, body := range []string{`{"site":"sz01","orders":`, `{"site":"sz01","orders":{}}`, `{"site":"sz01","orders":[]}`, `[1]`} {
		code, rb := do(t, e.hub, http.MethodPost, "/v1/orders", tokenFor(t, e.hub), []byte(body))
		if code != http.StatusBadRequest || !bytes.Contains(rb, []byte(`"error"`)) {
			t.Fatalf("POST %s: %d %s, want 400 with a JSON error", body, code, rb)
		}
	}
	var health map[string]any
	getJSON(t, e.hub, "/healthz", http.StatusOK, &health)
	if health["ok"] != true || health["mqtt_connected"] != true {
		t.Fatalf("healthz = %v", health)
	}
	if s := e.stats(); s.DownlinkPublished != 3 {
		t.Fatalf("downlink_published = %d", s.DownlinkPublished)
	}
}

func postN(t *testing.T, h *hub.Hub, site string, n int) postResp {
	t.Helper()
	var orders []wire.OrderMsg
	for i := range n {
		orders = append(orders, wire.OrderMsg{Type: wire.TypeOrder, Channel: "tmall", ChannelOrderNo: fmt.Sprintf("40123456%08d", i),
			BuyerID: "b", OrderedAt: "2026-01-22T08:00:00Z", SKUs: []string{"S"}})
	}
	var r postResp
	postJSON(t, h, "/v1/orders", map[string]any{"site": site, "orders": orders}, http.StatusOK, &r)
	return r
}

func TestCatchupReplaysInOrder(t *testing.T) {
	e := newEnv(t)
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	postN(t, e.hub, "sz01", 450)
	postN(t, e.hub, "other", 5) // another site's downlink is never replayed here
	req, _ := json.Marshal(wire.CatchupRequest{JournalID: "j1", Since: 7})
	a.publish(wire.TopicCatchup("sz01", "pack01"), req)
	waitFor(t, "replay of 443 messages", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		n := 0
		for _, d := range a.direct {
			n += len(d)
		}
		return n >= 443
	})
	a.mu.Lock()
	defer a.mu.Unlock()
	next := uint64(8)
	for i, d := range a.direct {
		if len(d) > 200 || a.directBytes[i][0] != '[' {
			t.Fatalf("replay chunk %d: %d messages, starts with %q", i, len(d), a.directBytes[i][0])
		}
		for _, m := range d {
			if m.HSeq != next {
				t.Fatalf("replayed hseq %d, want %d", m.HSeq, next)
			}
			next++
		}
	}
	if next != 451 || len(a.direct) != 3 {
		t.Fatalf("replayed up to %d in %d chunks", next-1, len(a.direct))
	}
	a.direct, a.directBytes = nil, nil
	a.mu.Unlock()
	// Nothing after since: no answer at all. Barrier: a later request that has an answer.
	for _, since := range []uint64{450, 10_000, 449} {
		req, _ := json.Marshal(wire.CatchupRequest{JournalID: "j1", Since: since})
		a.publish(wire.TopicCatchup("sz01", "pack01"), req)
	}
	waitFor(t, "the answer to since 449", func() bool { a.mu.Lock(); defer a.mu.Unlock(); return len(a.direct) > 0 })
	a.mu.Lock()
	if len(a.direct) != 1 || len(a.direct[0]) != 1 || a.direct[0][0].HSeq != 450 {
		t.Fatalf("answers = %+v, want only hseq 450", a.direct)
	}
}

func TestRestartKeepsEverything(t *testing.T) {
	e := newEnv(t)
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	entries := chain("j1", spine("O-1")...)
	a.send("j1", entries[:2]...)
	a.waitAck(1)
	postN(t, e.hub, "sz01", 2)
	before := e.stats()
	e.stopHub()

	e.clk.Advance(time.Hour)
	e.startHub("wedge-hub-test")
	if after := e.stats(); after.EventsIngested != before.EventsIngested || after.DownlinkPublished != before.DownlinkPublished ||
		after.OrdersPerState["waybill_printed"] != 1 || after.OrdersPerState["pending_allocation"] != 2 {
		t.Fatalf("stats after restart = %+v, before %+v", after, before)
	}
	if o := e.order("O-1"); o.State != "waybill_printed" || len(o.History) != 2 {
		t.Fatalf("order after restart = %+v", o)
	}
	// Acks continue from the stored journal: a resend is a duplicate, the next entry moves on.
	a.send("j1", entries...)
	if ack := a.waitAck(2); ack.AckedSeq != 3 {
		t.Fatalf("ack after restart = %+v", ack)
	}
	if s := e.stats(); s.DuplicatesDropped != 2 || s.EventsIngested != 3 {
		t.Fatalf("stats = %+v", s)
	}
	if o := e.order("O-1"); o.State != "picked_up" || o.History[2].ReceivedAt != wire.Time(t0.Add(time.Hour)) {
		t.Fatalf("order = %+v", o)
	}
	// The downlink log survived and its sequence continues.
	// Before: printed (1), two orders (2, 3); after the restart: picked up (4); now 5.
	if r := postN(t, e.hub, "sz01", 1); r.HSeqs[0] != 5 {
		t.Fatalf("hseq after restart = %v", r.HSeqs)
	}
	req, _ := json.Marshal(wire.CatchupRequest{JournalID: "j1", Since: 0})
	a.publish(wire.TopicCatchup("sz01", "pack01"), req)
	waitFor(t, "replay", func() bool { a.mu.Lock(); defer a.mu.Unlock(); return len(a.direct) == 1 })
	a.mu.Lock()
	got := a.direct[0]
	a.mu.Unlock()
	if len(got) != 5 || got[0].HSeq != 1 || got[0].Type != wire.TypeState || got[3].State != "picked_up" || got[4].HSeq != 5 {
		t.Fatalf("replay after restart = %+v", got)
	}
}

func TestMalformedInputDroppedHubKeepsGoing(t *testing.T) {
	e := newEnv(t)
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	a.publish(wire.TopicEvents("sz01", "pack01"), []byte(`{"site":"sz01","events":[{"seq":`))
	a.publish(wire.TopicEvents("sz01", "pack01"), []byte("\xff\xfe not json"))
	// A batch claiming another agent's identity.
	b, _ := json.Marshal(wire.Batch{Site: "sz01", Agent: "intruder", JournalID: "j1", Events: chain("j1", spine("O-1")...)})
	a.publish(wire.TopicEvents("sz01", "pack01"), b)
	a.publish(wire.TopicCatchup("sz01", "pack01"), []byte("nope"))
	a.publish(wire.TopicStatus("sz01", "pack01"), []byte("{"))
	// An entry that cannot be keyed is skipped; the rest of its batch is stored.
	good := chain("j1", spine("O-1")...)
	weird := good[0]
	weird.JournalID = "other"
	a.send("j1", good[0], weird, good[1], good[2])
	if ack := a.waitAck(1); ack.AckedSeq != 3 {
		t.Fatalf("ack = %+v", ack)
	}
	s := e.stats()
	if s.MalformedDropped != 4 || s.MismatchedDropped != 1 || s.InvalidEntries != 1 || s.EventsIngested != 3 {
		t.Fatalf("stats = %+v", s)
	}
	if !e.logs.contains(`msg="malformed batch dropped" site=sz01 agent=pack01`) || !e.logs.contains(`site=sz01 agent=pack01 batch_site=sz01 batch_agent=intruder`) {
		t.Fatalf("logs = %v", e.logs.lines)
	}
	if o := e.order("O-1"); o.State != "picked_up" {
		t.Fatalf("order = %+v", o)
	}
}

// An entry whose hash or link does not match is kept as unverified evidence and never applied; the
// ack stays at the contiguous verified prefix, and an entry beyond it waits until the real entry
// comes (the agent resends what is not acked).
func TestChainBreaksKeptAsEvidenceNotApplied(t *testing.T) {
	e := newEnv(t)
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	entries := chain("j1", spine("O-1")...)
	edited := entries[1]
	edited.Waybill = "SF0000000000000" // content changed after sealing
	a.send("j1", entries[0], edited, entries[2])
	if ack := a.waitAck(1); ack.AckedSeq != 1 {
		t.Fatalf("ack = %+v, want 1 (a broken entry is evidence: not stored, not acked)", ack)
	}
	s := e.stats()
	if s.ChainBreaks != 1 || s.Unverified != 1 || s.EventsIngested != 1 {
		t.Fatalf("stats = %+v", s)
	}
	if o := e.order("O-1"); len(o.History) != 1 || o.State != "pending_allocation" {
		t.Fatalf("order after the broken entry = %+v", o)
	}
	var ev []struct {
		wire.Entry
		Unverified bool   `json:"unverified"`
		Reason     string `json:"reason"`
	}
	getJSON(t, e.hub, "/v1/agents/sz01/pack01/unverified", http.StatusOK, &ev)
	if len(ev) != 1 || ev[0].Seq != 2 || !ev[0].Unverified || !strings.Contains(ev[0].Reason, "hash does not match") || ev[0].Waybill != "SF0000000000000" {
		t.Fatalf("evidence = %+v", ev)
	}
	if !e.logs.contains("level=ERROR") || !e.logs.contains("unverified evidence") {
		t.Fatalf("no error logged: %v", e.logs.lines)
	}
	// The real seq 2 links; seq 3, waiting for it, follows.
	a.send("j1", entries[1])
	if ack := a.waitAck(2); ack.AckedSeq != 3 {
		t.Fatalf("ack after the real entry = %+v, want 3", ack)
	}
	if o := e.order("O-1"); len(o.History) != 3 || o.State != "picked_up" || o.History[1].Waybill != "SF1234567890123" {
		t.Fatalf("order = %+v", o)
	}

	// A link that does not match the stored previous entry (an entry removed and the chain re-sealed).
	other := chain("j2", spine("O-2")...)
	resealed := chain("j2", spine("O-2")[0], spine("O-2")[2])
	a.send("j2", other[0], other[1])
	a.waitAck(3)
	resealed[1].Seq = 3
	resealed[1].Seal(resealed[0].Hash)
	a.send("j2", resealed[1])
	if ack := a.waitAck(4); ack.AckedSeq != 2 {
		t.Fatalf("ack after a re-sealed entry = %+v, want 2", ack)
	}
	if s := e.stats(); s.ChainBreaks != 2 || s.Unverified != 2 {
		t.Fatalf("stats = %+v", s)
	}
	if o := e.order("O-2"); o.State != "waybill_printed" {
		t.Fatalf("O-2 = %+v (the re-sealed step was applied)", o)
	}
}

func TestAgentStatusTracked(t *testing.T) {
	e := newEnv(t)
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	st, _ := json.Marshal(wire.Status{State: "online", Site: "sz01", Agent: "pack01", JournalID: "j1", Version: "v0.1.0"})
	tok := a.cli.Publish(wire.TopicStatus("sz01", "pack01"), 1, true, st)
	tok.Wait()
	type ag struct {
		Site, Agent, JournalID string
		Online                 bool
		LastSeen               string `json:"last_seen"`
	}
	var agents []ag
	waitFor(t, "agent online", func() bool {
		getJSON(t, e.hub, "/v1/agents", http.StatusOK, &agents)
		return len(agents) == 1 && agents[0].Online
	})
	if agents[0].LastSeen != wire.Time(t0) {
		t.Fatalf("agents = %+v", agents)
	}
	off, _ := json.Marshal(wire.Status{State: "offline"})
	a.cli.Publish(wire.TopicStatus("sz01", "pack01"), 1, true, off).Wait()
	waitFor(t, "agent offline", func() bool {
		getJSON(t, e.hub, "/v1/agents", http.StatusOK, &agents)
		return len(agents) == 1 && !agents[0].Online
	})
	a.cli.Publish(wire.TopicStatus("sz01", "pack01"), 1, true, nil).Wait() // clear the retained status
}

func TestSharedSubscriptionSplitsLoad(t *testing.T) {
	e := newEnv(t)
	second := startHub(t, e.broker.URL(), t.TempDir(), "wedge-hub-test-2", e.clk, nil)
	checkSplit(t, e, e.hub, second)
}

// TestReplicasOnOneHostGetTheirOwnClientID starts two hubs on one host that name only their
// replica: each gets its own client id (the broker would otherwise take the session from one to
// give it to the other, in turn), so both stay subscribed and split the stream.
func TestReplicasOnOneHostGetTheirOwnClientID(t *testing.T) {
	a, b := hub.DefaultClientID("a"), hub.DefaultClientID("b")
	if a == b || a != hub.DefaultClientID("")+"-a" {
		t.Fatalf("client ids %q, %q (plain %q)", a, b, hub.DefaultClientID(""))
	}
	e := &env{t: t, broker: testbroker.Start(t, nil), dir: t.TempDir(), clk: clock.NewFake(t0), logs: &logSink{}}
	replica := func(name string) func(*hub.Options) {
		return func(o *hub.Options) { o.ClientID, o.Replica = "", name }
	}
	first := startHub(t, e.broker.URL(), t.TempDir(), "", e.clk, nil, replica("a"))
	second := startHub(t, e.broker.URL(), t.TempDir(), "", e.clk, nil, replica("b"))
	checkSplit(t, e, first, second)
}

// checkSplit sends one entry from each of 40 agents and checks that both hubs ingested some.
func checkSplit(t *testing.T, e *env, first, second *hub.Hub) {
	t.Helper()
	const n = 40
	agents := make([]*agent, n)
	for i := range agents {
		agents[i] = newAgent(t, e.broker.URL(), "sz01", fmt.Sprintf("pack%02d", i))
	}
	for i, a := range agents {
		id := fmt.Sprintf("O-%d", i)
		a.send("j1", chain("j1", spine(id)[0])...)
	}
	for _, a := range agents {
		if ack := a.waitAck(1); ack.AckedSeq != 1 {
			t.Fatalf("%s ack = %+v", a.name, ack)
		}
	}
	var s1, s2 hub.Stats
	getJSON(t, first, "/v1/stats", http.StatusOK, &s1)
	getJSON(t, second, "/v1/stats", http.StatusOK, &s2)
	if s1.EventsIngested+s2.EventsIngested != n || s1.EventsIngested == 0 || s2.EventsIngested == 0 {
		t.Fatalf("split %d + %d, want both > 0 and %d in all", s1.EventsIngested, s2.EventsIngested, n)
	}
}

func TestOptionsValidated(t *testing.T) {
	ctx := context.Background()
	for _, o := range []hub.Options{
		{DataDir: t.TempDir()},
		{BrokerURL: "tcp://127.0.0.1:1"},
		{BrokerURL: "http://x:1", DataDir: t.TempDir()},
		{BrokerURL: "tcp://127.0.0.1:1", DataDir: t.TempDir(), CertFile: "a.pem"},
		{BrokerURL: "tcp://127.0.0.1:1", DataDir: t.TempDir(), CAFile: "/nonexistent/ca.pem"},
		{BrokerURL: "tcp://127.0.0.1:1", DataDir: t.TempDir(), Replica: "a/b"},
		{BrokerURL: "tcp://127.0.0.1:1", DataDir: t.TempDir(), Replica: "a", ClientID: "wedge-hub-x"},
	} {
		if h, err := hub.New(ctx, o); err == nil {
			h.Stop(ctx)
			t.Errorf("New(%+v) succeeded", o)
		}
	}
}

func TestStopsWhenContextCancelled(t *testing.T) {
	b := testbroker.Start(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	h, err := hub.New(ctx, hub.Options{BrokerURL: b.URL(), DataDir: t.TempDir(), Listen: "127.0.0.1:0", ClientID: "wedge-hub-ctx"})
	if err != nil {
		t.Fatal(err)
	}
	<-h.Ready()
	cancel()
	waitFor(t, "http server closed", func() bool {
		_, err := http.Get("http://" + h.Addr() + "/healthz")
		return err != nil
	})
	if err := h.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestRejectionOnlyOrderShowsHistory(t *testing.T) {
	e := newEnv(t)
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	a.send("j1", chain("j1", wire.Entry{Kind: wire.KindReject, OrderID: "O-SHORT", Reason: "contract_violation",
		Detail: "channel_order_no 123 shorter than 12", Trigger: wire.TriggerHub})...)
	a.waitAck(1)
	o := e.order("O-SHORT")
	if o.State != "" || o.Site != "sz01" || len(o.History) != 1 || o.History[0].Reason != "contract_violation" {
		t.Fatalf("order = %+v", o)
	}
	if s := e.stats(); len(s.OrdersPerState) != 0 {
		t.Fatalf("a rejection created an order: %+v", s.OrdersPerState)
	}
}

func TestReinstalledAgentAnnouncedByStatus(t *testing.T) {
	e := newEnv(t)
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	a.send("old", chain("old", spine("O-1")...)...)
	a.waitAck(1)
	st, _ := json.Marshal(wire.Status{State: "online", JournalID: "new"})
	a.publish(wire.TopicStatus("sz01", "pack01"), st)
	var agents []map[string]any
	waitFor(t, "new journal id", func() bool {
		getJSON(t, e.hub, "/v1/agents", http.StatusOK, &agents)
		return len(agents) == 1 && agents[0]["journal_id"] == "new"
	})
	if agents[0]["acked_seq"] != 0.0 {
		t.Fatalf("agents = %v (acked_seq belongs to the old journal)", agents)
	}
}

// The demo runs the hub on the embedded broker: shared subscriptions, persistent sessions and acks
// must work there too, including across a hub restart.
func TestHubOnEmbeddedBroker(t *testing.T) {
	b, err := broker.Start("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() }) // registered first, so it runs after the clients are gone
	dir := t.TempDir()
	h := startHub(t, b.URL(), dir, "wedge-hub-demo", nil, nil)
	a := newAgent(t, b.URL(), "demo", "pack01")
	entries := chain("j1", spine("O-1")...)
	a.send("j1", entries[:2]...)
	if ack := a.waitAck(1); ack.AckedSeq != 2 {
		t.Fatalf("ack = %+v", ack)
	}
	if err := h.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Sent while the hub is away: the broker queues it for the hub's persistent session.
	a.send("j1", entries[2])
	h = startHub(t, b.URL(), dir, "wedge-hub-demo", nil, nil)
	if ack := a.waitAck(2); ack.AckedSeq != 3 {
		t.Fatalf("ack after restart = %+v", ack)
	}
	var o orderView
	getJSON(t, h, "/v1/orders/O-1", http.StatusOK, &o)
	if o.State != "picked_up" {
		t.Fatalf("order = %+v", o)
	}
	if err := h.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestStopWhileBrokerDown(t *testing.T) {
	b := testbroker.Start(t, nil)
	url := b.URL()
	b.Stop()
	h, err := hub.New(context.Background(), hub.Options{BrokerURL: url, DataDir: t.TempDir(), Listen: "127.0.0.1:0", ClientID: "wedge-hub-down"})
	if err != nil {
		t.Fatalf("New must not need the broker: %v", err)
	}
	var health map[string]any
	getJSON(t, h, "/healthz", http.StatusOK, &health)
	if health["mqtt_connected"] != false {
		t.Fatalf("healthz = %v", health)
	}
	if err := h.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// mosquitto without persistence forgets the hub's session when it restarts: the hub subscribes
// again on reconnect, and agents' resends are stored and acked.
func TestBrokerRestartResubscribes(t *testing.T) {
	e := newEnv(t)
	entries := chain("j1", spine("O-1")...)
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	a.send("j1", entries[0])
	a.waitAck(1)
	a.cli.Disconnect(50)
	e.broker.Restart()
	waitFor(t, "hub reconnected", e.hub.Connected)
	a = newAgent(t, e.broker.URL(), "sz01", "pack01")
	// The hub's re-subscription races with this test's publish; an agent resends until acked.
	waitFor(t, "ack after the broker restart", func() bool {
		a.send("j1", entries...)
		time.Sleep(100 * time.Millisecond)
		return a.ackCount() > 0
	})
	waitFor(t, "ack of 3", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.acks[len(a.acks)-1].AckedSeq == 3
	})
	if o := e.order("O-1"); o.State != "picked_up" {
		t.Fatalf("order = %+v", o)
	}
}

func TestUnsharedHubsEachReceiveEverything(t *testing.T) {
	b := testbroker.Start(t, nil)
	var hubs []*hub.Hub
	for i := range 2 {
		h, err := hub.New(context.Background(), hub.Options{BrokerURL: b.URL(), DataDir: t.TempDir(), Listen: "127.0.0.1:0",
			ClientID: fmt.Sprintf("wedge-hub-unshared-%d", i), Shared: new(false)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = h.Stop(context.Background()) })
		<-h.Ready()
		hubs = append(hubs, h)
	}
	a := newAgent(t, b.URL(), "sz01", "pack01")
	const n = 5
	for i := range n {
		id := fmt.Sprintf("j%d", i)
		a.send(id, chain(id, wire.Entry{Kind: wire.KindNote})...)
	}
	waitFor(t, "both hubs acked every batch", func() bool { return a.ackCount() == 2*n })
	for i, h := range hubs {
		var s hub.Stats
		getJSON(t, h, "/v1/stats", http.StatusOK, &s)
		if s.EventsIngested != n {
			t.Fatalf("hub %d ingested %d, want %d", i, s.EventsIngested, n)
		}
	}
}
