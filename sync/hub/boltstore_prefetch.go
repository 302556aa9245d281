package hub

// Prefetch does nothing: a bbolt read is a memory access, not a round trip.
func (boltTx) Prefetch(Prefetch) error { return nil }
