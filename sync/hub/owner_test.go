package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"wedge/internal/clock"
	"wedge/internal/logging"
	"wedge/sync/apitoken"
	"wedge/sync/wire"
)

var t0 = time.Date(2026, 1, 22, 8, 0, 0, 0, time.UTC)

type recorder struct {
	mu   sync.Mutex
	msgs []publication
}

func (r *recorder) publish(topic string, payload []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, publication{topic, append([]byte(nil), payload...)})
}

// ownerOnly builds a Hub with a store and an owner but no MQTT or HTTP, so a test can queue work
// before the owner runs.
func ownerOnly(t *testing.T) (*Hub, *recorder) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "hub.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	h := &Hub{clk: clock.NewFake(t0), log: logging.FromLogf(t.Logf), db: &boltStore{db}, wake: make(chan struct{}, 1), stopc: make(chan struct{}),
		done: make(chan struct{}), quit: make(chan struct{}), publishFn: rec.publish}
	if err := initStore(db, &h.stats); err != nil {
		t.Fatal(err)
	}
	h.tokens = &apitoken.MemStore{}
	return h, rec
}

// authed adds an admin token of h's store to r, for tests that call h.routes() directly.
func authed(t *testing.T, h *Hub, r *http.Request) *http.Request {
	t.Helper()
	raw, _, err := apitoken.Create(r.Context(), h.tokens, fmt.Sprintf("test-%d", time.Now().UnixNano()), []apitoken.Scope{apitoken.Admin}, h.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Authorization", "Bearer "+raw)
	return r
}

// Batches that queue up while the owner is busy are committed in one transaction, and every one of
// them is still acked.
func TestGroupCommit(t *testing.T) {
	h, rec := ownerOnly(t)
	const n = 50
	for i := range n {
		agent := fmt.Sprintf("a%02d", i)
		e := wire.Entry{JournalID: "j1", Seq: 1, Kind: wire.KindNote, At: wire.Time(t0)}
		e.Seal("")
		b, _ := json.Marshal(wire.Batch{Site: "sz01", Agent: agent, JournalID: "j1", Events: []wire.Entry{e}})
		h.enqueue(item{kind: kindBatch, topic: wire.TopicEvents("sz01", agent), payload: b})
	}
	p := &postReq{site: "sz01", msgs: []wire.OrderMsg{{Type: wire.TypeCancel, OrderID: "O-1", Reason: "buyer"}}, reply: make(chan postResult, 1)}
	h.enqueue(item{kind: kindPost, post: p})
	go h.run()
	close(h.stopc)
	<-h.done
	if res := <-p.reply; res.err != nil || len(res.hseqs) != 1 || res.hseqs[0] != 1 {
		t.Fatalf("post result = %+v", res)
	}
	if h.stats.Commits != 1 || h.stats.EventsIngested != n {
		t.Fatalf("commits %d for %d events, want 1", h.stats.Commits, h.stats.EventsIngested)
	}
	acks := 0
	for _, m := range rec.msgs {
		var a wire.Ack
		if json.Unmarshal(m.payload, &a) == nil && a.AckedSeq == 1 {
			acks++
		}
	}
	if acks != n || len(rec.msgs) != n+1 || rec.msgs[0].topic != wire.TopicOrders("sz01") {
		t.Fatalf("%d acks and %d messages (first on %s), want %d acks after 1 downlink", acks, len(rec.msgs), rec.msgs[0].topic, n)
	}
}

// A commit that fails (here: the store is gone) acknowledges nothing and publishes nothing.
func TestNoAckWithoutCommit(t *testing.T) {
	h, rec := ownerOnly(t)
	e := wire.Entry{JournalID: "j1", Seq: 1, Kind: wire.KindNote, At: wire.Time(t0)}
	e.Seal("")
	b, _ := json.Marshal(wire.Batch{Site: "sz01", Agent: "a1", JournalID: "j1", Events: []wire.Entry{e}})
	h.enqueue(item{kind: kindBatch, topic: wire.TopicEvents("sz01", "a1"), payload: b})
	p := &postReq{site: "sz01", msgs: []wire.OrderMsg{{Type: wire.TypeCancel, OrderID: "O-1"}}, reply: make(chan postResult, 1)}
	h.enqueue(item{kind: kindPost, post: p})
	if err := h.db.Close(); err != nil {
		t.Fatal(err)
	}
	go h.run()
	close(h.stopc)
	<-h.done
	if res := <-p.reply; res.err == nil {
		t.Fatal("POST answered OK although nothing was stored")
	}
	if len(rec.msgs) != 0 || h.stats.EventsIngested != 0 {
		t.Fatalf("published %d messages, ingested %d, after a failed commit", len(rec.msgs), h.stats.EventsIngested)
	}
}

// One item that cannot be applied (here: its journal record is corrupt) does not cost the other
// items of its group their commit and ack.
func TestBadItemIsolated(t *testing.T) {
	h, rec := ownerOnly(t)
	if err := h.db.(*boltStore).db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bktJournals).Put(journalKey("sz01", "bad", "j1"), []byte("{corrupt"))
	}); err != nil {
		t.Fatal(err)
	}
	for _, agent := range []string{"good1", "bad", "good2"} {
		e := wire.Entry{JournalID: "j1", Seq: 1, Kind: wire.KindNote, At: wire.Time(t0)}
		e.Seal("")
		b, _ := json.Marshal(wire.Batch{Site: "sz01", Agent: agent, JournalID: "j1", Events: []wire.Entry{e}})
		h.enqueue(item{kind: kindBatch, topic: wire.TopicEvents("sz01", agent), payload: b})
	}
	go h.run()
	close(h.stopc)
	<-h.done
	var topics []string
	for _, m := range rec.msgs {
		topics = append(topics, m.topic)
	}
	if len(topics) != 2 || topics[0] != wire.TopicAck("sz01", "good1") || topics[1] != wire.TopicAck("sz01", "good2") {
		t.Fatalf("published on %v, want the two good acks", topics)
	}
	if h.stats.EventsIngested != 2 {
		t.Fatalf("ingested %d, want 2", h.stats.EventsIngested)
	}
}

// When the owner falls far behind, paho's handler still never blocks: the excess is dropped and
// counted, and since it is never acked its agents send it again.
func TestQueueBoundedNeverBlocks(t *testing.T) {
	h, _ := ownerOnly(t)
	defer h.db.Close()
	for i := range maxQueue {
		if !h.enqueue(item{kind: kindStatus, topic: "t", payload: []byte("{}")}) {
			t.Fatalf("dropped item %d below the limit", i)
		}
	}
	if h.enqueue(item{kind: kindBatch, topic: "t", payload: []byte("{}")}) {
		t.Fatal("queue grew past its limit")
	}
	if h.stats.OverloadDropped != 1 {
		t.Fatalf("overload_dropped = %d", h.stats.OverloadDropped)
	}
	h.take(maxQueue)
	if !h.enqueue(item{kind: kindBatch, topic: "t", payload: make([]byte, maxQueueBytes)}) || h.enqueue(item{kind: kindBatch, topic: "t", payload: []byte("x")}) {
		t.Fatal("byte limit not applied")
	}
}

// BenchmarkIngest measures the owner's ingest: b.N batches of 100 chained entries, queued up and
// committed in groups.
func BenchmarkIngest(b *testing.B) {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "hub.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	h := &Hub{clk: clock.NewFake(t0), log: logging.Discard, db: &boltStore{db}, wake: make(chan struct{}, 1), stopc: make(chan struct{}),
		done: make(chan struct{}), quit: make(chan struct{}), publishFn: func(string, []byte) {}}
	if err := initStore(db, &h.stats); err != nil {
		b.Fatal(err)
	}
	var payloads [][]byte
	prev := ""
	for i := range b.N {
		var es []wire.Entry
		for k := range 100 {
			e := wire.Entry{JournalID: "j1", Seq: uint64(i*100 + k + 1), Kind: wire.KindStep, OrderID: fmt.Sprintf("O-%d", i*100+k),
				To: "pending_allocation", At: wire.Time(t0)}
			e.Seal(prev)
			prev = e.Hash
			es = append(es, e)
		}
		p, _ := json.Marshal(wire.Batch{Site: "sz01", Agent: "a1", JournalID: "j1", Events: es})
		payloads = append(payloads, p)
	}
	b.ResetTimer()
	for _, p := range payloads {
		h.enqueue(item{kind: kindBatch, topic: wire.TopicEvents("sz01", "a1"), payload: p})
	}
	go h.run()
	close(h.stopc)
	<-h.done
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "events/s")
	if h.stats.EventsIngested != uint64(b.N*100) {
		b.Fatalf("ingested %d", h.stats.EventsIngested)
	}
}

// The broker hears the PUBACK of a batch only after the batch's commit and the hub's own ack were
// published (a replica killed before that gets the batch again from its session), once per item,
// also for an item that could not be committed (its agent resends it) and when a failed group is
// retried item by item. A group stays under maxGroupBytes of payload.
func TestBrokerAckAfterCommit(t *testing.T) {
	h, rec := ownerOnly(t)
	var mu sync.Mutex
	acks := map[string]int{}
	published := map[string]int{} // publications seen when the item was acked
	queue := func(agent string, payload []byte) {
		h.enqueue(item{kind: kindBatch, topic: wire.TopicEvents("sz01", agent), payload: payload, ack: func() {
			mu.Lock()
			defer mu.Unlock()
			acks[agent]++
			rec.mu.Lock()
			published[agent] = len(rec.msgs)
			rec.mu.Unlock()
		}})
	}
	pad := strings.Repeat("x", 300<<10) // four of these exceed maxGroupBytes
	for i := range 6 {
		e := wire.Entry{JournalID: "j1", Seq: 1, Kind: wire.KindNote, At: wire.Time(t0), Detail: pad}
		e.Seal("")
		b, _ := json.Marshal(wire.Batch{Site: "sz01", Agent: fmt.Sprintf("a%d", i), JournalID: "j1", Events: []wire.Entry{e}})
		queue(fmt.Sprintf("a%d", i), b)
	}
	if got := len(h.take(maxGroup)); got != 3 {
		t.Fatalf("a group took %d items of 300 KiB, want 3 (maxGroupBytes)", got)
	}
	h.queue, h.queueBytes = nil, 0
	for i := range 3 {
		e := wire.Entry{JournalID: "j1", Seq: 1, Kind: wire.KindNote, At: wire.Time(t0)}
		e.Seal("")
		b, _ := json.Marshal(wire.Batch{Site: "sz01", Agent: fmt.Sprintf("b%d", i), JournalID: "j1", Events: []wire.Entry{e}})
		queue(fmt.Sprintf("b%d", i), b)
	}
	h.commit(h.take(maxGroup))
	for i := range 3 {
		agent := fmt.Sprintf("b%d", i)
		if acks[agent] != 1 || published[agent] < 3 {
			t.Fatalf("%s: %d broker acks, after %d publications; want 1, after the 3 hub acks", agent, acks[agent], published[agent])
		}
	}
	// A store that fails every commit: the group is retried item by item, each acked once.
	h.db = failingStore{h.db}
	queue("c0", []byte(`{}`))
	queue("c1", []byte(`{}`))
	h.commit(h.take(maxGroup))
	if acks["c0"] != 1 || acks["c1"] != 1 {
		t.Fatalf("broker acks after failed commits: %v", acks)
	}
}

// failingStore fails every Update.
type failingStore struct{ Store }

func (failingStore) Update(context.Context, func(Tx) error) error { return errors.New("disk full") }
