package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"wedge/agent/journal"
	"wedge/internal/testbroker"
	"wedge/internal/testpg"
	"wedge/sync/uplink"
	"wedge/sync/wire"
)

// The size of the replica run: agents × orders × entries per order entries in all.
const (
	replicaCount     = 3
	replicaAgents    = 20
	agentsPerSite    = 2
	ordersPerAgent   = 250
	entriesPerOrder  = 4 // intake, printed, reprint, picked up
	killEvery        = 2 * time.Second
	appendEvery      = 60 * time.Millisecond // one order's entries per agent: the stream lasts ~15 s
	replicaHangAfter = 6 * time.Minute       // only bounds a hung run
)

// TestReplicasSurviveKills is the hub-for-a-network acceptance run: three real `wedge hub`
// processes share one PostgreSQL and a shared subscription on real mosquitto; 20 agents (a real
// journal and the real uplink each) stream 20,000 entries, and every 2 s one random replica is
// SIGKILLed and started again under its own replica name (its client id, so the broker hands it
// what it had queued for the session). At the end every entry is stored exactly once, every
// journal is acked to its last seq, and every order's history and state at the hub are right.
// Then one replica that holds batches is killed alone, to time the recovery from one kill. It
// logs the figures docs/HUB-STORE.md quotes (time to the last ack, the longest ack stall, the
// recovery from one kill).
func TestReplicasSurviveKills(t *testing.T) {
	needE2E(t)
	bin := plainWedge(t)
	dir := t.TempDir()
	// The hubs PUBACK a batch only after its commit, so mosquitto's default of 20 messages in
	// flight per client would throttle each replica: lifted, as docs/HUB-STORE.md recommends.
	b := testbroker.Start(t, &testbroker.Options{Config: func(port int) string {
		return fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\nmax_inflight_messages 0\n", port)
	}})
	dsn := testpg.Start(t).NewDatabase(t)
	if out, err := exec.Command(bin, "hub", "migrate", "--store", dsn).CombinedOutput(); err != nil {
		t.Fatalf("wedge hub migrate: %v\n%s", err, out)
	}
	reps := startReplicas(t, bin, dir, b.URL(), dsn)
	agents := startReplicaAgents(t, dir, b.URL())

	began := time.Now()
	watch := watchAcks(agents)
	streamed := make(chan time.Time, 1)
	go func() { streamOrders(t, agents, 0, ordersPerAgent-1); streamed <- time.Now() }()
	kills := reps.killUntil(t, func() bool { return allAcked(agents, replicaAgents*(ordersPerAgent-1)*entriesPerOrder) })
	acked := time.Now()
	appendedAt := <-streamed
	stall := watch.stop()

	// One kill alone, of a replica holding batches: it is frozen (SIGSTOP) while every agent
	// sends its last order, so the broker hands it its share without getting a PUBACK; then it is
	// killed and restarted, and nothing else is killed until every agent is acked.
	reps.waitAllUp(t)
	frozen := rand.Intn(replicaCount)
	if err := reps.procs[frozen].cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	sent := make([]uint64, len(agents))
	for i, a := range agents {
		sent[i] = a.up.Stats().Batches
	}
	streamOrders(t, agents, ordersPerAgent-1, ordersPerAgent)
	waitFor(t, time.Minute, "every agent sent its last order", func() bool {
		for i, a := range agents {
			if a.up.Stats().Batches == sent[i] {
				return false
			}
		}
		return true
	})
	waiting := 0
	for _, a := range agents {
		if a.st.AckedSeq() < a.st.LastSeq() {
			waiting++
		}
	}
	killed := time.Now()
	reps.kill(t, frozen)
	waitFor(t, replicaHangAfter, "every agent acked after one kill", func() bool {
		return allAcked(agents, replicaAgents*ordersPerAgent*entriesPerOrder)
	})
	t.Logf("one kill of a replica holding batches (%d agents waiting for an ack): all acked %s after the kill",
		waiting, time.Since(killed).Round(100*time.Millisecond))

	var resends uint64
	for _, a := range agents {
		resends += a.up.Stats().Resends
	}
	t.Logf("%d entries from %d agents through %d replicas, a kill every %s: streamed in %s, all acked %s after the start (%s after the last append); %d kills, %d uplink resends (ResendAfter %s); longest ack stall of an agent with entries unacked: %s",
		replicaAgents*(ordersPerAgent-1)*entriesPerOrder, replicaAgents, replicaCount, killEvery, appendedAt.Sub(began).Round(100*time.Millisecond),
		acked.Sub(began).Round(100*time.Millisecond), acked.Sub(appendedAt).Round(100*time.Millisecond), kills, resends,
		uplink.DefaultResendAfter, stall.Round(100*time.Millisecond))

	reps.waitAllUp(t)
	checkStoredOnce(t, dsn, agents)
	checkHistories(t, reps, agents)
}

// plainWedge builds wedge without the race detector: three hubs under load on two cores.
func plainWedge(t *testing.T) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "wedge")
	cmd := exec.Command("go", "build", "-o", bin, "./agent/cmd/wedge")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./agent/cmd/wedge: %v\n%s", err, out)
	}
	return bin
}

// ---- the replicas ----

type replicas struct {
	bin, dir string
	args     [][]string
	procs    []*proc
	token    string // an admin token, written by replica 0's first start
}

const subscribedLine = "hub connected and subscribed"

func startReplicas(t *testing.T, bin, dir, broker, dsn string) *replicas {
	r := &replicas{bin: bin, dir: dir}
	tokenFile := filepath.Join(dir, "admin.token")
	for i := range replicaCount {
		args := []string{"hub", "--broker", broker, "--store", dsn, "--listen", freeAddr(t), "--replica", fmt.Sprintf("r%d", i)}
		if i == 0 {
			args = append(args, "--bootstrap-token-file", tokenFile)
		}
		r.args = append(r.args, args)
		r.procs = append(r.procs, r.start(t, i))
	}
	r.waitAllUp(t)
	tok, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	r.token = strings.TrimSpace(string(tok))
	return r
}

func (r *replicas) start(t *testing.T, i int) *proc {
	return startBin(t, r.bin, fmt.Sprintf("hub r%d", i), filepath.Join(r.dir, fmt.Sprintf("hub-r%d.log", i)), r.args[i]...)
}

// waitAllUp waits until every replica's latest start has subscribed.
func (r *replicas) waitAllUp(t *testing.T) {
	t.Helper()
	for i, p := range r.procs {
		waitFor(t, time.Minute, fmt.Sprintf("replica r%d subscribes", i), func() bool {
			p.alive()
			s := p.log()
			last := strings.LastIndex(s, "=== e2e: start")
			return strings.Contains(s[last:], subscribedLine)
		})
	}
}

// killUntil SIGKILLs a random replica and starts it again every killEvery until done holds, and
// returns the number of kills.
func (r *replicas) killUntil(t *testing.T, done func() bool) int {
	t.Helper()
	seed := time.Now().UnixNano()
	t.Logf("kill order seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	deadline := time.Now().Add(replicaHangAfter)
	next := time.Now().Add(killEvery)
	kills := 0
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("not every entry acked within %s", replicaHangAfter)
		}
		if time.Now().Before(next) {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		r.kill(t, rng.Intn(len(r.procs)))
		kills++
		next = next.Add(killEvery)
	}
	return kills
}

// kill SIGKILLs replica i and starts it again under the same replica name.
func (r *replicas) kill(t *testing.T, i int) {
	r.procs[i].kill()
	r.procs[i] = r.start(t, i)
}

// getJSON GETs path from replica i with the admin token.
func (r *replicas) getJSON(i int, path string, v any) error {
	addr := r.args[i][slices.Index(r.args[i], "--listen")+1]
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// ---- the agents ----

type replicaAgent struct {
	site, name string
	st         *journal.Store
	up         *uplink.Uplink
	drained    chan struct{}
}

func startReplicaAgents(t *testing.T, dir, broker string) []*replicaAgent {
	var out []*replicaAgent
	for i := range replicaAgents {
		a := &replicaAgent{site: fmt.Sprintf("rs%02d", i/agentsPerSite), name: fmt.Sprintf("pack%02d", i), drained: make(chan struct{})}
		var err error
		if a.st, err = journal.Open(filepath.Join(dir, a.name+".db"), &journal.Options{Site: a.site, Agent: a.name}); err != nil {
			t.Fatal(err)
		}
		logf, err := os.Create(filepath.Join(dir, "uplink-"+a.name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { logf.Close() })
		log := slog.New(slog.NewTextHandler(logf, nil))
		if a.up, err = uplink.New(context.Background(), a.st, uplink.Options{URL: broker, Site: a.site, Agent: a.name, AcceptUnsigned: true, Logger: log}); err != nil {
			t.Fatal(err)
		}
		go func() { // the site's state rebroadcasts: an agent's intake would apply them
			defer close(a.drained)
			for range a.up.Downlink() {
			}
		}()
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := a.up.Stop(ctx); err != nil {
				t.Errorf("%s uplink stop: %v", a.name, err)
			}
			<-a.drained
			a.st.Close()
		})
		out = append(out, a)
	}
	return out
}

func replicaOrderID(agent string, n int) string { return fmt.Sprintf("%s-O%04d", agent, n) }

// orderEntries are one order's entries as the stations would journal them.
func orderEntries(a *replicaAgent, n int) []wire.Entry {
	id := replicaOrderID(a.name, n)
	wb := fmt.Sprintf("SF%013d", n)
	msg := &wire.OrderMsg{Type: wire.TypeOrder, OrderID: id, Channel: "tmall", ChannelOrderNo: fmt.Sprintf("40%s%08d", a.name[4:], n),
		BuyerID: "b-1", OrderedAt: "2026-01-22T07:00:00.000Z", SKUs: []string{"SKU-1"}, Payment: "full"}
	return []wire.Entry{
		{Kind: wire.KindIntake, OrderID: id, To: "pending_allocation", Trigger: wire.TriggerHub, Order: msg},
		{Kind: wire.KindStep, OrderID: id, From: "pending_allocation", To: "waybill_printed", Waybill: wb, Carrier: "sf", Station: "print-1", Trigger: wire.TriggerPrint},
		{Kind: wire.KindReprint, OrderID: id, Waybill: wb, Station: "print-1", Operator: "张三", Trigger: wire.TriggerScan},
		{Kind: wire.KindStep, OrderID: id, From: "waybill_printed", To: "picked_up", Waybill: wb, Station: "handover-1", Operator: "张三", Trigger: wire.TriggerScan},
	}
}

// streamOrders has every agent journal its orders from..to-1, one (its entries in one commit)
// every appendEvery.
func streamOrders(t *testing.T, agents []*replicaAgent, from, to int) {
	var wg sync.WaitGroup
	for _, a := range agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(appendEvery)
			defer tick.Stop()
			for n := from; n < to; n++ {
				<-tick.C
				err := a.st.Do(context.Background(), func(tx *journal.Tx) error {
					for _, e := range orderEntries(a, n) {
						tx.Append(e)
					}
					return nil
				})
				if err != nil {
					t.Errorf("%s journal: %v", a.name, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func allAcked(agents []*replicaAgent, total int) bool {
	n := 0
	for _, a := range agents {
		n += int(a.st.AckedSeq())
	}
	return n == total
}

// ackWatch samples the agents' acked seqs and keeps the longest time any agent with unacked
// entries waited without its ack moving: the recovery time after a kill, as an agent sees it.
type ackWatch struct {
	quit  chan struct{}
	done  chan time.Duration
	agent []*replicaAgent
}

func watchAcks(agents []*replicaAgent) *ackWatch {
	w := &ackWatch{quit: make(chan struct{}), done: make(chan time.Duration, 1), agent: agents}
	go func() {
		last := make([]uint64, len(agents))
		since := make([]time.Time, len(agents))
		var longest time.Duration
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.quit:
				w.done <- longest
				return
			case now := <-tick.C:
				for i, a := range agents {
					acked := a.st.AckedSeq()
					if acked != last[i] || acked == a.st.LastSeq() {
						last[i], since[i] = acked, now
						continue
					}
					longest = max(longest, now.Sub(since[i]))
				}
			}
		}
	}()
	return w
}

func (w *ackWatch) stop() time.Duration {
	close(w.quit)
	return <-w.done
}

// ---- the checks ----

// checkStoredOnce: every agent's journal is acked to its last seq, and the hub's store holds each
// of its entries once, with the agent's hash, and nothing waiting or kept as evidence.
func checkStoredOnce(t *testing.T, dsn string, agents []*replicaAgent) {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var dupKeys, pending, unverified int
	err = c.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM (SELECT 1 FROM hub_entries GROUP BY site, agent, journal, seq HAVING count(*) > 1) d),
		(SELECT count(*) FROM hub_pending), (SELECT count(*) FROM hub_unverified)`).Scan(&dupKeys, &pending, &unverified)
	if err != nil {
		t.Fatal(err)
	}
	if dupKeys != 0 || pending != 0 || unverified != 0 {
		t.Fatalf("store: %d keys stored more than once, %d entries pending, %d unverified", dupKeys, pending, unverified)
	}
	for _, a := range agents {
		last := a.st.LastSeq()
		if last != ordersPerAgent*entriesPerOrder || a.st.AckedSeq() != last {
			t.Fatalf("%s: acked %d, last %d, want both %d", a.name, a.st.AckedSeq(), last, ordersPerAgent*entriesPerOrder)
		}
		want, err := a.st.Entries(0, int(last), 64<<20)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := c.Query(ctx, `SELECT seq, count(*) OVER (), doc FROM hub_entries WHERE site=$1 AND agent=$2 AND journal=$3 ORDER BY seq`,
			a.site, a.name, a.st.JournalID())
		if err != nil {
			t.Fatal(err)
		}
		i := 0
		for rows.Next() {
			var seq, n int64
			var doc []byte
			var e wire.Entry
			if err := rows.Scan(&seq, &n, &doc); err != nil {
				t.Fatal(err)
			}
			if n != int64(last) || i >= len(want) || seq != int64(want[i].Seq) || json.Unmarshal(doc, &e) != nil || e.Hash != want[i].Hash {
				rows.Close()
				t.Fatalf("%s: stored row %d (seq %d of %d rows) is not the journal's entry %d", a.name, i, seq, n, i+1)
			}
			i++
		}
		rows.Close()
		if rows.Err() != nil || i != int(last) {
			t.Fatalf("%s: %d entries stored, want %d (%v)", a.name, i, last, rows.Err())
		}
	}
}

// checkHistories reads every order from the replicas in turn: picked up, with its four entries
// in journal order, from its own agent, each once.
func checkHistories(t *testing.T, r *replicas, agents []*replicaAgent) {
	t.Helper()
	var stats struct {
		EventsIngested    uint64 `json:"events_ingested"`
		DuplicatesDropped uint64 `json:"duplicates_dropped"`
	}
	if err := r.getJSON(1, "/v1/stats", &stats); err != nil {
		t.Fatal(err)
	}
	if total := uint64(replicaAgents * ordersPerAgent * entriesPerOrder); stats.EventsIngested != total {
		t.Fatalf("/v1/stats of a replica: %d entries ingested, want the network's %d", stats.EventsIngested, total)
	}
	t.Logf("duplicates dropped by the replicas (redeliveries and resends): %d", stats.DuplicatesDropped)
	type job struct {
		a *replicaAgent
		n int
	}
	jobs := make(chan job)
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if err := checkOrder(r, w%replicaCount, j.a, j.n); err != nil {
					errs <- err
					for range jobs {
					}
					return
				}
			}
		}()
	}
	for _, a := range agents {
		for n := range ordersPerAgent {
			jobs <- job{a, n}
		}
	}
	close(jobs)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func checkOrder(r *replicas, replica int, a *replicaAgent, n int) error {
	id := replicaOrderID(a.name, n)
	var o struct {
		State   string `json:"state"`
		Site    string `json:"site"`
		History []struct {
			wire.Entry
			Site  string `json:"site"`
			Agent string `json:"agent"`
		} `json:"history"`
	}
	if err := r.getJSON(replica, "/v1/orders/"+id, &o); err != nil {
		return err
	}
	if o.State != "picked_up" || o.Site != a.site || len(o.History) != entriesPerOrder {
		return fmt.Errorf("order %s: state %q at %q with %d history entries, want picked_up at %s with %d", id, o.State, o.Site, len(o.History), a.site, entriesPerOrder)
	}
	first := uint64(n*entriesPerOrder + 1)
	for i, e := range o.History {
		want := orderEntries(a, n)[i]
		if e.Seq != first+uint64(i) || e.Kind != want.Kind || e.JournalID != a.st.JournalID() || e.Agent != a.name || e.Site != a.site {
			return fmt.Errorf("order %s history %d: %s seq %d of %s/%s, want %s seq %d of %s/%s", id, i, e.Kind, e.Seq, e.Site, e.Agent, want.Kind, first+uint64(i), a.site, a.name)
		}
	}
	return nil
}
