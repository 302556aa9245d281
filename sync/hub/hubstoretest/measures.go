package hubstoretest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"wedge/sync/hub"
)

// runMeasures checks the central measures' part of Tx: the order walk (rows locked while missing
// are not walked) and the anomaly counters (they add up, also from concurrent transactions on two
// handles, and a rollback adds nothing).
func runMeasures(t *testing.T, f Factory, open func(*testing.T) hub.Store) {
	ctx := context.Background()
	t.Run("OrderRecordsWalk", func(t *testing.T) {
		s := open(t)
		err := s.Update(ctx, func(tx hub.Tx) error {
			for _, id := range []string{"O-2", "O-1", "O-3"} {
				if err := tx.PutOrder(id, []byte(`"`+id+`"`)); err != nil {
					return err
				}
			}
			_, err := tx.Order("O-0") // locked while missing: not a record
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		err = s.View(ctx, func(tx hub.Tx) error {
			return tx.OrderRecords("O-1", func(id string, doc []byte) (bool, error) {
				got = append(got, id+"="+string(doc))
				return len(got) < 5, nil
			})
		})
		if err != nil || fmt.Sprint(got) != `[O-2="O-2" O-3="O-3"]` {
			t.Errorf("walk after O-1 = %v, %v", got, err)
		}
	})
	t.Run("AnomalyCounters", func(t *testing.T) {
		s := open(t)
		add := func(s hub.Store, hour, site, kind string, n uint64) error {
			return s.Update(ctx, func(tx hub.Tx) error { return tx.AddAnomalies(hour, site, kind, n) })
		}
		var wg sync.WaitGroup
		other := s
		if f.Reopen != nil {
			other = f.Reopen(t, s)
			t.Cleanup(func() { _ = other.Close() })
		}
		errs := make(chan error, 40)
		for i := 0; i < 20; i++ {
			for _, st := range []hub.Store{s, other} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- add(st, "2026-12-01T02", "sz01", "reject:wrong_state", 1)
				}()
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := add(s, "2026-12-01T03", "sz01", "chain_break", 2); err != nil {
			t.Fatal(err)
		}
		if err := add(s, "2026-12-02T00", "bj01", "chain_break", 5); err != nil {
			t.Fatal(err)
		}
		_ = s.Update(ctx, func(tx hub.Tx) error {
			_ = tx.AddAnomalies("2026-12-01T03", "sz01", "chain_break", 100)
			return errRollback
		})
		var got []string
		err := s.View(ctx, func(tx hub.Tx) error {
			return tx.Anomalies("2026-12-01T00", "2026-12-02T00", func(h, site, kind string, n uint64) error {
				got = append(got, fmt.Sprintf("%s/%s/%s=%d", h, site, kind, n))
				return nil
			})
		})
		want := "[2026-12-01T02/sz01/reject:wrong_state=40 2026-12-01T03/sz01/chain_break=2]"
		if err != nil || fmt.Sprint(got) != want {
			t.Errorf("counters = %v, %v; want %s", got, err, want)
		}
		if err := s.View(ctx, func(tx hub.Tx) error { return tx.AddAnomalies("x", "y", "z", 1) }); err == nil {
			t.Error("AddAnomalies in a View succeeded")
		}
	})
}
