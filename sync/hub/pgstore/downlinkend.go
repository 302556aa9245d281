package pgstore

import (
	"errors"

	"github.com/jackc/pgx/v5"
)

// LastHSeq reads the site's counter row without locking it. A transaction that holds the row
// (it allocated the next hseq and has not committed) is not waited for: its hseq is above what
// this returns and is committed after the read. What this transaction allocated itself is counted.
func (t *pgTx) LastHSeq(site string) (uint64, error) {
	if t.c != nil {
		if n, ok := t.c.hseq[site]; ok {
			return n, t.err
		}
	}
	var n int64
	err := t.tx.QueryRow(t.ctx, `SELECT last FROM hub_downlink_seq WHERE site=$1`, site).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return uint64(n), nil
}
