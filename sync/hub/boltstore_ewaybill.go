package hub

import "bytes"

// bktEWaybills holds the e-waybill requests by order id. It is created on the first write, so a
// hub.db from before it reads as holding none.
var bktEWaybills = []byte("ewaybills")

func (t boltTx) EWaybill(orderID string) ([]byte, error) {
	b := t.tx.Bucket(bktEWaybills)
	if b == nil {
		return nil, nil
	}
	if v := b.Get([]byte(orderID)); v != nil {
		return bytes.Clone(v), nil
	}
	return nil, nil
}

func (t boltTx) PutEWaybill(orderID string, doc []byte) error {
	if !t.tx.Writable() {
		return errReadOnly
	}
	b, err := t.tx.CreateBucketIfNotExists(bktEWaybills)
	if err != nil {
		return err
	}
	return b.Put([]byte(orderID), doc)
}

func (t boltTx) DeleteEWaybill(orderID string) error {
	if !t.tx.Writable() {
		return errReadOnly
	}
	b := t.tx.Bucket(bktEWaybills)
	if b == nil {
		return nil
	}
	return b.Delete([]byte(orderID))
}

func (t boltTx) EWaybills(fn func(string, []byte) (bool, error)) error {
	b := t.tx.Bucket(bktEWaybills)
	if b == nil {
		return nil
	}
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		more, err := fn(string(k), bytes.Clone(v))
		if err != nil || !more {
			return err
		}
	}
	return nil
}
