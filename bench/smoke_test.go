package bench

import (
	"testing"
	"time"

	"wedge/internal/testbroker"
	"wedge/internal/testpg"
)

// The benchmarks' machinery on a small scale, so `make test` keeps it working: every entry is
// committed, stored by the hub exactly once and acked; the stations accept every scan; the RSS
// child runs and reports every sample.
func TestSmallSpine(t *testing.T) {
	shortHang(t)
	broker := testbroker.Start(t, nil)
	r := runSpine(t, broker.URL(), 0, 640)
	if r.baseline <= 0 || r.wedge <= 0 || r.drain <= 0 || r.doP99 <= 0 || r.fsyncP99 <= 0 || r.quietP99 <= 0 {
		t.Fatalf("a measurement is missing: %+v", r)
	}
	if r.doP50 > r.doP99 || r.fsyncP50 > r.fsyncP99 {
		t.Fatalf("percentiles out of order: %+v", r)
	}
}

// The burst with 2,500 orders: three dispatch POSTs (one partial), every order journaled once by
// intake, every entry stored by the hub once and acked (runBurst fails otherwise).
func TestSmallBurst(t *testing.T) {
	shortHang(t)
	broker := testbroker.Start(t, nil)
	r := runBurst(t, broker.URL(), 0, 2500)
	if r.baseline <= 0 || r.dispatch <= 0 || r.steps <= 0 || r.dispatchPerCommit <= 0 || r.stepsPerCommit <= 0 {
		t.Fatalf("a measurement is missing: %+v", r)
	}
}

// PostgreSQL ingest with 6 agents × 120 entries: raw and hub ×1, ×3 each store every entry once
// (runHubPG fails otherwise).
func TestSmallHubIngestPostgres(t *testing.T) {
	shortHang(t)
	srv := testpg.Start(t)
	r := runHubPG(t, srv, 0, 6, 120)
	for i := range hubPGReplicas {
		if r.raw[i] <= 0 || r.hub[i] <= 0 || r.perCommit[i] <= 0 || r.cpu[i] <= 0 {
			t.Fatalf("a measurement is missing: %+v", r)
		}
	}
}

// The hub's CPU per entry on bbolt, 6 agents × 120 entries: every entry stored once (hubIngest
// fails otherwise) and a CPU figure produced.
func TestSmallHubIngestCPU(t *testing.T) {
	shortHang(t)
	r := runHubCPU(t, 0, pgWorkload(t, 6, 120))
	if r.cpuPerEntry <= 0 || r.rate <= 0 || r.perCommit <= 0 {
		t.Fatalf("a measurement is missing: %+v", r)
	}
}

func TestSmallStations(t *testing.T) {
	shortHang(t)
	broker := testbroker.Start(t, nil)
	p50, p99, _, _, rate := runStations(t, broker.URL(), 0, 4)
	if p50 <= 0 || p99 < p50 || rate <= 0 {
		t.Fatalf("p50 %v p99 %v rate %v", p50, p99, rate)
	}
}

func TestSmallRSSChild(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	broker := testbroker.Start(t, nil)
	dir := t.TempDir()
	fill := runRSSChild(t, "fill", broker.URL(), dir, 2000)
	for _, k := range []string{"0", "250k", "500k", "1M", "sending"} {
		if fill[k].rss == 0 {
			t.Errorf("fill sample %q missing: %v", k, fill)
		}
	}
	restart := runRSSChild(t, "restart", broker.URL(), dir, 2000)
	if restart["start"].rss == 0 || restart["sending"].rss == 0 {
		t.Errorf("restart samples missing: %v", restart)
	}
}

func TestPercentile(t *testing.T) {
	ds := make([]time.Duration, 100)
	for i := range ds {
		ds[i] = time.Duration(100-i) * time.Millisecond // unsorted on purpose
	}
	if got := pct(ds, 50); got != 50*time.Millisecond {
		t.Errorf("p50 = %v", got)
	}
	if got := pct(ds, 99); got != 99*time.Millisecond {
		t.Errorf("p99 = %v", got)
	}
	if got := pct(ds[:1], 99); got != 100*time.Millisecond {
		t.Errorf("p99 of one = %v", got)
	}
	if ds[0] != 100*time.Millisecond {
		t.Error("pct sorted its input")
	}
}

// shortHang makes a hang fail the small tests after a minute instead of five.
func shortHang(t *testing.T) {
	old := hangAfter
	hangAfter = time.Minute
	t.Cleanup(func() { hangAfter = old })
}
