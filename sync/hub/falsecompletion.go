package hub

import (
	"context"
	"fmt"
	"time"

	"wedge/internal/logging"
	"wedge/order"
	"wedge/sync/hub/central"
	"wedge/sync/wire"
)

// 伪完成 as an anomaly: a parcel handed over without a carrier first scan within the site's limit
// (notify.sites.S.false_completion.after, default 12 h; central.FalseCompletions decides) is
// listed under GET /v1/lists/false_completion while no first scan has come, and counted once as
// an anomaly of kind false_completion (cause logistics_gap) by the periodic rules. The notice to
// the supervisors is the false_completion rule's (rules.go).

// ListFalseCompletion is the list of open 伪完成.
const ListFalseCompletion = "false_completion"

// DefaultFalseCompletionSince is how far back GET /v1/lists/false_completion looks for handovers
// when since= is not given.
const DefaultFalseCompletionSince = 7 * 24 * time.Hour

// falseCountedKey is the Meta document that says order id's 伪完成 was counted.
func falseCountedKey(id string) string { return "rules/false_completion/" + id }

// countFalseCompletions counts each 伪完成 among orders once, in the hour its first scan fell
// due, whichever replica or tick finds it first.
func (h *Hub) countFalseCompletions(ctx context.Context, orders []central.Order, now time.Time) error {
	found := central.FalseCompletions(orders, h.falseCompletionAfter, now)
	if len(found) == 0 {
		return nil
	}
	return h.db.Update(ctx, func(tx Tx) error {
		if err := tx.LockKey("rules/false_completion"); err != nil {
			return err
		}
		for _, f := range found {
			key := falseCountedKey(f.OrderID)
			raw, err := tx.Meta(key)
			if err != nil || raw != nil {
				if err != nil {
					return err
				}
				continue
			}
			if err := tx.AddAnomalies(central.HourKey(f.Due), f.Site, central.KindFalseCompletion, 1); err != nil {
				return err
			}
			if err := tx.PutMeta(key, mustJSON(f)); err != nil {
				return err
			}
			h.log.Warn("疑似伪完成 / handed over without a carrier first scan", logging.KeySite, f.Site, logging.KeyOrder, f.OrderID,
				"waybill", f.Waybill, "handed_over_at", f.HandedOverAt, "resolved", f.Resolved)
		}
		return nil
	})
}

// falseCompletionNote queues the 伪完成 notice of a handover recorded under carrier_first_scan
// (the handed_over note: the order stays 已打单 until the courier's first scan), due the rule's
// After from the note's time, as falseCompletionRule does for a handover step.
func (g *group) falseCompletionNote(rec orderRec, e wire.Entry) error {
	if rec.Order.State != order.WaybillPrinted {
		return nil // picked up or cancelled meanwhile: nothing to wait for
	}
	wb := e.Waybill
	if wb == "" {
		wb = rec.Order.Waybill
	}
	return g.queueFalseCompletion(rec, wb, entryTime(e, g.now))
}

// listFalseCompletion: the open 伪完成 (no carrier first scan yet), by handover time then order
// id; since defaults to DefaultFalseCompletionSince before now.
func (h *Hub) listFalseCompletion(tx Tx, f ListFilter, a *ListAnswer, limit int) error {
	if f.Reason != "" && f.Reason != ListFalseCompletion {
		return nil
	}
	now := h.clk.Now()
	since := now.Add(-DefaultFalseCompletionSince)
	if f.Since != "" {
		since, _ = wire.ParseTime(f.Since) // listQuery checked it
	}
	orders, err := centralOrdersWhere(tx, func(rec orderRec) bool {
		return (f.Site == "" || rec.Site == f.Site) && handoverCandidate(rec, since)
	})
	if err != nil {
		return err
	}
	for _, fc := range central.FalseCompletions(orders, h.falseCompletionAfter, now) {
		at := wire.Time(fc.HandedOverAt)
		switch {
		case fc.Resolved, fc.HandedOverAt.Before(since), f.Until != "" && at >= f.Until, f.Agent != "" && fc.Agent != f.Agent,
			f.HasAfter && (at < f.AfterAt || at == f.AfterAt && fc.OrderID <= f.AfterID):
			continue
		}
		hours := fc.Due.Sub(fc.HandedOverAt).Hours()
		row := ListRow{OrderID: fc.OrderID, Site: fc.Site, Agent: fc.Agent, At: at, State: string(fc.State),
			StateLabel: order.State(fc.State).Label(), Reason: ListFalseCompletion,
			ReasonZH: fmt.Sprintf("已交接，但快递 %g 小时内没有揽收扫描：疑似伪完成", hours),
			ReasonEN: fmt.Sprintf("handed over without a carrier first scan within %g h: false completion", hours),
			Station:  fc.Station, Waybill: fc.Waybill, Carrier: fc.Carrier, Device: fc.Device, Operator: fc.Operator, Due: wire.Time(fc.Due)}
		if !a.add(row, limit, listCursor{At: at, ID: fc.OrderID}) {
			return nil
		}
	}
	return nil
}
