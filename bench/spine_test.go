package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/goleak"

	"wedge/agent/journal"
	"wedge/internal/testbroker"
	"wedge/order"
	"wedge/sync/apitoken"
	"wedge/sync/hub"
	"wedge/sync/uplink"
	"wedge/sync/wire"
)

func TestMain(m *testing.M) {
	if os.Getenv(rssChildEnv) != "" {
		os.Exit(rssChild()) // the re-executed child of BenchmarkAgentRSSBacklog
	}
	goleak.VerifyTestMain(m)
}

// Workload sizes. incidentBacklog is the peak backlog of the warehouse incident wedge is built for.
const (
	incidentBacklog = 47_000
	baselineBytes   = 300 // payload of one baseline message
	fsyncSamples    = 2000
	fsyncBytes      = 256
	site            = "sz01"
)

// hangAfter is a deadline for a hang, never a timing assertion (the small tests shorten it).
var hangAfter = 5 * time.Minute

// Knobs for exploring (documented in docs/BENCHMARKS.md); the defaults are the benchmark's setup.
var (
	scanners     = envInt("WEDGE_BENCH_SCANNERS", 32)     // concurrent "scanner" goroutines
	uplinkWindow = envInt("WEDGE_BENCH_UPLINK_WINDOW", 0) // uplink.Options.Window; 0 = uplink's default
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkSpine is the spine benchmark, in one run against one local mosquitto:
//
//   - raw fsync: append 256 bytes + fsync, 2,000 times, in the run's temp dir → p50/p99;
//   - baseline: paho QoS 1, 47,000 separate 300-byte messages, MemoryStore, pipelined (all tokens
//     waited for at the end), no subscriber → msgs/s;
//   - wedge live: 32 goroutines each commit a print step (待分仓 → 已打单, the order read, order.Apply,
//     the entry appended and the order written in one Store.Do, real fsync) for 47,000 orders while
//     sync/uplink sends and the real sync/hub stores and acks → entries/s until the journal's
//     AckedSeq is 47,000, the ratio to the baseline, and the Do latency p50/p99 under that load;
//   - hub ingest: the hub's own rate over the live run, and the drain of a 47,000-entry backlog that
//     was committed while the uplink was off (the incident: the network comes back);
//   - quiet: the same print step from one scanner alone (2,000 scans), Do p50/p99, for comparison.
func BenchmarkSpine(b *testing.B) {
	broker := testbroker.Start(b, nil)
	var r spineResult
	for i := 0; i < b.N; i++ {
		r = runSpine(b, broker.URL(), i, incidentBacklog)
	}
	b.ReportMetric(r.baseline, "baseline-msgs/s")
	b.ReportMetric(r.wedge, "wedge-entries/s")
	b.ReportMetric(r.wedge/r.baseline, "wedge/baseline")
	b.ReportMetric(r.commit, "commit-entries/s")
	b.ReportMetric(r.hubLive, "hub-live-entries/s")
	b.ReportMetric(r.drain, "drain-entries/s")
	b.ReportMetric(r.drain/r.baseline, "drain/baseline")
	b.ReportMetric(r.drainHubPerCommit, "drain-hub-entries/commit")
	b.ReportMetric(r.drainPerBatch, "drain-entries/batch")
	b.ReportMetric(us(r.doP50), "do-p50-us")
	b.ReportMetric(us(r.doP99), "do-p99-us")
	b.ReportMetric(us(r.fsyncP50), "fsync-p50-us")
	b.ReportMetric(us(r.fsyncP99), "fsync-p99-us")
	b.ReportMetric(float64(r.doP99)/float64(r.fsyncP99), "do-p99/fsync-p99")
	b.ReportMetric(us(r.loadFsyncP50), "fsync-under-load-p50-us")
	b.ReportMetric(us(r.loadFsyncP99), "fsync-under-load-p99-us")
	b.ReportMetric(float64(r.doP99)/float64(r.loadFsyncP99), "do-p99/fsync-under-load-p99")
	b.ReportMetric(us(r.quietP50), "do1-p50-us")
	b.ReportMetric(us(r.quietP99), "do1-p99-us")
	b.ReportMetric(float64(r.quietP99)/float64(r.fsyncP99), "do1-p99/fsync-p99")
	b.ReportMetric(us(r.soloP50), "solo-p50-us")
	b.ReportMetric(us(r.soloP99), "solo-p99-us")
	b.ReportMetric(float64(r.soloP99)/float64(r.fsyncP99), "solo-p99/fsync-p99")
	b.ReportMetric(r.quietCommits, "do1-commits/scan")            // journal commits per scan, acks included (1 = none of their own)
	b.ReportMetric(r.quietHubPerCommit, "do1-hub-entries/commit") // the hub's commits in the quiet phase
	b.ReportMetric(r.perCommit, "entries/commit")
	b.ReportMetric(r.hubPerCommit, "hub-entries/commit")
	b.Logf("baseline paho QoS1 %d×%dB: %.0f msgs/s", incidentBacklog, baselineBytes, r.baseline)
	b.Logf("wedge live %d entries, %d scanners: %.0f entries/s acked (ratio %.2f), committed at %.0f entries/s, %.1f entries/commit",
		incidentBacklog, scanners, r.wedge, r.wedge/r.baseline, r.commit, r.perCommit)
	b.Logf("hub: %.0f entries/s during the live run (%.1f entries/commit); backlog drain %.0f entries/s (ratio %.2f)",
		r.hubLive, r.hubPerCommit, r.drain, r.drain/r.baseline)
	b.Logf("Store.Do p50 %v p99 %v; raw fsync p50 %v p99 %v; p99 ratio %.2f (goal ≤ 3)",
		r.doP50, r.doP99, r.fsyncP50, r.fsyncP99, float64(r.doP99)/float64(r.fsyncP99))
	b.Logf("raw fsync while the scanners commit (same disk, same CPUs): p50 %v p99 %v", r.loadFsyncP50, r.loadFsyncP99)
	b.Logf("one scanner alone: Store.Do p50 %v p99 %v; p99 ratio %.2f", r.quietP50, r.quietP99, float64(r.quietP99)/float64(r.fsyncP99))
	b.Logf("one scanner, no uplink or hub running: Store.Do p50 %v p99 %v; p99 ratio %.2f", r.soloP50, r.soloP99, float64(r.soloP99)/float64(r.fsyncP99))
}

type spineResult struct {
	baseline, wedge, commit, hubLive, drain float64
	perCommit, hubPerCommit                 float64
	doP50, doP99, fsyncP50, fsyncP99        time.Duration
	quietP50, quietP99                      time.Duration
	soloP50, soloP99                        time.Duration // one scanner, no uplink or hub running
	quietCommits                            float64       // journal commits per quiet scan
	quietHubPerCommit                       float64       // hub entries per hub commit, quiet phase
	drainHubPerCommit                       float64       // hub entries per hub commit, drain
	drainPerBatch                           float64       // entries per batch the uplink published, drain
	loadFsyncP50, loadFsyncP99              time.Duration // raw fsync while the scanners commit
}

func runSpine(b testing.TB, url string, run, n int) spineResult {
	dir := b.TempDir()
	var r spineResult
	r.fsyncP50, r.fsyncP99 = rawFsync(b, dir)
	// Solo: one scanner on a journal with nothing else of wedge running (no uplink, no hub, whose
	// commits share this disk in the quiet phase below but not on a warehouse PC, where the hub is
	// another machine). A diagnostic beside the goal's quiet phase: it separates the journal's own
	// commit from the hub's fsyncs on the same disk.
	solo := openJournal(b, filepath.Join(dir, fmt.Sprintf("solo%d.db", run)), fmt.Sprintf("solo%d", run))
	seed(b, solo, quietScans, order.PendingAllocation)
	lat := printSteps(b, solo, quietScans, 1)
	r.soloP50, r.soloP99 = pct(lat, 50), pct(lat, 99)
	if err := solo.Close(); err != nil {
		b.Fatal(err)
	}
	r.baseline = baseline(b, url, run, n)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := startHub(b, ctx, url, filepath.Join(dir, "hub"), fmt.Sprintf("bench-hub-%d", run))
	defer stopHub(b, h)

	// Live: the scanners commit while the uplink syncs.
	agent := fmt.Sprintf("live%d", run)
	st := openJournal(b, filepath.Join(dir, agent+".db"), agent)
	defer st.Close()
	seed(b, st, n, order.PendingAllocation)
	up := startUplink(b, ctx, st, url, agent)
	hubBefore := h.Stats()
	var hubDone atomic.Int64
	stopWatch := watchHub(h, hubBefore.EventsIngested+uint64(n), &hubDone)
	js0 := st.Stats()
	probe := probeFsync(b, dir)
	start := time.Now()
	lat = printSteps(b, st, n, scanners)
	committed := time.Since(start)
	loaded := probe()
	js := st.Stats()
	waitAcked(b, st, uint64(n))
	acked := time.Since(start)
	stopWatch()
	stopUplink(b, up)
	hubAfter := h.Stats()
	r.wedge = float64(n) / acked.Seconds()
	r.commit = float64(n) / committed.Seconds()
	if d := hubDone.Load(); d > 0 {
		r.hubLive = float64(n) / time.Duration(d-start.UnixNano()).Seconds()
	}
	if c := hubAfter.Commits - hubBefore.Commits; c > 0 {
		r.hubPerCommit = float64(hubAfter.EventsIngested-hubBefore.EventsIngested) / float64(c)
	}
	if c := js.Commits - js0.Commits; c > 0 {
		r.perCommit = float64(n) / float64(c) // an ack rides on these commits (ack-only commits come only after 1 s idle)
	}
	r.doP50, r.doP99 = pct(lat, 50), pct(lat, 99)
	r.loadFsyncP50, r.loadFsyncP99 = pct(loaded, 50), pct(loaded, 99)
	if got := hubAfter.EventsIngested - hubBefore.EventsIngested; got != uint64(n) {
		b.Fatalf("the hub stored %d entries of the live run, want exactly %d", got, n)
	}
	if dup := hubAfter.DuplicatesDropped - hubBefore.DuplicatesDropped; dup > 0 {
		b.Logf("hub dropped %d duplicates during the live run (resends)", dup)
	}

	// Drain: a backlog committed while offline, then the network comes back.
	agent = fmt.Sprintf("drain%d", run)
	st2 := openJournal(b, filepath.Join(dir, agent+".db"), agent)
	defer st2.Close()
	seed(b, st2, n, order.PendingAllocation)
	printSteps(b, st2, n, scanners)
	stopProfile := phaseProfile(b, "drain", run)
	hd0 := h.Stats()
	start = time.Now()
	up2 := startUplink(b, ctx, st2, url, agent)
	waitAcked(b, st2, uint64(n))
	r.drain = float64(n) / time.Since(start).Seconds() // includes the uplink's connect
	stopProfile()
	if hd := h.Stats(); hd.Commits > hd0.Commits {
		r.drainHubPerCommit = float64(hd.EventsIngested-hd0.EventsIngested) / float64(hd.Commits-hd0.Commits)
	}
	if nb := up2.u.Stats().Batches; nb > 0 {
		r.drainPerBatch = float64(n) / float64(nb)
	}
	stopUplink(b, up2)

	// Quiet: one scanner alone (the uplink and hub still running), for comparison with the load.
	agent = fmt.Sprintf("quiet%d", run)
	st3 := openJournal(b, filepath.Join(dir, agent+".db"), agent)
	defer st3.Close()
	q := min(quietScans, n)
	seed(b, st3, q, order.PendingAllocation)
	up3 := startUplink(b, ctx, st3, url, agent)
	q0 := st3.Stats().Commits
	hq0 := h.Stats()
	lat = printSteps(b, st3, q, 1)
	r.quietP50, r.quietP99 = pct(lat, 50), pct(lat, 99)
	r.quietCommits = float64(st3.Stats().Commits-q0) / float64(q)
	waitAcked(b, st3, uint64(q))
	if hq := h.Stats(); hq.Commits > hq0.Commits {
		r.quietHubPerCommit = float64(hq.EventsIngested-hq0.EventsIngested) / float64(hq.Commits-hq0.Commits)
	}
	stopUplink(b, up3)
	return r
}

const quietScans = 2000

// rawFsync appends fsyncBytes and fsyncs, fsyncSamples times, in dir: the floor of any durable commit.
func rawFsync(b testing.TB, dir string) (p50, p99 time.Duration) {
	f, err := os.OpenFile(filepath.Join(dir, "fsync.probe"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, fsyncBytes)
	ds := make([]time.Duration, 0, fsyncSamples)
	for range fsyncSamples {
		t := time.Now()
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(t))
	}
	return pct(ds, 50), pct(ds, 99)
}

// probeFsync measures raw append+fsync in dir, one after another, until the returned func is
// called (at most fsyncSamples, spread over the run by a 2 ms pause): what the disk gives a single
// fsync while the system is under load. The func returns the samples.
func probeFsync(b testing.TB, dir string) func() []time.Duration {
	f, err := os.OpenFile(filepath.Join(dir, "fsync-load.probe"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	stop, done := make(chan struct{}), make(chan []time.Duration, 1)
	go func() {
		defer f.Close()
		buf := make([]byte, fsyncBytes)
		var ds []time.Duration
		defer func() { done <- ds }()
		for len(ds) < fsyncSamples {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			t := time.Now()
			if _, err := f.Write(buf); err != nil {
				b.Error(err)
				return
			}
			if err := f.Sync(); err != nil {
				b.Error(err)
				return
			}
			ds = append(ds, time.Since(t))
		}
		<-stop
	}()
	return func() []time.Duration { close(stop); return <-done }
}

// baseline publishes incidentBacklog separate QoS 1 messages with paho (MemoryStore, not durable),
// pipelined, and returns messages per second from the first Publish to the last PUBACK.
func baseline(b testing.TB, url string, run, n int) float64 {
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("bench-baseline-%d", run)).
		SetCleanSession(true).SetStore(mqtt.NewMemoryStore()).SetAutoReconnect(false).SetWriteTimeout(30 * time.Second)
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("baseline connect: %v", tok.Error())
	}
	defer c.Disconnect(250)
	payload := make([]byte, baselineBytes)
	for i := range payload {
		payload[i] = 'a' + byte(i%26)
	}
	topic := fmt.Sprintf("bench/baseline/%d", run)
	toks := make([]mqtt.Token, 0, n)
	start := time.Now()
	for range n {
		toks = append(toks, c.Publish(topic, 1, false, payload))
	}
	for i, t := range toks {
		if !t.WaitTimeout(hangAfter) || t.Error() != nil {
			b.Fatalf("baseline publish %d: %v", i, t.Error())
		}
	}
	return float64(n) / time.Since(start).Seconds()
}

func openJournal(b testing.TB, path, agent string) *journal.Store {
	st, err := journal.Open(path, &journal.Options{Site: site, Agent: agent})
	if err != nil {
		b.Fatal(err)
	}
	return st
}

const seedPerDo = 1000

func orderID(i int) string   { return fmt.Sprintf("TB%010d", i) }
func waybillNo(i int) string { return fmt.Sprintf("SF1%012d", i) }

// seed writes n orders in state st (as intake would have; without intake entries, so the journal's
// seq counts only the benchmark's steps). Orders in 已打单 get their waybill bound.
func seed(b testing.TB, st *journal.Store, n int, state order.State) {
	now := time.Now().UTC()
	for lo := 0; lo < n; lo += seedPerDo {
		err := st.Do(context.Background(), func(tx *journal.Tx) error {
			for i := lo; i < min(lo+seedPerDo, n); i++ {
				o := order.Order{ID: orderID(i), Channel: "taobao", ChannelOrderNo: strconv.Itoa(4000000000 + i), BuyerID: "buyer" + strconv.Itoa(i%977),
					SKUs: []string{"SKU-" + strconv.Itoa(i%311)}, Payment: "full", Carrier: "sf",
					State: state, StateSince: now, PendingSince: now, ReceivedAt: now}
				if state == order.WaybillPrinted {
					o.Waybill, o.PrintedAt = waybillNo(i), now
				}
				tx.PutOrder(o)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// printSteps has `scanners` goroutines commit the print step of orders 0..n-1, one Store.Do per
// scan, as a print station does (read the order, order.Apply, append the entry, write the order).
// It returns each Do's latency.
func printSteps(b testing.TB, st *journal.Store, n, workers int) []time.Duration {
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	var failed atomic.Value
	for w := range workers {
		wg.Go(func() {
			station, device, op := fmt.Sprintf("print-%d", w%8), fmt.Sprintf("scan-p%02d", w), fmt.Sprintf("OP-%04d", w)
			for i := w; i < n; i += workers {
				id, wb := orderID(i), waybillNo(i)
				t := time.Now()
				err := st.Do(context.Background(), func(tx *journal.Tx) error {
					o, ok := tx.Order(id)
					if !ok {
						return fmt.Errorf("order %s missing", id)
					}
					now := time.Now().UTC()
					out := order.Apply(o, order.Request{Action: order.ActPrint, Waybill: wb, Operator: op, At: now})
					if out.Result != order.Accepted {
						return fmt.Errorf("order %s: %v %s %s", id, out.Result, out.Reason, out.Detail)
					}
					tx.Append(wire.Entry{Kind: wire.KindStep, OrderID: id, From: string(out.From), To: string(out.To),
						Waybill: out.Order.Waybill, Carrier: out.Order.Carrier, Station: station, Device: device, Operator: op,
						Trigger: wire.TriggerScan, Code: wb, At: wire.Time(now)})
					tx.PutOrder(out.Order)
					return nil
				})
				lat[i] = time.Since(t)
				if err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatalf("a scan was not committed: %v", err)
	}
	return lat
}

func startHub(b testing.TB, ctx context.Context, url, dir, id string) *hub.Hub {
	h, err := hub.New(ctx, hub.Options{BrokerURL: url, DataDir: dir, Listen: "127.0.0.1:0", ClientID: id})
	if err != nil {
		b.Fatal(err)
	}
	select {
	case <-h.Ready():
	case <-time.After(hangAfter):
		b.Fatal("hub never connected")
	}
	return h
}

// hubToken makes a token for the hub's API (POST /v1/orders).
func hubToken(b testing.TB, h *hub.Hub) string {
	raw, _, err := apitoken.Create(context.Background(), h.Tokens(), "bench", []apitoken.Scope{apitoken.OrdersWrite}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

func stopHub(b testing.TB, h *hub.Hub) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := h.Stop(ctx); err != nil {
		b.Errorf("hub stop: %v", err)
	}
}

type runningUplink struct {
	u       *uplink.Uplink
	drained chan struct{}
}

// startUplink starts the agent's uplink and consumes its downlink (the hub rebroadcasts every
// state change to the site; an agent's intake would apply them, here they are discarded).
func startUplink(b testing.TB, ctx context.Context, st *journal.Store, url, agent string) runningUplink {
	u, err := uplink.New(ctx, st, uplink.Options{URL: url, Site: site, Agent: agent, Window: uplinkWindow, AcceptUnsigned: true})
	if err != nil {
		b.Fatal(err)
	}
	r := runningUplink{u: u, drained: make(chan struct{})}
	go func() {
		defer close(r.drained)
		for range u.Downlink() {
		}
	}()
	return r
}

func stopUplink(b testing.TB, r runningUplink) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := r.u.Stop(ctx); err != nil {
		b.Errorf("uplink stop: %v", err)
	}
	<-r.drained
}

func waitAcked(b testing.TB, st *journal.Store, n uint64) {
	deadline := time.Now().Add(hangAfter)
	for st.AckedSeq() < n {
		if time.Now().After(deadline) {
			b.Fatalf("hung: acked %d of %d after %v", st.AckedSeq(), n, hangAfter)
		}
		time.Sleep(time.Millisecond)
	}
}

// watchHub records (unix nanos) when the hub's ingested count reaches target; the returned func stops it.
func watchHub(h *hub.Hub, target uint64, at *atomic.Int64) func() {
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if h.Stats().EventsIngested >= target {
					at.Store(time.Now().UnixNano())
					return
				}
			}
		}
	}()
	return func() { close(stop); <-done }
}

// pct is the p-th percentile (nearest rank) of ds.
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(i-1, 0)]
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
