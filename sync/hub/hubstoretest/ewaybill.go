package hubstoretest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"wedge/sync/hub"
)

// runEWaybill checks the e-waybill requests (hub.EWaybillTx): put, replace, walk by order id,
// delete, rollback, read-only views, and that a request locked in one replica's transaction is
// seen changed by the other's (no double claim).
func runEWaybill(t *testing.T, f Factory, open func(*testing.T) hub.Store) {
	ctx := context.Background()
	t.Run("EWaybillRequests", func(t *testing.T) {
		s := open(t)
		must(t, s.Update(ctx, func(tx hub.Tx) error {
			if d, err := tx.EWaybill("O-2"); err != nil || d != nil {
				return fmt.Errorf("missing request = %q, %v", d, err)
			}
			for _, c := range [][2]string{{"O-2", "two"}, {"O-1", "one"}, {"O-3", "three"}, {"O-2", "two again"}} {
				if err := tx.PutEWaybill(c[0], []byte(c[1])); err != nil {
					return err
				}
			}
			return tx.DeleteEWaybill("O-3")
		}))
		err := s.Update(ctx, func(tx hub.Tx) error {
			if err := tx.PutEWaybill("O-4", []byte("rolled back")); err != nil {
				return err
			}
			if err := tx.DeleteEWaybill("O-1"); err != nil {
				return err
			}
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			t.Fatalf("Update = %v", err)
		}
		must(t, s.View(ctx, func(tx hub.Tx) error {
			if err := tx.PutEWaybill("O-5", []byte("x")); err == nil {
				t.Error("PutEWaybill in a View succeeded")
			}
			if err := tx.DeleteEWaybill("O-1"); err == nil {
				t.Error("DeleteEWaybill in a View succeeded")
			}
			var got []string
			if err := tx.EWaybills(func(id string, d []byte) (bool, error) {
				got = append(got, id+"="+string(d))
				return true, nil
			}); err != nil {
				return err
			}
			if fmt.Sprint(got) != "[O-1=one O-2=two again]" {
				t.Errorf("EWaybills = %v", got)
			}
			got = nil
			_ = tx.EWaybills(func(id string, _ []byte) (bool, error) { got = append(got, id); return false, nil })
			if fmt.Sprint(got) != "[O-1]" {
				t.Errorf("EWaybills did not stop when fn said so: %v", got)
			}
			d, err := tx.EWaybill("O-2")
			if err != nil || string(d) != "two again" {
				t.Errorf("EWaybill(O-2) = %q, %v", d, err)
			}
			return nil
		}))
	})

	t.Run("EWaybillClaimedOnce", func(t *testing.T) {
		s := open(t)
		s2 := s
		if f.Reopen != nil {
			s2 = f.Reopen(t, s)
			t.Cleanup(func() { _ = s2.Close() })
		}
		must(t, s.Update(ctx, func(tx hub.Tx) error { return tx.PutEWaybill("O-1", []byte("free")) }))
		// Each replica claims the request if it is free; exactly one may succeed.
		var wg sync.WaitGroup
		var mu sync.Mutex
		claims := 0
		for _, st := range []hub.Store{s, s2, s, s2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := st.Update(ctx, func(tx hub.Tx) error {
					d, err := tx.EWaybill("O-1")
					if err != nil || string(d) != "free" {
						return err
					}
					if err := tx.PutEWaybill("O-1", []byte("claimed")); err != nil {
						return err
					}
					mu.Lock()
					claims++
					mu.Unlock()
					return nil
				})
				if err != nil {
					t.Errorf("claim: %v", err)
				}
			}()
		}
		wg.Wait()
		if claims != 1 {
			t.Fatalf("the request was claimed %d times, want once", claims)
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
