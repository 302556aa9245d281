package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"wedge/agent/station"
	"wedge/drivers/scanner"
	"wedge/internal/testbroker"
	"wedge/order"
	"wedge/sync/wire"
)

const stationScans = 300 // per station

// BenchmarkStationHandle measures scan-to-commit latency through the real agent/station: 32
// handover stations (each its own goroutine, as in the agent), each signing in an operator badge
// and then scanning 300 waybill labels of orders in 已打单 (→ 已揽收), all at once, with the uplink
// and the real hub syncing meanwhile. Handle returns after the journal commit, so its latency is
// what an operator waits for the good beep. A raw fsync p50/p99 is measured in the same run.
// Every scan must come back accepted, and the hub must ack all of them.
func BenchmarkStationHandle(b *testing.B) {
	broker := testbroker.Start(b, nil)
	var p50, p99, f50, f99 time.Duration
	var rate float64
	for i := 0; i < b.N; i++ {
		p50, p99, f50, f99, rate = runStations(b, broker.URL(), i, stationScans)
	}
	b.ReportMetric(us(p50), "handle-p50-us")
	b.ReportMetric(us(p99), "handle-p99-us")
	b.ReportMetric(us(f50), "fsync-p50-us")
	b.ReportMetric(us(f99), "fsync-p99-us")
	b.ReportMetric(float64(p99)/float64(f99), "handle-p99/fsync-p99")
	b.ReportMetric(rate, "scans/s")
	b.Logf("%d stations × %d scans: Handle p50 %v p99 %v; raw fsync p50 %v p99 %v; p99 ratio %.2f (goal ≤ 3); %.0f scans/s",
		scanners, stationScans, p50, p99, f50, f99, float64(p99)/float64(f99), rate)
}

func runStations(b testing.TB, url string, run, perStation int) (p50, p99, f50, f99 time.Duration, rate float64) {
	dir := b.TempDir()
	f50, f99 = rawFsync(b, dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := startHub(b, ctx, url, filepath.Join(dir, "hub"), fmt.Sprintf("bench-station-hub-%d", run))
	defer stopHub(b, h)
	agent := fmt.Sprintf("dock%d", run)
	st := openJournal(b, filepath.Join(dir, agent+".db"), agent)
	defer st.Close()
	n := scanners * perStation
	seed(b, st, n, order.WaybillPrinted)
	up := startUplink(b, ctx, st, url, agent)
	defer stopUplink(b, up)

	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	var bad atomic.Value
	start := time.Now()
	for w := range scanners {
		s := station.New(station.Config{Name: fmt.Sprintf("dock-%02d", w), Role: station.RoleHandover}, st, station.Options{})
		wg.Go(func() {
			defer s.Close()
			dev := fmt.Sprintf("scan-d%02d", w)
			if res := s.Handle(ctx, scanner.Read{Text: fmt.Sprintf("OP-D%02d", w), Device: dev, At: time.Now()}); !res.Good() || res.Kind != wire.KindOperator {
				bad.CompareAndSwap(nil, fmt.Sprintf("badge at %s: %+v", s.Name(), res))
				return
			}
			for k := range perStation {
				i := w + k*scanners
				t := time.Now()
				res := s.Handle(ctx, scanner.Read{Text: waybillNo(i), Device: dev, At: t})
				lat[i] = time.Since(t)
				if !res.Good() || res.Kind != wire.KindStep || res.Entry.To != string(order.PickedUp) {
					bad.CompareAndSwap(nil, fmt.Sprintf("scan %s at %s: %s %s %v", waybillNo(i), s.Name(), res.Kind, res.Message.EN, res.Err))
					return
				}
			}
		})
	}
	wg.Wait()
	rate = float64(n) / time.Since(start).Seconds()
	if msg, _ := bad.Load().(string); msg != "" {
		b.Fatal(msg)
	}
	waitAcked(b, st, st.LastSeq())
	return pct(lat, 50), pct(lat, 99), f50, f99, rate
}
