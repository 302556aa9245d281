package hub

// LockTx serializes the hub's periodic rules across replicas (rules_tick.go): what they decide
// from a Meta document they then rewrite (a site's KPI warning state, the 伪完成 counted once) must
// not be decided twice by two replicas at the same time.
type LockTx interface {
	// LockKey takes an exclusive lock named key until the transaction ends; another Update that
	// locks the same key waits for it. Only in an Update. (bbolt: one writer at a time already;
	// PostgreSQL: a transaction-level advisory lock.)
	LockKey(key string) error
}
