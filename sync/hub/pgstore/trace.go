package pgstore

import (
	"fmt"

	"github.com/jackc/pgx/v5"

	"wedge/sync/hub"
)

// The central queries (hub.CentralTx) on the hub_cx_* tables of migration 00003.

func (t *pgTx) IndexOrder(ix hub.OrderIndex) error {
	doc := hub.EncodeOrderIndex(ix)
	if t.c != nil {
		t.c.index[ix.OrderID] = doc
	}
	return t.gather(func(r *rowBuffers) { r.index.put(ix.OrderID, indexRow{ix, doc}) })
}

// decodeIndex reads a hub_cx_orders doc: the hub's binary row, or the JSON written before.
func decodeIndex(raw []byte) (hub.OrderIndex, error) { return hub.DecodeOrderIndex(raw) }

func (t *pgTx) OrderIndexOf(orderID string) (*hub.OrderIndex, error) {
	raw, ok := []byte(nil), false
	if t.c != nil {
		raw, ok = t.c.index[orderID]
	}
	if !ok {
		var err error
		if raw, err = t.doc(`SELECT doc FROM hub_cx_orders WHERE order_id=$1`, orderID); err != nil {
			return nil, err
		}
		if t.c != nil {
			t.c.index[orderID] = raw
		}
	}
	if raw == nil {
		return nil, nil
	}
	ix, err := decodeIndex(raw)
	return &ix, err
}

// traceSQL are the lookups of TraceOrders, one per kind; each uses its partial index.
var traceSQL = map[string]string{
	hub.TraceChannelOrderNo: `SELECT order_id FROM hub_cx_orders WHERE channel_order_no=$1 AND channel_order_no<>'' ORDER BY order_id LIMIT $2`,
	hub.TraceWaybill: `SELECT order_id FROM (
			(SELECT order_id FROM hub_cx_orders WHERE waybill=$1 AND waybill<>'' ORDER BY order_id LIMIT $2)
			UNION
			(SELECT order_id FROM hub_cx_orders WHERE assigned_waybill=$1 AND assigned_waybill<>'' ORDER BY order_id LIMIT $2)
		) w ORDER BY order_id LIMIT $2`,
	hub.TraceFingerprint: `SELECT order_id FROM hub_cx_orders WHERE fingerprint=$1 AND fingerprint<>'' ORDER BY order_id LIMIT $2`,
}

func (t *pgTx) TraceOrders(kind, key string, limit int) ([]string, error) {
	q, ok := traceSQL[kind]
	if !ok {
		return nil, fmt.Errorf("pgstore: unknown trace kind %q", kind)
	}
	rows, err := t.tx.Query(t.ctx, q, key, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// listArgs are the filter's conditions shared by the list queries: $1 site, $2 agent, $3 since,
// $4 until (” = no bound).
func listArgs(f hub.ListFilter) []any {
	return []any{f.Site, f.Agent, f.Since, f.Until}
}

const listWhere = `($1='' OR site=$1) AND ($2='' OR agent=$2) AND ($4='' OR %[1]s<$4) AND %[1]s>=$3`

// walkRows reads every row of a query first (fn may query on the same connection), then calls fn.
func walkRows[T any](t *pgTx, scan pgx.RowToFunc[T], fn func(T) (bool, error), sql string, args ...any) error {
	rows, err := t.tx.Query(t.ctx, sql, args...)
	if err != nil {
		return err
	}
	all, err := pgx.CollectRows(rows, scan)
	if err != nil {
		return err
	}
	for _, r := range all {
		if more, err := fn(r); err != nil || !more {
			return err
		}
	}
	return nil
}

// listPage bounds one list query; a walk that wants more asks again after the last row.
const listPage = 500

func (t *pgTx) OrdersInState(state string, f hub.ListFilter, fn func(hub.OrderIndex) (bool, error)) error {
	scan := func(r pgx.CollectableRow) (hub.OrderIndex, error) {
		var raw []byte
		if err := r.Scan(&raw); err != nil {
			return hub.OrderIndex{}, err
		}
		return decodeIndex(raw)
	}
	for {
		args := append(listArgs(f), state, f.AfterAt, f.AfterID, f.HasAfter, listPage)
		var n int
		var last hub.OrderIndex
		more := true
		err := walkRows(t, scan, func(ix hub.OrderIndex) (bool, error) {
			n, last = n+1, ix
			more, err := fn(ix)
			return more, err
		}, `SELECT doc FROM hub_cx_orders WHERE state=$5 AND `+fmt.Sprintf(listWhere, "since")+`
			AND (NOT $8 OR (since, order_id) > ($6, $7)) ORDER BY since, order_id LIMIT $9`, args...)
		if err != nil || !more || n < listPage {
			return err
		}
		f.AfterAt, f.AfterID, f.HasAfter = last.Since, last.OrderID, true
	}
}

func (t *pgTx) PutHold(h hub.Hold) error {
	return t.exec(`INSERT INTO hub_cx_holds (order_id, site, agent, at) VALUES ($1,$2,$3,$4) ON CONFLICT DO NOTHING`, h.OrderID, h.Site, h.Agent, h.At)
}

func (t *pgTx) DeleteHold(orderID, site, agent string) error {
	return t.exec(`DELETE FROM hub_cx_holds WHERE order_id=$1 AND site=$2 AND agent=$3`, orderID, site, agent)
}

func (t *pgTx) Holds(f hub.ListFilter, fn func(hub.Hold) (bool, error)) error {
	scan := func(r pgx.CollectableRow) (hub.Hold, error) {
		var h hub.Hold
		return h, r.Scan(&h.OrderID, &h.Site, &h.Agent, &h.At)
	}
	for {
		args := append(listArgs(f), f.AfterAt, f.AfterID, f.AfterKey.Site, f.AfterKey.Agent, f.HasAfter, listPage)
		var n int
		var last hub.Hold
		more := true
		err := walkRows(t, scan, func(h hub.Hold) (bool, error) {
			n, last = n+1, h
			more, err := fn(h)
			return more, err
		}, `SELECT order_id, site, agent, at FROM hub_cx_holds WHERE `+fmt.Sprintf(listWhere, "at")+`
			AND (NOT $9 OR (at, order_id, site, agent) > ($5, $6, $7, $8)) ORDER BY at, order_id, site, agent LIMIT $10`, args...)
		if err != nil || !more || n < listPage {
			return err
		}
		f.AfterAt, f.AfterID, f.AfterKey.Site, f.AfterKey.Agent, f.HasAfter = last.At, last.OrderID, last.Site, last.Agent, true
	}
}

func (t *pgTx) AddRejection(r hub.Rejection) error {
	k := r.Key
	return t.exec(`INSERT INTO hub_cx_rejects (at, site, agent, journal, seq, order_id, reason) VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT DO NOTHING`,
		r.At, k.Site, k.Agent, k.Journal, int64(k.Seq), r.OrderID, r.Reason)
}

func (t *pgTx) Rejections(f hub.ListFilter, fn func(hub.Rejection) (bool, error)) error {
	scan := func(row pgx.CollectableRow) (hub.Rejection, error) {
		var r hub.Rejection
		var seq int64
		err := row.Scan(&r.At, &r.Key.Site, &r.Key.Agent, &r.Key.Journal, &seq, &r.OrderID, &r.Reason)
		r.Key.Seq = uint64(seq)
		return r, err
	}
	for {
		k := f.AfterKey
		args := append(listArgs(f), f.Reason, f.AfterAt, k.Site, k.Agent, k.Journal, int64(k.Seq), f.HasAfter, listPage)
		var n int
		var last hub.Rejection
		more := true
		err := walkRows(t, scan, func(r hub.Rejection) (bool, error) {
			n, last = n+1, r
			more, err := fn(r)
			return more, err
		}, `SELECT at, site, agent, journal, seq, order_id, reason FROM hub_cx_rejects WHERE `+fmt.Sprintf(listWhere, "at")+`
			AND ($5='' OR reason=$5)
			AND (NOT $11 OR (at, site, agent, journal, seq) > ($6, $7, $8, $9, $10)) ORDER BY at, site, agent, journal, seq LIMIT $12`, args...)
		if err != nil || !more || n < listPage {
			return err
		}
		f.AfterAt, f.AfterKey, f.HasAfter = last.At, last.Key, true
	}
}

func (t *pgTx) AddOrderEvidence(orderID string, doc []byte) error {
	return t.exec(`INSERT INTO hub_cx_evidence (order_id, doc) VALUES ($1,$2)`, orderID, doc)
}

func (t *pgTx) OrderEvidence(orderID string) ([][]byte, error) {
	rows, err := t.tx.Query(t.ctx, `SELECT doc FROM hub_cx_evidence WHERE order_id=$1 ORDER BY n`, orderID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[[]byte])
}

func (t *pgTx) OrderIDs(after string, limit int) ([]string, error) {
	rows, err := t.tx.Query(t.ctx, `SELECT id FROM hub_orders WHERE id>$1 AND doc IS NOT NULL ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

func (t *pgTx) EntryKeys(after hub.EntryKey, limit int) ([]hub.EntryKey, error) {
	rows, err := t.tx.Query(t.ctx, `SELECT site, agent, journal, seq FROM hub_entries
		WHERE (site, agent, journal, seq) > ($1, $2, $3, $4) ORDER BY site, agent, journal, seq LIMIT $5`,
		after.Site, after.Agent, after.Journal, int64(after.Seq), limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (hub.EntryKey, error) {
		var k hub.EntryKey
		var seq int64
		err := r.Scan(&k.Site, &k.Agent, &k.Journal, &seq)
		k.Seq = uint64(seq)
		return k, err
	})
}
