package journal

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
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
