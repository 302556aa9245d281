//go:build !windows

package journal

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"wedge/order"
	"wedge/sync/wire"
)

// BenchmarkPrintStep is the print step of bench's BenchmarkStepCPU (read the order, order.Apply,
// PutOrder, Append; 1,000 steps per Do, NoSync) on a journal of 20,000 pending orders, without
// the bench package's partial variants: a quicker look at the writer's work per step.
// cpu-ns/step is process CPU (user + sys, GC included) over the steps, seeding excluded.
func BenchmarkPrintStep(b *testing.B) {
	const n = 20_000
	var cpu, wall time.Duration
	b.ReportAllocs()
	b.StopTimer()
	for range b.N {
		o := testOpts()
		o.NoSync = true
		s := open(b, filepath.Join(b.TempDir(), "wedge.db"), o)
		now := time.Date(2026, 11, 11, 1, 0, 0, 0, time.UTC)
		for lo := 0; lo < n; lo += 5000 {
			if err := s.Do(context.Background(), func(tx *Tx) error {
				for i := lo; i < lo+5000; i++ {
					tx.PutOrder(order.Order{ID: fmt.Sprintf("TB%010d", i), Channel: "taobao", ChannelOrderNo: strconv.Itoa(4000000000 + i),
						BuyerID: "buyer" + strconv.Itoa(i%977), SKUs: []string{"SKU-" + strconv.Itoa(i%311)}, Payment: "full", Carrier: "sf",
						State: order.PendingAllocation, StateSince: now, PendingSince: now, ReceivedAt: now})
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
		}
		cpu0, t0 := rusageCPU(b), time.Now()
		b.StartTimer()
		for lo := 0; lo < n; lo += 1000 {
			if err := s.Do(context.Background(), func(tx *Tx) error {
				for i := lo; i < lo+1000; i++ {
					id, wb := fmt.Sprintf("TB%010d", i), fmt.Sprintf("SF1%012d", i)
					o, ok := tx.Order(id)
					if !ok {
						return fmt.Errorf("order %s missing", id)
					}
					out := order.Apply(o, order.Request{Action: order.ActPrint, Waybill: wb, Operator: "OP-0001", At: now})
					if out.Result != order.Accepted {
						return fmt.Errorf("order %s: %v %s", id, out.Result, out.Reason)
					}
					tx.PutOrder(out.Order)
					tx.Append(wire.Entry{Kind: wire.KindStep, OrderID: id, From: string(order.PendingAllocation), To: string(order.WaybillPrinted),
						Waybill: wb, Carrier: "sf", Station: "print-1", Device: "scan-p01", Operator: "OP-0001",
						Trigger: wire.TriggerScan, Code: wb, At: wire.Time(now)})
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		cpu += rusageCPU(b) - cpu0
		wall += time.Since(t0)
		s.Close()
	}
	steps := float64(b.N * n)
	b.ReportMetric(float64(cpu.Nanoseconds())/steps, "cpu-ns/step")
	b.ReportMetric(float64(wall.Nanoseconds())/steps, "ns/step")
}

// rusageCPU is the process's CPU time (user + system) so far.
func rusageCPU(b testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
