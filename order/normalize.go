package order

import (
	"slices"
	"strings"
	"time"

	"wedge/order/waybill"
	"wedge/sync/wire"
)

// NormalizeCode lower-cases and trims a channel or carrier code ("SF " and "sf" are one carrier).
func NormalizeCode(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// FromMsg is the one normaliser of an order message: the order's data as both the agent's intake and
// the hub store it. Channel and carrier are lower-cased and trimmed, the channel order number and
// buyer trimmed, SKUs trimmed and sorted, the assigned waybill normalised, payment defaults to full.
// The id is m.ID() (the fingerprint for an order without one). State and times of arrival are the
// caller's (see Receive); m is assumed valid (wire.OrderMsg.Validate).
func FromMsg(m wire.OrderMsg) Order {
	skus := make([]string, 0, len(m.SKUs))
	for _, k := range m.SKUs {
		skus = append(skus, strings.TrimSpace(k))
	}
	slices.Sort(skus)
	if len(skus) == 0 {
		skus = nil
	}
	o := Order{
		ID: m.ID(), Channel: NormalizeCode(m.Channel), ChannelOrderNo: strings.TrimSpace(m.ChannelOrderNo),
		BuyerID: strings.TrimSpace(m.BuyerID), SKUs: skus, Payment: m.Payment, Recipient: m.Recipient,
		RecipientName: strings.TrimSpace(m.RecipientName), RecipientPhone: strings.TrimSpace(m.RecipientPhone),
		RecipientAddress: strings.TrimSpace(m.RecipientAddress),
		Carrier:          NormalizeCode(m.Carrier), AssignedWaybill: waybill.Normalize(m.Waybill),
		// AddressVersion stays 0 on the first version: nothing changed yet, so a label printed from
		// any version of the order is current (also one printed by an agent that reports no label
		// version, e.g. one of an older release during an upgrade). Updates raise it (MergeData).
		Version: m.Version,
	}
	if o.Payment == "" {
		o.Payment = PaymentFull
	}
	o.OrderedAt, _ = wire.ParseTime(m.OrderedAt)
	o.PaidAt, _ = wire.ParseTime(m.PaidAt)
	return o
}

// InitialState is the state a new order enters: 待付尾款 for a presale deposit, 暂停进入 when intake
// is held by an open breaker, else 待分仓.
func InitialState(payment string, held bool) State {
	switch {
	case payment == PaymentDeposit:
		return AwaitingBalance
	case held:
		return Held
	}
	return PendingAllocation
}

// Receive returns o as first heard of at time at, in state s (StateSince, ReceivedAt and, for 待分仓,
// PendingSince, for 待分仓 or 暂停进入, QueuedSince set).
func (o Order) Receive(s State, at time.Time) Order {
	o = enter(o, s, at)
	o.ReceivedAt = at
	return o
}

// SameIdentity names the first identity field (channel, channel order no, buyer, order time, SKUs)
// in which a and b differ, or "" when they are the same order.
func SameIdentity(a, b Order) string {
	as, bs := slices.Clone(a.SKUs), slices.Clone(b.SKUs)
	slices.Sort(as)
	slices.Sort(bs)
	switch {
	case a.Channel != b.Channel:
		return "channel"
	case a.ChannelOrderNo != b.ChannelOrderNo:
		return "channel_order_no"
	case a.BuyerID != b.BuyerID:
		return "buyer_id"
	case !a.OrderedAt.Equal(b.OrderedAt):
		return "ordered_at"
	case !slices.Equal(as, bs):
		return "skus"
	}
	return ""
}

// MergeData copies the non-empty data fields of m, normalised as FromMsg does, into o (never the
// state or its times). A message of a lower version than o's changes nothing; a higher one raises
// o's version (and its address version when the recipient or address changes).
func MergeData(o Order, m wire.OrderMsg) Order {
	if m.Version != 0 && m.Version < o.Version {
		return o
	}
	if m.Version > o.Version {
		if labelChanged(Changes(o, m)) {
			o.AddressVersion = m.Version
		}
		o.Version = m.Version
	}
	n := FromMsg(m)
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&o.Channel, n.Channel)
	set(&o.ChannelOrderNo, n.ChannelOrderNo)
	set(&o.BuyerID, n.BuyerID)
	set(&o.Recipient, n.Recipient)
	set(&o.RecipientName, n.RecipientName)
	set(&o.RecipientPhone, n.RecipientPhone)
	set(&o.RecipientAddress, n.RecipientAddress)
	set(&o.Carrier, n.Carrier)
	set(&o.AssignedWaybill, n.AssignedWaybill)
	if len(n.SKUs) > 0 {
		o.SKUs = n.SKUs
	}
	if !n.OrderedAt.IsZero() {
		o.OrderedAt = n.OrderedAt
	}
	if !n.PaidAt.IsZero() {
		o.PaidAt = n.PaidAt
	}
	return o.refresh()
}
