package hubstoretest

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"wedge/sync/hub"
)

// runLock checks LockKey: refused in a View; on every handle (two replicas when the store is
// shareable) a read-modify-write of a Meta document under the lock loses no update, however the
// transactions interleave.
func runLock(t *testing.T, f Factory, open func(*testing.T) hub.Store) {
	ctx := context.Background()
	t.Run("LockKeySerializes", func(t *testing.T) {
		s := open(t)
		if err := s.View(ctx, func(tx hub.Tx) error { return tx.LockKey("k") }); err == nil {
			t.Error("LockKey in a View succeeded")
		}
		handles := []hub.Store{s}
		if f.Reopen != nil {
			handles = append(handles, f.Reopen(t, s))
		}
		const workers, each = 6, 10
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func(st hub.Store) {
				defer wg.Done()
				for range each {
					err := st.Update(ctx, func(tx hub.Tx) error {
						if err := tx.LockKey("counter"); err != nil {
							return err
						}
						raw, err := tx.Meta("lock-counter")
						if err != nil {
							return err
						}
						n, _ := strconv.Atoi(string(raw))
						return tx.PutMeta("lock-counter", []byte(strconv.Itoa(n+1)))
					})
					if err != nil {
						t.Error(err)
						return
					}
				}
			}(handles[w%len(handles)])
		}
		wg.Wait()
		var raw []byte
		if err := s.View(ctx, func(tx hub.Tx) (err error) { raw, err = tx.Meta("lock-counter"); return err }); err != nil {
			t.Fatal(err)
		}
		if got := string(raw); got != strconv.Itoa(workers*each) {
			t.Errorf("counter = %s after %d locked increments: an update was lost", got, workers*each)
		}
	})
}
