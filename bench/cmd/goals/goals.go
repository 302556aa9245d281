package main

import (
	"fmt"
	"strconv"
	"strings"
)

// metric is one reported metric (unit) of a benchmark in package wedge/bench, displayed multiplied by
// scale and followed by shown.
type metric struct {
	bench, unit string
	scale       float64
	shown       string
}

// goal is one line of the table, judged against limit on the ratio metric when baseline is set (the
// benchmark's own per-run ratio), on the measured value otherwise. With neither atLeast nor atMost
// the line is measured and reported, not judged.
type goal struct {
	name               string
	measured, baseline metric
	ratio              metric
	atLeast, atMost    bool
	limit              float64
}

const benchPkg = "wedge/bench"

var (
	paho        = func(b string) metric { return metric{b, "baseline-msgs/s", 1, "msgs/s"} }
	perSecond   = func(b, u string) metric { return metric{b, u, 1, "entries/s"} }
	ratioMetric = func(b, u string) metric { return metric{b, u, 1, ""} }
)

// goals are the performance goals and the metrics that answer them (docs/BENCHMARKS.md).
var goals = []goal{
	{name: "drain of 47,000 committed entries, hub-acked ÷ paho QoS 1", measured: perSecond("BenchmarkSpine", "drain-entries/s"),
		baseline: paho("BenchmarkSpine"), ratio: ratioMetric("BenchmarkSpine", "drain/baseline"), atLeast: true, limit: 1},
	{name: "47,000 print steps at once, durable and hub-acked ÷ paho", measured: perSecond("BenchmarkBurst", "steps-entries/s"),
		baseline: paho("BenchmarkBurst"), ratio: ratioMetric("BenchmarkBurst", "steps/baseline"), atLeast: true, limit: 1},
	{name: "burst of 47 × 1,000 orders via hub and intake, applied and acked ÷ paho", measured: perSecond("BenchmarkBurst", "dispatch-entries/s"),
		baseline: paho("BenchmarkBurst"), ratio: ratioMetric("BenchmarkBurst", "dispatch/baseline"), atLeast: true, limit: 1},
	{name: "journal writer CPU per print step (fsync off)", measured: metric{"BenchmarkStepCPU", "cpu-ns/step", 1e-3, "µs"},
		atMost: true, limit: 5},
	{name: "hub ingest CPU per entry, bbolt", measured: metric{"BenchmarkHubIngestCPU", "cpu-ns/entry", 1e-3, "µs"},
		atMost: true, limit: 10},
	{name: "hub ingest CPU per entry, PostgreSQL (1 replica; hub process only)", measured: metric{"BenchmarkHubIngestPostgres", "hub1-cpu-ns/entry", 1e-3, "µs"}},
	{name: "one scanner, scan → commit p99 ÷ raw fsync p99 (idle machine)", measured: metric{"BenchmarkSpine", "do1-p99-us", 1, "µs"},
		baseline: metric{"BenchmarkSpine", "fsync-p99-us", 1, "µs"}, ratio: ratioMetric("BenchmarkSpine", "do1-p99/fsync-p99"), atMost: true, limit: 3},
	{name: "agent RSS with 1,000,000 unsynced entries (max)", measured: metric{"BenchmarkAgentRSSBacklog", "rss-max-MB", 1, "MB"},
		atMost: true, limit: 64},
	// Not a goal: the latency goal's scanner with nothing else of wedge running, so that the part
	// of its p99 that is the hub's commits on the same disk (not there on a warehouse PC) shows.
	{name: "diagnostic: one scanner with no uplink or hub running, p99 ÷ raw fsync p99", measured: metric{"BenchmarkSpine", "solo-p99-us", 1, "µs"},
		baseline: metric{"BenchmarkSpine", "fsync-p99-us", 1, "µs"}, ratio: ratioMetric("BenchmarkSpine", "solo-p99/fsync-p99")},
}

// table renders the goals against res; load is the load average when it was made ("" = unknown).
func table(res results, load string) string {
	var sb strings.Builder
	sb.WriteString("\n## Performance goals (median over the runs above)\n\n")
	sb.WriteString("| goal | measured | baseline (same run) | ratio | target | verdict |\n|---|---|---|---|---|---|\n")
	for _, g := range goals {
		sb.WriteString(g.row(res) + "\n")
	}
	runs := len(res[key{benchPkg, "BenchmarkSpine", "do1-p99/fsync-p99"}])
	if load != "" {
		fmt.Fprintf(&sb, "\nLoad average at the end of the run: %s. The latency goal is stated for an idle machine.\n", load)
	}
	if runs > 0 {
		fmt.Fprintf(&sb, "BenchmarkSpine ran %d time(s).\n", runs)
	}
	return sb.String()
}

func (g goal) row(res results) string {
	get := func(m metric) (float64, string) {
		v, ok := res.median(key{benchPkg, m.bench, m.unit})
		if !ok {
			return 0, "not measured"
		}
		s := fmt.Sprintf("%s %s", num(v*m.scale), m.shown)
		return v * m.scale, strings.TrimSpace(s)
	}
	measured, mShown := get(g.measured)
	judged, baseShown, ratioShown := measured, "—", "—"
	ok := mShown != "not measured"
	if g.baseline.bench != "" {
		_, baseShown = get(g.baseline)
		var r float64
		r, ratioShown = get(g.ratio)
		judged, ok = r, ratioShown != "not measured"
	}
	target, verdict := "measured", "measured"
	switch {
	case g.atLeast:
		target = "≥ " + strconv.FormatFloat(g.limit, 'f', -1, 64)
		verdict = pick(judged >= g.limit)
	case g.atMost:
		target = "≤ " + strconv.FormatFloat(g.limit, 'f', -1, 64)
		if g.baseline.bench == "" {
			target += " " + g.measured.shown
		}
		verdict = pick(judged <= g.limit)
	}
	if !ok {
		verdict = "not measured"
	}
	return fmt.Sprintf("| %s | %s | %s | %s | %s | %s |", g.name, mShown, baseShown, ratioShown, target, verdict)
}

func pick(met bool) string {
	if met {
		return "**met**"
	}
	return "**missed**"
}

// num shows a value compactly: whole from 100 up (thousands separated), three significant digits below.
func num(v float64) string {
	switch {
	case v >= 1000:
		s := fmt.Sprintf("%.0f", v)
		for i := len(s) - 3; i > 0; i -= 3 {
			s = s[:i] + "," + s[i:]
		}
		return s
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}
