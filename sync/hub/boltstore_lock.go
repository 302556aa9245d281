package hub

// LockKey: bbolt runs one read-write transaction at a time, so holding one is the lock.
func (t boltTx) LockKey(string) error { return t.writable() }
