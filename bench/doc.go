// Package bench holds wedge's cross-component benchmarks: the whole spine — agent/journal with
// real fsync, agent/intake and agent/station, sync/uplink, a real mosquitto (internal/testbroker)
// and the reference sync/hub with its own bbolt — measured against a plain paho QoS 1 baseline, the
// scan-to-commit latency next to a raw fsync, and the agent's resident memory with a backlog of a
// million unsynced entries (measured in a re-executed child process, so the numbers are the
// agent's own and not the benchmark harness's), and the hub's ingest into PostgreSQL with 1 and 3
// replicas against a raw batched INSERT of the same rows (internal/testpg). It lives outside agent/
// and sync/ because it imports both.
//
// It has no non-test code: run it with `make bench` or
//
//	go test -run '^$' -bench . -benchtime 1x ./bench
//
// Results, the machine they ran on and how to read them are in docs/BENCHMARKS.md; bench/cmd/goals
// turns the output of `make bench` into the table of the performance goals. The benchmarks
// report their numbers with b.ReportMetric; none of them asserts a timing (they fail only when the
// system misbehaves: an entry not acknowledged, a scan refused, a child that cannot run).
package bench
