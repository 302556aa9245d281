package printing_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"wedge/drivers/scanner"
	"wedge/order"
	"wedge/sync/wire"
)

// BenchmarkScanToPrinted measures scan → render → send → status-confirmed → committed 已打单 on a
// loopback ZPL emulator (TCP) with a real journal, reporting p50/p99. The emulator prints a label
// in 1 ms and Confirm polls every 2 ms, so the figures are the agent's own overhead plus at least
// one status round trip, not a real printer's print time (about 1 s per label).
func BenchmarkScanToPrinted(b *testing.B) {
	for _, lang := range []string{"zpl", "tspl"} {
		b.Run(lang, func(b *testing.B) {
			r := newRig(b, rigOpts{lang: lang, printTime: time.Millisecond, interval: 2 * time.Millisecond})
			ids := make([]string, b.N)
			for i := range ids {
				ids[i] = fmt.Sprintf("B-%d", i)
				r.order(ids[i], fmt.Sprintf("SF%013d", 1000000000000+int64(i)), order.PendingAllocation)
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for _, id := range ids {
				t0 := time.Now()
				res := r.st.Handle(r.ctx, scanner.Read{Text: id, Device: "bench"})
				lat = append(lat, time.Since(t0))
				if !res.Good() || res.Kind != wire.KindStep {
					b.Fatalf("%s: %+v", id, res)
				}
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
