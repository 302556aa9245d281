package pgstore

// The central measures' part of the transaction (hub.MeasuresTx).

func (t *pgTx) OrderRecords(after string, fn func(string, []byte) (bool, error)) error {
	// Rows locked while missing hold a NULL placeholder: not stored, not walked.
	return t.walkKeyed(fn, `SELECT id, doc FROM hub_orders WHERE id > $1 AND doc IS NOT NULL ORDER BY id`, after)
}

func (t *pgTx) AddAnomalies(hour, site, kind string, n uint64) error {
	return t.exec(`INSERT INTO hub_anomalies (hour, site, kind, n) VALUES ($1,$2,$3,$4)
		ON CONFLICT (hour, site, kind) DO UPDATE SET n = hub_anomalies.n + EXCLUDED.n`, hour, site, kind, int64(n))
}

func (t *pgTx) Anomalies(from, to string, fn func(hour, site, kind string, n uint64) error) error {
	q := `SELECT hour, site, kind, n FROM hub_anomalies WHERE hour >= $1 AND ($2 = '' OR hour < $2) ORDER BY hour, site, kind`
	rows, err := t.tx.Query(t.ctx, q, from, to)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var h, s, k string
		var n int64
		if err := rows.Scan(&h, &s, &k, &n); err != nil {
			return err
		}
		if err := fn(h, s, k, uint64(n)); err != nil {
			return err
		}
	}
	return rows.Err()
}
