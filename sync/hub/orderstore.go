package hub

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"wedge/order"
	"wedge/sync/wire"
)

// orderVersion is the version of the order record layout in hub.db that this hub writes. Records
// written before the version field existed have the same layout and read as version 1. A record
// of a newer version is refused (ErrStore) rather than read wrongly by an older hub.
//
// Version 2 adds the recipient's separate fields, the order data's version, the label's version
// and the intercept; a version 1 record reads with them empty. Versions 0 to 2 are JSON.
//
// Version 3 is version 2's fields in the binary encoding (records_binary.go): what this hub
// writes. It reads every version; a hub of an earlier release cannot read version 3.
const orderVersion = 3

// orderJSONVersion is the last JSON layout (storedOrder's JSON form, still read).
const orderJSONVersion = 2

// orderRec is the hub's authoritative view of one order, as the owner works with it.
type orderRec struct {
	Site      string
	Order     order.Order
	CreatedAt string // hub clock, wire.Time
	UpdatedAt string
	Versions  []wire.OrderMsg // every version of the order's data posted, oldest first (record version 2)
	// BalancePaidAt (hub clock, wire.Time) is when a balance_paid message for the order was
	// posted: the start of the presale watch (sync/hub/central).
	BalancePaidAt string
	// versionsRaw are the stored record's versions as stored, not decoded (Versions is nil then):
	// the ingest moves orders without looking at them. withVersions decodes them.
	versionsRaw json.RawMessage
}

// storedOrder is an order record as hub.db keeps it (bucket orders). It is the hub's own schema:
// the fields and their JSON names are spelled out here and converted at the boundary, so a change
// to order.Order (the agent's record) cannot silently change what the hub stores or reads back.
type storedOrder struct {
	V         int         `json:"v"`
	Site      string      `json:"site"`
	Order     orderFields `json:"order"`
	CreatedAt string      `json:"created_at"`
	UpdatedAt string      `json:"updated_at"`
	// Versions (record version 2) are the order messages posted for the order, one per version.
	Versions versionList `json:"versions,omitzero"`
	// BalancePaidAt: when the hub was first told the balance was paid (readers that do not know
	// the field ignore it).
	BalancePaidAt string `json:"balance_paid_at,omitempty"`
}

// orderFields are the order's data and state in a stored record. The agent-only fields (the overdue
// alert flag and the time its clock starts, QueuedSince: an agent's supervision) are not part of the
// hub's record.
type orderFields struct {
	ID              string    `json:"order_id"`
	Channel         string    `json:"channel,omitempty"`
	ChannelOrderNo  string    `json:"channel_order_no,omitempty"`
	BuyerID         string    `json:"buyer_id,omitempty"`
	OrderedAt       time.Time `json:"ordered_at,omitzero"`
	PaidAt          time.Time `json:"paid_at,omitzero"`
	SKUs            []string  `json:"skus,omitempty"`
	Payment         string    `json:"payment,omitempty"`
	Recipient       string    `json:"recipient,omitempty"`
	Carrier         string    `json:"carrier,omitempty"`
	AssignedWaybill string    `json:"assigned_waybill,omitempty"`
	Waybill         string    `json:"waybill,omitempty"`
	State           string    `json:"state"`
	StateSince      time.Time `json:"state_since,omitzero"`
	PendingSince    time.Time `json:"pending_since,omitzero"`
	ReceivedAt      time.Time `json:"received_at,omitzero"`
	PrintedAt       time.Time `json:"printed_at,omitzero"`
	PickedUpAt      time.Time `json:"picked_up_at,omitzero"`

	// Version 2.
	RecipientName    string          `json:"recipient_name,omitempty"`
	RecipientPhone   string          `json:"recipient_phone,omitempty"`
	RecipientAddress string          `json:"recipient_address,omitempty"`
	Version          uint64          `json:"version,omitempty"`
	AddressVersion   uint64          `json:"address_version,omitempty"`
	LabelVersion     uint64          `json:"label_version,omitempty"`
	LabelOutdated    bool            `json:"label_outdated,omitempty"`
	Intercept        interceptFields `json:"intercept,omitzero"`
}

// interceptFields are the order's intercept in a stored record (order.Intercept).
type interceptFields struct {
	ID         uint64    `json:"id,omitempty"`
	Status     string    `json:"status,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	At         time.Time `json:"at,omitzero"`
	By         string    `json:"by,omitempty"`
	Note       string    `json:"note,omitempty"`
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
}

func toStored(r orderRec) storedOrder {
	o := r.Order
	return storedOrder{V: orderJSONVersion, Site: r.Site, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, Versions: versionList{r.Versions, r.versionsRaw}, BalancePaidAt: r.BalancePaidAt, Order: orderFields{
		ID: o.ID, Channel: o.Channel, ChannelOrderNo: o.ChannelOrderNo, BuyerID: o.BuyerID,
		OrderedAt: o.OrderedAt, PaidAt: o.PaidAt, SKUs: o.SKUs, Payment: o.Payment, Recipient: o.Recipient,
		Carrier: o.Carrier, AssignedWaybill: o.AssignedWaybill, Waybill: o.Waybill,
		State: string(o.State), StateSince: o.StateSince, PendingSince: o.PendingSince,
		ReceivedAt: o.ReceivedAt, PrintedAt: o.PrintedAt, PickedUpAt: o.PickedUpAt,
		RecipientName: o.RecipientName, RecipientPhone: o.RecipientPhone, RecipientAddress: o.RecipientAddress,
		Version: o.Version, AddressVersion: o.AddressVersion, LabelVersion: o.LabelVersion, LabelOutdated: o.LabelOutdated,
		Intercept: interceptFields(o.Intercept),
	}}
}

func (s storedOrder) rec() orderRec {
	f := s.Order
	return orderRec{Site: s.Site, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt, Versions: s.Versions.msgs, versionsRaw: s.Versions.raw, BalancePaidAt: s.BalancePaidAt, Order: order.Order{
		ID: f.ID, Channel: f.Channel, ChannelOrderNo: f.ChannelOrderNo, BuyerID: f.BuyerID,
		OrderedAt: f.OrderedAt, PaidAt: f.PaidAt, SKUs: f.SKUs, Payment: f.Payment, Recipient: f.Recipient,
		Carrier: f.Carrier, AssignedWaybill: f.AssignedWaybill, Waybill: f.Waybill,
		State: order.State(f.State), StateSince: f.StateSince, PendingSince: f.PendingSince,
		ReceivedAt: f.ReceivedAt, PrintedAt: f.PrintedAt, PickedUpAt: f.PickedUpAt,
		RecipientName: f.RecipientName, RecipientPhone: f.RecipientPhone, RecipientAddress: f.RecipientAddress,
		Version: f.Version, AddressVersion: f.AddressVersion, LabelVersion: f.LabelVersion, LabelOutdated: f.LabelOutdated,
		Intercept: order.Intercept(f.Intercept),
	}}
}

// decodeOrder reads a stored order record of any version this hub knows: binary (version 3) or
// JSON (versions 0 to 2).
func decodeOrder(key, raw []byte) (orderRec, error) {
	if isBinaryRecord(raw) {
		s, err := decodeOrderBinary(raw)
		if err != nil {
			return orderRec{}, fmt.Errorf("%w: decode order %q: %v", ErrStore, key, err)
		}
		return s.rec(), nil
	}
	var s storedOrder
	if err := json.Unmarshal(raw, &s); err != nil {
		return orderRec{}, fmt.Errorf("%w: decode order %q: %v", ErrStore, key, err)
	}
	switch s.V {
	case 0, 1, 2: // 0: written before the version field; the layout is version 1's
	default:
		return orderRec{}, fmt.Errorf("%w: order %q is stored in record version %d; this hub reads up to %d (a newer hub wrote it)",
			ErrStore, key, s.V, orderVersion)
	}
	return s.rec(), nil
}

// loadOrder reads order id from the orders bucket; known is false when there is no record.
func loadOrder(tx Tx, id string) (rec orderRec, known bool, err error) {
	var raw []byte
	if r, ok := tx.(rawOrderReader); ok {
		raw = r.orderRaw(id) // decodeOrder copies what it keeps: no copy of the record first
	} else if raw, err = tx.Order(id); err != nil {
		return orderRec{}, false, err
	}
	if raw == nil {
		return orderRec{}, false, nil
	}
	rec, err = decodeOrder([]byte(id), raw)
	return rec, err == nil, err
}

// putOrder writes rec in the current record version (binary).
func putOrder(tx Tx, rec orderRec) error {
	return tx.PutOrder(rec.Order.ID, encodeOrder(rec))
}

// encodeOrder is rec as stored: a binary record of version orderVersion.
func encodeOrder(rec orderRec) []byte {
	s := toStored(rec)
	return appendOrderBinary(make([]byte, 0, orderRecordSize(&s)), s)
}

// orderRecordSize is about the size of s's binary record (appendOrderBinary): its strings and
// versions, a length byte or two each, and room for the times and numbers. Records run from 300
// bytes to several KiB with their versions, and a fixed guess was regrown for most of them.
func orderRecordSize(s *storedOrder) int {
	f := &s.Order
	versions := len(s.Versions.raw)
	if s.Versions.msgs != nil { // encoded by appendOrderBinary: not twice
		versions = 384 * len(s.Versions.msgs)
	}
	n := 192 + versions + len(s.Site) + len(s.CreatedAt) + len(s.UpdatedAt) + len(s.BalancePaidAt) +
		len(f.ID) + len(f.Channel) + len(f.ChannelOrderNo) + len(f.BuyerID) + len(f.Payment) + len(f.Recipient) + len(f.Carrier) +
		len(f.AssignedWaybill) + len(f.Waybill) + len(f.State) + len(f.RecipientName) + len(f.RecipientPhone) + len(f.RecipientAddress) +
		len(f.Intercept.Status) + len(f.Intercept.Reason) + len(f.Intercept.By) + len(f.Intercept.Note)
	for _, sku := range f.SKUs {
		n += len(sku) + 2
	}
	return n
}

// versionList is a stored record's versions: decoded (msgs), or the stored bytes kept as they are
// (raw) until something needs the messages. An order record is read and written back once per
// entry that moves the order, and its versions (whole order messages) were most of that work.
type versionList struct {
	msgs []wire.OrderMsg
	raw  json.RawMessage // used when msgs is nil
}

func (v versionList) IsZero() bool {
	return len(v.msgs) == 0 && (len(v.raw) == 0 || string(v.raw) == "null")
}

func (v versionList) MarshalJSON() ([]byte, error) {
	if v.msgs == nil && len(v.raw) > 0 {
		return v.raw, nil
	}
	return json.Marshal(v.msgs)
}

func (v *versionList) UnmarshalJSON(b []byte) error {
	v.msgs, v.raw = nil, nil
	if string(b) != "null" { // null: none, as the binary record reads an empty list
		v.raw = bytes.Clone(b)
	}
	return nil
}

// bytes are the versions as a binary record stores them: their JSON, or nothing.
func (v versionList) bytes() []byte {
	if v.IsZero() {
		return nil
	}
	if v.msgs == nil {
		return v.raw
	}
	return mustJSON(v.msgs)
}

// withVersions decodes the record's versions if they are still as stored.
func (r *orderRec) withVersions() error {
	if r.Versions != nil || len(r.versionsRaw) == 0 {
		r.versionsRaw = nil
		return nil
	}
	var msgs []wire.OrderMsg
	if err := json.Unmarshal(r.versionsRaw, &msgs); err != nil {
		return fmt.Errorf("%w: decode the versions of order %q: %v", ErrStore, r.Order.ID, err)
	}
	r.Versions, r.versionsRaw = msgs, nil
	return nil
}
