package pgstore

import (
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"wedge/sync/hub"
)

// The outbox (hub.OutboxTx) in table hub_outbox (migration 00004).

const outboxCols = `site, order_id, rule, state, due, attempts, lease_owner, lease_until, doc`

// micro keeps t to the microsecond, as timestamptz does; the zero time is NULL.
func micro(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC().Truncate(time.Microsecond)
	return &u
}

func scanOutbox(row pgx.Row) (hub.OutboxRow, error) {
	var r hub.OutboxRow
	var lease *time.Time
	if err := row.Scan(&r.Site, &r.Order, &r.Rule, &r.State, &r.Due, &r.Attempts, &r.LeaseOwner, &lease, &r.Doc); err != nil {
		return r, err
	}
	r.Due = r.Due.UTC()
	if lease != nil {
		r.LeaseUntil = lease.UTC()
	}
	return r, nil
}

func (t *pgTx) AddOutbox(r hub.OutboxRow) (bool, error) {
	if !t.writable {
		return false, errReadOnly
	}
	tag, err := t.tx.Exec(t.ctx, `INSERT INTO hub_outbox (`+outboxCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT DO NOTHING`,
		r.Site, r.Order, r.Rule, r.State, micro(r.Due), r.Attempts, r.LeaseOwner, micro(r.LeaseUntil), r.Doc)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// Outbox locks the row in an Update, so the ingest that cancels a reminder and the dispatcher
// that records its result take turns.
func (t *pgTx) Outbox(k hub.OutboxKey) (*hub.OutboxRow, error) {
	q := `SELECT ` + outboxCols + ` FROM hub_outbox WHERE site=$1 AND order_id=$2 AND rule=$3`
	if t.writable {
		q += ` FOR UPDATE`
	}
	r, err := scanOutbox(t.tx.QueryRow(t.ctx, q, k.Site, k.Order, k.Rule))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &r, nil
}

func (t *pgTx) PutOutbox(r hub.OutboxRow) error {
	return t.exec(`INSERT INTO hub_outbox (`+outboxCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)
		ON CONFLICT (site, order_id, rule) DO UPDATE SET state=EXCLUDED.state, due=EXCLUDED.due, attempts=EXCLUDED.attempts,
		lease_owner=EXCLUDED.lease_owner, lease_until=EXCLUDED.lease_until, doc=EXCLUDED.doc`,
		r.Site, r.Order, r.Rule, r.State, micro(r.Due), r.Attempts, r.LeaseOwner, micro(r.LeaseUntil), r.Doc)
}

// ClaimOutbox leases due rows; SKIP LOCKED passes over rows another replica is claiming or
// recording right now, so concurrent claims never return the same row.
func (t *pgTx) ClaimOutbox(owner string, now time.Time, lease time.Duration, limit int) ([]hub.OutboxRow, error) {
	if !t.writable {
		return nil, errReadOnly
	}
	rows, err := t.tx.Query(t.ctx, `UPDATE hub_outbox o SET lease_owner=$1, lease_until=$3
		FROM (SELECT site, order_id, rule FROM hub_outbox
		      WHERE state='pending' AND due <= $2 AND (lease_until IS NULL OR lease_until <= $2)
		      ORDER BY due LIMIT $4 FOR UPDATE SKIP LOCKED) c
		WHERE o.site=c.site AND o.order_id=c.order_id AND o.rule=c.rule
		RETURNING o.site, o.order_id, o.rule, o.state, o.due, o.attempts, o.lease_owner, o.lease_until, o.doc`,
		owner, micro(now), micro(now.Add(lease)), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []hub.OutboxRow
	for rows.Next() {
		r, err := scanOutbox(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (t *pgTx) Outboxes(state, site string, fn func(hub.OutboxRow) (bool, error)) error {
	rows, err := t.tx.Query(t.ctx, `SELECT `+outboxCols+` FROM hub_outbox
		WHERE ($1 = '' OR state = $1) AND ($2 = '' OR site = $2) ORDER BY site, order_id, rule`, state, site)
	if err != nil {
		return err
	}
	var all []hub.OutboxRow // read all first: fn may query on the same connection
	for rows.Next() {
		r, err := scanOutbox(rows)
		if err != nil {
			rows.Close()
			return err
		}
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, r := range all {
		more, err := fn(r)
		if err != nil || !more {
			return err
		}
	}
	return nil
}
