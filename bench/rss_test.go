package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"wedge/agent/journal"
	"wedge/internal/testbroker"
	"wedge/sync/uplink"
	"wedge/sync/wire"
)

// The child process of BenchmarkAgentRSSBacklog is this test binary, re-executed with these
// variables set; TestMain runs rssChild instead of the tests.
const (
	rssChildEnv   = "WEDGE_SYNCBENCH_RSS_CHILD" // "fill" or "restart"
	rssURLEnv     = "WEDGE_SYNCBENCH_RSS_URL"
	rssDirEnv     = "WEDGE_SYNCBENCH_RSS_DIR"
	rssEntriesEnv = "WEDGE_BENCH_RSS_ENTRIES" // backlog size, default 1,000,000 (smaller for a quick look)
	rssGoalMB     = 64
)

// BenchmarkAgentRSSBacklog measures the agent's resident memory (VmRSS of its own process) with a
// growing backlog of unsynced entries, against a real mosquitto and no hub (nothing is ever
// acked). Two child processes run the real journal (fsync on) and the real uplink:
//
//   - fill: start with an empty journal and the uplink connected, commit 1,000,000 step entries
//     (5,000 per Store.Do, fsync'd: big batches make filling fast, no NoSync needed) and sample at
//     backlog 0, 250k, 500k and 1M, then for 3 s while the uplink keeps resending its window
//     (ResendAfter 500 ms, since no ack ever comes);
//   - restart: a fresh process opens that 1M-entry journal and starts the uplink (what an agent
//     restarted during an outage does), sampled for 3 s while it sends.
//
// Goal: ≤ 64 MB and not growing with the backlog. VmRSS is reported with its two parts:
// anonymous memory (Go heap, stacks) and file pages (bbolt's read-only mmap of wedge.db that the
// process touched; the kernel can drop those, and they are shared with the page cache).
func BenchmarkAgentRSSBacklog(b *testing.B) {
	broker := testbroker.Start(b, nil)
	var fill, restart map[string]rssSample
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		fill = runRSSChild(b, "fill", broker.URL(), dir, 0)
		restart = runRSSChild(b, "restart", broker.URL(), dir, 0)
	}
	worst := 0.0
	for _, k := range []string{"0", "250k", "500k", "1M", "sending"} {
		s := fill[k]
		b.ReportMetric(s.rssMB(), "rss-"+k+"-MB")
		b.ReportMetric(s.anonMB(), "anon-"+k+"-MB")
		worst = max(worst, s.rssMB())
		b.Logf("fill    backlog %-7s VmRSS %6.1f MB (anon %6.1f, file %6.1f), Go heap in use %6.1f MB", k, s.rssMB(), s.anonMB(), s.fileMB(), s.heapMB())
	}
	for _, k := range []string{"start", "sending"} {
		s := restart[k]
		b.ReportMetric(s.rssMB(), "restart-rss-"+k+"-MB")
		worst = max(worst, s.rssMB())
		b.Logf("restart backlog 1M %-7s VmRSS %6.1f MB (anon %6.1f, file %6.1f), Go heap in use %6.1f MB", k, s.rssMB(), s.anonMB(), s.fileMB(), s.heapMB())
	}
	b.ReportMetric(worst, "rss-max-MB")
	if worst > rssGoalMB {
		b.Logf("goal missed: max VmRSS %.1f MB > %d MB", worst, rssGoalMB)
	}
}

type rssSample struct{ rss, anon, file, heap uint64 } // kB, kB, kB, bytes

func (s rssSample) rssMB() float64  { return float64(s.rss) / 1024 }
func (s rssSample) anonMB() float64 { return float64(s.anon) / 1024 }
func (s rssSample) fileMB() float64 { return float64(s.file) / 1024 }
func (s rssSample) heapMB() float64 { return float64(s.heap) / (1 << 20) }

func runRSSChild(b testing.TB, mode, url, dir string, entries int) map[string]rssSample {
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), rssChildEnv+"="+mode, rssURLEnv+"="+url, rssDirEnv+"="+dir)
	if entries > 0 {
		cmd.Env = append(cmd.Env, rssEntriesEnv+"="+strconv.Itoa(entries))
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		b.Fatalf("rss child %s: %v\n%s%s", mode, err, stdout.String(), stderr.String())
	}
	out := map[string]rssSample{}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var k string
		var s rssSample
		if n, _ := fmt.Sscanf(sc.Text(), "rss %s %d %d %d %d", &k, &s.rss, &s.anon, &s.file, &s.heap); n == 5 {
			out[k] = s
		} else if strings.HasPrefix(sc.Text(), "info ") {
			b.Log(mode + ": " + strings.TrimPrefix(sc.Text(), "info "))
		}
	}
	if len(out) == 0 {
		b.Fatalf("rss child %s printed no samples:\n%s%s", mode, stdout.String(), stderr.String())
	}
	return out
}

// rssChild runs in the child process; it prints "rss <label> <VmRSS kB> <RssAnon kB> <RssFile kB>
// <heap bytes>" lines and returns the exit code.
func rssChild() int {
	mode, url, dir := os.Getenv(rssChildEnv), os.Getenv(rssURLEnv), os.Getenv(rssDirEnv)
	total := uint64(1_000_000)
	if v, err := strconv.ParseUint(os.Getenv(rssEntriesEnv), 10, 64); err == nil && v >= 4 {
		total = v
	}
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
		return 1
	}
	st, err := journal.Open(filepath.Join(dir, "wedge.db"), &journal.Options{Site: site, Agent: "rss"})
	if err != nil {
		return fail("open: %v", err)
	}
	defer st.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	u, err := uplink.New(ctx, st, uplink.Options{URL: url, Site: site, Agent: "rss", ResendAfter: 500 * time.Millisecond, AcceptUnsigned: true})
	if err != nil {
		return fail("uplink: %v", err)
	}
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), time.Minute)
		defer scancel()
		_ = u.Stop(sctx)
	}()
	go func() {
		for range u.Downlink() {
		}
	}()
	for deadline := time.Now().Add(time.Minute); !u.Connected(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fail("uplink never connected to %s", url)
		}
	}
	sample := func(label string) {
		s := readRSS()
		fmt.Printf("rss %s %d %d %d %d\n", label, s.rss, s.anon, s.file, s.heap)
	}
	sampleMax := func(label string, d time.Duration) {
		var worst rssSample
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
			if s := readRSS(); s.rss > worst.rss {
				worst = s
			}
		}
		fmt.Printf("rss %s %d %d %d %d\n", label, worst.rss, worst.anon, worst.file, worst.heap)
	}

	switch mode {
	case "fill":
		time.Sleep(300 * time.Millisecond)
		sample("0")
		marks := map[uint64]string{total / 4: "250k", total / 2: "500k", total: "1M"}
		const perDo = 5000
		now := time.Now().UTC()
		for done := uint64(0); done < total; {
			err := st.Do(ctx, func(tx *journal.Tx) error {
				for i := 0; i < perDo && done < total; i++ {
					n := int(done)
					tx.Append(wire.Entry{Kind: wire.KindStep, OrderID: orderID(n), From: "pending_allocation", To: "waybill_printed",
						Waybill: waybillNo(n), Carrier: "sf", Station: "print-1", Device: "scan-p01", Operator: "OP-0001",
						Trigger: wire.TriggerScan, Code: waybillNo(n), At: wire.Time(now)})
					done++
					if _, ok := marks[done]; ok {
						break // sample at the mark, after its commit
					}
				}
				return nil
			})
			if err != nil {
				return fail("fill at %d: %v", done, err)
			}
			if label, ok := marks[done]; ok {
				sample(label)
			}
		}
		sampleMax("sending", 3*time.Second)
	case "restart":
		sample("start")
		sampleMax("sending", 3*time.Second)
	default:
		return fail("unknown mode %q", mode)
	}
	us := u.Stats()
	fmt.Printf("info backlog %d (last seq %d, acked %d); uplink published %d batches, %d resends\n",
		st.LastSeq()-st.AckedSeq(), st.LastSeq(), st.AckedSeq(), us.Batches, us.Resends)
	return 0
}

func readRSS() rssSample {
	var s rssSample
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for line := range strings.Lines(string(b)) {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			v, _ := strconv.ParseUint(f[1], 10, 64)
			switch f[0] {
			case "VmRSS:":
				s.rss = v
			case "RssAnon:":
				s.anon = v
			case "RssFile:":
				s.file = v
			}
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.heap = ms.HeapInuse
	return s
}
