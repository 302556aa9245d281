package hub

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"

	"wedge/order"
	"wedge/sync/wire"
)

// Bounds of GET /v1/trace.
const (
	// MaxTraceQuery is the longest key accepted (order ids are at most 128 characters).
	MaxTraceQuery = 128
	// maxTraceOrders bounds the orders one key finds (a channel order number shared by channels).
	maxTraceOrders = 20
	// maxTraceEntries bounds the entries shown per order.
	maxTraceEntries = 5000
)

// errNotFound is a trace key that matches nothing.
var errNotFound = errors.New("not found")

// TraceAnswer is the answer of GET /v1/trace.
type TraceAnswer struct {
	Query  string       `json:"query"`
	Kind   string       `json:"kind"`
	Orders []TraceOrder `json:"orders"`
}

// TraceOrder is one order found, with every entry the hub holds for it.
type TraceOrder struct {
	OrderID        string `json:"order_id"`
	Site           string `json:"site"`
	Channel        string `json:"channel"`
	ChannelOrderNo string `json:"channel_order_no"`
	Waybill        string `json:"waybill"`
	Carrier        string `json:"carrier"`
	// State is "" for an order the hub holds no record of (only entries: an intake an agent refused).
	State      string       `json:"state"`
	StateLabel string       `json:"state_label,omitempty"`
	Version    uint64       `json:"version"`
	Entries    []TraceEntry `json:"entries"`
	// Truncated says that more than maxTraceEntries entries are held; the first ones are shown.
	Truncated bool `json:"truncated,omitempty"`
}

// TraceEntry is one entry of an order's trace: who (actor: the operator, else what triggered it),
// at which station and device, when (the agent's clock), from → to, why, and whether its hash
// chain checked out at the hub. Entries kept as unverified evidence have chain_ok false and the
// reason in note.
type TraceEntry struct {
	Site       string `json:"site"`
	Agent      string `json:"agent"`
	Journal    string `json:"journal"`
	Seq        uint64 `json:"seq"`
	At         string `json:"at"`
	Actor      string `json:"actor"`
	Operator   string `json:"operator,omitempty"`
	Trigger    string `json:"trigger,omitempty"`
	Station    string `json:"station"`
	Device     string `json:"device"`
	Action     string `json:"action"`
	From       string `json:"from"`
	To         string `json:"to"`
	Reason     string `json:"reason"`
	ReasonZH   string `json:"reason_zh,omitempty"`
	ReasonEN   string `json:"reason_en,omitempty"`
	Waybill    string `json:"waybill,omitempty"`
	Code       string `json:"code,omitempty"`
	Detail     string `json:"detail,omitempty"` // masked
	ReceivedAt string `json:"received_at,omitempty"`
	ChainOK    bool   `json:"chain_ok"`
	Note       string `json:"note,omitempty"`
}

// fingerprintRE is the shape of wire.Fingerprint.
var fingerprintRE = regexp.MustCompile(`^FP[0-9A-F]{24}$`)

// getTrace serves GET /v1/trace?q=KEY[&kind=…]: the orders KEY names (an order id, a fingerprint,
// a channel order number or a waybill, tried in that order unless kind says which) with their
// entries.
func (h *Hub) getTrace(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	kind := r.URL.Query().Get("kind")
	switch {
	case q == "":
		writeError(w, http.StatusBadRequest, "缺少查询内容 / missing q: an order id, channel order number, waybill or fingerprint")
		return
	case len(q) > MaxTraceQuery || !validOrderID(q):
		writeError(w, http.StatusBadRequest, fmt.Sprintf("查询内容无效 / invalid q: 1–%d printable characters", MaxTraceQuery))
		return
	}
	kinds := []string{TraceOrderID, TraceFingerprint, TraceChannelOrderNo, TraceWaybill}
	if kind != "" {
		if !slices.Contains(kinds, kind) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("kind 无效 / invalid kind %q (order_id, channel_order_no, waybill or fingerprint)", kind))
			return
		}
		kinds = []string{kind}
	}
	ans := TraceAnswer{Query: q, Orders: []TraceOrder{}}
	err := h.db.View(r.Context(), func(tx Tx) error {
		for _, k := range kinds {
			orders, err := traceBy(tx, k, q)
			if err != nil {
				return err
			}
			if len(orders) > 0 {
				if k == TraceOrderID && fingerprintRE.MatchString(q) {
					k = TraceFingerprint // an order sent without an id has its fingerprint as id
				}
				ans.Kind, ans.Orders = k, orders
				return nil
			}
		}
		return errNotFound
	})
	switch {
	case errors.Is(err, errNotFound):
		writeError(w, http.StatusNotFound, fmt.Sprintf("没有找到与 %q 相关的订单 / no order found for %q (order id, channel order number, waybill or fingerprint)", q, q))
	case err != nil:
		writeError(w, http.StatusInternalServerError, "读取失败 / store read failed: "+err.Error())
	default:
		writeJSON(w, http.StatusOK, ans)
	}
}

// traceBy finds the orders whose key of kind is q and reads their traces.
func traceBy(tx Tx, kind, q string) ([]TraceOrder, error) {
	ids := []string{q}
	if kind != TraceOrderID {
		if kind == TraceFingerprint && !fingerprintRE.MatchString(q) {
			return nil, nil
		}
		var err error
		if ids, err = tx.TraceOrders(kind, q, maxTraceOrders); err != nil {
			return nil, err
		}
	}
	var out []TraceOrder
	for _, id := range ids {
		t, found, err := traceOrder(tx, id)
		if err != nil {
			return nil, err
		}
		if found {
			out = append(out, t)
		}
	}
	return out, nil
}

// traceOrder reads one order's record and every entry the hub holds for it: the stored ones (its
// history) and the evidence, in time order. found is false when there is neither.
func traceOrder(tx Tx, id string) (TraceOrder, bool, error) {
	rec, known, err := loadOrder(tx, id)
	if err != nil {
		return TraceOrder{}, false, err
	}
	o := rec.Order
	t := TraceOrder{OrderID: id, Site: rec.Site, Channel: o.Channel, ChannelOrderNo: o.ChannelOrderNo, Waybill: o.Waybill,
		Carrier: o.Carrier, State: string(o.State), Version: o.Version, Entries: []TraceEntry{}}
	if known {
		t.StateLabel = o.State.Label()
	}
	err = tx.History(id, func(k EntryKey) error {
		if len(t.Entries) >= maxTraceEntries {
			t.Truncated = true
			return nil
		}
		var se storedEntry
		if _, err := getDoc(tx.Entry(k))(fmt.Sprintf("entry %q", ekey(k)), &se); err != nil {
			return err
		}
		te := traceEntry(se.Entry, se.Site, se.Agent, se.ReceivedAt)
		te.ChainOK = se.ChainError == ""
		te.Note = se.ChainError
		t.Entries = append(t.Entries, te)
		return nil
	})
	if err != nil {
		return t, false, err
	}
	evidence, err := tx.OrderEvidence(id)
	if err != nil {
		return t, false, err
	}
	for _, raw := range evidence {
		var u unverifiedEntry
		if err := json.Unmarshal(raw, &u); err != nil {
			return t, false, fmt.Errorf("%w: evidence of order %q: %v", ErrStore, id, err)
		}
		te := traceEntry(u.Entry, u.Site, u.Agent, u.ReceivedAt)
		te.Note = "未通过校验的证据，未应用 / unverified evidence, never applied: " + u.Reason
		t.Entries = append(t.Entries, te)
	}
	sort.SliceStable(t.Entries, func(i, j int) bool { return t.Entries[i].At < t.Entries[j].At })
	if !known && len(t.Entries) == 0 {
		return t, false, nil
	}
	if t.Site == "" && len(t.Entries) > 0 {
		t.Site = t.Entries[0].Site
	}
	return t, true, nil
}

// traceEntry is e as the trace shows it, personal data masked; ChainOK is the caller's.
func traceEntry(e wire.Entry, site, agent, receivedAt string) TraceEntry {
	te := TraceEntry{Site: site, Agent: agent, Journal: e.JournalID, Seq: e.Seq, At: e.At, Actor: e.Operator, Operator: e.Operator,
		Trigger: e.Trigger, Station: e.Station, Device: e.Device, Action: e.Kind, From: e.From, To: e.To, Reason: e.Reason,
		Waybill: e.Waybill, Code: order.MaskText(e.Code), Detail: order.MaskText(e.Detail), ReceivedAt: receivedAt}
	if te.Actor == "" {
		te.Actor = e.Trigger
	}
	if e.Reason != "" {
		m := order.Reason(e.Reason).Message(order.State(e.From))
		te.ReasonZH, te.ReasonEN = m.ZH, m.EN
	}
	return te
}
