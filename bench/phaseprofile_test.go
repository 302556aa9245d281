package bench

import (
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"testing"
)

// phaseProfile writes a CPU profile of one phase of a goal benchmark (the drain, the step burst,
// the dispatch burst) when WEDGE_BENCH_PROFILE names a directory: DIR/<phase>-<run>.pprof. The
// benchmark process holds the agent's journal, uplink and intake and the hub; mosquitto is a
// process of its own and does not show. A whole-run -test.cpuprofile mixes the phases with the
// seeding and the baseline, and the profiler allows one profile at a time, so a phase is skipped
// (logged) while another profile runs. Call the returned func at the phase's end.
func phaseProfile(b testing.TB, phase string, run int) func() {
	dir := os.Getenv("WEDGE_BENCH_PROFILE")
	if dir == "" {
		return func() {}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Logf("phase profile %s: %v", phase, err)
		return func() {}
	}
	path := filepath.Join(dir, phase+"-"+strconv.Itoa(run)+".pprof")
	f, err := os.Create(path)
	if err != nil {
		b.Logf("phase profile %s: %v", phase, err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		os.Remove(path)
		b.Logf("phase profile %s not written: %v", phase, err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			b.Logf("phase profile %s: %v", phase, err)
		}
	}
}
