// Package syncbench holds wedge's cross-component benchmarks (issue 2, "Benchmark"): the whole
// spine — agent/journal with real fsync, sync/uplink, a real mosquitto (internal/testbroker) and the
// reference sync/hub with its own bbolt — measured against a plain paho QoS 1 baseline, the
// scan-to-commit latency next to a raw fsync, and the agent's resident memory with a backlog of a
// million unsynced entries (measured in a re-executed child process, so the numbers are the
// agent's own and not the benchmark harness's).
//
// It has no non-test code: run it with `make bench` or
//
//	go test -run '^$' -bench . -benchtime 1x ./sync/syncbench
//
// Results, the machine they ran on and how to read them are in docs/BENCHMARKS.md. The benchmarks
// report their numbers with b.ReportMetric; none of them asserts a timing (they fail only when the
// system misbehaves: an entry not acknowledged, a scan refused, a child that cannot run).
package syncbench
