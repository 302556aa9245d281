package pgstore

import (
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"wedge/sync/hub"
)

// rowBuffers are the rows of an Update's most frequent writes — entries, history, downlink
// messages, order records and their central rows, one or more per entry — gathered until the next
// round trip and sent as one multi-row statement per table (INSERT … SELECT FROM unnest(…)),
// where one statement per row cost the server a parse, plan and execution each.
//
// The tables' other writes stay statements of their own, in call order. Gathered rows are sent
// after them, in a fixed table order: entries, history and downlink rows are insert-only (nothing
// in the transaction reads or changes them before they are sent), and an order's record and
// central row are written under the order's row lock, which the transaction already holds; the
// last write of a key wins, as it would have one statement after the other.
type rowBuffers struct {
	entries  []entryRow
	history  []historyRow
	downlink []downlinkRow
	orders   keyed[[]byte]
	index    keyed[indexRow]
}

type indexRow struct {
	ix  hub.OrderIndex
	doc []byte
}

type entryRow struct {
	k   hub.EntryKey
	doc []byte
}

type historyRow struct {
	orderID, at string
	k           hub.EntryKey
}

type downlinkRow struct {
	site string
	hseq uint64
	doc  []byte
}

// keyed keeps the last value per key, keys in first-write order.
type keyed[V any] struct {
	keys []string
	m    map[string]V
}

func (k *keyed[V]) put(key string, v V) {
	if k.m == nil {
		k.m = map[string]V{}
	}
	if _, ok := k.m[key]; !ok {
		k.keys = append(k.keys, key)
	}
	k.m[key] = v
}

func (r *rowBuffers) len() int {
	return len(r.entries) + len(r.history) + len(r.downlink) + len(r.orders.keys) + len(r.index.keys)
}

// gather adds a row with add unless the transaction cannot write; the rows count against
// maxQueued.
func (t *pgTx) gather(add func(r *rowBuffers)) error {
	if !t.writable {
		return errReadOnly
	}
	if t.err != nil {
		return t.err
	}
	add(&t.rows)
	if t.rows.len()+t.queued() >= maxQueued {
		return t.flush()
	}
	return nil
}

// emit queues the gathered rows' statements on b and empties the buffers.
func (r *rowBuffers) emit(b *pgx.Batch) {
	if n := len(r.entries); n > 0 {
		sites, agents, journals, seqs, docs := make([]string, n), make([]string, n), make([]string, n), make([]int64, n), make([][]byte, n)
		for i, e := range r.entries {
			sites[i], agents[i], journals[i], seqs[i], docs[i] = e.k.Site, e.k.Agent, e.k.Journal, int64(e.k.Seq), e.doc
		}
		first := r.entries[0].k
		b.Queue(`INSERT INTO hub_entries (site, agent, journal, seq, doc)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bytea[]) ON CONFLICT DO NOTHING`,
			sites, agents, journals, seqs, docs).Exec(func(ct pgconn.CommandTag) error {
			// Every key was read as missing by this transaction (putEntryQueued).
			if ct.RowsAffected() != int64(n) {
				return fmt.Errorf("%w: %d of %d entries from %s/%s/%s seq %d on", errEntryRace, int64(n)-ct.RowsAffected(), n,
					first.Site, first.Agent, first.Journal, first.Seq)
			}
			return nil
		})
	}
	if n := len(r.history); n > 0 {
		ids, ats, sites, agents, seqs, journals := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]int64, n), make([]string, n)
		for i, h := range r.history {
			ids[i], ats[i], sites[i], agents[i], seqs[i], journals[i] = h.orderID, h.at, h.k.Site, h.k.Agent, int64(h.k.Seq), h.k.Journal
		}
		b.Queue(`INSERT INTO hub_history (order_id, at, site, agent, seq, journal)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[]) ON CONFLICT DO NOTHING`,
			ids, ats, sites, agents, seqs, journals)
	}
	if n := len(r.downlink); n > 0 {
		sites, hseqs, docs := make([]string, n), make([]int64, n), make([][]byte, n)
		for i, d := range r.downlink {
			sites[i], hseqs[i], docs[i] = d.site, int64(d.hseq), d.doc
		}
		b.Queue(`INSERT INTO hub_downlink (site, hseq, doc) SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[])`, sites, hseqs, docs)
	}
	if n := len(r.orders.keys); n > 0 {
		docs := make([][]byte, n)
		for i, id := range r.orders.keys {
			docs[i] = r.orders.m[id]
		}
		b.Queue(`INSERT INTO hub_orders (id, doc) SELECT * FROM unnest($1::text[], $2::bytea[])
			ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc`, r.orders.keys, docs)
	}
	if n := len(r.index.keys); n > 0 {
		cols := make([][]string, 9)
		for i := range cols {
			cols[i] = make([]string, n)
		}
		docs := make([][]byte, n)
		for i, id := range r.index.keys {
			ix := r.index.m[id].ix
			for c, v := range []string{ix.OrderID, ix.Site, ix.Agent, ix.State, ix.Since, ix.ChannelOrderNo, ix.Waybill, ix.AssignedWaybill, ix.Fingerprint} {
				cols[c][i] = v
			}
			docs[i] = r.index.m[id].doc
		}
		b.Queue(`INSERT INTO hub_cx_orders (order_id, site, agent, state, since, channel_order_no, waybill, assigned_waybill, fingerprint, doc)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::bytea[])
			ON CONFLICT (order_id) DO UPDATE SET site=EXCLUDED.site, agent=EXCLUDED.agent, state=EXCLUDED.state, since=EXCLUDED.since,
				channel_order_no=EXCLUDED.channel_order_no, waybill=EXCLUDED.waybill, assigned_waybill=EXCLUDED.assigned_waybill,
				fingerprint=EXCLUDED.fingerprint, doc=EXCLUDED.doc`,
			cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7], cols[8], docs)
	}
	*r = rowBuffers{}
}
