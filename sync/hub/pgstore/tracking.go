package pgstore

// Carrier tracking (hub.TrackingTx) in hub_tracking and hub_waybills (migration 00004).

func (t *pgTx) AddTracking(waybill, id string, doc []byte) (bool, error) {
	if !t.writable {
		return false, errReadOnly
	}
	tag, err := t.tx.Exec(t.ctx, `INSERT INTO hub_tracking (waybill, id, doc) VALUES ($1,$2,$3) ON CONFLICT DO NOTHING`, waybill, id, doc)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

func (t *pgTx) Tracking(waybill string, fn func([]byte) (bool, error)) error {
	return t.walk(func(_ uint64, d []byte) (bool, error) { return fn(d) },
		`SELECT 0::bigint, doc FROM hub_tracking WHERE waybill=$1 ORDER BY id`, waybill)
}

func (t *pgTx) PutWaybill(waybill, orderID string) error {
	return t.exec(`INSERT INTO hub_waybills (waybill, order_id) VALUES ($1,$2) ON CONFLICT (waybill) DO UPDATE SET order_id=EXCLUDED.order_id`, waybill, orderID)
}

func (t *pgTx) WaybillOrder(waybill string) (string, error) {
	d, err := t.doc(`SELECT convert_to(order_id, 'UTF8') FROM hub_waybills WHERE waybill=$1`, waybill)
	return string(d), err
}
