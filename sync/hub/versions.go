package hub

import (
	"cmp"
	"slices"
	"time"

	"wedge/internal/logging"
	"wedge/order"
	"wedge/sync/wire"
)

// Order versions, label versions and intercepts at the hub.
//
// Every order message posted gets a version (order.AssignVersion: the posted one, 1 for a new
// order, the same for a repeat, the next for a change), and every version is kept in the order's
// record (its versions, oldest first), not only the data of the last one: orders change a few
// times at most, and the record is the one document the hub's stores keep per order. An intercept posted is recorded on the
// order under its hseq. The agents' entries bring the label version a print or reprint carried and
// intercept resolutions; when they change the hub's record, the hub publishes a state message with
// them, so the other agents of the site merge them (order.MergeLabel, order.MergeIntercept).

// addVersion keeps version m.Version of the order's data in its record, unless that version is
// kept already (the first message posted under a number is kept); versions stay in order.
func (r *orderRec) addVersion(m wire.OrderMsg) error {
	if err := r.withVersions(); err != nil {
		return err
	}
	for _, v := range r.Versions {
		if v.Version == m.Version {
			return nil
		}
	}
	m.HSeq = 0
	m.SKUs = slices.Clone(m.SKUs)
	r.Versions = append(r.Versions, m)
	slices.SortStableFunc(r.Versions, func(a, b wire.OrderMsg) int { return cmp.Compare(a.Version, b.Version) })
	return nil
}

// intercepted records intercept message hseq (reason) on order id, if the hub knows the order.
func (g *group) intercepted(id string, hseq uint64, reason string) error {
	rec, known, err := loadOrder(g.tx, id)
	if err != nil || !known {
		return err
	}
	o, ok := order.RequestIntercept(rec.Order, hseq, reason, g.now)
	if !ok {
		return nil
	}
	rec.Order = o
	return g.saveOrder(rec)
}

// mergeMarks merges the label version and the intercept entry e brings into o.
func mergeMarks(o order.Order, e wire.Entry, at time.Time) order.Order {
	o, _ = order.MergeLabel(o, e.LabelVersion)
	if e.Intercept != "" {
		o, _ = order.MergeIntercept(o, e.InterceptID, e.Intercept, at)
	}
	return o
}

// marksChanged reports whether the label version or the intercept differ between a and b.
func marksChanged(a, b order.Order) bool {
	return a.LabelVersion != b.LabelVersion || a.Intercept.ID != b.Intercept.ID || a.Intercept.Status != b.Intercept.Status
}

// stateMsg is the state message that tells the site's agents what the hub's record of o reached.
func stateMsg(o order.Order) wire.OrderMsg {
	m := wire.OrderMsg{Type: wire.TypeState, OrderID: o.ID, State: string(o.State), Waybill: o.Waybill, LabelVersion: o.LabelVersion}
	if o.Intercept.Status != "" {
		m.InterceptID, m.Intercept = o.Intercept.ID, o.Intercept.Status
	}
	return m
}

// marks applies an entry that changes no state (a reprint, an intercept resolution) or whose state
// the hub already had: the label version and intercept it brings; a change is published.
func (g *group) marks(rec orderRec, known bool, site, agent string, e wire.Entry, at time.Time) error {
	if !known || (e.LabelVersion == 0 && e.Intercept == "") {
		return nil
	}
	before := rec.Order
	rec.Order = mergeMarks(rec.Order, e, at)
	if !marksChanged(before, rec.Order) {
		return nil
	}
	g.h.log.Debug("label or intercept merged", logging.KeySite, site, logging.KeyAgent, agent, logging.KeySeq, e.Seq,
		logging.KeyOrder, rec.Order.ID, "label_version", rec.Order.LabelVersion, "intercept", rec.Order.Intercept.Status)
	if err := g.saveOrder(rec); err != nil {
		return err
	}
	g.stateLater(rec.Site, stateMsg(rec.Order))
	return nil
}
