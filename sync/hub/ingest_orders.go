package hub

import (
	"slices"

	"wedge/order"
	"wedge/sync/wire"
)

// An entry is handled by several steps of one group (applyEntry, its rules, the central index),
// and each used to read and decode the order's record again. order decodes a record once per
// transaction: the record this transaction saved, else the one it already read, else the store's.

// order reads order id for the group. known is false when the hub holds no record.
func (g *group) order(id string) (rec orderRec, known bool, err error) {
	if r, ok := g.recs[id]; ok {
		return r.shared(), true, nil
	}
	rec, known, err = loadOrder(g.tx, id)
	if err != nil || !known {
		return rec, known, err
	}
	if g.recs == nil {
		g.recs = map[string]orderRec{}
	}
	g.recs[id] = rec // one map for read and written records: a save replaces it in place
	return rec.shared(), true, nil
}

// shared is a copy of r that the group's cached copy shares nothing writable with through
// append: its slices are clipped to their length, so an append reallocates.
func (r orderRec) shared() orderRec {
	r.Order.SKUs = slices.Clip(r.Order.SKUs)
	r.Versions = slices.Clip(r.Versions)
	return r
}

// mergeIntake merges the order data of an agent's intake entry into rec and saves it,
// unless the merge changes nothing: the intake entry of an order the hub posted carries the
// posted data back, and rewriting the same record (an encode and a dirty page of the orders
// bucket per entry) only moved its updated_at.
func (g *group) mergeIntake(rec orderRec, m wire.OrderMsg) (orderRec, error) {
	merged := mergePCData(rec.Order, m)
	if orderUnchanged(rec.Order, merged) {
		return rec, nil
	}
	rec.Order = merged
	return rec, g.saveOrder(rec)
}

// orderUnchanged reports whether a and b are the same order, field for field: any difference,
// even two spellings of the same instant (time.Time's ==), counts as a change and is saved as
// before. TestOrderUnchangedSeesEveryField fails when order.Order gains a field this misses.
func orderUnchanged(a, b order.Order) bool {
	return a.ID == b.ID && a.Channel == b.Channel && a.ChannelOrderNo == b.ChannelOrderNo && a.BuyerID == b.BuyerID &&
		a.OrderedAt == b.OrderedAt && a.PaidAt == b.PaidAt && slices.Equal(a.SKUs, b.SKUs) && a.Payment == b.Payment &&
		a.Recipient == b.Recipient && a.RecipientName == b.RecipientName && a.RecipientPhone == b.RecipientPhone &&
		a.RecipientAddress == b.RecipientAddress && a.Version == b.Version && a.AddressVersion == b.AddressVersion &&
		a.LabelVersion == b.LabelVersion && a.LabelOutdated == b.LabelOutdated && a.Intercept == b.Intercept &&
		a.Carrier == b.Carrier && a.AssignedWaybill == b.AssignedWaybill && a.Waybill == b.Waybill &&
		a.State == b.State && a.StateSince == b.StateSince && a.PendingSince == b.PendingSince &&
		a.QueuedSince == b.QueuedSince && a.ReceivedAt == b.ReceivedAt && a.PrintedAt == b.PrintedAt &&
		a.PickedUpAt == b.PickedUpAt && a.HandedOverAt == b.HandedOverAt && a.Overdue == b.Overdue && a.Tracking == b.Tracking
}
