package hub

import "bytes"

// Carrier tracking in bbolt: bucket tracking keyed waybill 0 id holds each event; bucket waybills
// maps a waybill to its order id. Made on first write.
var (
	bktTracking = []byte("tracking")
	bktWaybills = []byte("waybills")
)

func (t boltTx) AddTracking(waybill, id string, doc []byte) (bool, error) {
	if !t.tx.Writable() {
		return false, errReadOnly
	}
	b, err := t.tx.CreateBucketIfNotExists(bktTracking)
	if err != nil {
		return false, err
	}
	k := join(waybill, id)
	if b.Get(k) != nil {
		return false, nil
	}
	return true, b.Put(k, doc)
}

func (t boltTx) Tracking(waybill string, fn func([]byte) (bool, error)) error {
	b := t.tx.Bucket(bktTracking)
	if b == nil {
		return nil
	}
	p := append([]byte(waybill), 0)
	c := b.Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		more, err := fn(bytes.Clone(v))
		if err != nil || !more {
			return err
		}
	}
	return nil
}

func (t boltTx) PutWaybill(waybill, orderID string) error {
	if !t.tx.Writable() {
		return errReadOnly
	}
	b, err := t.waybillsBucket()
	if err != nil {
		return err
	}
	if bytes.Equal(t.lookup(bktWaybills, []byte(waybill)), []byte(orderID)) {
		return nil // every save of an order indexes its waybills again: a read leaves the page clean
	}
	return b.Put([]byte(waybill), []byte(orderID))
}

func (t boltTx) WaybillOrder(waybill string) (string, error) {
	b := t.tx.Bucket(bktWaybills)
	if b == nil {
		return "", nil
	}
	return string(b.Get([]byte(waybill))), nil
}
