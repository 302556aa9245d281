package hub

import (
	"bytes"

	bolt "go.etcd.io/bbolt"
)

// txCursors are one cursor per bucket for a transaction's point reads. bbolt's Bucket.Get makes a
// new cursor each time and grows its stack from nothing (a few allocations per read); the hub's
// ingest reads about four keys per entry (the entry, the order, its index row, a hold). A cursor's
// Seek starts again from the bucket's root, so a kept cursor reads what the transaction wrote since.
type txCursors struct {
	names [][]byte
	curs  []*bolt.Cursor
	// Each a bucket of a writable transaction, looked up once (a lookup seeks its parent):
	downSites []string       // the sites of downs
	downs     []*bolt.Bucket // the downlink bucket of each site
	waybills  *bolt.Bucket   // bktWaybills; nil: not looked up yet
}

// cursor is the transaction's cursor over bucket bkt.
func (c *txCursors) cursor(tx *bolt.Tx, bkt []byte) *bolt.Cursor {
	for i, n := range c.names {
		if bytes.Equal(n, bkt) {
			return c.curs[i]
		}
	}
	cur := tx.Bucket(bkt).Cursor()
	c.names, c.curs = append(c.names, bkt), append(c.curs, cur)
	return cur
}

// lookup is Bucket.Get (the value, nil when the key is absent or names a nested bucket) through
// the transaction's cursor over bkt. The value is valid until the transaction ends or writes.
func (t boltTx) lookup(bkt, key []byte) []byte {
	if t.cur == nil {
		return t.tx.Bucket(bkt).Get(key)
	}
	k, v := t.cur.cursor(t.tx, bkt).Seek(key)
	if k == nil || !bytes.Equal(k, key) {
		return nil
	}
	return v
}
