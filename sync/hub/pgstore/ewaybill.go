package pgstore

import "errors"

// EWaybill locks the order's request row in an Update when there is one. No placeholder row is
// made (every posted order asks): creating a request is serialised by the order's own row lock.
func (t *pgTx) EWaybill(orderID string) ([]byte, error) {
	if !t.writable {
		return t.doc(`SELECT doc FROM hub_ewaybills WHERE order_id=$1`, orderID)
	}
	return t.doc(`SELECT doc FROM hub_ewaybills WHERE order_id=$1 FOR UPDATE`, orderID)
}

func (t *pgTx) PutEWaybill(orderID string, doc []byte) error {
	if doc == nil {
		return errors.New("pgstore: nil e-waybill document")
	}
	return t.exec(`INSERT INTO hub_ewaybills (order_id, doc) VALUES ($1,$2) ON CONFLICT (order_id) DO UPDATE SET doc = EXCLUDED.doc`, orderID, doc)
}

func (t *pgTx) DeleteEWaybill(orderID string) error {
	return t.exec(`DELETE FROM hub_ewaybills WHERE order_id=$1`, orderID)
}

func (t *pgTx) EWaybills(fn func(string, []byte) (bool, error)) error {
	return t.walkKeyed(fn, `SELECT order_id, doc FROM hub_ewaybills ORDER BY order_id`)
}
