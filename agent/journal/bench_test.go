package journal

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"wedge/order"
	"wedge/sync/wire"
)

// BenchmarkDoParallel measures group commit: many goroutines, one order and one entry per Do,
// fsync on (as in production).
func BenchmarkDoParallel(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "wedge.db"), testOpts())
	b.SetParallelism(16) // 16 × GOMAXPROCS callers, like busy stations and intake together
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			id := "B" + strconv.Itoa(i%1000)
			if err := s.Do(context.Background(), func(tx *Tx) error {
				tx.PutOrder(order.Order{ID: id, State: order.PendingAllocation})
				tx.Append(wire.Entry{Kind: wire.KindIntake, OrderID: id, Trigger: wire.TriggerHub, Station: "pack-1", Device: "scanner-1"})
				return nil
			}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	st := s.Stats()
	if st.Commits > 0 {
		b.ReportMetric(float64(st.Calls)/float64(st.Commits), "calls/commit")
	}
}

// bigJournal builds a journal of WEDGE_BENCH_ENTRIES entries (default 100000; the 1,000,000 of
// the requirement takes about 20 s to build) and returns it open.
func bigJournal(b *testing.B) (*Store, uint64) {
	n := uint64(100_000)
	if v, err := strconv.ParseUint(os.Getenv("WEDGE_BENCH_ENTRIES"), 10, 64); err == nil && v > wire.MaxBatchEntries {
		n = v
	}
	o := testOpts()
	o.NoSync = true // building the fixture only
	s := open(b, filepath.Join(b.TempDir(), "wedge.db"), o)
	for done := uint64(0); done < n; {
		err := s.Do(context.Background(), func(tx *Tx) error {
			for i := 0; i < 5000 && done < n; i++ {
				tx.Append(wire.Entry{Kind: wire.KindStep, OrderID: "O" + strconv.FormatUint(done%50000, 10),
					From: "pending_allocation", To: "waybill_printed", Waybill: "SF1234567890123", Station: "pack-1", Trigger: wire.TriggerScan})
				done++
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return s, n
}

// BenchmarkEntriesWindow measures reading one uplink window (wire.MaxBatchEntries entries, at most
// wire.MaxBatchBytes) at spread-out positions of a large journal: it seeks, so the cost per window
// does not grow with the journal.
func BenchmarkEntriesWindow(b *testing.B) {
	s, n := bigJournal(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		after := (uint64(i) * 7919) % (n - wire.MaxBatchEntries)
		es, err := s.Entries(after, wire.MaxBatchEntries, wire.MaxBatchBytes)
		if err != nil || len(es) == 0 || es[0].Seq != after+1 {
			b.Fatalf("window after %d: %d entries, %v", after, len(es), err)
		}
	}
}

// BenchmarkVerify measures `wedge journal verify` over a large journal (ns/op is per journal).
func BenchmarkVerify(b *testing.B) {
	s, n := bigJournal(b)
	s.Close()
	b.ResetTimer()
	for b.Loop() {
		rep, err := Verify(s.Path())
		if err != nil || !rep.OK || rep.Entries != n {
			b.Fatalf("%s %v", rep, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/entry")
}
