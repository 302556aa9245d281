package journal

import (
	"context"
	"errors"
	"testing"

	"wedge/order"
)

// TestOrderCacheFollowsWrites: within one batch, an order read from the cache without a bbolt
// lookup is always what the function would read from bbolt: after its own write, after a write
// of an earlier function of the batch, and after a function whose write was dropped.
func TestOrderCacheFollowsWrites(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	if err := s.Do(ctx, func(tx *Tx) error {
		tx.PutOrder(order.Order{ID: "C1", State: order.PendingAllocation})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	release, _ := gate(t, s)
	boom := errors.New("boom")
	want := func(tx *Tx, st order.State, what string) error {
		if o, ok := tx.Order("C1"); !ok || o.State != st {
			t.Errorf("%s: %s %v, want %s", what, o.State, ok, st)
		}
		return nil
	}
	errs := make(chan error, 4)
	for i, fn := range []func(*Tx) error{
		func(tx *Tx) error { return want(tx, order.PendingAllocation, "first read") },
		func(tx *Tx) error {
			o, _ := tx.Order("C1")
			o.State = order.Held
			tx.PutOrder(o)
			want(tx, order.Held, "own write")
			return boom // dropped
		},
		func(tx *Tx) error {
			want(tx, order.PendingAllocation, "after a dropped write")
			o, _ := tx.Order("C1")
			o.State = order.Cancelled
			tx.PutOrder(o)
			return nil
		},
		func(tx *Tx) error { return want(tx, order.Cancelled, "after an earlier function's write") },
	} {
		go func() { errs <- s.Do(ctx, fn) }()
		waitPending(t, s, i+1) // queued in this order, behind the gate: one batch
	}
	release()
	for range 4 {
		if err := <-errs; err != nil && !errors.Is(err, boom) {
			t.Error(err)
		}
	}
	if o, _, _ := s.Order("C1"); o.State != order.Cancelled {
		t.Errorf("committed: %s", o.State)
	}
}
