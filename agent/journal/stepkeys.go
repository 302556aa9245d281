package journal

import (
	"bytes"
	"hash/maphash"

	bolt "go.etcd.io/bbolt"
)

// bucketIndex is the position of a bucket name (one of the package variables) in allBuckets, or
// -1. Names are compared by identity first: every caller passes the package variable itself.
func bucketIndex(name []byte) int {
	for i, b := range allBuckets {
		if len(b) == len(name) && (&b[0] == &name[0] || bytes.Equal(b, name)) {
			return i
		}
	}
	return -1
}

// txBuckets holds a write transaction's buckets and one cursor per bucket, made on first use.
// bbolt's Bucket.Get makes a new cursor on every call and grows its stack from nothing (three or
// four allocations per lookup); a cursor's Seek starts again from the bucket's root and reuses
// the stack, so a reused cursor answers the same as a fresh one. Tx.Bucket is a map lookup too.
type txBuckets struct {
	b [8]*bolt.Bucket
	c [8]*bolt.Cursor
}

// bucket returns the transaction's bucket name.
func (tx *Tx) bucket(name []byte) *bolt.Bucket {
	i := bucketIndex(name)
	if i < 0 || i >= len(tx.bk.b) {
		return tx.btx.Bucket(name)
	}
	if tx.bk.b[i] == nil {
		tx.bk.b[i] = tx.btx.Bucket(name)
	}
	return tx.bk.b[i]
}

// lookup is bbolt's Get of key in bucket name, through the bucket's reused cursor.
func (tx *Tx) lookup(name, key []byte) []byte {
	i := bucketIndex(name)
	if i < 0 || i >= len(tx.bk.c) {
		return tx.btx.Bucket(name).Get(key)
	}
	c := tx.bk.c[i]
	if c == nil {
		c = tx.bucket(name).Cursor()
		tx.bk.c[i] = c
	}
	k, v := c.Seek(key)
	if k == nil || !bytes.Equal(k, key) {
		return nil
	}
	return v // nil for a nested bucket, as Get
}

// wseed seeds the hashes of Tx.w.
var wseed = maphash.MakeSeed()

// wkey is the key of Tx.w for bucket and key: a hash, so a lookup makes no string of the key
// (the map of strings it replaces allocated one per write). Writes whose bucket and key hash the
// same are chained through wop.next; find compares the bytes.
func wkey(bucket, key []byte) uint64 {
	return maphash.Bytes(wseed, key) ^ uint64(bucketIndex(bucket)+1)*0x9e3779b97f4a7c15
}

// find returns the index in ops of the function's write of bucket and key (h = wkey(bucket,
// key)), or -1.
func (tx *Tx) find(h uint64, bucket, key []byte) int {
	if len(tx.ops) == 0 {
		return -1
	}
	i, ok := tx.w[h]
	for ok && i >= 0 {
		op := &tx.ops[i]
		if bytes.Equal(op.key, key) && bytes.Equal(op.bucket, bucket) {
			return i
		}
		i = op.next
	}
	return -1
}

// orderSlots holds the values of the writer's order cache (Tx.orders) in chunks reused batch
// after batch: a map of these large structs stored each one in an allocation of its own.
type orderSlots struct {
	chunks []*[orderSlotChunk]cachedOrder
	used   int
}

const (
	orderSlotChunk = 128
	// orderSlotsKept is how many chunks reset keeps for the next batch (2,048 orders); a batch
	// that read more lets the rest go.
	orderSlotsKept = 16
)

// next returns a slot for one cached order, valid until reset.
func (s *orderSlots) next() *cachedOrder {
	ci, i := s.used/orderSlotChunk, s.used%orderSlotChunk
	if ci == len(s.chunks) {
		s.chunks = append(s.chunks, new([orderSlotChunk]cachedOrder))
	}
	s.used++
	return &s.chunks[ci][i]
}

// reset empties the slots (dropping their references for the collector) for the next batch.
func (s *orderSlots) reset() {
	for ci := 0; ci*orderSlotChunk < s.used; ci++ {
		clear(s.chunks[ci][:])
	}
	s.used = 0
	if len(s.chunks) > orderSlotsKept {
		clear(s.chunks[orderSlotsKept:])
		s.chunks = s.chunks[:orderSlotsKept]
	}
}

// slabs are the arena chunks of Tx.alloc, reused batch after batch: a buffered value must live
// until its batch commits (bbolt keeps the slice, not a copy, until then), and no longer, since
// nothing outside the transaction keeps a buffered value (reads copy or convert what they need).
type slabs struct {
	chunks [][]byte
	used   int
}

// slabsKept is how many chunks reset keeps for the next batch (2 MiB).
const slabsKept = 64

// chunk returns a chunk of slabSize bytes for this batch.
func (s *slabs) chunk() []byte {
	if s.used == len(s.chunks) {
		s.chunks = append(s.chunks, make([]byte, slabSize))
	}
	s.used++
	return s.chunks[s.used-1]
}

// reset makes every chunk free again; call it only once the batch that used them is over.
func (s *slabs) reset() {
	s.used = 0
	if len(s.chunks) > slabsKept {
		clear(s.chunks[slabsKept:])
		s.chunks = s.chunks[:slabsKept]
	}
}

// writeNew buffers a write of a key the function cannot have written before and never reads
// back: an appended entry's seq (the next one) and its history key. It skips the write index
// (two map operations per write) and keeps key itself, which must be the caller's copy (the
// arena's). Nothing in a Tx reads the entries or idx_history buckets through pending.
func (tx *Tx) writeNew(bucket, key, v []byte) {
	tx.ops = append(tx.ops, wop{bucket: bucket, key: key, val: v, next: -1})
}
