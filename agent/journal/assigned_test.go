package journal

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"wedge/internal/logging"

	bolt "go.etcd.io/bbolt"

	"wedge/order"
)

// putOrders stores orders in one Do.
func putOrders(t *testing.T, s *Store, orders ...order.Order) {
	t.Helper()
	if err := s.Do(context.Background(), func(tx *Tx) error {
		for _, o := range orders {
			tx.PutOrder(o)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// indexKey reads idx_assigned directly (OrderByAssignedWaybill ignores stale keys, so it cannot
// tell whether PutOrder removed one).
func indexKey(t *testing.T, s *Store, wb string) string {
	t.Helper()
	var id string
	if err := s.view(func(tx *bolt.Tx) error { id = string(tx.Bucket(bIdxAssign).Get([]byte(wb))); return nil }); err != nil {
		t.Fatal(err)
	}
	return id
}

// byAssigned looks wb up in the assigned-waybill index (and, for contrast, the bound one).
func byAssigned(t *testing.T, s *Store, wb string) (assigned, bound string) {
	t.Helper()
	if err := s.Do(context.Background(), func(tx *Tx) error {
		if o, ok := tx.OrderByAssignedWaybill(wb); ok {
			assigned = o.ID
		}
		if o, ok := tx.OrderByWaybill(wb); ok {
			bound = o.ID
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return assigned, bound
}

func TestAssignedWaybillIndex(t *testing.T) {
	s, _ := newStore(t)
	putOrders(t, s,
		order.Order{ID: "A1", State: order.PendingAllocation, Carrier: "sf", AssignedWaybill: "SF1234567890123"},
		order.Order{ID: "A2", State: order.AwaitingBalance, Carrier: "yto", AssignedWaybill: "yt1234567890123"},
		order.Order{ID: "A3", State: order.PendingAllocation})

	// Found normalized (case, spaces), not bound: the station's bound lookup does not see it.
	for _, q := range []string{"SF1234567890123", " sf1234567890123 "} {
		if a, b := byAssigned(t, s, q); a != "A1" || b != "" {
			t.Errorf("%q: assigned %q bound %q, want A1 and none", q, a, b)
		}
	}
	if a, _ := byAssigned(t, s, "YT1234567890123"); a != "A2" {
		t.Errorf("waybill stored in lower case: assigned %q, want A2", a)
	}
	for _, q := range []string{"", "  ", "SF0000000000000"} {
		if a, _ := byAssigned(t, s, q); a != "" {
			t.Errorf("%q found %q", q, a)
		}
	}

	// Printed: both indexes name it.
	putOrders(t, s, order.Order{ID: "A1", State: order.WaybillPrinted, Carrier: "sf", AssignedWaybill: "SF1234567890123", Waybill: "SF1234567890123"})
	if a, b := byAssigned(t, s, "SF1234567890123"); a != "A1" || b != "A1" {
		t.Errorf("printed: assigned %q bound %q, want A1 twice", a, b)
	}

	// Reassigned by the hub: the old waybill no longer leads to the order, the new one does.
	putOrders(t, s, order.Order{ID: "A2", State: order.PendingAllocation, Carrier: "yto", AssignedWaybill: "YT9999999999999"})
	if a, _ := byAssigned(t, s, "YT1234567890123"); a != "" || indexKey(t, s, "YT1234567890123") != "" {
		t.Errorf("old assignment still found: %q (key %q)", a, indexKey(t, s, "YT1234567890123"))
	}
	if a, _ := byAssigned(t, s, "YT9999999999999"); a != "A2" {
		t.Errorf("new assignment: %q, want A2", a)
	}

	// The old waybill given to another order, then the first order changes again: the other
	// order keeps its key.
	putOrders(t, s, order.Order{ID: "A3", State: order.PendingAllocation, Carrier: "yto", AssignedWaybill: "YT1234567890123"})
	putOrders(t, s, order.Order{ID: "A2", State: order.PendingAllocation, Carrier: "yto", AssignedWaybill: "YT8888888888888"})
	if a, _ := byAssigned(t, s, "YT1234567890123"); a != "A3" || indexKey(t, s, "YT1234567890123") != "A3" {
		t.Errorf("reused waybill: %q, want A3", a)
	}
	// Withdrawn: gone.
	putOrders(t, s, order.Order{ID: "A3", State: order.PendingAllocation})
	if a, _ := byAssigned(t, s, "YT1234567890123"); a != "" || indexKey(t, s, "YT1234567890123") != "" {
		t.Errorf("withdrawn assignment still found: %q", a)
	}

	// Within one Do, a function sees its own PutOrder; a failed function's index write is discarded.
	var inside string
	errBoom := context.Canceled
	err := s.Do(context.Background(), func(tx *Tx) error {
		tx.PutOrder(order.Order{ID: "B1", State: order.PendingAllocation, AssignedWaybill: "JT1234567890123"})
		if o, ok := tx.OrderByAssignedWaybill("JT1234567890123"); ok {
			inside = o.ID
		}
		return errBoom
	})
	if err != errBoom || inside != "B1" {
		t.Errorf("own write inside Do: %q (err %v)", inside, err)
	}
	if a, _ := byAssigned(t, s, "JT1234567890123"); a != "" || indexKey(t, s, "JT1234567890123") != "" {
		t.Errorf("discarded write left an index key: %q", a)
	}
}

// TestAssignedIndexMigration opens a journal made before idx_assigned existed (the bucket is
// removed behind the store's back): Open builds the index from the orders, and a stale key left
// by a wedge that did not keep the index gives no answer rather than a wrong one.
func TestAssignedIndexMigration(t *testing.T) {
	s, path := newStore(t)
	putOrders(t, s,
		order.Order{ID: "M1", State: order.PendingAllocation, Carrier: "sf", AssignedWaybill: "SF1111111111111"},
		order.Order{ID: "M2", State: order.WaybillPrinted, Carrier: "zto", AssignedWaybill: "731234567890", Waybill: "731234567890"},
		order.Order{ID: "M3", State: order.PendingAllocation})
	appendNote(t, s, "M1", "before the upgrade")
	last := s.LastSeq()
	s.Close()

	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bIdxAssign) }); err != nil {
		t.Fatal(err)
	}
	db.Close()

	var mu sync.Mutex
	var logs []string
	opts := testOpts()
	opts.Logger = logging.FromLogf(func(f string, a ...any) { mu.Lock(); logs = append(logs, f); mu.Unlock() })
	built := func() bool { // the migration logged since the last call
		mu.Lock()
		defer mu.Unlock()
		b := slices.ContainsFunc(logs, func(l string) bool { return strings.HasPrefix(l, "journal: built the assigned-waybill index") })
		logs = nil
		return b
	}
	s = open(t, path, opts)
	if s.LastSeq() != last {
		t.Errorf("last seq %d after the migration, want %d", s.LastSeq(), last)
	}
	if a, _ := byAssigned(t, s, "sf1111111111111"); a != "M1" {
		t.Errorf("migrated index: %q, want M1", a)
	}
	if a, b := byAssigned(t, s, "731234567890"); a != "M2" || b != "M2" {
		t.Errorf("migrated index of a printed order: %q/%q, want M2", a, b)
	}
	if !built() {
		t.Errorf("the migration was not logged")
	}

	// A second open does not rebuild; a stale key (order M3 never had the waybill) is ignored.
	s.Close()
	mustVerify(t, path)
	db, err = bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bIdxAssign).Put([]byte("SF2222222222222"), []byte("M3")) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s = open(t, path, opts)
	if built() {
		t.Errorf("the index was rebuilt on a journal that has it")
	}
	if a, _ := byAssigned(t, s, "SF2222222222222"); a != "" {
		t.Errorf("stale key answered %q", a)
	}
	if a, _ := byAssigned(t, s, "SF1111111111111"); a != "M1" {
		t.Errorf("after reopen: %q, want M1", a)
	}
}
