package hub

import (
	"time"

	"wedge/order"
	"wedge/sync/wire"
)

// The central queries' index (hubstore.go's CentralTx), kept by the owner in the transaction that
// stores the order or the entry:
//
//   - every order the hub holds has an OrderIndex row (its lookup keys, state and backlog time),
//     rewritten whenever an entry or a POST touches the order;
//   - an agent's entry that moves an order into 暂停进入 records a Hold for that agent, and its
//     next entry that moves the order anywhere else ends it (the hub's own state of the order does
//     not show a hold: its merge never moves an order back from 待分仓);
//   - every reject entry (refused scans and intakes) gets a Rejection row;
//   - evidence (an unverified entry) of an order is copied under the order for the trace.

// entryOrderID is the order an entry is about: its order id, or the id of the order an intake
// carries; "" when none (or not a usable id).
func entryOrderID(e wire.Entry) string {
	id := e.OrderID
	if id == "" && e.Kind == wire.KindIntake && e.Order != nil {
		id = e.Order.ID()
	}
	if !validOrderID(id) {
		return ""
	}
	return id
}

// sortableAtOr is the entry's sortable time, or fallback's when it has none.
func sortableAtOr(e wire.Entry, fallback time.Time) string {
	if at := sortableAt(e); at != "" {
		return at
	}
	return wire.Time(fallback)
}

// indexEntry indexes a stored (verified) entry: its rejection, its hold and its order's row.
func (g *group) indexEntry(site, agent string, e wire.Entry, key EntryKey) error {
	id := entryOrderID(e)
	if e.Kind == wire.KindReject {
		return g.tx.AddRejection(Rejection{At: sortableAtOr(e, g.now), Key: key, OrderID: id, Reason: e.Reason})
	}
	if id == "" {
		return nil
	}
	if err := indexHold(g.tx, id, site, agent, e, g.now); err != nil {
		return err
	}
	return g.indexOrder(id, agent)
}

// indexOrder is indexOrder with the record as the group has it (g.order: not decoded again).
func (g *group) indexOrder(id, agent string) error {
	rec, known, err := g.order(id)
	if err != nil || !known {
		return err
	}
	return indexOrderRec(g.tx, rec, agent, g.now)
}

// indexHold records or ends agent's hold of order id by what entry e says of its state there.
func indexHold(tx Tx, id, site, agent string, e wire.Entry, now time.Time) error {
	switch e.Kind {
	case wire.KindIntake, wire.KindStep, wire.KindMerge, wire.KindUpdate:
	default:
		return nil
	}
	switch {
	case e.To == string(order.Held):
		return tx.PutHold(Hold{OrderID: id, Site: site, Agent: agent, At: sortableAtOr(e, now)})
	case e.To != "":
		return tx.DeleteHold(id, site, agent)
	}
	return nil
}

// inBacklog reports whether an order in state s counts in the backlog lists' time (暂停进入, 待分仓).
func inBacklog(s string) bool {
	return s == string(order.Held) || s == string(order.PendingAllocation)
}

// fingerprintOf is the order's fingerprint (wire.Fingerprint) when it has the fields it is made
// of, else "" (an order whose id is a fingerprint is found by its id anyway).
func fingerprintOf(o order.Order) string {
	if o.Channel == "" || o.ChannelOrderNo == "" || o.BuyerID == "" || o.OrderedAt.IsZero() {
		return ""
	}
	return wire.Fingerprint(o.Channel, o.ChannelOrderNo, o.BuyerID, o.OrderedAt, o.SKUs)
}

// indexOrder rewrites order id's central row from its stored record (nothing when the hub holds no
// record). agent is the agent whose entry touched it ("": keep the row's).
func indexOrder(tx Tx, id, agent string, now time.Time) error {
	rec, known, err := loadOrder(tx, id)
	if err != nil || !known {
		return err
	}
	return indexOrderRec(tx, rec, agent, now)
}

// indexOrderRec rewrites the central row of the order stored as rec.
func indexOrderRec(tx Tx, rec orderRec, agent string, now time.Time) error {
	id := rec.Order.ID
	old, err := tx.OrderIndexOf(id)
	if err != nil {
		return err
	}
	o := rec.Order
	ix := OrderIndex{OrderID: id, Site: rec.Site, Agent: agent, State: string(o.State), ChannelOrderNo: o.ChannelOrderNo,
		Waybill: o.Waybill, AssignedWaybill: o.AssignedWaybill, Fingerprint: fingerprintOf(o)}
	if ix.Fingerprint == id {
		ix.Fingerprint = "" // found by its id
	}
	if old != nil && agent == "" {
		ix.Agent = old.Agent
	}
	if inBacklog(ix.State) {
		switch {
		case old != nil && inBacklog(old.State) && old.Since != "":
			ix.Since = old.Since // first entry into the backlog counts
		case !o.StateSince.IsZero():
			ix.Since = wire.Time(o.StateSince)
		default:
			ix.Since = wire.Time(now)
		}
	}
	if old != nil && *old == ix {
		return nil
	}
	if d, ok := tx.(indexerFrom); ok {
		return d.indexOrderFrom(old, ix)
	}
	return tx.IndexOrder(ix)
}

// indexerFrom is a Tx that can rewrite an index row from the old row its caller read already.
type indexerFrom interface {
	indexOrderFrom(old *OrderIndex, ix OrderIndex) error
}

// indexEvidence copies an unverified entry's document under its order.
func (g *group) indexEvidence(e wire.Entry, doc []byte) error {
	if id := entryOrderID(e); id != "" {
		return g.tx.AddOrderEvidence(id, doc)
	}
	return nil
}
