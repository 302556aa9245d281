package hub

import (
	"time"

	"wedge/internal/logging"
	"wedge/internal/msgtmpl"
	"wedge/order"
	"wedge/sync/wire"
)

// The notification rules, run inside the owner's transaction so a notice exists exactly when its
// cause is committed, once per (site, order, rule) however many PCs or replicas report the cause.

var (
	defaultReminder      = msgtmpl.MustParse(DefaultReminderText, OrderFields)
	defaultBreakerOpened = msgtmpl.MustParse(DefaultBreakerOpenedText, BreakerFields)
	defaultBreakerClosed = msgtmpl.MustParse(DefaultBreakerClosedText, BreakerFields)
	defaultFalseComplete = msgtmpl.MustParse(DefaultFalseCompletionText, OrderFields)
)

// DefaultReminderAfter is ReminderRule.After's default.
const DefaultReminderAfter = 30 * time.Minute

// orderRules runs after every save of an order record: its waybills are indexed for the
// carriers' events (tracking.go), and an order printed, picked up, cancelled or intercepted has
// its pending reminder cancelled.
func (g *group) orderRules(rec orderRec) error {
	if !validOrderID(rec.Order.ID) {
		return nil
	}
	for i, wb := range []string{rec.Order.Waybill, rec.Order.AssignedWaybill} {
		if wb == "" || (i == 1 && wb == rec.Order.Waybill) {
			continue
		}
		if err := g.tx.PutWaybill(wb, rec.Order.ID); err != nil {
			return err
		}
	}
	if err := g.falseCompletionRule(rec); err != nil {
		return err
	}
	if g.h.notify.rules(rec.Site).Reminder == nil {
		return nil
	}
	o := rec.Order
	k := OutboxKey{Site: rec.Site, Order: o.ID, Rule: NoticeReminder}
	switch {
	case o.Intercept.Status != "":
		return g.cancelNotice(k, "拦截 intercepted")
	case o.State == order.WaybillPrinted || o.State == order.PickedUp || o.State == order.Cancelled:
		return g.cancelNotice(k, o.State.Label())
	}
	return nil
}

// reminderPhone is the number a reminder goes to: the order's recipient_phone, else the mobile
// number in its one-line recipient.
func reminderPhone(o order.Order) string {
	if o.RecipientPhone != "" {
		return o.RecipientPhone
	}
	return order.LinePhone(o.Recipient)
}

// orderPosted points the pending reminder of a waiting order at its current number after the order
// system posted a new version (the customer corrected the phone before the reminder was sent). It
// runs on the POST path only: a PC's entries never carry a whole phone. A row being sent (leased)
// keeps the number its send uses; a version without a phone keeps the one it has.
func (g *group) orderPosted(rec orderRec) error {
	o := rec.Order
	phone := reminderPhone(o)
	if phone == "" || g.h.notify.rules(rec.Site).Reminder == nil || (o.State != order.Held && o.State != order.PendingAllocation) {
		return nil
	}
	r, err := g.tx.Outbox(OutboxKey{Site: rec.Site, Order: o.ID, Rule: NoticeReminder})
	if err != nil || r == nil || r.State != OutboxPending || r.LeaseUntil.After(g.now) {
		return err
	}
	d, err := decodeNotice(*r)
	if err != nil || d.Phone == phone {
		return err
	}
	d.Phone = phone
	r.Doc = mustJSON(d)
	return g.tx.PutOutbox(*r)
}

// entryRules runs after an agent's entry for order id was applied. An entry that puts the order in
// 暂停进入 or 待分仓, while the hub's record is still there, makes sure the order has a reminder
// due After from when it first entered either: the earliest of the record's time and the entries'
// (held time counts, 待付尾款 does not), so the same order journalled by two PCs gets one reminder,
// at the earlier PC's time.
func (g *group) entryRules(id string, e wire.Entry) error {
	if e.To != string(order.Held) && e.To != string(order.PendingAllocation) {
		return nil
	}
	rec, known, err := g.order(id)
	if err != nil || !known {
		return err
	}
	rule := g.h.notify.rules(rec.Site).Reminder
	o := rec.Order
	if rule == nil || o.Intercept.Status != "" || (o.State != order.Held && o.State != order.PendingAllocation) {
		return nil
	}
	since := o.StateSince
	if o.State == order.PendingAllocation {
		since = o.WaitingSince()
	}
	if at := entryTime(e, g.now); since.IsZero() || at.Before(since) {
		since = at
	}
	after := rule.After
	if after <= 0 {
		after = DefaultReminderAfter
	}
	due := since.Add(after).UTC()
	k := OutboxKey{Site: rec.Site, Order: o.ID, Rule: NoticeReminder}
	r, err := g.tx.Outbox(k)
	if err != nil {
		return err
	}
	if r != nil {
		if r.State != OutboxPending || !due.Before(r.Due) || r.LeaseUntil.After(g.now) {
			return nil
		}
		r.Due = due
		return g.tx.PutOutbox(*r)
	}
	fields := map[string]string{"order_id": o.ID, "channel_order_no": o.ChannelOrderNo, "waybill": o.AssignedWaybill, "site": rec.Site}
	text := rule.Text
	if text == nil {
		text = defaultReminder
	}
	return g.addNotice(k, due, noticeDoc{Kind: NoticeReminder, Channel: rule.Channel, Text: text.Render(fields, nil),
		Phone: reminderPhone(o), Fields: fields, Created: g.now})
}

// breakerRules tells the site's supervisors that an agent's breaker opened or closed. at is the
// agent's status time: every replica receives the same retained status and makes the same key.
func (g *group) breakerRules(site, agent string, open bool, at string) error {
	rule := g.h.notify.rules(site).Breaker
	if rule == nil {
		return nil
	}
	kind, text := NoticeBreakerClosed, rule.Closed
	if open {
		kind, text = NoticeBreakerOpened, rule.Opened
	}
	if text == nil {
		text = map[bool]*msgtmpl.Template{true: defaultBreakerOpened, false: defaultBreakerClosed}[open]
	}
	if at == "" {
		at = g.at()
	}
	fields := map[string]string{"site": site, "agent": agent, "at": at}
	k := OutboxKey{Site: site, Order: "agent:" + agent, Rule: kind + "@" + at}
	return g.addNotice(k, g.now, noticeDoc{Kind: kind, Channel: rule.Channel, Text: text.Render(fields, nil), Fields: fields, Created: g.now})
}

func (g *group) addNotice(k OutboxKey, due time.Time, d noticeDoc) error {
	added, err := g.tx.AddOutbox(OutboxRow{OutboxKey: k, State: OutboxPending, Due: due, Doc: mustJSON(d)})
	if added {
		g.notified = true
		g.h.log.Info("notification queued", logging.KeySite, k.Site, "subject", k.Order, "rule", k.Rule, "due", due)
	}
	return err
}

// cancelNotice cancels k if it is still pending. A row being sent right now (leased) is cancelled
// too; if its send succeeds the dispatcher records it as sent anyway (it went out).
func (g *group) cancelNotice(k OutboxKey, why string) error {
	r, err := g.tx.Outbox(k)
	if err != nil || r == nil || r.State != OutboxPending {
		return err
	}
	d, err := decodeNotice(*r)
	if err != nil {
		return err
	}
	d.Why = why
	r.State, r.Doc = OutboxCancelled, mustJSON(d)
	g.h.log.Info("notification cancelled", logging.KeySite, k.Site, "subject", k.Order, "rule", k.Rule, "because", why)
	return g.tx.PutOutbox(*r)
}

// noticeFields are the template fields of an order's notices.
func noticeFields(rec orderRec) map[string]string {
	o := rec.Order
	wb := o.Waybill
	if wb == "" {
		wb = o.AssignedWaybill
	}
	return map[string]string{"order_id": o.ID, "channel_order_no": o.ChannelOrderNo, "waybill": wb, "site": rec.Site}
}

// falseCompletionRule queues the 伪完成 check of an order handed over (picked_up), due After from
// the handover, unless its waybill has a carrier first scan already; a first scan arriving later
// cancels it (trackingRules).
func (g *group) falseCompletionRule(rec orderRec) error {
	o := rec.Order
	if o.State != order.PickedUp {
		return nil
	}
	since := o.PickedUpAt
	if since.IsZero() {
		since = o.StateSince
	}
	return g.queueFalseCompletion(rec, o.Waybill, since)
}

// queueFalseCompletion queues the 伪完成 check of the order of rec handed over at since with
// waybill, unless one is queued or the waybill has a first scan already.
func (g *group) queueFalseCompletion(rec orderRec, waybill string, since time.Time) error {
	rule := g.h.notify.rules(rec.Site).FalseCompletion
	o := rec.Order
	if rule == nil || waybill == "" {
		return nil
	}
	k := OutboxKey{Site: rec.Site, Order: o.ID, Rule: NoticeFalseCompletion}
	if r, err := g.tx.Outbox(k); err != nil || r != nil {
		return err
	}
	scanned, err := hasFirstScan(g.tx, waybill)
	if err != nil || scanned {
		return err
	}
	after := rule.After
	if after <= 0 {
		after = DefaultFalseCompletionAfter
	}
	text := rule.Text
	if text == nil {
		text = defaultFalseComplete
	}
	fields := noticeFields(rec)
	return g.addNotice(k, since.Add(after).UTC(), noticeDoc{Kind: NoticeFalseCompletion, Channel: rule.Channel,
		Text: text.Render(fields, nil), Fields: fields, Created: g.now})
}

// hasFirstScan reports whether a waybill has a stored first-scan event.
func hasFirstScan(tx Tx, waybill string) (bool, error) {
	found := false
	err := tx.Tracking(waybill, func(doc []byte) (bool, error) {
		var e TrackingEvent
		if _, err := getDoc(doc, nil)("tracking", &e); err != nil {
			return false, err
		}
		found = e.Event == TrackFirstScan
		return !found, nil
	})
	return found, err
}
