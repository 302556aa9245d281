package hub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"wedge/internal/clock"
	"wedge/internal/testbroker"
	"wedge/internal/testpg"
	"wedge/sync/hub"
	"wedge/sync/hub/pgstore"
	"wedge/sync/wire"
)

// roundTrips counts what pgx connections send and wait for in the hub's ingest transactions (the
// read-write ones that touch hub_entries), added up at their commit or rollback: each statement
// sent on its own and each pipeline (pgx.Batch) is one round trip. Other transactions (read-only
// ones, the hub's background work) are not counted.
type roundTrips struct {
	mu         sync.Mutex
	n          int64
	statements int64 // sent on their own or in a pipeline
	open       map[*pgx.Conn]*txCount
}

type txCount struct {
	rt, statements int64
	ingest         bool
}

func (r *roundTrips) count(c *pgx.Conn, sql string, rt, statements int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if strings.HasPrefix(sql, "begin") {
		delete(r.open, c)
		if strings.HasSuffix(sql, "read only") {
			return
		}
		r.open[c] = &txCount{}
	}
	t := r.open[c]
	if t == nil {
		return
	}
	t.rt, t.statements = t.rt+rt, t.statements+statements
	t.ingest = t.ingest || strings.Contains(sql, "hub_entries")
	if sql == "commit" || sql == "rollback" {
		delete(r.open, c)
		if t.ingest {
			r.n, r.statements = r.n+t.rt, r.statements+t.statements
		}
	}
}

func (r *roundTrips) total() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

func (r *roundTrips) sent() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.statements
}

func (r *roundTrips) TraceQueryStart(ctx context.Context, c *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.count(c, d.SQL, 1, 1)
	return ctx
}
func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r *roundTrips) TraceBatchStart(ctx context.Context, c *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.count(c, "", 1, 0)
	return ctx
}
func (r *roundTrips) TraceBatchQuery(_ context.Context, c *pgx.Conn, d pgx.TraceBatchQueryData) {
	r.count(c, d.SQL, 0, 1)
}
func (r *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// The hub's round trips to PostgreSQL do not grow with the entries of a batch: a batch costs its
// prefetch (journal, agent, entries, pending entries) and the lock of its orders, a group the
// transaction's begin, the site's hseq counter, the counters and the commit, whatever the number
// of entries (before, 15.8 per entry), and each entry is stored, indexed and merged as
// before (acks, states, records).
func TestIngestRoundTripsPerBatchNotPerEntryOnPostgres(t *testing.T) {
	srv := testpg.Start(t)
	dsn := srv.NewDatabase(t)
	if _, _, err := pgstore.Migrate(context.Background(), dsn); err != nil {
		t.Fatal(err)
	}
	rt := &roundTrips{open: map[*pgx.Conn]*txCount{}}
	s, err := pgstore.Open(context.Background(), dsn, &pgstore.Options{Tracer: rt})
	if err != nil {
		t.Fatal(err)
	}
	b := testbroker.Start(t, nil)
	h := startHub(t, b.URL(), t.TempDir(), "wedge-hub-rt", clock.NewFake(t0), nil, func(o *hub.Options) { o.Store = s })
	a := newAgent(t, b.URL(), "sz01", "pack01")

	const batches, ordersPerBatch = 5, 20 // spine: 3 entries per order, 60 per batch
	var tmpl []wire.Entry
	for i := range batches * ordersPerBatch {
		tmpl = append(tmpl, spine(fmt.Sprintf("O-%03d", i))...)
	}
	entries := chain("j1", tmpl...)
	per := len(entries) / batches
	// The first batch alone, so the connection's statements are prepared before counting; and the
	// central index's build at start (which pages through hub_entries) over before counting.
	a.send("j1", entries[:per]...)
	a.waitAck(1)
	waitFor(t, "the central index built", func() bool {
		var mark struct {
			Done bool `json:"done"`
		}
		err := s.View(context.Background(), func(tx hub.Tx) error {
			d, err := tx.Meta("central_index")
			if err != nil || d == nil {
				return err
			}
			return json.Unmarshal(d, &mark)
		})
		return err == nil && mark.Done
	})
	before, sent0, commits0 := rt.total(), rt.sent(), h.Stats().Commits
	for i := 1; i < batches; i++ {
		a.send("j1", entries[i*per:(i+1)*per]...)
	}
	waitFor(t, "the whole journal acked", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return len(a.acks) > 0 && a.acks[len(a.acks)-1].AckedSeq == uint64(len(entries))
	})
	st := h.Stats()
	n, groups := rt.total()-before, int64(st.Commits-commits0)
	counted := int64(batches-1) * int64(per)
	statements := rt.sent() - sent0
	t.Logf("%d entries in %d batches, %d groups: %d round trips (%.3f per entry), %d statements (%.2f per entry)",
		counted, batches-1, groups, n, float64(n)/float64(counted), statements, float64(statements)/float64(counted))
	if limit := 2*int64(batches-1) + 5*groups + 2; n > limit {
		t.Fatalf("%d round trips for %d entries in %d batches and %d groups; want at most %d (2 per batch, 5 per group, 2 more)",
			n, counted, batches-1, groups, limit)
	}
	// The most frequent writes (entries, history, order records and rows, downlink) go as one
	// multi-row statement per table and round trip; the others (waybill index, holds) one per row.
	if limit := 2*counted + 12*int64(batches-1) + 12*groups; statements > limit {
		t.Fatalf("%d statements for %d entries in %d batches and %d groups; want at most %d (2 per entry, 12 per batch and per group)",
			statements, counted, batches-1, groups, limit)
	}
	// The work was done: every entry stored and applied once.
	if st.EventsIngested != uint64(len(entries)) || st.OrdersPerState["picked_up"] != batches*ordersPerBatch {
		t.Fatalf("stats %+v: want %d entries ingested, %d orders picked up", st, len(entries), batches*ordersPerBatch)
	}
	var o struct {
		State   string `json:"state"`
		Waybill string `json:"waybill"`
	}
	getJSON(t, h, "/v1/orders/O-077", 200, &o)
	if o.State != "picked_up" || o.Waybill != "SF1234567890123" {
		t.Fatalf("O-077 = %+v", o)
	}
	var page hub.JournalEntries
	getJSON(t, h, "/v1/journals/sz01/pack01/j1/entries", 200, &page)
	if page.AckedSeq != uint64(len(entries)) {
		t.Fatalf("journal acked %d, want %d", page.AckedSeq, len(entries))
	}
}
