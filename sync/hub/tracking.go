package hub

import (
	"context"
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"wedge/order"
	"wedge/sync/wire"
)

// Carrier tracking. Carriers (or an aggregator such as Kuaidi100) tell the hub what became of a
// waybill: POST /v1/tracking with a bearer token of scope tracking:write takes one event as JSON;
// POST /v1/tracking/kuaidi100 takes Kuaidi100's push, authenticated by its MD5 sign with the
// salt the subscription set (TrackingOptions). Events are stored by (waybill, time, kind), so a
// repeated push changes nothing, and in any order (a delivered before its first scan is kept as
// it is; the summary takes the earliest first scan). The order is found by waybill (the hub
// indexes every printed or assigned waybill); an unknown waybill's events are stored too and
// the answer says the waybill is unknown. GET /v1/tracking/{waybill} shows them.

// Tracking event kinds.
const (
	TrackAccepted  = "accepted"   // the carrier has the order (no physical scan yet)
	TrackFirstScan = "first_scan" // the courier's first scan: the parcel left the warehouse
	TrackInTransit = "in_transit"
	TrackDelivered = "delivered"
	TrackException = "exception"
)

// TrackEvents lists the kinds.
var TrackEvents = []string{TrackAccepted, TrackFirstScan, TrackInTransit, TrackDelivered, TrackException}

// ErrTracking means a tracking event or push is malformed (400).
var ErrTracking = errors.New("hub: malformed tracking event")

// TrackingOptions configure the carrier pushes (Options.Tracking).
type TrackingOptions struct {
	// Kuaidi100Salt is the salt of the Kuaidi100 subscriptions; pushes must carry
	// sign = upper-case hex MD5(param + salt). "" = POST /v1/tracking/kuaidi100 is off (404).
	Kuaidi100Salt string
}

// TrackingEvent is one stored event.
type TrackingEvent struct {
	Carrier string    `json:"carrier"`
	Waybill string    `json:"waybill"`
	Event   string    `json:"event"`
	At      time.Time `json:"at"`
	// Implied is set on a first scan inferred from a later state (Kuaidi100 without statusCode 103).
	Implied  bool            `json:"implied,omitempty"`
	OrderID  string          `json:"order_id,omitempty"`
	Source   string          `json:"source"` // api | kuaidi100
	By       string          `json:"by,omitempty"`
	Received time.Time       `json:"received_at"`
	Raw      json.RawMessage `json:"raw,omitempty"` // kept, never shown (a carrier's trace can name the recipient)
}

// id sorts by time, then kind: one event per (waybill, instant, kind).
func (e TrackingEvent) id() string {
	return e.At.UTC().Format("2006-01-02T15:04:05.000000000Z") + "|" + e.Event
}

// trackingIn is POST /v1/tracking's body.
type trackingIn struct {
	Carrier string          `json:"carrier"`
	Waybill string          `json:"waybill"`
	Event   string          `json:"event"`
	At      string          `json:"at"`
	Raw     json.RawMessage `json:"raw"`
}

func validWaybill(s string) bool {
	if len(s) < 6 || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r == '-') {
			return false
		}
	}
	return true
}

// parseTrackingJSON checks one JSON event.
func parseTrackingJSON(b []byte) (TrackingEvent, error) {
	var in trackingIn
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return TrackingEvent{}, fmt.Errorf("%w: 不是有效的 JSON / not a valid event object: %v", ErrTracking, err)
	}
	e := TrackingEvent{Carrier: order.NormalizeCode(in.Carrier), Waybill: strings.TrimSpace(in.Waybill), Event: in.Event, Raw: in.Raw, Source: "api"}
	at, err := time.Parse(time.RFC3339Nano, in.At)
	switch {
	case e.Carrier == "":
		return e, fmt.Errorf("%w: 缺少 carrier / carrier is required", ErrTracking)
	case !validWaybill(e.Waybill):
		return e, fmt.Errorf("%w: waybill %q 应为 6–32 位字母数字 / must be 6–32 letters, digits or -", ErrTracking, in.Waybill)
	case !slices.Contains(TrackEvents, e.Event):
		return e, fmt.Errorf("%w: event %q 应为 %s / must be one of %s", ErrTracking, in.Event, strings.Join(TrackEvents, "|"), strings.Join(TrackEvents, ", "))
	case err != nil:
		return e, fmt.Errorf("%w: at %q 应为 RFC 3339 时间 / must be an RFC 3339 time", ErrTracking, in.At)
	}
	e.At = at.UTC()
	return e, nil
}

// kuaidi100Push is the param of a Kuaidi100 push (only what the hub reads).
type kuaidi100Push struct {
	Status     string `json:"status"`
	LastResult struct {
		State flexString `json:"state"`
		Com   string     `json:"com"`
		Nu    string     `json:"nu"`
		Data  []struct {
			Context    string     `json:"context"`
			Ftime      string     `json:"ftime"`
			StatusCode flexString `json:"statusCode"`
		} `json:"data"`
	} `json:"lastResult"`
}

// flexString takes a JSON string or number (Kuaidi100's codes come as either).
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*f = flexString(n.String())
	return nil
}

// kuaidi100Zone is the time zone of ftime: mainland China (UTC+8); Kuaidi100 does not say.
var kuaidi100Zone = time.FixedZone("CST", 8*3600)

// kuaidi100State maps lastResult.state to an event kind.
var kuaidi100State = map[string]string{
	"0": TrackInTransit, "1": TrackAccepted, "2": TrackException, "3": TrackDelivered, "4": TrackException,
	"5": TrackInTransit, "6": TrackException, "7": TrackInTransit, "8": TrackInTransit, "10": TrackInTransit,
	"11": TrackInTransit, "12": TrackInTransit, "13": TrackInTransit, "14": TrackException,
}

// kuaidi100Carriers maps Kuaidi100's company codes to wedge's carrier codes (order/waybill). The
// first six are in Kuaidi100's official SDK; jtexpress, youzhengguonei and debangkuaidi only in
// third-party code. Other codes are kept as Kuaidi100 spells them.
var kuaidi100Carriers = map[string]string{
	"shunfeng": "sf", "zhongtong": "zto", "yuantong": "yto", "yunda": "yunda", "shentong": "sto", "jd": "jd", "ems": "ems",
	"jtexpress": "jt", "youzhengguonei": "chinapost", "debangkuaidi": "deppon",
}

// VerifyKuaidi100 checks a push's sign: upper-case hex MD5(param + salt), in constant time.
func VerifyKuaidi100(param, sign, salt string) bool {
	sum := md5.Sum([]byte(param + salt))
	want := strings.ToUpper(hex.EncodeToString(sum[:]))
	return subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToUpper(strings.TrimSpace(sign)))) == 1
}

// parseKuaidi100 turns a push into events: the current state at the newest trace entry; the first
// scan at the entry with statusCode 103 (resultv2=4), or, without one, implied at the oldest entry
// when the state is one only a collected parcel reaches (in transit, out for delivery, signed).
func parseKuaidi100(param string) ([]TrackingEvent, error) {
	var p kuaidi100Push
	if err := json.Unmarshal([]byte(param), &p); err != nil {
		return nil, fmt.Errorf("%w: param 不是有效的 JSON / param is not valid JSON: %v", ErrTracking, err)
	}
	lr := p.LastResult
	wb := strings.TrimSpace(lr.Nu)
	if !validWaybill(wb) || lr.Com == "" {
		return nil, fmt.Errorf("%w: lastResult.nu %q / lastResult.com %q 缺失或无效 / missing or invalid", ErrTracking, lr.Nu, lr.Com)
	}
	kind, ok := kuaidi100State[string(lr.State)]
	if !ok {
		return nil, fmt.Errorf("%w: 未知的 lastResult.state %q / unknown state", ErrTracking, lr.State)
	}
	if len(lr.Data) == 0 {
		return nil, nil // an abort or shutdown without a trace: nothing happened to the parcel
	}
	times := make([]time.Time, len(lr.Data))
	for i, d := range lr.Data {
		t, err := time.ParseInLocation(time.DateTime, strings.TrimSpace(d.Ftime), kuaidi100Zone)
		if err != nil {
			return nil, fmt.Errorf("%w: data[%d].ftime %q 应为 2006-01-02 15:04:05 / bad time", ErrTracking, i, d.Ftime)
		}
		times[i] = t.UTC()
	}
	carrier := order.NormalizeCode(lr.Com)
	if c, ok := kuaidi100Carriers[carrier]; ok {
		carrier = c
	}
	ev := func(kind string, at time.Time, implied bool) TrackingEvent {
		return TrackingEvent{Carrier: carrier, Waybill: wb, Event: kind, At: at, Implied: implied, Source: "kuaidi100", Raw: json.RawMessage(param)}
	}
	out := []TrackingEvent{ev(kind, times[0], false)}
	first := -1
	for i, d := range lr.Data {
		if d.StatusCode == "103" {
			first = i // newest first: keep going to the oldest 103
		}
	}
	switch {
	case first >= 0:
		out = append(out, ev(TrackFirstScan, times[first], false))
	case lr.State == "0" || lr.State == "5" || lr.State == "3":
		out = append(out, ev(TrackFirstScan, times[len(times)-1], true))
	}
	return out, nil
}

// storeTracking stores events with the order their waybill belongs to, in one transaction. A new
// first scan of a known order of a carrier_first_scan site is numbered in the site's downlink in
// the same transaction and published after the commit; so is every new event of a known order, as
// a tracking message to the order's site (tracking_relay.go). A repeat relays nothing.
func (h *Hub) storeTracking(ctx context.Context, events []TrackingEvent, by string) (stored int, orderID string, err error) {
	now := h.clk.Now().UTC()
	var down *group
	err = h.db.Update(context.WithoutCancel(ctx), func(tx Tx) error {
		stored = 0
		down = &group{h: h, tx: tx, now: now}
		for _, e := range events {
			o, err := tx.WaybillOrder(e.Waybill)
			if err != nil {
				return err
			}
			e.OrderID, e.By, e.Received, orderID = o, by, now, o
			ok, err := tx.AddTracking(e.Waybill, e.id(), mustJSON(e))
			if err != nil {
				return err
			}
			if ok {
				stored++
			}
			if ok && o != "" && e.Event == TrackFirstScan {
				if err := down.firstScanned(o, e); err != nil {
					return err
				}
			}
			if ok && o != "" {
				if err := down.relayTracking(o, e); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err == nil {
		for _, site := range down.downSites {
			h.publishDocs(wire.TopicOrders(site), down.downDocs[site])
		}
	}
	return stored, orderID, err
}

// TrackingSummary is GET /v1/tracking/{waybill}.
type TrackingSummary struct {
	Waybill     string          `json:"waybill"`
	OrderID     string          `json:"order_id,omitempty"`
	Known       bool            `json:"known"` // the waybill belongs to an order the hub knows
	FirstScanAt *time.Time      `json:"first_scan_at,omitempty"`
	DeliveredAt *time.Time      `json:"delivered_at,omitempty"`
	Last        string          `json:"last_event,omitempty"`
	Events      []TrackingEvent `json:"events"`
}

func summarize(wb, orderID string, events []TrackingEvent) TrackingSummary {
	s := TrackingSummary{Waybill: wb, OrderID: orderID, Known: orderID != "", Events: events}
	for i := range events {
		e := &events[i]
		e.Raw = nil
		switch {
		case e.Event == TrackFirstScan && (s.FirstScanAt == nil || e.At.Before(*s.FirstScanAt)):
			s.FirstScanAt = &e.At
		case e.Event == TrackDelivered && s.DeliveredAt == nil:
			s.DeliveredAt = &e.At
		}
		s.Last = e.Event // events are by time
	}
	if s.Events == nil {
		s.Events = []TrackingEvent{}
	}
	return s
}

// firstScanned cancels the 伪完成 check of an order whose waybill got its carrier first scan and,
// when the order's site takes 已揽收 from the carrier's first scan, relays the scan to the site's
// agents (a first_scan downlink message with the site's next hseq, signed when published).
func (g *group) firstScanned(orderID string, e TrackingEvent) error {
	rec, known, err := loadOrder(g.tx, orderID)
	if err != nil || !known {
		return err
	}
	if err := g.cancelNotice(OutboxKey{Site: rec.Site, Order: orderID, Rule: NoticeFalseCompletion}, "快递已揽收扫描 carrier first scan"); err != nil {
		return err
	}
	if g.h.opts.Pickup[rec.Site] != order.PickupCarrierFirstScan {
		return nil
	}
	return g.relayFirstScan(rec.Site, orderID, e)
}

// relayFirstScan numbers a first_scan downlink message for the site's agents.
func (g *group) relayFirstScan(site, orderID string, e TrackingEvent) error {
	_, err := g.downlink(site, wire.OrderMsg{Type: wire.TypeFirstScan, OrderID: orderID, Carrier: e.Carrier, Waybill: e.Waybill, At: wire.Time(e.At)})
	return err
}

// handedOver handles an agent's handed_over note (a handover recorded under carrier_first_scan): when
// the courier's first scan of that waybill reached the hub before the handover was scanned, it is
// relayed again now, so the agent holding the mark can journal 已揽收.
func (g *group) handedOver(rec orderRec, e wire.Entry) error {
	if g.h.opts.Pickup[rec.Site] != order.PickupCarrierFirstScan || rec.Order.State == order.PickedUp || e.Waybill == "" {
		return nil
	}
	first, err := firstScanOf(g.tx, e.Waybill)
	if err != nil || first == nil {
		return err
	}
	return g.relayFirstScan(rec.Site, rec.Order.ID, *first)
}

// firstScanOf returns the earliest stored first-scan event of a waybill (nil: none).
func firstScanOf(tx Tx, waybill string) (*TrackingEvent, error) {
	var first *TrackingEvent
	err := tx.Tracking(waybill, func(doc []byte) (bool, error) {
		var e TrackingEvent
		if _, err := getDoc(doc, nil)("tracking", &e); err != nil {
			return false, err
		}
		if e.Event == TrackFirstScan {
			first = &e
			return false, nil // events are by time: the first one is the earliest
		}
		return true, nil
	})
	return first, err
}
