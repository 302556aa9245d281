package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"wedge/internal/logging"
	"wedge/sync/wire"
)

// A store written by a hub before the central queries existed has orders and entries but no
// central index. On start the hub builds it in the background (bbolt and PostgreSQL alike), in
// small transactions that interleave with the owner's, resuming where it stopped after a restart:
// first the row of every order (orders indexed meanwhile by the owner are newer and kept), then the
// rejections and holds from every stored entry. A marker in Meta says how far it got; once done, a
// start costs one read. Until then the trace answers by order id (no index needed) and the other
// keys find only what is indexed so far. Evidence kept before the index existed is not copied under
// its order (GET /v1/agents/{site}/{agent}/unverified still lists it).

// keyCentralIndex is the Meta key of the build's progress.
const keyCentralIndex = "central_index"

// centralIndexVersion is bumped when the index needs rebuilding.
const centralIndexVersion = 1

// backfillChunk is how many orders or entries one transaction indexes (a variable for tests).
var backfillChunk = 500

type centralMark struct {
	V          int      `json:"v"`
	Done       bool     `json:"done"`
	OrdersDone bool     `json:"orders_done"`
	AfterOrder string   `json:"after_order,omitempty"`
	AfterEntry EntryKey `json:"after_entry"`
}

// BuildCentralIndex indexes what store holds that the central index lacks (see above) and returns
// when it is complete or ctx ends. now is the clock for orders without a state time.
func BuildCentralIndex(ctx context.Context, store Store, now func() time.Time) error {
	var m centralMark
	if err := store.View(ctx, func(tx Tx) error {
		_, err := getDoc(tx.Meta(keyCentralIndex))(keyCentralIndex, &m)
		return err
	}); err != nil {
		return err
	}
	if m.V != centralIndexVersion {
		m = centralMark{V: centralIndexVersion}
	}
	for !m.Done {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := store.Update(ctx, func(tx Tx) error {
			var err error
			if !m.OrdersDone {
				err = backfillOrders(tx, &m, now().UTC())
			} else {
				err = backfillEntries(tx, &m, now().UTC())
			}
			if err != nil {
				return err
			}
			return tx.PutMeta(keyCentralIndex, mustJSON(m))
		})
		if err != nil {
			return fmt.Errorf("central index: %w", err)
		}
	}
	return nil
}

func backfillOrders(tx Tx, m *centralMark, now time.Time) error {
	ids, err := tx.OrderIDs(m.AfterOrder, backfillChunk)
	if err != nil {
		return err
	}
	for _, id := range ids {
		ix, err := tx.OrderIndexOf(id)
		if err != nil {
			return err
		}
		if ix == nil {
			if err := indexOrder(tx, id, "", now); err != nil {
				return err
			}
		}
		m.AfterOrder = id
	}
	m.OrdersDone = len(ids) < backfillChunk
	return nil
}

func backfillEntries(tx Tx, m *centralMark, now time.Time) error {
	keys, err := tx.EntryKeys(m.AfterEntry, backfillChunk)
	if err != nil {
		return err
	}
	for _, k := range keys {
		raw, err := tx.Entry(k)
		if err != nil {
			return err
		}
		var se storedEntry
		if err := json.Unmarshal(raw, &se); err != nil {
			return fmt.Errorf("%w: entry %q: %v", ErrStore, ekey(k), err)
		}
		e := se.Entry
		id := entryOrderID(e)
		switch {
		case e.Kind == wire.KindReject:
			err = tx.AddRejection(Rejection{At: sortableAtOr(e, now), Key: k, OrderID: id, Reason: e.Reason})
		case id != "":
			if err = indexHold(tx, id, k.Site, k.Agent, e, now); err == nil {
				err = backfillSince(tx, id, e, now)
			}
		}
		if err != nil {
			return err
		}
		m.AfterEntry = k
	}
	m.Done = len(keys) < backfillChunk
	return nil
}

// backfillSince moves the backlog time of an order that is in the backlog back to an earlier entry
// into it (a record keeps only the time of its current state: 待分仓 after 暂停进入 forgets when
// the order was held). An order never comes back to the backlog once out, so every such entry is
// of its current stay.
func backfillSince(tx Tx, id string, e wire.Entry, now time.Time) error {
	if !inBacklog(e.To) {
		return nil
	}
	ix, err := tx.OrderIndexOf(id)
	if err != nil || ix == nil || !inBacklog(ix.State) {
		return err
	}
	if at := sortableAtOr(e, now); at < ix.Since {
		ix.Since = at
		return tx.IndexOrder(*ix)
	}
	return nil
}

// startBackfill runs BuildCentralIndex until it is done or the hub stops; the returned function
// waits for it (the owner calls it before closing the store).
func (h *Hub) startBackfill() (wait func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		began := time.Now()
		if err := BuildCentralIndex(ctx, h.db, h.clk.Now); err != nil {
			if ctx.Err() == nil {
				h.log.Error("中心索引建立失败（重启后继续）/ building the central index failed (resumed on the next start)", logging.Err(err))
			}
			return
		}
		if d := time.Since(began); d > time.Second {
			h.log.Info("central index built", "took", d.Round(time.Millisecond))
		}
	}()
	go func() {
		select {
		case <-h.stopc:
		case <-done:
		}
		cancel()
	}()
	return func() { <-done }
}
