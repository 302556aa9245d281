package bench

import (
	"context"
	"fmt"
	"testing"

	"wedge/internal/testbroker"
	"wedge/sync/hub"
)

// BenchmarkHubIngestCPU is the hub's CPU per ingested entry on its bbolt store (real fsync): the
// workload of BenchmarkHubIngestPostgres (40 PCs of one site, 500 print steps each in batches of
// 50, the orders POSTed before the clock starts) published by paho to one sync/hub through
// mosquitto and taken through the hub's real path until every entry is stored. The figure is the
// process CPU (user + sys, getrusage) of that span less what publishing the same batches costs the
// benchmark's own client, divided by the entries: the hub's decode, checks, history and order
// index, state messages and commits, GC included; the broker is another process. CPU, not wall
// time, so a loaded machine moves it far less than the rate (also reported).
func BenchmarkHubIngestCPU(b *testing.B) {
	w := pgWorkload(b, hubPGAgents, hubPGPerAgent)
	var r ingestResult
	for i := 0; i < b.N; i++ {
		r = runHubCPU(b, i, w)
	}
	b.ReportMetric(r.cpuPerEntry, "cpu-ns/entry")
	b.ReportMetric(r.rate, "hub-entries/s")
	b.ReportMetric(r.perCommit, "hub-entries/commit")
	b.Logf("%d entries into bbolt: hub process CPU %.1f µs per entry (goal ≤ 10 µs), %.0f entries/s, %.1f entries per commit",
		w.entries, r.cpuPerEntry/1e3, r.rate, r.perCommit)
}

// runHubCPU ingests w into one hub on a fresh bbolt store, with its own broker.
func runHubCPU(b testing.TB, run int, w pgWork) ingestResult {
	dir := b.TempDir()
	st := ingestStore{
		options: func(testing.TB, context.Context, int) hub.Options { return hub.Options{DataDir: dir} },
		state:   func(testing.TB) string { return "bbolt store in " + dir },
	}
	return hubIngest(b, testbroker.Start(b, nil).URL(), fmt.Sprintf("bench-cpu-%d", run), 1, w, st)
}
