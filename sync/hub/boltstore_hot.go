package hub

import (
	"bytes"

	bolt "go.etcd.io/bbolt"
)

// siteDownlink is site's downlink bucket in a writable transaction, made when missing and looked
// up once per transaction: the ingest numbers a state message per entry (NextHSeq, PutDownlink),
// and each lookup would seek the downlink bucket again.
func (t boltTx) siteDownlink(site string) (*bolt.Bucket, error) {
	if t.cur != nil {
		for i, s := range t.cur.downSites {
			if s == site {
				return t.cur.downs[i], nil
			}
		}
	}
	sb, err := t.tx.Bucket(bktDownlink).CreateBucketIfNotExists([]byte(site))
	if err != nil {
		return nil, err
	}
	sb.FillPercent = 1 // hseqs only grow: split full pages, not halves that stay half empty
	if t.cur != nil {
		t.cur.downSites, t.cur.downs = append(t.cur.downSites, site), append(t.cur.downs, sb)
	}
	return sb, nil
}

// waybillsBucket is bktWaybills in a writable transaction, made when missing and looked up once
// per transaction (every saved order with a waybill indexes it).
func (t boltTx) waybillsBucket() (*bolt.Bucket, error) {
	if t.cur != nil && t.cur.waybills != nil {
		return t.cur.waybills, nil
	}
	b, err := t.tx.CreateBucketIfNotExists(bktWaybills)
	if err != nil {
		return nil, err
	}
	if t.cur != nil {
		t.cur.waybills = b
	}
	return b, nil
}

// del is Bucket.Delete of key in bkt through the transaction's kept cursor over it, which has
// grown its stack already (Bucket.Delete makes a new cursor per call).
func (t boltTx) del(bkt, key []byte) error {
	if t.cur == nil {
		return t.tx.Bucket(bkt).Delete(key)
	}
	c := t.cur.cursor(t.tx, bkt)
	if k, _ := c.Seek(key); k == nil || !bytes.Equal(k, key) {
		return nil
	}
	return c.Delete()
}

// rawOrderReader is a Tx that can hand out an order's stored bytes without copying them, for a
// decode that copies what it keeps (decodeOrder: the binary decoder takes one string of the
// record, encoding/json copies every string) before the transaction writes again.
type rawOrderReader interface {
	orderRaw(id string) []byte
}

// orderRaw is the order's record as bbolt holds it (nil: none), valid until the transaction
// writes or ends.
func (t boltTx) orderRaw(id string) []byte { return t.lookup(bktOrders, []byte(id)) }
