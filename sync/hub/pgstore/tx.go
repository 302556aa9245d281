package pgstore

import (
	"context"
	"errors"
	"slices"

	"github.com/jackc/pgx/v5"

	"wedge/sync/hub"
)

// errReadOnly is a write in a View.
var errReadOnly = errors.New("pgstore: write in a read-only transaction")

// pgTx is one transaction; Tx's methods carry no context, so it keeps the one Update was given.
// An Update queues its writes and keeps what it read (batch.go).
type pgTx struct {
	ctx      context.Context
	tx       conn // statements that need an answer: they send the queue first
	raw      pgx.Tx
	writable bool
	q        *pgx.Batch // writes queued since the last round trip
	rows     rowBuffers // and rows gathered for multi-row writes (multirow.go)
	err      error      // the first failure of a round trip: the transaction is lost
	c        *cache     // nil in a View
}

func newTx(ctx context.Context, tx pgx.Tx, writable bool) *pgTx {
	t := &pgTx{ctx: ctx, raw: tx, writable: writable}
	t.tx = conn{t}
	if writable {
		t.c = newCache()
	}
	return t
}

// commit sends what is still queued, then commits.
func (t *pgTx) commit() error {
	if err := t.flush(); err != nil {
		return err
	}
	return t.raw.Commit(t.ctx)
}

// doc reads one bytea column; no row (or a NULL placeholder) is nil.
func (t *pgTx) doc(sql string, args ...any) ([]byte, error) {
	var d []byte
	err := t.tx.QueryRow(t.ctx, sql, args...).Scan(&d)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return d, err
}

// walk runs a query of (n, doc) rows and calls fn for each until it returns false.
func (t *pgTx) walk(fn func(uint64, []byte) (bool, error), sql string, args ...any) error {
	rows, err := t.tx.Query(t.ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var n int64
		var d []byte
		if err := rows.Scan(&n, &d); err != nil {
			return err
		}
		more, err := fn(uint64(n), d)
		if err != nil || !more {
			return err
		}
	}
	return rows.Err()
}

// walkKeyed runs a query of (key, doc) rows and calls fn for each until it returns false, reading
// one row at a time (fn must not use the transaction while the walk runs).
func (t *pgTx) walkKeyed(fn func(string, []byte) (bool, error), sql string, args ...any) error {
	rows, err := t.tx.Query(t.ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var d []byte
		if err := rows.Scan(&k, &d); err != nil {
			return err
		}
		more, err := fn(k, d)
		if err != nil || !more {
			return err
		}
	}
	return rows.Err()
}

func (t *pgTx) Entry(k hub.EntryKey) ([]byte, error) {
	if t.c == nil {
		return t.doc(`SELECT doc FROM hub_entries WHERE site=$1 AND agent=$2 AND journal=$3 AND seq=$4`, k.Site, k.Agent, k.Journal, int64(k.Seq))
	}
	if d, ok := t.c.entries[k]; ok {
		return d, nil
	}
	if err := t.readAhead(k); err != nil {
		return nil, err
	}
	return t.c.entries[k], nil
}

// PutEntry of an entry this transaction read as missing is queued (see putEntryQueued); of one
// it read as stored it is false at once.
func (t *pgTx) PutEntry(k hub.EntryKey, doc []byte) (bool, error) {
	if !t.writable {
		return false, errReadOnly
	}
	if d, ok := t.c.entries[k]; ok {
		if d != nil {
			return false, nil
		}
		return true, t.putEntryQueued(k, doc)
	}
	tag, err := t.tx.Exec(t.ctx, `INSERT INTO hub_entries (site, agent, journal, seq, doc) VALUES ($1,$2,$3,$4,$5) ON CONFLICT DO NOTHING`,
		k.Site, k.Agent, k.Journal, int64(k.Seq), doc)
	if err != nil {
		return false, err
	}
	if tag.RowsAffected() != 1 {
		return false, nil
	}
	t.c.entries[k] = doc
	return true, nil
}

func (t *pgTx) Entries(site, agent, journal string, after uint64, fn func(uint64, []byte) (bool, error)) error {
	return t.walk(fn, `SELECT seq, doc FROM hub_entries WHERE site=$1 AND agent=$2 AND journal=$3 AND seq>$4 ORDER BY seq`, site, agent, journal, int64(after))
}

func (t *pgTx) Pending(k hub.EntryKey) ([]byte, error) {
	if t.c == nil {
		return t.doc(`SELECT doc FROM hub_pending WHERE site=$1 AND agent=$2 AND journal=$3 AND seq=$4`, k.Site, k.Agent, k.Journal, int64(k.Seq))
	}
	if d, ok := t.c.pending[k]; ok {
		return d, nil
	}
	if err := t.readAhead(k); err != nil {
		return nil, err
	}
	return t.c.pending[k], nil
}

func (t *pgTx) PutPending(k hub.EntryKey, doc []byte) error {
	if t.c != nil {
		t.c.pending[k] = doc
	}
	return t.exec(`INSERT INTO hub_pending (site, agent, journal, seq, doc) VALUES ($1,$2,$3,$4,$5)
		ON CONFLICT (site, agent, journal, seq) DO UPDATE SET doc = EXCLUDED.doc`, k.Site, k.Agent, k.Journal, int64(k.Seq), doc)
}

func (t *pgTx) DeletePending(k hub.EntryKey) error {
	if t.c != nil {
		t.c.pending[k] = nil
	}
	return t.exec(`DELETE FROM hub_pending WHERE site=$1 AND agent=$2 AND journal=$3 AND seq=$4`, k.Site, k.Agent, k.Journal, int64(k.Seq))
}

func (t *pgTx) Pendings(site, agent, journal string, after uint64, fn func(uint64, []byte) (bool, error)) error {
	return t.walk(fn, `SELECT seq, doc FROM hub_pending WHERE site=$1 AND agent=$2 AND journal=$3 AND seq>$4 ORDER BY seq`, site, agent, journal, int64(after))
}

// Journal locks the journal's row in an Update (creating an empty one first), so replicas that
// ingest the same journal take turns.
func (t *pgTx) Journal(site, agent, journal string) ([]byte, error) {
	if !t.writable {
		return t.doc(`SELECT doc FROM hub_journals WHERE site=$1 AND agent=$2 AND journal=$3`, site, agent, journal)
	}
	jk := [3]string{site, agent, journal}
	if d, ok := t.c.journals[jk]; ok {
		return d, nil
	}
	if err := t.exec(`INSERT INTO hub_journals (site, agent, journal) VALUES ($1,$2,$3) ON CONFLICT DO NOTHING`, site, agent, journal); err != nil {
		return nil, err
	}
	d, err := t.doc(`SELECT doc FROM hub_journals WHERE site=$1 AND agent=$2 AND journal=$3 FOR UPDATE`, site, agent, journal)
	if err == nil {
		t.c.journals[jk] = d
	}
	return d, err
}

func (t *pgTx) PutJournal(site, agent, journal string, doc []byte) error {
	if t.c != nil {
		t.c.journals[[3]string{site, agent, journal}] = doc
	}
	return t.exec(`INSERT INTO hub_journals (site, agent, journal, doc) VALUES ($1,$2,$3,$4)
		ON CONFLICT (site, agent, journal) DO UPDATE SET doc = EXCLUDED.doc`, site, agent, journal, doc)
}

// Order locks the order's row in an Update (creating an empty one first): two replicas merging
// the same order take turns, and the second merges into what the first committed.
func (t *pgTx) Order(id string) ([]byte, error) {
	if !t.writable {
		return t.doc(`SELECT doc FROM hub_orders WHERE id=$1`, id)
	}
	if d, ok := t.c.orders[id]; ok {
		return d, nil
	}
	// With the other orders of the last prefetch when it named this one, in one round trip.
	ids := []string{id}
	if slices.Contains(t.c.toLock, id) {
		ids = t.c.toLock
	}
	if err := t.lockOrders(ids); err != nil {
		return nil, err
	}
	return t.c.orders[id], nil
}

func (t *pgTx) PutOrder(id string, doc []byte) error {
	if t.c != nil {
		t.c.orders[id] = doc
	}
	return t.gather(func(r *rowBuffers) { r.orders.put(id, doc) })
}

func (t *pgTx) AddHistory(orderID, at string, k hub.EntryKey) error {
	return t.gather(func(r *rowBuffers) { r.history = append(r.history, historyRow{orderID, at, k}) })
}

func (t *pgTx) History(orderID string, fn func(hub.EntryKey) error) error {
	rows, err := t.tx.Query(t.ctx, `SELECT site, agent, journal, seq FROM hub_history WHERE order_id=$1 ORDER BY at, site, agent, seq, journal`, orderID)
	if err != nil {
		return err
	}
	var keys []hub.EntryKey // read all first: fn queries on the same connection
	for rows.Next() {
		var k hub.EntryKey
		var seq int64
		if err := rows.Scan(&k.Site, &k.Agent, &k.Journal, &seq); err != nil {
			rows.Close()
			return err
		}
		k.Seq = uint64(seq)
		keys = append(keys, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, k := range keys {
		if err := fn(k); err != nil {
			return err
		}
	}
	return nil
}

func (t *pgTx) Agent(site, agent string) ([]byte, error) {
	if t.c != nil {
		if d, ok := t.c.agents[[2]string{site, agent}]; ok {
			return d, nil
		}
	}
	d, err := t.doc(`SELECT doc FROM hub_agents WHERE site=$1 AND agent=$2`, site, agent)
	if err == nil && t.c != nil {
		t.c.agents[[2]string{site, agent}] = d
	}
	return d, err
}

func (t *pgTx) PutAgent(site, agent string, doc []byte) error {
	if t.c != nil {
		t.c.agents[[2]string{site, agent}] = doc
	}
	return t.exec(`INSERT INTO hub_agents (site, agent, doc) VALUES ($1,$2,$3) ON CONFLICT (site, agent) DO UPDATE SET doc = EXCLUDED.doc`, site, agent, doc)
}

func (t *pgTx) Agents(fn func([]byte) error) error {
	return t.walk(func(_ uint64, d []byte) (bool, error) { return true, fn(d) }, `SELECT 0::bigint, doc FROM hub_agents ORDER BY site, agent`)
}

// counter advances a counter row and returns its new value; the row stays locked until the
// transaction ends, so concurrent transactions get consecutive values, and a rollback returns it.
func (t *pgTx) counter(sql string, key string) (uint64, error) {
	if !t.writable {
		return 0, errReadOnly
	}
	var n int64
	if err := t.tx.QueryRow(t.ctx, sql, key).Scan(&n); err != nil {
		return 0, err
	}
	return uint64(n), nil
}

// NextHSeq takes the site's counter row with its first call in the transaction; later calls count
// on in memory (the row is this transaction's until it ends) and the last value is written with
// the next round trip.
func (t *pgTx) NextHSeq(site string) (uint64, error) {
	if t.c != nil {
		if n, ok := t.c.hseq[site]; ok {
			if t.err != nil {
				return 0, t.err
			}
			t.c.hseq[site], t.c.dirty[site] = n+1, true
			return n + 1, nil
		}
	}
	n, err := t.counter(`INSERT INTO hub_downlink_seq (site, last) VALUES ($1, 1)
		ON CONFLICT (site) DO UPDATE SET last = hub_downlink_seq.last + 1 RETURNING last`, site)
	if err == nil && t.c != nil {
		t.c.hseq[site] = n
	}
	return n, err
}

func (t *pgTx) PutDownlink(site string, hseq uint64, doc []byte) error {
	return t.gather(func(r *rowBuffers) { r.downlink = append(r.downlink, downlinkRow{site, hseq, doc}) })
}

func (t *pgTx) Downlink(site string, after uint64, fn func(uint64, []byte) (bool, error)) error {
	return t.walk(fn, `SELECT hseq, doc FROM hub_downlink WHERE site=$1 AND hseq>$2 ORDER BY hseq`, site, int64(after))
}

func (t *pgTx) NextCommandSeq() (uint64, error) {
	return t.counter(`INSERT INTO hub_counters (name, last) VALUES ($1, 1)
		ON CONFLICT (name) DO UPDATE SET last = hub_counters.last + 1 RETURNING last`, "commands")
}

func (t *pgTx) PutCommand(site, agent string, n uint64, doc []byte) error {
	return t.exec(`INSERT INTO hub_commands (site, agent, n, doc) VALUES ($1,$2,$3,$4)`, site, agent, int64(n), doc)
}

func (t *pgTx) Commands(site, agent string, fn func([]byte) error) error {
	return t.walk(func(_ uint64, d []byte) (bool, error) { return true, fn(d) },
		`SELECT n, doc FROM hub_commands WHERE site=$1 AND agent=$2 ORDER BY n`, site, agent)
}

func (t *pgTx) AddUnverified(k hub.EntryKey, doc []byte) error {
	return t.exec(`INSERT INTO hub_unverified (site, agent, journal, seq, doc) VALUES ($1,$2,$3,$4,$5)`, k.Site, k.Agent, k.Journal, int64(k.Seq), doc)
}

func (t *pgTx) Unverified(site, agent string, fn func([]byte) (bool, error)) error {
	return t.walk(func(_ uint64, d []byte) (bool, error) { return fn(d) },
		`SELECT n, doc FROM hub_unverified WHERE site=$1 AND agent=$2 ORDER BY journal, seq, n`, site, agent)
}

func (t *pgTx) Meta(key string) ([]byte, error) {
	return t.doc(`SELECT doc FROM hub_meta WHERE key=$1`, key)
}

func (t *pgTx) PutMeta(key string, doc []byte) error {
	return t.exec(`INSERT INTO hub_meta (key, doc) VALUES ($1,$2) ON CONFLICT (key) DO UPDATE SET doc = EXCLUDED.doc`, key, doc)
}

func (t *pgTx) DeleteMeta(key string) error {
	return t.exec(`DELETE FROM hub_meta WHERE key=$1`, key)
}

// AddCounters adds in one statement, in name order (so two transactions lock the rows in the same
// order): n = n + delta, which composes across replicas where a saved copy would be overwritten.
func (t *pgTx) AddCounters(delta map[string]int64) error {
	if len(delta) == 0 {
		return nil
	}
	names := make([]string, 0, len(delta))
	for k := range delta {
		names = append(names, k)
	}
	slices.Sort(names)
	ns := make([]int64, len(names))
	for i, k := range names {
		ns[i] = delta[k]
	}
	return t.exec(`INSERT INTO hub_stats (name, n) SELECT * FROM unnest($1::text[], $2::bigint[]) AS d(name, n) ORDER BY name
		ON CONFLICT (name) DO UPDATE SET n = hub_stats.n + EXCLUDED.n`, names, ns)
}

// Counters reads with the queued writes (the group's AddCounters), in one round trip.
func (t *pgTx) Counters(fn func(string, int64) error) error {
	type row struct {
		name string
		n    int64
	}
	var all []row
	err := t.send(func(b *pgx.Batch) {
		b.Queue(`SELECT name, n FROM hub_stats ORDER BY name`).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var r row
				if err := rows.Scan(&r.name, &r.n); err != nil {
					return err
				}
				all = append(all, r)
			}
			return rows.Err()
		})
	})
	if err != nil {
		return err
	}
	for _, r := range all {
		if err := fn(r.name, r.n); err != nil {
			return err
		}
	}
	return nil
}
