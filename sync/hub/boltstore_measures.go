package hub

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// bktAnomalies holds the anomaly counters: key hour 0 site 0 kind, value a big-endian uint64. It
// is created by its first write, so older hub.db files need no migration.
var bktAnomalies = []byte("anomalies")

func (t boltTx) OrderRecords(after string, fn func(string, []byte) (bool, error)) error {
	c := t.tx.Bucket(bktOrders).Cursor()
	k, v := c.Seek([]byte(after))
	if k != nil && string(k) == after {
		k, v = c.Next()
	}
	for ; k != nil; k, v = c.Next() {
		more, err := fn(string(k), bytes.Clone(v))
		if err != nil || !more {
			return err
		}
	}
	return nil
}

func (t boltTx) AddAnomalies(hour, site, kind string, n uint64) error {
	if !t.tx.Writable() {
		return errReadOnly
	}
	b, err := t.tx.CreateBucketIfNotExists(bktAnomalies)
	if err != nil {
		return err
	}
	key := bytes.Join([][]byte{[]byte(hour), []byte(site), []byte(kind)}, []byte{0})
	var old uint64
	if v := b.Get(key); len(v) == 8 {
		old = binary.BigEndian.Uint64(v)
	}
	return b.Put(key, u64(old+n))
}

func (t boltTx) Anomalies(from, to string, fn func(hour, site, kind string, n uint64) error) error {
	b := t.tx.Bucket(bktAnomalies)
	if b == nil {
		return nil
	}
	c := b.Cursor()
	for k, v := c.Seek([]byte(from)); k != nil; k, v = c.Next() {
		parts := bytes.SplitN(k, []byte{0}, 3)
		if len(parts) != 3 || len(v) != 8 {
			return fmt.Errorf("%w: anomaly counter %q", ErrStore, k)
		}
		if to != "" && string(parts[0]) >= to {
			return nil
		}
		if err := fn(string(parts[0]), string(parts[1]), string(parts[2]), binary.BigEndian.Uint64(v)); err != nil {
			return err
		}
	}
	return nil
}
