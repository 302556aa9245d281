// Package wire is the contract between wedge agents and the hub: MQTT topics, the JSON payloads
// that travel on them, the journal entry with its hash chain, and the order fingerprint. Agent and
// hub both use this one package, so the two sides cannot drift. docs/PROTOCOL.md describes the same
// contract for people and for other implementations.
package wire

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Sentinel errors. Match them with errors.Is.
var (
	// ErrMalformed means a payload is not valid JSON of the expected shape.
	ErrMalformed = errors.New("wire: malformed payload")
	// ErrInvalid means a payload parsed but breaks the contract (missing or bad fields).
	ErrInvalid = errors.New("wire: invalid payload")
	// ErrChain means a journal entry's hash or prev_hash does not match.
	ErrChain = errors.New("wire: hash chain broken")
)

// Batch limits of the uplink.
const (
	MaxBatchEntries = 500
	MaxBatchBytes   = 64 << 10
	// MaxPendingAhead is how far beyond a journal's acked seq a hub keeps an entry that arrived
	// before its predecessor (a lost or reordered batch) until the gap is filled; an entry further
	// ahead is kept as evidence, never applied. An agent therefore never has entries in flight
	// more than MaxPendingAhead − 4 × MaxBatchEntries beyond its acked seq.
	MaxPendingAhead = 10000
)

// TimeLayout is RFC 3339 in UTC with milliseconds, the only time format on the wire.
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// Time formats t for the wire (UTC, milliseconds). The zero time is "".
func Time(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Truncate(time.Millisecond).Format(TimeLayout)
}

// ParseTime parses a wire time; it accepts any RFC 3339 time and returns it in UTC. "" is the zero time.
func ParseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: time %q: %v", ErrInvalid, s, err)
	}
	return t.UTC(), nil
}

// Entry kinds.
const (
	KindStep     = "step"     // an order moved one step (from → to)
	KindReject   = "reject"   // an attempt was refused (reason)
	KindIntake   = "intake"   // an order arrived from the hub, or its data changed (waybill assigned)
	KindMerge    = "merge"    // the agent applied a state another agent or the hub reached
	KindOperator = "operator" // an operator signed in at a station (badge scan)
	KindOverdue  = "overdue"  // an order waited in 待分仓 past the limit
	KindBreaker  = "breaker"  // the backlog breaker opened, closed, was reset or re-configured
	KindReprint  = "reprint"  // an explicit reprint of a label
	KindNote     = "note"     // anything else worth a trace (e.g. a printer fault cleared)
	// KindUpdate: a known order's data changed (a higher version from the hub): the changed
	// fields old → new, personal data masked, in detail; the message in order.
	KindUpdate = "update"
	// KindIntercept: an intercept of the order was requested, recorded after pickup, or resolved
	// without a state change (released, acknowledged); intercept and intercept_id say which.
	KindIntercept = "intercept"
)

// Triggers: what caused an entry.
const (
	TriggerScan    = "scan"    // a scanner read
	TriggerPrint   = "print"   // a printer confirmed a label
	TriggerManual  = "manual"  // an explicit, recorded human confirmation
	TriggerHub     = "hub"     // a downlink message
	TriggerSystem  = "system"  // the agent itself (timers, breaker)
	TriggerCarrier = "carrier" // the courier's own scan, relayed by the hub (first_scan)
)

// Entry is one journal entry. Field order is the canonical order: the hash covers the JSON encoding
// of the entry with Hash empty, exactly as encoding/json writes this struct.
type Entry struct {
	JournalID string `json:"journal_id"`
	Seq       uint64 `json:"seq"`
	Kind      string `json:"kind"`
	OrderID   string `json:"order_id,omitempty"`
	From      string `json:"from,omitempty"`
	To        string `json:"to,omitempty"`
	Waybill   string `json:"waybill,omitempty"`
	Carrier   string `json:"carrier,omitempty"`
	Station   string `json:"station,omitempty"`
	Device    string `json:"device,omitempty"`
	Operator  string `json:"operator,omitempty"`
	Trigger   string `json:"trigger,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Detail    string `json:"detail,omitempty"` // free text: the operator's note, a fault, an excerpt of bad input
	Code      string `json:"code,omitempty"`   // the scanned code or the downlink message id that caused it
	Job       string `json:"job,omitempty"`    // a print job id
	// LabelVersion is the order data version a printed or reprinted label carries (print steps,
	// reprints, merges of another agent's label): siblings merge the highest.
	LabelVersion uint64 `json:"label_version,omitempty"`
	// InterceptID and Intercept are the order's intercept as this entry leaves it: the hub sequence
	// of the intercept message and its status (Intercept* constants).
	InterceptID uint64 `json:"intercept_id,omitempty"`
	Intercept   string `json:"intercept,omitempty"`
	// Order carries the order's data on intake entries, so the hub and sibling agents can rebuild it.
	Order    *OrderMsg `json:"order,omitempty"`
	At       string    `json:"at"` // agent clock, Time()
	PrevHash string    `json:"prev_hash"`
	Hash     string    `json:"hash"`
}

// Canonical returns the bytes the hash covers: the entry's JSON with Hash empty.
func (e Entry) Canonical() []byte {
	return e.AppendCanonical(nil)
}

// ComputeHash returns hex(SHA-256(prev_hash bytes || canonical bytes)). The first entry of a journal
// has prev_hash "" (no bytes).
func (e Entry) ComputeHash() string {
	var buf [512]byte
	b := append(buf[:0], e.PrevHash...)
	b = e.AppendCanonical(b)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Seal sets PrevHash and Hash, chaining e to the previous entry's hash.
func (e *Entry) Seal(prevHash string) {
	e.PrevHash = prevHash
	e.Hash = e.ComputeHash()
}

// VerifyLink checks that e follows prev (prev is nil for the first entry): seq + 1, prev_hash equal
// to prev's hash, and a hash that matches the content.
func VerifyLink(prev *Entry, e Entry) error {
	wantSeq, wantPrev := uint64(1), ""
	if prev != nil {
		wantSeq, wantPrev = prev.Seq+1, prev.Hash
	}
	switch {
	case e.Seq != wantSeq:
		return fmt.Errorf("%w: seq %d follows %d", ErrChain, e.Seq, wantSeq-1)
	case e.PrevHash != wantPrev:
		return fmt.Errorf("%w: seq %d: prev_hash does not match the previous entry (entry removed, reordered or edited)", ErrChain, e.Seq)
	case e.ComputeHash() != e.Hash:
		return fmt.Errorf("%w: seq %d: hash does not match its content (entry edited)", ErrChain, e.Seq)
	}
	return nil
}

// Batch is the uplink payload on TopicEvents.
type Batch struct {
	Site      string  `json:"site"`
	Agent     string  `json:"agent"`
	JournalID string  `json:"journal_id"`
	Events    []Entry `json:"events"`
}

// Ack is the hub's acknowledgement on TopicAck: every entry of JournalID with seq ≤ AckedSeq is
// durably stored at the hub. It is the only thing that marks entries synced.
type Ack struct {
	JournalID string `json:"journal_id"`
	AckedSeq  uint64 `json:"acked_seq"`
}

// Status is the retained payload on TopicStatus. The broker publishes the agent's last will
// {"state":"offline"} when the connection drops.
type Status struct {
	State       string `json:"state"` // online | offline
	Site        string `json:"site,omitempty"`
	Agent       string `json:"agent,omitempty"`
	JournalID   string `json:"journal_id,omitempty"`
	Version     string `json:"version,omitempty"`
	At          string `json:"at,omitempty"`
	BreakerOpen bool   `json:"breaker_open,omitempty"`
	Unsynced    uint64 `json:"unsynced,omitempty"`
	// SettingsHash is the hash of the shared settings of the agent's configuration file (`wedge
	// config hash`): PCs of one site with different hashes disagree on a shared setting.
	SettingsHash string `json:"settings_hash,omitempty"`
	// SettingsOverrides are the settings a hub command set to a value other than the file's, as
	// "field=value" pairs sorted by field and joined by ";" (e.g. "breaker.max_backlog=300"); they
	// are not in SettingsHash. A string keeps Status comparable.
	SettingsOverrides string `json:"settings_overrides,omitempty"`
	// LastSeq is the last seq of the agent's journal JournalID, so the hub can tell how far its
	// acks are behind (0 = not reported, by agents that predate it).
	LastSeq uint64 `json:"last_seq,omitempty"`
	// Pickup is the pickup policy the agent applies (handover_scan | carrier_first_scan); "" from
	// agents that predate it. The hub sends a pickup_policy command when it differs from hub.yaml's.
	Pickup string `json:"pickup,omitempty"`
}

// CatchupRequest asks the hub, on TopicCatchup, to resend the site's downlink after hub sequence
// Since (exclusive) to this agent's TopicDirect, because the agent was away longer than the broker's
// queue covers or saw a gap in the downlink sequence.
//
// Subscribed says that the agent's subscription to the site's TopicOrders was confirmed by the
// broker (SUBACK) on the connection the request is sent on, before it was sent: whatever the hub
// publishes there after it received the request reaches the agent live, so the hub replays only
// up to the end of its log as it was then. Without it (older agents, an unconfirmed subscription)
// the replay goes on to the end of the log, however long it grows meanwhile.
type CatchupRequest struct {
	JournalID  string `json:"journal_id"`
	Since      uint64 `json:"since"`
	Subscribed bool   `json:"subscribed,omitempty"`
}

// Topics. Site and agent names are restricted (see ValidName) so they never contain MQTT wildcards.
func TopicEvents(site, agent string) string { return "wedge/v1/" + site + "/" + agent + "/events" }

// TopicAck is hub → agent acknowledgements.
func TopicAck(site, agent string) string { return "wedge/v1/" + site + "/" + agent + "/ack" }

// TopicStatus is the agent's retained status with its last will.
func TopicStatus(site, agent string) string { return "wedge/v1/" + site + "/" + agent + "/status" }

// TopicCatchup is agent → hub catch-up requests.
func TopicCatchup(site, agent string) string { return "wedge/v1/" + site + "/" + agent + "/catchup" }

// TopicDirect is hub → one agent downlink (catch-up replays), same payloads as TopicOrders.
func TopicDirect(site, agent string) string { return "wedge/v1/" + site + "/" + agent + "/direct" }

// TopicOrders is the site's downlink: hub → every agent of the site.
func TopicOrders(site string) string { return "wedge/v1/" + site + "/orders" }

// TopicCommand is hub → agent commands (breaker thresholds, ...), QoS 1.
func TopicCommand(site, agent string) string { return "wedge/v1/" + site + "/" + agent + "/command" }

// Wildcard filters used by the hub.
const (
	FilterEvents  = "wedge/v1/+/+/events"
	FilterCatchup = "wedge/v1/+/+/catchup"
	FilterStatus  = "wedge/v1/+/+/status"
	SharedGroup   = "$share/wedge-hub/"
)

// ParseAgentTopic splits "wedge/v1/{site}/{agent}/{leaf}".
func ParseAgentTopic(topic string) (site, agent, leaf string, ok bool) {
	p := strings.Split(topic, "/")
	if len(p) != 5 || p[0] != "wedge" || p[1] != "v1" {
		return "", "", "", false
	}
	return p[2], p[3], p[4], true
}

// ValidName reports whether s may be a site or agent name: 1–64 of [A-Za-z0-9_-].
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// Downlink message types.
const (
	TypeOrder       = "order"
	TypeBalancePaid = "balance_paid"
	TypeWaybill     = "waybill"
	TypeCancel      = "cancel"
	TypeState       = "state"
	TypeIntercept   = "intercept"
	// TypeFirstScan relays the courier's first scan of an order's waybill (carrier tracking) under
	// the pickup policy carrier_first_scan. Agents that predate it journal it as a malformed message
	// (unknown type) and consume its hseq; they keep 已揽收 on the handover scan.
	TypeFirstScan = "first_scan"
	// TypeTracking relays every carrier event of an order (carrier tracking) to its site, under
	// both pickup policies: the agents journal it as a note that moves nothing (trigger carrier).
	// first_scan stays its own message (it alone may make an order 已揽收 under
	// carrier_first_scan); agents that predate tracking journal it as a malformed message and
	// consume its hseq.
	TypeTracking = "tracking"
)

// Carrier events: the event of a tracking message, as the hub stores them.
const (
	CarrierAccepted  = "accepted"   // the carrier has the order, no physical scan yet
	CarrierFirstScan = "first_scan" // the courier's first scan of the parcel
	CarrierInTransit = "in_transit"
	CarrierDelivered = "delivered"
	CarrierException = "exception" // a problem parcel, refused or returned
)

// ValidCarrierEvent reports whether s is one of the carrier events ("" is not).
func ValidCarrierEvent(s string) bool {
	switch s {
	case CarrierAccepted, CarrierFirstScan, CarrierInTransit, CarrierDelivered, CarrierException:
		return true
	}
	return false
}

// Intercept statuses, on entries (intercept) and state messages (intercept).
const (
	InterceptRequested       = "requested"         // stop the parcel wherever it is next scanned
	InterceptAfterPickup     = "after_pickup"      // requested after 已揽收: contact the carrier
	InterceptReleased        = "released"          // a supervisor let the parcel go on
	InterceptAcknowledged    = "acknowledged"      // after pickup: a supervisor contacted the carrier
	InterceptCancelled       = "cancelled"         // the order was cancelled
	InterceptReturnedToStock = "returned_to_stock" // cancelled, the goods went back to stock
)

// ValidIntercept reports whether s is an intercept status ("" is not).
func ValidIntercept(s string) bool {
	switch s {
	case InterceptRequested, InterceptAfterPickup, InterceptReleased, InterceptAcknowledged, InterceptCancelled, InterceptReturnedToStock:
		return true
	}
	return false
}

// OrderMsg is one downlink message. Which fields matter depends on Type:
//
//	order        {order_id?, version?, channel, channel_order_no, buyer_id, ordered_at, paid_at, skus[], payment, carrier?, waybill?,
//	              recipient?, recipient_name?, recipient_phone?, recipient_address?}
//	balance_paid {order_id}
//	waybill      {order_id, carrier, waybill}
//	cancel       {order_id, reason}
//	intercept    {order_id, reason}
//	state        {order_id, state, waybill?, label_version?, intercept_id?, intercept?}
//	first_scan   {order_id, carrier, waybill, at}
//	tracking     {order_id, carrier, waybill, event, at}
//
// HSeq is the hub's per-site downlink sequence (set by the hub when it publishes; 0 for messages
// from elsewhere). Agents remember the highest one they applied and ask for a catch-up on a gap.
// Version is the order data's version, given by the hub and only increasing: an order message
// with a higher version than the agent holds is an update, a lower or equal one changes nothing.
type OrderMsg struct {
	Type           string   `json:"type"`
	HSeq           uint64   `json:"hseq,omitempty"`
	OrderID        string   `json:"order_id,omitempty"`
	Channel        string   `json:"channel,omitempty"`
	ChannelOrderNo string   `json:"channel_order_no,omitempty"`
	BuyerID        string   `json:"buyer_id,omitempty"`
	OrderedAt      string   `json:"ordered_at,omitempty"`
	PaidAt         string   `json:"paid_at,omitempty"`
	SKUs           []string `json:"skus,omitempty"`
	Payment        string   `json:"payment,omitempty"`
	Carrier        string   `json:"carrier,omitempty"`
	Waybill        string   `json:"waybill,omitempty"`
	Recipient      string   `json:"recipient,omitempty"` // masked one-line recipient (older order systems)
	// The recipient as separate fields, unmasked: labels print the name, the masked phone and
	// the full address; logs, the console and journal details show them masked.
	RecipientName    string `json:"recipient_name,omitempty"`
	RecipientPhone   string `json:"recipient_phone,omitempty"`
	RecipientAddress string `json:"recipient_address,omitempty"`
	Version          uint64 `json:"version,omitempty"`
	Reason           string `json:"reason,omitempty"`
	State            string `json:"state,omitempty"`
	// State messages: the label version and the intercept the hub merged from the agents' entries.
	LabelVersion uint64 `json:"label_version,omitempty"`
	InterceptID  uint64 `json:"intercept_id,omitempty"`
	Intercept    string `json:"intercept,omitempty"`
	// At (first_scan, tracking) is the carrier's scan time, RFC 3339.
	At string `json:"at,omitempty"`
	// Event (tracking) is the carrier event, one of the Carrier* constants.
	Event string `json:"event,omitempty"`
}

// ParseDownlink parses a downlink payload: one JSON object or an array of them. A payload that is not
// JSON at all fails with ErrMalformed. Inside an array, each element is decoded on its own: good
// elements are returned in msgs, and each bad one yields an error in bad (wrapping ErrMalformed or
// ErrInvalid and naming its index), so one bad element never hides the others.
func ParseDownlink(payload []byte) (msgs []OrderMsg, bad []error, err error) {
	payload = bytes.TrimSpace(payload)
	if len(payload) == 0 {
		return nil, nil, fmt.Errorf("%w: empty payload", ErrMalformed)
	}
	var raws []json.RawMessage
	if payload[0] == '[' {
		if err := json.Unmarshal(payload, &raws); err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
	} else {
		raws = []json.RawMessage{payload}
	}
	for i, raw := range raws {
		m, err := DecodeOrderMsg(raw) // json.Unmarshal's result and error, without reflection
		if err != nil {
			bad = append(bad, fmt.Errorf("%w: element %d: %v", ErrMalformed, i, err))
			continue
		}
		if err := m.Validate(); err != nil {
			bad = append(bad, fmt.Errorf("element %d: %w", i, err))
			continue
		}
		msgs = append(msgs, m)
	}
	return msgs, bad, nil
}

// Validate checks the fields a message of its type needs (not the per-channel data contract, which
// is the agent's configuration).
func (m OrderMsg) Validate() error {
	need := func(name, v string) error {
		if strings.TrimSpace(v) == "" {
			return fmt.Errorf("%w: %s message without %s", ErrInvalid, m.Type, name)
		}
		return nil
	}
	switch m.Type {
	case TypeOrder:
		if m.OrderID == "" {
			for _, f := range [][2]string{{"channel", m.Channel}, {"channel_order_no", m.ChannelOrderNo}, {"buyer_id", m.BuyerID}, {"ordered_at", m.OrderedAt}} {
				if err := need(f[0]+" (needed for the fingerprint when order_id is absent)", f[1]); err != nil {
					return err
				}
			}
		}
		for _, t := range []string{m.OrderedAt, m.PaidAt} {
			if _, err := ParseTime(t); err != nil {
				return err
			}
		}
		switch m.Payment {
		case "", "full", "deposit":
		default:
			return fmt.Errorf("%w: payment %q (want full or deposit)", ErrInvalid, m.Payment)
		}
		return nil
	case TypeBalancePaid:
		return need("order_id", m.OrderID)
	case TypeWaybill:
		if err := need("order_id", m.OrderID); err != nil {
			return err
		}
		return need("waybill", m.Waybill)
	case TypeCancel, TypeIntercept:
		return need("order_id", m.OrderID)
	case TypeState:
		if err := need("order_id", m.OrderID); err != nil {
			return err
		}
		if m.Intercept != "" && !ValidIntercept(m.Intercept) {
			return fmt.Errorf("%w: state message with intercept %q", ErrInvalid, m.Intercept)
		}
		return need("state", m.State)
	case TypeFirstScan:
		for _, f := range [][2]string{{"order_id", m.OrderID}, {"waybill", m.Waybill}, {"at", m.At}} {
			if err := need(f[0], f[1]); err != nil {
				return err
			}
		}
		_, err := ParseTime(m.At)
		return err
	case TypeTracking:
		for _, f := range [][2]string{{"order_id", m.OrderID}, {"waybill", m.Waybill}, {"event", m.Event}, {"at", m.At}} {
			if err := need(f[0], f[1]); err != nil {
				return err
			}
		}
		if !ValidCarrierEvent(m.Event) {
			return fmt.Errorf("%w: tracking message with event %q", ErrInvalid, m.Event)
		}
		_, err := ParseTime(m.At)
		return err
	case "":
		return fmt.Errorf("%w: message without type", ErrInvalid)
	}
	return fmt.Errorf("%w: unknown type %q", ErrInvalid, m.Type)
}

// ID returns the message's order id, computing the fingerprint for an order without one.
func (m OrderMsg) ID() string {
	if m.OrderID != "" || m.Type != TypeOrder {
		return m.OrderID
	}
	ordered, _ := ParseTime(m.OrderedAt)
	return Fingerprint(m.Channel, m.ChannelOrderNo, m.BuyerID, ordered, m.SKUs)
}

// Fingerprint is the global order id used when the hub sends an order without one (the warehouses' rule:
// "one global order fingerprint: channel order no + buyer id + order timestamp + SKU code"):
//
//	"FP" + upper-case hex of the first 12 bytes of SHA-256(
//	    "wedge-fp-v1" 0x1F channel 0x1F channel_order_no 0x1F buyer_id 0x1F ordered_at 0x1F skus)
//
// where channel is lower-cased and trimmed, channel_order_no and buyer_id are trimmed, ordered_at is
// the UTC time formatted by Time (milliseconds), and skus are trimmed, sorted and joined by 0x1E.
// The same order sent twice, or with its SKUs in another order, gets the same id.
func Fingerprint(channel, channelOrderNo, buyerID string, orderedAt time.Time, skus []string) string {
	// Hashed in one buffer (the parts in a row are what the spec's stream is) and without a
	// []string per call: the hub computes it for every entry that moves an order.
	var skuBuf [8]string
	s := skuBuf[:0]
	for _, k := range skus {
		s = append(s, strings.TrimSpace(k))
	}
	slices.Sort(s)
	var buf [256]byte
	b := append(buf[:0], "wedge-fp-v1\x1f"...)
	b = append(b, strings.ToLower(strings.TrimSpace(channel))...)
	b = append(append(b, 0x1f), strings.TrimSpace(channelOrderNo)...)
	b = append(append(b, 0x1f), strings.TrimSpace(buyerID)...)
	b = append(b, 0x1f)
	if !orderedAt.IsZero() {
		b = orderedAt.UTC().Truncate(time.Millisecond).AppendFormat(b, TimeLayout) // Time(orderedAt)
	}
	b = append(b, 0x1f)
	for i, k := range s {
		if i > 0 {
			b = append(b, 0x1e)
		}
		b = append(b, k...)
	}
	sum := sha256.Sum256(b)
	const digits = "0123456789ABCDEF"
	out := [26]byte{'F', 'P'}
	for i, c := range sum[:12] {
		out[2+2*i], out[3+2*i] = digits[c>>4], digits[c&0xf]
	}
	return string(out[:])
}

// OrdersRequest is the body of the hub's POST /v1/orders.
type OrdersRequest struct {
	Site   string     `json:"site"`
	Orders []OrderMsg `json:"orders"`
}
