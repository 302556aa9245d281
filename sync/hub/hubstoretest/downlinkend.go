package hubstoretest

import (
	"context"
	"errors"
	"testing"
	"time"

	"wedge/sync/hub"
)

// runDownlinkEnd checks LastHSeq, which a catch-up is bounded by: 0 for a site without downlink;
// the last committed hseq per site; within an Update its own allocations too, and nothing of them
// after a rollback; and, while another transaction holds an hseq it has not committed, the last
// committed one, read at once (not waiting for that transaction), in a View and, on a shared store,
// in another replica's Update.
func runDownlinkEnd(t *testing.T, f Factory, open func(*testing.T) hub.Store) {
	ctx := context.Background()
	last := func(t *testing.T, tx hub.Tx, site string, want uint64) error {
		t.Helper()
		n, err := tx.LastHSeq(site)
		if err != nil {
			return err
		}
		if n != want {
			t.Errorf("LastHSeq(%s) = %d, want %d", site, n, want)
		}
		return nil
	}
	alloc := func(tx hub.Tx, site string) (uint64, error) {
		n, err := tx.NextHSeq(site)
		if err != nil {
			return 0, err
		}
		return n, tx.PutDownlink(site, n, []byte("m"))
	}
	t.Run("LastHSeq", func(t *testing.T) {
		s := open(t)
		if err := s.View(ctx, func(tx hub.Tx) error { return last(t, tx, "sz01", 0) }); err != nil {
			t.Fatal(err)
		}
		err := s.Update(ctx, func(tx hub.Tx) error {
			if err := last(t, tx, "sz01", 0); err != nil {
				return err
			}
			for range 3 {
				if _, err := alloc(tx, "sz01"); err != nil {
					return err
				}
			}
			if _, err := alloc(tx, "sz02"); err != nil {
				return err
			}
			if err := last(t, tx, "sz01", 3); err != nil { // its own allocations
				return err
			}
			return last(t, tx, "sz02", 1)
		})
		if err != nil {
			t.Fatal(err)
		}
		err = s.Update(ctx, func(tx hub.Tx) error {
			if _, err := alloc(tx, "sz01"); err != nil {
				return err
			}
			if err := last(t, tx, "sz01", 4); err != nil {
				return err
			}
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			t.Fatal(err)
		}
		err = s.View(ctx, func(tx hub.Tx) error {
			for site, want := range map[string]uint64{"sz01": 3, "sz02": 1, "sz03": 0} {
				if err := last(t, tx, site, want); err != nil {
					return err
				}
			}
			// Every hseq up to the end is there to be replayed.
			n := 0
			err := tx.Downlink("sz01", 0, func(uint64, []byte) (bool, error) { n++; return true, nil })
			if n != 3 {
				t.Errorf("downlink holds %d messages up to LastHSeq 3", n)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("LastHSeqBesideAnOpenAllocation", func(t *testing.T) {
		s := open(t)
		other := s
		if f.Reopen != nil {
			other = f.Reopen(t, s)
			t.Cleanup(func() { _ = other.Close() })
		}
		if err := s.Update(ctx, func(tx hub.Tx) error { _, err := alloc(tx, "sz01"); return err }); err != nil {
			t.Fatal(err)
		}
		held, read := make(chan struct{}), make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- s.Update(ctx, func(tx hub.Tx) error {
				if _, err := alloc(tx, "sz01"); err != nil { // hseq 2, not committed until read
					return err
				}
				close(held)
				select {
				case <-read:
					return nil
				case <-time.After(30 * time.Second):
					return errors.New("the other transaction's LastHSeq waited for this one")
				}
			})
		}()
		select {
		case <-held:
		case err := <-done:
			t.Fatal(err)
		}
		err := other.View(ctx, func(tx hub.Tx) error { return last(t, tx, "sz01", 1) })
		if err == nil && f.Reopen != nil { // another replica's Update (bbolt runs one at a time)
			err = other.Update(ctx, func(tx hub.Tx) error { return last(t, tx, "sz01", 1) })
		}
		close(read)
		if err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if err := other.View(ctx, func(tx hub.Tx) error { return last(t, tx, "sz01", 2) }); err != nil {
			t.Fatal(err)
		}
	})
}
