// Command goals reads the output of `go test -bench` (the standard benchmark lines with their
// b.ReportMetric metrics) on stdin and prints wedge's performance goals as one markdown table:
// per goal the measured value, the baseline measured in the same run, their ratio, the goal and
// "met" or "missed". With -count > 1 each metric is the median of its runs; a ratio is the median
// of the per-run ratios the benchmark reported, not the ratio of the medians. A goal whose metric
// is absent from the input prints "not measured". `make bench` pipes its output here at the end.
//
//	go test -run '^$' -bench . -benchtime 1x -count 3 ./bench | tee bench.out
//	go run ./bench/cmd/goals < bench.out
//
// The goals and the benchmarks that measure them are listed in goals below and explained in
// docs/BENCHMARKS.md ("The goals table").
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

func main() {
	res, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "goals: 读取基准输出失败 / reading the benchmark output:", err)
		os.Exit(1)
	}
	load := ""
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	fmt.Print(table(res, load))
}

// key names one metric of one benchmark: its package (the "pkg:" line before it), its name
// without the -GOMAXPROCS suffix, and the metric's unit.
type key struct{ pkg, bench, unit string }

// results holds every value seen per metric, one per run.
type results map[key][]float64

// parse reads benchmark lines. A benchmark that writes to stdout splits its line: the name comes
// first, its output, then the iteration count and metrics on a line of their own; such a line is
// given to the last benchmark name that had no results yet.
func parse(r io.Reader) (results, error) {
	res := results{}
	pkg, pending := "", ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg, pending = strings.TrimSpace(p), ""
			continue
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		name := ""
		if strings.HasPrefix(line, "Benchmark") {
			name, f = benchName(f[0]), f[1:]
			pending = name
		} else if pending != "" && strings.HasPrefix(strings.TrimLeft(line, " \t"), f[0]) && isInt(f[0]) {
			name = pending
		} else {
			continue
		}
		if m, ok := metrics(f); ok {
			for unit, v := range m {
				res[key{pkg, name, unit}] = append(res[key{pkg, name, unit}], v)
			}
			pending = ""
		}
	}
	return res, sc.Err()
}

// benchName drops the -GOMAXPROCS suffix of a benchmark's name.
func benchName(s string) string {
	if i := strings.LastIndexByte(s, '-'); i > 0 && isInt(s[i+1:]) {
		return s[:i]
	}
	return s
}

func isInt(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}

// metrics reads "N v1 unit1 v2 unit2 …"; ok is false for anything else (a log line, "--- FAIL").
func metrics(f []string) (map[string]float64, bool) {
	if len(f) < 3 || len(f)%2 == 0 || !isInt(f[0]) {
		return nil, false
	}
	m := map[string]float64{}
	for i := 1; i < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return nil, false
		}
		m[f[i+1]] = v
	}
	return m, true
}

// median of the values seen for k; ok is false when there are none.
func (r results) median(k key) (float64, bool) {
	vs := append([]float64(nil), r[k]...)
	if len(vs) == 0 {
		return 0, false
	}
	sort.Float64s(vs)
	if n := len(vs); n%2 == 0 {
		return (vs[n/2-1] + vs[n/2]) / 2, true
	}
	return vs[len(vs)/2], true
}
