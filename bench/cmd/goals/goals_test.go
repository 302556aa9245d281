package main

import (
	"os"
	"strings"
	"testing"
)

// testdata/sample.out is `go test -bench` output in the format make bench produces: the
// BenchmarkHubIngestCPU line as one run printed it, the others with figures of docs/BENCHMARKS.md
// in the same line format, three counts of Spine and RSS (medians), Spine's first line split by
// output the benchmark printed, a benchmark of another package, and no BenchmarkHubIngestPostgres.
func sampleTable(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open("testdata/sample.out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parse(f)
	if err != nil {
		t.Fatal(err)
	}
	out := table(res, "0.42 0.50 0.61")
	rows := map[string][]string{}
	for _, line := range strings.Split(out, "\n") {
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 6 || strings.HasPrefix(cells[0], "---") {
			continue
		}
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		rows[cells[0]] = cells[1:]
	}
	if len(rows) != len(goals)+1 { // the header too
		t.Fatalf("table has %d rows, want %d goals and a header:\n%s", len(rows), len(goals), out)
	}
	if !strings.Contains(out, "Load average at the end of the run: 0.42 0.50 0.61") || !strings.Contains(out, "BenchmarkSpine ran 3 time(s)") {
		t.Errorf("table lacks its notes:\n%s", out)
	}
	return rows
}

func TestGoalsTable(t *testing.T) {
	rows := sampleTable(t)
	want := map[string][]string{
		// Medians of three counts; the ratio is the median of the per-run ratios (0.1107, 0.1557, 0.2368).
		goals[0].name: {"11,039 entries/s", "88,987 msgs/s", "0.156", "≥ 1", "**missed**"},
		goals[1].name: {"11,833 entries/s", "90,664 msgs/s", "0.131", "≥ 1", "**missed**"},
		goals[2].name: {"3,520 entries/s", "90,664 msgs/s", "0.0388", "≥ 1", "**missed**"},
		goals[3].name: {"31.7 µs", "—", "—", "≤ 5 µs", "**missed**"},
		goals[4].name: {"92.4 µs", "—", "—", "≤ 10 µs", "**missed**"},
		goals[5].name: {"not measured", "—", "—", "measured", "not measured"},
		// do1-p99 3180 / 2460 / 9230, fsync-p99 338 / 1322 / 584, ratios 9.408 / 1.861 / 15.80.
		goals[6].name: {"3,180 µs", "584 µs", "9.41", "≤ 3", "**missed**"},
		goals[7].name: {"26.9 MB", "—", "—", "≤ 64 MB", "**met**"},
		// solo-p99 700 / 1500 / 900, ratios 2.071 / 1.135 / 1.541: measured, not judged.
		goals[8].name: {"900 µs", "584 µs", "1.54", "measured", "measured"},
	}
	for name, w := range want {
		if got := rows[name]; strings.Join(got, " | ") != strings.Join(w, " | ") {
			t.Errorf("%s:\n got %q\nwant %q", name, got, w)
		}
	}
}

// A benchmark of another package with a metric of the same name is not taken for wedge/bench's,
// and log lines, "--- BENCH" lines and a failed benchmark's line are not metrics.
func TestParseKeepsPackagesApart(t *testing.T) {
	in := "pkg: wedge/agent/journal\nBenchmarkStepCPU-2 \t 1\t 100 cpu-ns/step\n" +
		"pkg: wedge/bench\nBenchmarkStepCPU-2 \t--- FAIL: BenchmarkStepCPU-2\n    stepcpu_test.go:1: 1 2 x\n" +
		"BenchmarkStepCPU \t 1\t 7000 cpu-ns/step\n"
	res, err := parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if got := res[key{"wedge/bench", "BenchmarkStepCPU", "cpu-ns/step"}]; len(got) != 1 || got[0] != 7000 {
		t.Errorf("wedge/bench StepCPU = %v, want [7000]", got)
	}
	if got := res[key{"wedge/agent/journal", "BenchmarkStepCPU", "cpu-ns/step"}]; len(got) != 1 || got[0] != 100 {
		t.Errorf("journal StepCPU = %v, want [100]", got)
	}
}

// With nothing measured every goal says so, and none is called met or missed.
func TestNothingMeasured(t *testing.T) {
	out := table(results{}, "")
	if strings.Contains(out, "met") || strings.Contains(out, "missed") || strings.Count(out, "not measured") < len(goals) {
		t.Errorf("empty input:\n%s", out)
	}
}
