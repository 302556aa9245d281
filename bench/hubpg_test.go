package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/jackc/pgx/v5"

	"wedge/internal/testbroker"
	"wedge/internal/testpg"
	"wedge/sync/hub"
	"wedge/sync/hub/pgstore"
	"wedge/sync/uplink"
	"wedge/sync/wire"
)

// The PostgreSQL ingest workload: hubPGAgents PCs of one site, each sending its journal of
// hubPGPerAgent print steps (待分仓 → 已打单, each on its own order, dispatched to the hub before
// the clock starts) in batches of hubPGBatch, as the uplink does.
const (
	hubPGAgents   = 40
	hubPGPerAgent = 500
	hubPGBatch    = 50
)

// BenchmarkHubIngestPostgres measures the hub's ingest into PostgreSQL against a raw batched
// INSERT of the same rows into the same database, in one run:
//
//   - raw: the entries' stored documents (the hub's own record of each entry) inserted into a copy
//     of hub_entries, one multi-row INSERT … SELECT FROM unnest(…) per batch of 50, each its own
//     transaction, from one connection → rows/s;
//   - hub ×1 and hub ×3: the orders POSTed to the hub first (not timed), then the same entries
//     published by paho (QoS 1, pipelined) as the agents' batches to the topics the uplink uses,
//     taken by 1 or 3 sync/hub replicas on one migrated database (shared subscription: the broker
//     splits the batches between the replicas) through the hub's real path — owner queue, group
//     commit, duplicate and chain checks, history index, order row lock and merge, the site's
//     state message (hseq counter row, downlink log), journal ack — until every entry is stored
//     → entries/s and the ratio to raw. The tables' sizes after the run are logged (the Growth
//     section of docs/HUB-STORE.md is sized from them).
//
// The server is internal/testpg's (fsync off): both sides are measured without disk flushes, so
// the ratio is the hub's work per entry against the bare insert, not the disk.
func BenchmarkHubIngestPostgres(b *testing.B) {
	srv := testpg.Start(b)
	var r hubPGResult
	for i := 0; i < b.N; i++ {
		r = runHubPG(b, srv, i, hubPGAgents, hubPGPerAgent)
	}
	n := hubPGAgents * hubPGPerAgent
	for i, reps := range hubPGReplicas {
		b.ReportMetric(r.raw[i], fmt.Sprintf("raw%d-rows/s", reps))
		b.ReportMetric(r.hub[i], fmt.Sprintf("hub%d-entries/s", reps))
		b.ReportMetric(r.hub[i]/r.raw[i], fmt.Sprintf("hub%d/raw", reps))
		b.ReportMetric(r.perCommit[i], fmt.Sprintf("hub%d-entries/commit", reps))
		b.ReportMetric(r.cpu[i], fmt.Sprintf("hub%d-cpu-ns/entry", reps))
		b.Logf("%d entries, %d replica(s): raw INSERT %.0f rows/s, hub %.0f entries/s (ratio %.2f, goal ≥ 0.5), %.1f entries per commit, hub process CPU %.1f µs per entry",
			n, reps, r.raw[i], r.hub[i], r.hub[i]/r.raw[i], r.perCommit[i], r.cpu[i]/1e3)
	}
}

// hubPGReplicas are the replica counts measured.
var hubPGReplicas = []int{1, 3}

type hubPGResult struct {
	raw, hub, perCommit, cpu []float64 // per hubPGReplicas
}

// runHubPG measures, per replica count, raw and hub ingest into one fresh migrated database, each
// with its own broker: a stopped hub's persistent session stays a member of the shared
// subscription group on mosquitto and keeps receiving its share of the batches into its offline
// queue (agents resend those; this publisher does not).
func runHubPG(b testing.TB, srv *testpg.Server, run, agents, perAgent int) hubPGResult {
	w := pgWorkload(b, agents, perAgent)
	var r hubPGResult
	for _, reps := range hubPGReplicas {
		dsn := srv.NewDatabase(b)
		if _, _, err := pgstore.Migrate(context.Background(), dsn); err != nil {
			b.Fatal(err)
		}
		r.raw = append(r.raw, rawInsert(b, dsn, w))
		url := testbroker.Start(b, nil).URL()
		in := hubIngest(b, url, fmt.Sprintf("bench-pg-%d-%d", run, reps), reps, w, pgIngestStore(dsn))
		r.hub = append(r.hub, in.rate)
		r.perCommit = append(r.perCommit, in.perCommit)
		r.cpu = append(r.cpu, in.cpuPerEntry)
	}
	return r
}

// pgBatch is one agent's batch: its topic, its payload, and the rows the hub stores for it.
type pgBatch struct {
	topic   string
	payload []byte
	site    string
	agent   string
	journal string
	seqs    []int64
	docs    [][]byte
}

type pgWork struct {
	batches []pgBatch // interleaved over the agents, each agent's in seq order
	entries int
}

// pgWorkload builds the agents' journals, chained and sealed, cut into batches.
func pgWorkload(b testing.TB, agents, perAgent int) pgWork {
	now := wire.Time(time.Now())
	perAgentBatches := make([][]pgBatch, agents)
	for a := range agents {
		s, ag, jid := site, fmt.Sprintf("pc%03d", a), fmt.Sprintf("J-bench-%03d", a)
		prev := ""
		var cur pgBatch
		var events []wire.Entry
		flush := func() {
			p, err := json.Marshal(wire.Batch{Site: s, Agent: ag, JournalID: jid, Events: events})
			if err != nil {
				b.Fatal(err)
			}
			cur.topic, cur.payload, cur.site, cur.agent, cur.journal = wire.TopicEvents(s, ag), p, s, ag, jid
			perAgentBatches[a] = append(perAgentBatches[a], cur)
			cur, events = pgBatch{}, nil
		}
		for seq := 1; seq <= perAgent; seq++ {
			i := a*perAgent + seq - 1
			e := wire.Entry{JournalID: jid, Seq: uint64(seq), Kind: wire.KindStep, OrderID: orderID(i), From: "pending_allocation",
				To: "waybill_printed", Waybill: waybillNo(i), Carrier: "sf", Station: fmt.Sprintf("print-%d", a%8),
				Device: fmt.Sprintf("scan-p%02d", a), Operator: fmt.Sprintf("OP-%04d", a), Trigger: wire.TriggerScan,
				Code: waybillNo(i), Job: fmt.Sprintf("job-%d", i), LabelVersion: 1, At: now}
			e.Seal(prev)
			prev = e.Hash
			events = append(events, e)
			doc, _ := json.Marshal(struct {
				wire.Entry
				Site       string `json:"site"`
				Agent      string `json:"agent"`
				ReceivedAt string `json:"received_at"`
			}{e, s, ag, now})
			cur.seqs, cur.docs = append(cur.seqs, int64(seq)), append(cur.docs, doc)
			if len(events) == hubPGBatch {
				flush()
			}
		}
		if len(events) > 0 {
			flush()
		}
	}
	w := pgWork{entries: agents * perAgent}
	for i := 0; ; i++ {
		more := false
		for a := range agents {
			if i < len(perAgentBatches[a]) {
				w.batches = append(w.batches, perAgentBatches[a][i])
				more = true
			}
		}
		if !more {
			return w
		}
	}
}

// rawInsert inserts every batch's rows into a copy of hub_entries, one statement and transaction
// per batch, and returns rows/s.
func rawInsert(b testing.TB, dsn string, w pgWork) float64 {
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `CREATE TABLE bench_raw_entries (LIKE hub_entries INCLUDING ALL)`); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for _, bt := range w.batches {
		n := len(bt.seqs)
		sites, agents, journals := make([]string, n), make([]string, n), make([]string, n)
		for i := range n {
			sites[i], agents[i], journals[i] = bt.site, bt.agent, bt.journal
		}
		if _, err := c.Exec(ctx, `INSERT INTO bench_raw_entries (site, agent, journal, seq, doc)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bytea[])`,
			sites, agents, journals, bt.seqs, bt.docs); err != nil {
			b.Fatal(err)
		}
	}
	rate := float64(w.entries) / time.Since(start).Seconds()
	var got int
	if err := c.QueryRow(ctx, `SELECT count(*) FROM bench_raw_entries`).Scan(&got); err != nil || got != w.entries {
		b.Fatalf("raw insert stored %d of %d rows: %v", got, w.entries, err)
	}
	return rate
}

// ingestStore is what hubIngest needs to know of the hubs' store.
type ingestStore struct {
	options func(b testing.TB, ctx context.Context, replica int) hub.Options // the store part of a replica's options
	check   func(b testing.TB, entries int)                                  // after the run: every entry stored once (nil: none)
	state   func(b testing.TB) string                                        // what the store holds, for a hung run's message
}

// pgIngestStore is a migrated PostgreSQL database shared by the replicas.
func pgIngestStore(dsn string) ingestStore {
	return ingestStore{
		options: func(b testing.TB, ctx context.Context, _ int) hub.Options {
			s, err := pgstore.Open(ctx, dsn, nil)
			if err != nil {
				b.Fatal(err)
			}
			return hub.Options{Store: s}
		},
		check: func(b testing.TB, n int) {
			checkPGEntries(b, dsn, n)
			// Printed, not logged: a benchmark's log is cut after a few lines.
			fmt.Printf("hub ingest on PostgreSQL, %d entries, table sizes:%s\n", n, pgSizes(b, dsn))
		},
		state: func(b testing.TB) string { return pgState(b, dsn) },
	}
}

// ingestResult is one hubIngest run.
type ingestResult struct {
	rate, perCommit float64
	// cpuPerEntry is the process CPU (user + sys) from the first publish until every entry was
	// stored, less what publishing the same batches to a topic nobody hears cost this process
	// (the benchmark's paho client), per entry, in ns: the hubs' CPU, not the broker's nor
	// PostgreSQL's (other processes).
	cpuPerEntry float64
}

// hubIngest runs reps hubs on one store, publishes the workload and waits until the hubs have
// stored and acked every entry; it returns entries/s, entries per commit and the hubs' CPU per entry, after
// checking each entry was stored once.
func hubIngest(b testing.TB, url, id string, reps int, w pgWork, st ingestStore) ingestResult {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	hubs := make([]*hub.Hub, reps)
	for i := range hubs {
		opts := st.options(b, ctx, i)
		opts.BrokerURL, opts.Listen, opts.ClientID, opts.Logger = url, "127.0.0.1:0", fmt.Sprintf("%s-r%d", id, i), log
		h, err := hub.New(ctx, opts)
		if err != nil {
			b.Fatal(err)
		}
		defer stopHub(b, h)
		select {
		case <-h.Ready():
		case <-time.After(hangAfter):
			b.Fatal("hub never connected")
		}
		hubs[i] = h
	}
	// The hubs' counters live in the shared database (added in each commit), so one replica's
	// Stats are the whole network's: summing the replicas would count every entry once per replica.
	ingested := func() (n, commits uint64) {
		st := hubs[0].Stats()
		return st.EventsIngested, st.Commits
	}
	dispatch(b, hubs[0].Addr(), hubToken(b, hubs[0]), w.entries)
	_, commits0 := ingested()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(id + "-agents").SetCleanSession(true).
		SetStore(mqtt.NewMemoryStore()).SetAutoReconnect(false).SetWriteTimeout(30 * time.Second))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("agents' client connect: %v", tok.Error())
	}
	defer c.Disconnect(250)
	acks := watchAcks(b, c)
	pubCPU := publishCPU(b, c, w.batches)
	start, cpu0 := time.Now(), processCPU(b)
	publishAll(b, c, w.batches)
	deadline := time.Now().Add(hangAfter)
	resent, last, lastMove := 0, uint64(0), time.Now()
	// Progress is read from the acks the benchmark's client receives, not from Stats: on
	// PostgreSQL Stats is a database transaction, and polling it would add its CPU to the hubs'.
	for {
		n := acks.total()
		if n >= uint64(w.entries) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("hung: %d hub(s) acked %d of %d entries after %v; %s", reps, n, w.entries, hangAfter, st.state(b))
		}
		if n != last {
			last, lastMove = n, time.Now()
		} else if time.Since(lastMove) > pgResendAfter {
			// What an agent's uplink does: a batch not acked in time is sent again.
			again := acks.unacked(w.batches)
			publishAll(b, c, again)
			resent += len(again)
			lastMove = time.Now()
		}
		time.Sleep(2 * time.Millisecond)
	}
	r := ingestResult{rate: float64(w.entries) / time.Since(start).Seconds()}
	r.cpuPerEntry = float64((processCPU(b) - cpu0 - pubCPU).Nanoseconds()) / float64(w.entries)
	if resent > 0 {
		b.Logf("%d replica(s): %d batches resent after %v without progress (a failed commit, or one still running)", reps, resent, pgResendAfter)
	}
	n, commits := ingested()
	if st.check != nil {
		st.check(b, w.entries)
	}
	if n != uint64(w.entries) {
		b.Fatalf("the hubs ingested %d entries, want each of %d once", n, w.entries)
	}
	r.perCommit = float64(n) / float64(max(commits-commits0, 1))
	return r
}

// publishCPU is the process CPU that publishing batches costs the benchmark's own client, measured
// on a topic no hub subscribes to (the broker drops them): subtracted from the hubs' CPU.
func publishCPU(b testing.TB, c mqtt.Client, batches []pgBatch) time.Duration {
	void := make([]pgBatch, len(batches))
	for i, bt := range batches {
		void[i] = bt
		void[i].topic = "bench-void/" + bt.topic
	}
	cpu0 := processCPU(b)
	publishAll(b, c, void)
	return processCPU(b) - cpu0
}

// checkPGEntries fails unless hub_entries holds want rows and hub_pending none.
func checkPGEntries(b testing.TB, dsn string, want int) {
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(ctx)
	var got, pending int
	if err := c.QueryRow(ctx, `SELECT (SELECT count(*) FROM hub_entries), (SELECT count(*) FROM hub_pending)`).Scan(&got, &pending); err != nil {
		b.Fatal(err)
	}
	if got != want || pending != 0 {
		b.Fatalf("hub_entries holds %d rows (want %d), hub_pending %d", got, want, pending)
	}
}

// pgState describes what the database holds, for a hung run's message.
func pgState(b testing.TB, dsn string) string {
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err.Error()
	}
	defer c.Close(ctx)
	rows, err := c.Query(ctx, `SELECT 'entries', journal, count(*), max(seq) FROM hub_entries GROUP BY journal
		UNION ALL SELECT 'pending', journal, count(*), max(seq) FROM hub_pending GROUP BY journal ORDER BY 2, 1`)
	if err != nil {
		return err.Error()
	}
	defer rows.Close()
	out := ""
	for rows.Next() {
		var what, j string
		var n, mx int64
		if err := rows.Scan(&what, &j, &n, &mx); err != nil {
			return err.Error()
		}
		out += fmt.Sprintf("\n%s %s: %d rows, max seq %d", what, j, n, mx)
	}
	return out
}

// pgSizes reports each hub table's rows and bytes per row: the whole relation (table, TOAST and
// indexes, pg_total_relation_size) and the document column alone (pg_column_size).
func pgSizes(b testing.TB, dsn string) string {
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `VACUUM ANALYZE`); err != nil {
		b.Fatal(err)
	}
	out := ""
	for _, t := range []struct{ table, doc string }{
		{"hub_entries", "doc"}, {"hub_history", "0"}, {"hub_orders", "doc"}, {"hub_downlink", "doc"},
		{"hub_journals", "doc"}, {"bench_raw_entries", "doc"},
	} {
		var rows, total, index, docAvg float64
		err := c.QueryRow(ctx, fmt.Sprintf(`SELECT count(*), pg_total_relation_size('%[1]s'), pg_indexes_size('%[1]s'),
			coalesce(avg(pg_column_size(%[2]s)), 0) FROM %[1]s`, t.table, t.doc)).Scan(&rows, &total, &index, &docAvg)
		if err != nil {
			b.Fatal(err)
		}
		out += fmt.Sprintf("\n  %-18s %7.0f rows, %6.0f B/row in all (indexes %4.0f B/row), doc %4.0f B", t.table, rows,
			total/max(rows, 1), index/max(rows, 1), docAvg)
	}
	return out
}

// pgResendAfter is how long the benchmark's agents wait without progress before they resend
// what is not acked: the uplink's default (its resend, simplified to all journals at once).
const pgResendAfter = uplink.DefaultResendAfter

func publishAll(b testing.TB, c mqtt.Client, batches []pgBatch) {
	toks := make([]mqtt.Token, 0, len(batches))
	for _, bt := range batches {
		toks = append(toks, c.Publish(bt.topic, 1, false, bt.payload))
	}
	for i, t := range toks {
		if !t.WaitTimeout(hangAfter) || t.Error() != nil {
			b.Fatalf("publish %d: %v", i, t.Error())
		}
	}
}

// pgAcks is the highest ack each journal got from the hubs.
type pgAcks struct {
	mu    sync.Mutex
	acked map[string]uint64
}

func watchAcks(b testing.TB, c mqtt.Client) *pgAcks {
	a := &pgAcks{acked: map[string]uint64{}}
	tok := c.Subscribe(wire.TopicAck("+", "+"), 1, func(_ mqtt.Client, m mqtt.Message) {
		var ack wire.Ack
		if json.Unmarshal(m.Payload(), &ack) != nil {
			return
		}
		a.mu.Lock()
		a.acked[ack.JournalID] = max(a.acked[ack.JournalID], ack.AckedSeq)
		a.mu.Unlock()
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("subscribe to the acks: %v", tok.Error())
	}
	return a
}

// total is the entries acked over all journals (each journal's seqs start at 1, without gaps).
func (a *pgAcks) total() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	var n uint64
	for _, seq := range a.acked {
		n += seq
	}
	return n
}

// unacked are the batches whose last entry is beyond their journal's ack.
func (a *pgAcks) unacked(batches []pgBatch) []pgBatch {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []pgBatch
	for _, bt := range batches {
		if uint64(bt.seqs[len(bt.seqs)-1]) > a.acked[bt.journal] {
			out = append(out, bt)
		}
	}
	return out
}
