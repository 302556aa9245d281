package console_test

import (
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"wedge/agent/console"
	"wedge/internal/testutil"
	"wedge/order"
)

// cpuSeconds is the process's CPU time as the Go runtime accounts it (user + GC + scavenger).
func cpuSeconds() float64 {
	s := []metrics.Sample{{Name: "/cpu/classes/user:cpu-seconds"}, {Name: "/cpu/classes/gc/total:cpu-seconds"}, {Name: "/cpu/classes/scavenge/total:cpu-seconds"}}
	metrics.Read(s)
	var t float64
	for _, x := range s {
		if x.Value.Kind() == metrics.KindFloat64 {
			t += x.Value.Float64()
		}
	}
	return t
}

// BenchmarkFanOut: 50 WebSocket clients, 200 scan events per second; each iteration is one second
// of that load (run with -benchtime=3x for three seconds). Reports resynced and closed clients, the
// share of events each client received (directly or through a resync snapshot), and CPU time per
// second of load. The CPU includes the 50 in-process clients decoding, so it over-states the agent.
func BenchmarkFanOut(b *testing.B) {
	const clients, rate = 50, 200
	e := newEnv(b, nil)
	var got atomic.Int64
	var wg sync.WaitGroup
	conns := make([]*websocket.Conn, clients)
	for i := range conns {
		c, _, err := websocket.DefaultDialer.Dial(e.wsURL(), nil)
		if err != nil {
			b.Fatal(err)
		}
		conns[i] = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				var m msg
				if err := c.ReadJSON(&m); err != nil {
					return
				}
				if m.Type == console.EventScan {
					got.Add(1)
				}
			}
		}()
	}
	testutil.Eventually(b, time.Minute, "every client is registered", func() bool { return e.c.Stats().Clients >= clients })
	s0 := e.c.Stats()
	cpu0 := cpuSeconds()
	b.ResetTimer()
	start := time.Now()
	tick := time.NewTicker(time.Second / rate)
	defer tick.Stop()
	for i := range b.N * rate {
		<-tick.C
		e.c.Publish(console.ScanEvent(console.Scan{At: time.Now(), Station: "print-1", Device: "scanner-a", Operator: "李四",
			Code: "TB2026111100" + string(rune('0'+i%10)), Result: "accepted", Message: order.Message{ZH: "成功：待分仓 → 已打单", EN: "OK"}}))
	}
	elapsed := time.Since(start)
	// Let the queues drain before counting.
	deadline := time.Now().Add(5 * time.Second)
	for got.Load() < int64(b.N*rate*clients) && time.Now().Before(deadline) && e.c.Stats().Resyncs == s0.Resyncs {
		time.Sleep(10 * time.Millisecond)
	}
	b.StopTimer()
	cpu := cpuSeconds() - cpu0
	s := e.c.Stats()
	b.ReportMetric(float64(s.Resyncs-s0.Resyncs), "resyncs")
	b.ReportMetric(float64(s.Closed-s0.Closed), "closed-clients")
	b.ReportMetric(float64(got.Load())/float64(b.N*rate*clients), "delivered-ratio")
	b.ReportMetric(cpu/elapsed.Seconds()*1000, "cpu-ms/s")
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
}
