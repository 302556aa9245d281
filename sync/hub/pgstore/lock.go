package pgstore

// lockClass is the first half of the hub's advisory lock ids ("wedg"), keeping them apart from
// other users of advisory locks in the database; the second is the key's hash (two keys that
// collide only wait for each other).
const lockClass = 0x77656467

// LockKey takes a transaction-level advisory lock: held until commit or rollback, by whichever
// replica's transaction asks first; the others wait.
func (t *pgTx) LockKey(key string) error {
	return t.exec(`SELECT pg_advisory_xact_lock($1::int4, hashtext($2))`, lockClass, key)
}
