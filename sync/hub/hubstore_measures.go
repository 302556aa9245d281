package hub

// MeasuresTx is the part of Tx that the central measures (sync/hub/central) need: a walk over the
// order records, and anomaly counters per hour, site and kind.
type MeasuresTx interface {
	// OrderRecords calls fn for every order record with an id greater than after, by id, until fn
	// returns false or an error.
	OrderRecords(after string, fn func(id string, doc []byte) (bool, error)) error
	// AddAnomalies adds n to the counter of (hour, site, kind); hour is central.HourKey (UTC
	// "2006-01-02T15"). Concurrent transactions add up (no lost update).
	AddAnomalies(hour, site, kind string, n uint64) error
	// Anomalies calls fn for every counter with from ≤ hour < to ("" = unbounded), by hour, site
	// and kind.
	Anomalies(from, to string, fn func(hour, site, kind string, n uint64) error) error
}
