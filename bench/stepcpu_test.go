package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"wedge/agent/journal"
	"wedge/order"
	"wedge/sync/wire"
)

// BenchmarkStepCPU is the journal writer's CPU per print step with the disk taken out (NoSync, 1,000
// steps per Do, one goroutine): the ceiling of durable throughput on this CPU even if fsync were
// free, since every step runs on the one writer goroutine. It reports the full step (read the
// order, order.Apply, Append, PutOrder) and its parts: Append alone, and Order + PutOrder alone.
func BenchmarkStepCPU(b *testing.B) {
	var full, appendOnly, orderOnly, fullCPU time.Duration
	stepCPU(b, true, true) // warm-up: the first journal of a process pays for heap growth and page faults
	b.ResetTimer()
	for range b.N {
		full, fullCPU = stepCPU(b, true, true)
		appendOnly, _ = stepCPU(b, true, false)
		orderOnly, _ = stepCPU(b, false, true)
	}
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / incidentBacklog }
	b.ReportMetric(per(full), "ns/step")
	b.ReportMetric(1e9/per(full), "max-steps/s")
	b.ReportMetric(per(fullCPU), "cpu-ns/step")
	b.ReportMetric(per(appendOnly), "ns/append")
	b.ReportMetric(per(orderOnly), "ns/order-read+put")
	b.Logf("writer CPU per print step %.1f µs (≤ %.0f steps/s on one core); process CPU (user+sys, GC included) %.1f µs per step; Append alone %.1f µs; Order+PutOrder alone %.1f µs",
		per(full)/1e3, 1e9/per(full), per(fullCPU)/1e3, per(appendOnly)/1e3, per(orderOnly)/1e3)
}

// processCPU is the CPU time (user + system) the process used so far. On a loaded machine it moves
// far less than wall time: a step's CPU cost is read from it, not from the clock. It includes the
// collector's background work (on the step's garbage) done during the run.
func processCPU(b testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// stepCPU runs the 47,000 steps and returns their wall time and the process CPU time they took
// (seeding excluded).
func stepCPU(b testing.TB, withAppend, withOrder bool) (wall, cpu time.Duration) {
	st, err := journal.Open(filepath.Join(b.TempDir(), "wedge.db"), &journal.Options{Site: site, Agent: "cpu", NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	seed(b, st, incidentBacklog, order.PendingAllocation)
	now := time.Now().UTC()
	cpu0 := processCPU(b)
	start := time.Now()
	for lo := 0; lo < incidentBacklog; lo += 1000 {
		err := st.Do(context.Background(), func(tx *journal.Tx) error {
			for i := lo; i < min(lo+1000, incidentBacklog); i++ {
				id, wb := orderID(i), waybillNo(i)
				e := wire.Entry{Kind: wire.KindStep, OrderID: id, From: string(order.PendingAllocation), To: string(order.WaybillPrinted),
					Waybill: wb, Carrier: "sf", Station: "print-1", Device: "scan-p01", Operator: "OP-0001",
					Trigger: wire.TriggerScan, Code: wb, At: wire.Time(now)}
				if withOrder {
					o, ok := tx.Order(id)
					if !ok {
						return fmt.Errorf("order %s missing", id)
					}
					out := order.Apply(o, order.Request{Action: order.ActPrint, Waybill: wb, Operator: "OP-0001", At: now})
					if out.Result != order.Accepted {
						return fmt.Errorf("order %s: %v %s", id, out.Result, out.Reason)
					}
					tx.PutOrder(out.Order)
				}
				if withAppend {
					tx.Append(e)
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start), processCPU(b) - cpu0
}
