package journal

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"

	"wedge/order"
	"wedge/sync/wire"
)

// A function's buffered writes are found by bucket and key even when two writes hash the same
// (the write index keys by hash and chains collisions), and a key of one bucket never answers for
// another bucket.
func TestWriteIndexCollisions(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "wedge.db"), nil)
	err := s.Do(context.Background(), func(tx *Tx) error {
		const h = 42 // every write below under one hash: one chain
		tx.writeHashed(h, bCounts, []byte("a"), []byte("1"))
		tx.writeHashed(h, bCounts, []byte("b"), []byte("2"))
		tx.writeHashed(h, bMeta, []byte("a"), []byte("3"))
		tx.writeHashed(h, bCounts, []byte("a"), []byte("4")) // overwrites the first
		for _, c := range []struct {
			bucket []byte
			key    string
			want   string
		}{{bCounts, "a", "4"}, {bCounts, "b", "2"}, {bMeta, "a", "3"}} {
			i := tx.find(h, c.bucket, []byte(c.key))
			if i < 0 || string(tx.ops[i].val) != c.want {
				t.Errorf("%s/%s: index %d, want value %q", c.bucket, c.key, i, c.want)
			}
		}
		if i := tx.find(h, bCounts, []byte("c")); i >= 0 {
			t.Errorf("a key never written found at %d", i)
		}
		if len(tx.ops) != 3 {
			t.Errorf("%d ops, want 3 (the overwrite reuses its op)", len(tx.ops))
		}
		tx.ops, tx.err = tx.ops[:0], errTestDiscard // drop these hand-made writes
		return nil
	})
	if err != errTestDiscard {
		t.Fatalf("Do: %v", err)
	}
	// Many keys, the same in several buckets, read back through the function's own writes and then
	// from bbolt through the reused cursors.
	err = s.Do(context.Background(), func(tx *Tx) error {
		for i := range 5000 {
			k := []byte("k" + strconv.Itoa(i))
			tx.put(bMeta, k, []byte("m"+strconv.Itoa(i)))
			tx.put(bCounts, k, []byte("c"+strconv.Itoa(i)))
		}
		for i := range 5000 {
			k := []byte("k" + strconv.Itoa(i))
			if m, c := tx.get(bMeta, k), tx.get(bCounts, k); string(m) != "m"+strconv.Itoa(i) || string(c) != "c"+strconv.Itoa(i) {
				t.Fatalf("key %s: meta %q counts %q", k, m, c)
			}
		}
		tx.del(bCounts, []byte("k7"))
		if v, ok := tx.pending(bCounts, []byte("k7")); !ok || v != nil {
			t.Errorf("a delete reads %q %v", v, ok)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Do(context.Background(), func(tx *Tx) error {
		for i := range 5000 {
			k := []byte("k" + strconv.Itoa(i))
			m, c := tx.get(bMeta, k), tx.get(bCounts, k)
			wantC := "c" + strconv.Itoa(i)
			if i == 7 {
				wantC = ""
			}
			if string(m) != "m"+strconv.Itoa(i) || string(c) != wantC {
				t.Fatalf("committed key %s: meta %q counts %q", k, m, c)
			}
		}
		if v := tx.get(bCounts, []byte("k")); v != nil { // a prefix of stored keys is no key
			t.Errorf("key k: %q", v)
		}
		if v := tx.get(bCounts, []byte("zzz")); v != nil { // past the last key
			t.Errorf("key zzz: %q", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

var errTestDiscard = errTest("discard")

type errTest string

func (e errTest) Error() string { return string(e) }

// The writer reuses its arena chunks and cached-order slots batch after batch: what a batch
// committed must read back unchanged after later batches wrote over the same chunks, and a
// later batch's cache must not answer with an earlier batch's orders.
func TestArenaReuseKeepsCommittedValues(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "wedge.db"), nil)
	ctx := context.Background()
	put := func(prefix string, n int) {
		t.Helper()
		err := s.Do(ctx, func(tx *Tx) error {
			for i := range n {
				id := prefix + strconv.Itoa(i)
				tx.PutOrder(order.Order{ID: id, State: order.PendingAllocation, ChannelOrderNo: "C-" + id, Carrier: prefix})
				tx.SetMeta("m."+id, []byte("v-"+id))
				tx.Append(wire.Entry{Kind: wire.KindIntake, OrderID: id, Trigger: wire.TriggerHub})
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	put("A", 3000) // more than one arena chunk and more than the kept slots
	put("B", 3000)
	err := s.Do(ctx, func(tx *Tx) error {
		for _, p := range []string{"A", "B"} {
			for i := 0; i < 3000; i += 97 {
				id := p + strconv.Itoa(i)
				o, ok := tx.Order(id)
				if !ok || o.Carrier != p || o.ChannelOrderNo != "C-"+id {
					t.Fatalf("order %s: %+v %v", id, o, ok)
				}
				if m := tx.Meta("m." + id); string(m) != "v-"+id {
					t.Fatalf("meta of %s: %q", id, m)
				}
				if c, ok := tx.OrderByChannelNo("C-" + id); !ok || c.ID != id {
					t.Fatalf("channel no of %s: %q %v", id, c.ID, ok)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if h, err := s.History("A5"); err != nil || len(h) != 1 || h[0].OrderID != "A5" {
		t.Fatalf("history of A5: %v %v", h, err)
	}
	s.Close()
	if rep, err := Verify(s.Path()); err != nil || !rep.OK || rep.Entries != 6000 {
		t.Fatalf("verify: %s %v", rep, err)
	}
}

// The writer's per-bucket tables hold every bucket of the journal.
func TestBucketTablesHoldEveryBucket(t *testing.T) {
	if len(allBuckets) > len(txBuckets{}.b) {
		t.Fatalf("%d buckets, the tables hold %d", len(allBuckets), len(txBuckets{}.b))
	}
	for i, b := range allBuckets {
		if got := bucketIndex(append([]byte(nil), b...)); got != i {
			t.Errorf("bucketIndex(%s) = %d, want %d", b, got, i)
		}
	}
	if got := bucketIndex([]byte("nope")); got != -1 {
		t.Errorf("bucketIndex(nope) = %d", got)
	}
}
