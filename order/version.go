package order

import (
	"fmt"
	"slices"
	"strings"

	"wedge/sync/wire"
)

// Order versions. The hub gives every order message a version that only increases (wire.OrderMsg
// Version). An order message for a known order with a higher version than the order holds is an
// update: the fields it changes are applied and journaled, old → new (personal data masked), as
// an update entry; a lower or equal version changes nothing. A message without a version (0)
// keeps the rules of the time before versions (an identical repeat is nothing, different
// identity data is a conflict).
//
// The label rule: after 已打单 a change of the recipient or the address makes the printed label
// outdated (Order.LabelOutdated: the label's data version is older than the last change of the
// recipient or address). The handover refuses the parcel (ReasonLabelOutdated) until the label is
// reprinted (the print station reprints it at the next scan of the order, MergeLabel with the
// version it printed) or a supervisor confirms the handover by hand. A change of anything else
// (SKUs, payment time) leaves the label as it is.

// Change is one field an update changes, with its old and new values as people may read them
// (personal data masked).
type Change struct {
	Field string
	Old   string
	New   string
}

func (c Change) String() string { return fmt.Sprintf("%s %q → %q", c.Field, c.Old, c.New) }

// The fields an update compares. Identity fields may not change (a conflict: another order).
const (
	fieldRecipient        = "recipient"
	fieldRecipientName    = "recipient_name"
	fieldRecipientPhone   = "recipient_phone"
	fieldRecipientAddress = "recipient_address"
)

var identityFields = []string{"channel", "channel_order_no", "buyer_id", "ordered_at"}

// labelChanged reports whether cs change what the label says about the recipient.
func labelChanged(cs []Change) bool {
	return slices.ContainsFunc(cs, func(c Change) bool {
		switch c.Field {
		case fieldRecipient, fieldRecipientName, fieldRecipientPhone, fieldRecipientAddress:
			return true
		}
		return false
	})
}

// Changes lists the data fields that message m (normalised as FromMsg does) changes in o: every
// field m sets (non-empty) to a value other than o's, in a fixed order. Personal data is masked.
func Changes(o Order, m wire.OrderMsg) []Change {
	n := FromMsg(m)
	var cs []Change
	add := func(field, old, new string) {
		if new != "" && new != old {
			cs = append(cs, Change{field, old, new})
		}
	}
	add("channel", o.Channel, n.Channel)
	add("channel_order_no", o.ChannelOrderNo, n.ChannelOrderNo)
	add("buyer_id", o.BuyerID, n.BuyerID)
	if !n.OrderedAt.IsZero() && !n.OrderedAt.Equal(o.OrderedAt) {
		cs = append(cs, Change{"ordered_at", wire.Time(o.OrderedAt), wire.Time(n.OrderedAt)})
	}
	if !n.PaidAt.IsZero() && !n.PaidAt.Equal(o.PaidAt) {
		cs = append(cs, Change{"paid_at", wire.Time(o.PaidAt), wire.Time(n.PaidAt)})
	}
	if m.Payment != "" {
		add("payment", o.Payment, n.Payment)
	}
	os, ns := slices.Clone(o.SKUs), n.SKUs
	slices.Sort(os)
	if len(ns) > 0 && !slices.Equal(os, ns) {
		cs = append(cs, Change{"skus", strings.Join(os, ","), strings.Join(ns, ",")})
	}
	add("carrier", o.Carrier, n.Carrier)
	add("waybill", o.AssignedWaybill, n.AssignedWaybill)
	if n.Recipient != "" && n.Recipient != o.Recipient {
		cs = append(cs, Change{fieldRecipient, MaskRecipientLine(o.Recipient), MaskRecipientLine(n.Recipient)})
	}
	if n.RecipientName != "" && n.RecipientName != o.RecipientName {
		cs = append(cs, Change{fieldRecipientName, MaskName(o.RecipientName), MaskName(n.RecipientName)})
	}
	if n.RecipientPhone != "" && n.RecipientPhone != o.RecipientPhone {
		cs = append(cs, Change{fieldRecipientPhone, MaskPhone(o.RecipientPhone), MaskPhone(n.RecipientPhone)})
	}
	if n.RecipientAddress != "" && n.RecipientAddress != o.RecipientAddress {
		cs = append(cs, Change{fieldRecipientAddress, MaskAddress(o.RecipientAddress), MaskAddress(n.RecipientAddress)})
	}
	return cs
}

// AssignVersion is the version the hub gives order message m for order o (known: the hub holds
// it): m's own when it has one, 1 for a new order, o's for a message that changes nothing, else
// the next one.
func AssignVersion(o Order, known bool, m wire.OrderMsg) uint64 {
	switch {
	case m.Version != 0:
		return m.Version
	case !known:
		return 1
	case len(Changes(o, m)) == 0:
		return max(o.Version, 1)
	}
	return o.Version + 1
}

// update: an order message of a higher version for a known order (see the package's version
// rules above).
func (d msgDecision) update() Decision {
	o := d.o
	cs := Changes(o, d.m)
	for _, c := range cs {
		if slices.Contains(identityFields, c.Field) {
			return d.refuse(o, ReasonConflict, fmt.Sprintf("version %d of order %s changes %s: an update may not change the order's identity", d.m.Version, d.id, c.Field))
		}
	}
	n := FromMsg(d.m)
	u := o
	u.SKUs = slices.Clone(o.SKUs)
	var applied, ignored []string
	for _, c := range cs {
		switch c.Field {
		case "carrier", "waybill":
			if o.Waybill != "" {
				// The label is bound to its waybill: a new carrier or waybill after print is not
				// applied, only recorded (the order system must cancel and re-issue).
				ignored = append(ignored, c.String())
				continue
			}
			if c.Field == "carrier" {
				u.Carrier = n.Carrier
			} else {
				u.AssignedWaybill = n.AssignedWaybill
			}
		case "paid_at":
			u.PaidAt = n.PaidAt
		case "payment":
			u.Payment = n.Payment
		case "skus":
			u.SKUs = n.SKUs
		case fieldRecipient:
			u.Recipient = n.Recipient
		case fieldRecipientName:
			u.RecipientName = n.RecipientName
		case fieldRecipientPhone:
			u.RecipientPhone = n.RecipientPhone
		case fieldRecipientAddress:
			u.RecipientAddress = n.RecipientAddress
		}
		applied = append(applied, c.String())
	}
	u.Version = d.m.Version
	if labelChanged(cs) {
		u.AddressVersion = d.m.Version
	}
	u = u.refresh()

	var b strings.Builder
	fmt.Fprintf(&b, "version %d → %d: ", o.Version, u.Version)
	if len(applied) == 0 {
		b.WriteString("no field changed")
	} else {
		b.WriteString(strings.Join(applied, "; "))
	}
	if len(ignored) > 0 {
		fmt.Fprintf(&b, "; not applied, the label is printed with waybill %s: %s", o.Waybill, strings.Join(ignored, "; "))
	}
	if u.LabelOutdated && !o.LabelOutdated {
		fmt.Fprintf(&b, "; the printed label (version %d) is outdated: reprint it before handover", u.LabelVersion)
	}
	e := d.base
	e.Kind, e.From, e.To, e.Waybill, e.Carrier = wire.KindUpdate, string(o.State), string(o.State), u.Waybill, u.Carrier
	if e.Waybill == "" {
		e.Waybill = u.AssignedWaybill
	}
	e.LabelVersion = u.LabelVersion
	e.Detail = Excerpt(b.String(), 4*MaxIntakeExcerpt)
	return d.store(o, u, e)
}

// Reprinted is the decision for the label of o (waybill wb) printed again from data version v: a
// reprint the printer confirmed, or, at a print station without a printer, the new label's barcode
// scanned. A reprint entry carries the label version (other agents merge it); the order's label
// version rises to v, so an outdated label printed again from the current data is current again.
// detail says how it was printed; the order's state does not change.
func Reprinted(o Order, wb string, v uint64, detail string, src Source) Decision {
	n, changed := MergeLabel(o, v)
	if o.LabelOutdated && !n.LabelOutdated {
		detail += fmt.Sprintf("; the outdated label (version %d) is replaced by version %d", o.LabelVersion, v)
	}
	e := src.Entry()
	e.Kind, e.OrderID, e.From, e.To, e.Waybill, e.Carrier = wire.KindReprint, o.ID, string(o.State), string(o.State), wb, o.Carrier
	e.LabelVersion = v
	e.Detail = Excerpt(detail, MaxExcerpt)
	out := Outcome{Result: Accepted, From: o.State, To: o.State, Order: n, Waybill: wb}
	return Decision{Outcome: out, Store: changed, Entry: e}
}
