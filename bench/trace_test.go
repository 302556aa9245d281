package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"wedge/internal/testbroker"
	"wedge/internal/testpg"
	"wedge/sync/apitoken"
	"wedge/sync/hub"
	"wedge/sync/hub/pgstore"
	"wedge/sync/wire"
)

// The order trace (GET /v1/trace) with many orders in the store: each order has its record, its
// central index row, and three entries (intake, print, pickup) with their history rows, laid out
// as the hub writes them (the entries' hashes are placeholders: the trace shows the hub's verdict
// from ingest, it does not re-hash). The store is loaded once and kept between runs:
//
//	WEDGE_BENCH_TRACE_N        orders in the PostgreSQL store (default 100000; 10000000 for the
//	                           figure in docs/BENCHMARKS.md)
//	WEDGE_BENCH_TRACE_BOLT_N   orders in the bbolt store (default 100000)
//	WEDGE_BENCH_PG             DSN of a PostgreSQL server to use; without it a cluster is kept in
//	WEDGE_BENCH_DIR            (default $TMPDIR/wedge-bench-trace), with the bbolt file
//
// The PostgreSQL data goes in with COPY into the database wedge_bench_trace, in chunks, each chunk
// committed with a marker row (hub_meta "bench_trace"), so an interrupted load resumes and a
// complete one is reused. Each run asks a real hub (its HTTP API, a token) for 100 random keys of
// each kind and reports p50, p99 and max per kind.

const (
	traceKeysPerKind = 100
	traceSites       = 20
	traceAgents      = 5 // per site
	traceChunk       = 50_000
)

func benchDir() string {
	if d := os.Getenv("WEDGE_BENCH_DIR"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "wedge-bench-trace")
}

// traceOrder is the generated order i: every key is a function of i, so a run draws random keys
// without reading the store.
type traceOrder struct {
	i                         int
	id, site, agent, journal  string
	channel, cno, buyer, wb   string
	orderedAt                 time.Time
	skus                      []string
	fingerprint               string
	firstSeq                  uint64
	intakeAt, printAt, pickAt time.Time
}

var traceT0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func genOrder(i int) traceOrder {
	agentNo := i % (traceSites * traceAgents)
	o := traceOrder{i: i, id: fmt.Sprintf("O%010d", i), site: fmt.Sprintf("s%02d", agentNo/traceAgents), agent: fmt.Sprintf("pc%d", agentNo%traceAgents),
		journal: fmt.Sprintf("j%03d", agentNo), channel: []string{"tmall", "jd", "pdd"}[i%3],
		// Scrambled so that neighbouring orders do not have neighbouring keys.
		cno: fmt.Sprintf("4%015d", (uint64(i)*2654435761)%1e15), buyer: fmt.Sprintf("b%07d", i%9_999_991),
		wb: fmt.Sprintf("SF%013d", (uint64(i)*40503+7)%1e13), orderedAt: traceT0.Add(time.Duration(i) * 50 * time.Millisecond),
		skus: []string{fmt.Sprintf("SKU-%04d", i%7919)}, firstSeq: uint64(i/(traceSites*traceAgents))*3 + 1}
	o.fingerprint = wire.Fingerprint(o.channel, o.cno, o.buyer, o.orderedAt, o.skus)
	o.intakeAt = o.orderedAt.Add(time.Minute)
	o.printAt, o.pickAt = o.intakeAt.Add(20*time.Minute), o.intakeAt.Add(3*time.Hour)
	return o
}

// orderDoc is the hub's order record (orderstore.go's storedOrder, version 2) of o, picked up.
func (o traceOrder) orderDoc() []byte {
	b, _ := json.Marshal(map[string]any{"v": 2, "site": o.site, "created_at": wire.Time(o.intakeAt), "updated_at": wire.Time(o.pickAt),
		"order": map[string]any{"order_id": o.id, "channel": o.channel, "channel_order_no": o.cno, "buyer_id": o.buyer,
			"ordered_at": o.orderedAt, "skus": o.skus, "payment": "full", "recipient_name": "张三", "recipient_phone": "13812345678",
			"recipient_address": "广东省深圳市南山区科技园路1号", "carrier": "sf", "waybill": o.wb, "state": "picked_up",
			"state_since": o.pickAt, "received_at": o.intakeAt, "printed_at": o.printAt, "picked_up_at": o.pickAt, "version": 1}})
	return b
}

func (o traceOrder) index() hub.OrderIndex {
	return hub.OrderIndex{OrderID: o.id, Site: o.site, Agent: o.agent, State: "picked_up", ChannelOrderNo: o.cno, Waybill: o.wb, Fingerprint: o.fingerprint}
}

// entries are o's three stored entries (sync/hub's storedEntry: the entry, site, agent, received_at).
func (o traceOrder) entries() []json.RawMessage {
	msg := &wire.OrderMsg{Type: wire.TypeOrder, OrderID: o.id, Channel: o.channel, ChannelOrderNo: o.cno, BuyerID: o.buyer,
		OrderedAt: wire.Time(o.orderedAt), SKUs: o.skus, Payment: "full", Carrier: "sf", RecipientName: "张三",
		RecipientPhone: "13812345678", RecipientAddress: "广东省深圳市南山区科技园路1号"}
	es := []wire.Entry{
		{Kind: wire.KindIntake, OrderID: o.id, To: "pending_allocation", Trigger: wire.TriggerHub, Order: msg, At: wire.Time(o.intakeAt)},
		{Kind: wire.KindStep, OrderID: o.id, From: "pending_allocation", To: "waybill_printed", Waybill: o.wb, Carrier: "sf", Station: "print-1",
			Device: "printer-1", Trigger: wire.TriggerPrint, Job: "job-" + o.id, At: wire.Time(o.printAt)},
		{Kind: wire.KindStep, OrderID: o.id, From: "waybill_printed", To: "picked_up", Waybill: o.wb, Station: "handover-1", Device: "scanner-2",
			Operator: "张三", Trigger: wire.TriggerScan, Code: o.wb, At: wire.Time(o.pickAt)},
	}
	out := make([]json.RawMessage, len(es))
	for k, e := range es {
		e.JournalID, e.Seq = o.journal, o.firstSeq+uint64(k)
		e.PrevHash, e.Hash = fmt.Sprintf("%064x", e.Seq-1), fmt.Sprintf("%064x", e.Seq)
		out[k], _ = json.Marshal(struct {
			wire.Entry
			Site       string `json:"site"`
			Agent      string `json:"agent"`
			ReceivedAt string `json:"received_at"`
		}{e, o.site, o.agent, e.At})
	}
	return out
}

func (o traceOrder) entryKey(k int) hub.EntryKey {
	return hub.EntryKey{Site: o.site, Agent: o.agent, Journal: o.journal, Seq: o.firstSeq + uint64(k)}
}

func (o traceOrder) entryTimes() []string {
	return []string{wire.Time(o.intakeAt), wire.Time(o.printAt), wire.Time(o.pickAt)}
}

// traceKey is the key of kind of order i.
func traceKey(kind string, i int) string {
	o := genOrder(i)
	switch kind {
	case hub.TraceChannelOrderNo:
		return o.cno
	case hub.TraceWaybill:
		return o.wb
	case hub.TraceFingerprint:
		return o.fingerprint
	}
	return o.id
}

func BenchmarkTracePostgres(b *testing.B) {
	n := envInt("WEDGE_BENCH_TRACE_N", 100_000)
	dsn := os.Getenv("WEDGE_BENCH_PG")
	if dsn == "" {
		// A server tuned for loading; the data is a benchmark's, not a ledger.
		srv := testpg.StartIn(b, filepath.Join(benchDir(), "pg"), "-c shared_buffers=1GB -c synchronous_commit=off -c max_wal_size=8GB "+
			"-c checkpoint_timeout=30min -c maintenance_work_mem=512MB -c wal_level=minimal -c max_wal_senders=0")
		dsn = srv.DSN
	}
	ctx := context.Background()
	dbDSN := ensureBenchDB(b, dsn, "wedge_bench_trace", false)
	if _, _, err := pgstore.Migrate(ctx, dbDSN); err != nil {
		// A schema this binary cannot migrate (e.g. one made by a branch with other migrations):
		// the data is only a benchmark's, so start over.
		b.Logf("the kept benchmark database does not migrate (%v): dropping it and loading again", err)
		dbDSN = ensureBenchDB(b, dsn, "wedge_bench_trace", true)
		if _, _, err := pgstore.Migrate(ctx, dbDSN); err != nil {
			b.Fatal(err)
		}
	}
	held := loadPG(b, dbDSN, n) // a database kept from a larger run is used whole
	store, err := pgstore.Open(ctx, dbDSN, nil)
	if err != nil {
		b.Fatal(err)
	}
	runTrace(b, store, held)
}

func BenchmarkTraceBolt(b *testing.B) {
	n := envInt("WEDGE_BENCH_TRACE_BOLT_N", 100_000)
	dir := filepath.Join(benchDir(), fmt.Sprintf("bolt-%d", n))
	store, err := hub.OpenBolt(dir)
	if err != nil {
		b.Fatal(err)
	}
	loadStore(b, store, n)
	runTrace(b, store, n)
}

// ensureBenchDB creates database name on the server of dsn unless it exists (after dropping it
// with fresh), and returns its DSN.
func ensureBenchDB(b *testing.B, dsn, name string, fresh bool) string {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	if fresh {
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			b.Fatal(err)
		}
	}
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname=$1)`, name).Scan(&exists); err != nil {
		b.Fatal(err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
			b.Fatal(err)
		}
	}
	u, err := url.Parse(dsn)
	if err != nil {
		b.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// benchMark is the load's progress, kept in the store: orders 0..Loaded-1 are in.
type benchMark struct {
	Loaded int `json:"loaded"`
}

const benchMarkKey = "bench_trace"

// markDone tells the hub that the central index is complete (the load writes it), so it does not
// walk the loaded orders at start.
var markDone = []byte(`{"v":1,"done":true,"orders_done":true}`)

// loadPG copies orders [loaded, n) in with COPY, a chunk per transaction with the marker, and
// returns how many orders the store holds.
func loadPG(b *testing.B, dsn string, n int) int {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	var m benchMark
	var raw []byte
	if err := conn.QueryRow(ctx, `SELECT doc FROM hub_meta WHERE key=$1`, benchMarkKey).Scan(&raw); err == nil {
		_ = json.Unmarshal(raw, &m)
	}
	began, from := time.Now(), m.Loaded
	for m.Loaded < n {
		end := min(m.Loaded+traceChunk, n)
		if err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error { return copyChunk(ctx, tx, m.Loaded, end) }); err != nil {
			b.Fatalf("load orders %d–%d: %v", m.Loaded, end, err)
		}
		m.Loaded = end
		if _, err := conn.Exec(ctx, `INSERT INTO hub_meta (key, doc) VALUES ($1,$2), ('central_index',$3) ON CONFLICT (key) DO UPDATE SET doc=EXCLUDED.doc`,
			benchMarkKey, mustMarshal(m), markDone); err != nil {
			b.Fatal(err)
		}
		if end%1_000_000 == 0 || end == n {
			b.Logf("loaded %d orders (%.0f orders/s)", end, float64(end-from)/time.Since(began).Seconds())
		}
	}
	if from == m.Loaded {
		return m.Loaded // loaded and checked by an earlier run
	}
	if _, err := conn.Exec(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	var have int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM hub_orders`).Scan(&have); err != nil || have < n {
		b.Fatalf("the store holds %d orders (%v), the marker says %d", have, err, m.Loaded)
	}
	return m.Loaded
}

func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// copyChunk copies orders [from, to) into the four tables the trace reads.
func copyChunk(ctx context.Context, tx pgx.Tx, from, to int) error {
	orders := make([]traceOrder, 0, to-from)
	for i := from; i < to; i++ {
		orders = append(orders, genOrder(i))
	}
	copyRows := func(table string, cols []string, rows func(o traceOrder, add func(...any))) error {
		var all [][]any
		for _, o := range orders {
			rows(o, func(v ...any) { all = append(all, v) })
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(all))
		return err
	}
	if err := copyRows("hub_orders", []string{"id", "doc"}, func(o traceOrder, add func(...any)) { add(o.id, o.orderDoc()) }); err != nil {
		return err
	}
	err := copyRows("hub_cx_orders", []string{"order_id", "site", "agent", "state", "since", "channel_order_no", "waybill", "assigned_waybill", "fingerprint", "doc"},
		func(o traceOrder, add func(...any)) {
			ix := o.index()
			add(ix.OrderID, ix.Site, ix.Agent, ix.State, ix.Since, ix.ChannelOrderNo, ix.Waybill, ix.AssignedWaybill, ix.Fingerprint, mustMarshal(ix))
		})
	if err != nil {
		return err
	}
	err = copyRows("hub_entries", []string{"site", "agent", "journal", "seq", "doc"}, func(o traceOrder, add func(...any)) {
		for k, doc := range o.entries() {
			key := o.entryKey(k)
			add(key.Site, key.Agent, key.Journal, int64(key.Seq), []byte(doc))
		}
	})
	if err != nil {
		return err
	}
	return copyRows("hub_history", []string{"order_id", "at", "site", "agent", "seq", "journal"}, func(o traceOrder, add func(...any)) {
		for k, at := range o.entryTimes() {
			key := o.entryKey(k)
			add(o.id, at, key.Site, key.Agent, int64(key.Seq), key.Journal)
		}
	})
}

// loadStore writes orders [loaded, n) through the store's own transactions (bbolt), a chunk each.
func loadStore(b *testing.B, s hub.Store, n int) {
	ctx := context.Background()
	var m benchMark
	if err := s.View(ctx, func(tx hub.Tx) error {
		raw, err := tx.Meta(benchMarkKey)
		if raw != nil {
			_ = json.Unmarshal(raw, &m)
		}
		return err
	}); err != nil {
		b.Fatal(err)
	}
	began, from := time.Now(), m.Loaded
	for m.Loaded < n {
		end := min(m.Loaded+traceChunk/5, n)
		err := s.Update(ctx, func(tx hub.Tx) error {
			for i := m.Loaded; i < end; i++ {
				if err := putOrder(tx, genOrder(i)); err != nil {
					return err
				}
			}
			if err := tx.PutMeta("central_index", markDone); err != nil {
				return err
			}
			return tx.PutMeta(benchMarkKey, mustMarshal(benchMark{Loaded: end}))
		})
		if err != nil {
			b.Fatal(err)
		}
		m.Loaded = end
		if end%200_000 == 0 || end == n {
			b.Logf("loaded %d orders (%.0f orders/s)", end, float64(end-from)/time.Since(began).Seconds())
		}
	}
}

func putOrder(tx hub.Tx, o traceOrder) error {
	if err := tx.PutOrder(o.id, o.orderDoc()); err != nil {
		return err
	}
	if err := tx.IndexOrder(o.index()); err != nil {
		return err
	}
	ats := o.entryTimes()
	for k, doc := range o.entries() {
		if _, err := tx.PutEntry(o.entryKey(k), doc); err != nil {
			return err
		}
		if err := tx.AddHistory(o.id, ats[k], o.entryKey(k)); err != nil {
			return err
		}
	}
	return nil
}

// runTrace starts a hub on store and times GET /v1/trace for random keys of each kind.
func runTrace(b *testing.B, store hub.Store, n int) {
	ctx := context.Background()
	broker := testbroker.Start(b, nil)
	h, err := hub.New(ctx, hub.Options{BrokerURL: broker.URL(), Listen: "127.0.0.1:0", Store: store, ClientID: "wedge-bench-trace"})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = h.Stop(ctx) }()
	token, _, err := apitoken.Create(ctx, h.Tokens(), fmt.Sprintf("bench-%d", time.Now().UnixNano()), []apitoken.Scope{apitoken.Read}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	b.ResetTimer()
	for range b.N {
		for _, kind := range []string{hub.TraceOrderID, hub.TraceChannelOrderNo, hub.TraceWaybill, hub.TraceFingerprint} {
			var took []time.Duration
			for range traceKeysPerKind {
				i := rng.IntN(n)
				began := time.Now()
				ans := getTrace(b, h.URL(), token, traceKey(kind, i))
				took = append(took, time.Since(began))
				if ans.Kind != kind || len(ans.Orders) != 1 || ans.Orders[0].OrderID != genOrder(i).id || len(ans.Orders[0].Entries) != 3 {
					b.Fatalf("trace of order %d by %s = %+v", i, kind, ans)
				}
			}
			slices.Sort(took)
			ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
			b.ReportMetric(ms(took[len(took)/2]), kind+"_p50_ms")
			b.ReportMetric(ms(took[len(took)*99/100]), kind+"_p99_ms")
			b.ReportMetric(ms(took[len(took)-1]), kind+"_max_ms")
		}
	}
	b.ReportMetric(float64(n), "orders")
}

func getTrace(b *testing.B, base, token, q string) hub.TraceAnswer {
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/trace?q="+url.QueryEscape(q), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("trace %q: %d %s", q, resp.StatusCode, body)
	}
	var ans hub.TraceAnswer
	if err := json.Unmarshal(body, &ans); err != nil {
		b.Fatal(err)
	}
	return ans
}
