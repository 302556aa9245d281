package hub

import (
	"context"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// A hub.db written before the counters holds the stats as one document; opening it converts the
// document into counters once (and removes it), so the totals survive the upgrade.
func TestBoltStatsDocumentBecomesCounters(t *testing.T) {
	dir := t.TempDir()
	db, err := bolt.Open(filepath.Join(dir, "hub.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket(bktMeta)
		if err != nil {
			return err
		}
		return b.Put(keyStats, []byte(`{"events_ingested":40,"orders_per_state":{"picked":3}}`))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second open must not add the document again
		s, err := OpenBolt(dir)
		if err != nil {
			t.Fatal(err)
		}
		var st Stats
		err = s.View(context.Background(), func(tx Tx) error {
			if d, _ := tx.Meta(string(keyStats)); d != nil {
				t.Error("the stats document is still there")
			}
			return loadStats(tx, &st)
		})
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		if st.EventsIngested != 40 || st.OrdersPerState["picked"] != 3 || st.Commits != 0 {
			t.Fatalf("stats after the conversion: %+v", st)
		}
	}
}

// The counters a group adds are what it counted: increments and a state count going down.
func TestStatsDelta(t *testing.T) {
	base := Stats{EventsIngested: 5, OrdersPerState: map[string]uint64{"picked": 2}}
	now := base.clone()
	now.EventsIngested += 3
	now.OrdersPerState["picked"]--
	now.OrdersPerState["shipped"]++
	d := now.delta(base)
	if len(d) != 3 || d["events_ingested"] != 3 || d["orders_per_state/picked"] != -1 || d["orders_per_state/shipped"] != 1 {
		t.Fatalf("delta %v", d)
	}
	base.add(d)
	if base.EventsIngested != 8 || base.OrdersPerState["picked"] != 1 || base.OrdersPerState["shipped"] != 1 {
		t.Fatalf("base + delta = %+v", base)
	}
}
