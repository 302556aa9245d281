package hub

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"wedge/order"
	"wedge/sync/wire"
)

// Cross-site lists, GET /v1/lists/{kind}.
const (
	ListOverdue  = "overdue"  // orders in 待分仓 over OverdueAfter since they entered the backlog
	ListHeld     = "held"     // orders an agent holds behind its open breaker (暂停进入)
	ListRejected = "rejected" // refused scans and intakes the agents journaled

	// OverdueAfter is how long an order may wait in the backlog before the overdue list shows it.
	OverdueAfter = 30 * time.Minute
	// DefaultListLimit and MaxListLimit bound one page.
	DefaultListLimit = 100
	MaxListLimit     = 1000
	// reasonOverdue is the overdue list's reason code (the agents journal wire.KindOverdue).
	reasonOverdue = "overdue"
)

// ListRow is one row of a list.
type ListRow struct {
	OrderID    string `json:"order_id"`
	Site       string `json:"site"`
	Agent      string `json:"agent"`
	At         string `json:"at"`
	State      string `json:"state"`
	StateLabel string `json:"state_label,omitempty"`
	Reason     string `json:"reason"`
	ReasonZH   string `json:"reason_zh"`
	ReasonEN   string `json:"reason_en"`
	// Rejected rows: the entry.
	Journal string `json:"journal,omitempty"`
	Seq     uint64 `json:"seq,omitempty"`
	Station string `json:"station,omitempty"`
	Code    string `json:"code,omitempty"`
	Detail  string `json:"detail,omitempty"` // masked
	// Overdue rows: minutes waited so far (the hub's clock).
	WaitedMinutes int64 `json:"waited_minutes,omitempty"`
	// False completion rows (伪完成; At is the handover, Agent and Station handed it over): the
	// parcel, the scanner or device and operator of the handover, and when the first scan was due.
	Waybill  string `json:"waybill,omitempty"`
	Carrier  string `json:"carrier,omitempty"`
	Device   string `json:"device,omitempty"`
	Operator string `json:"operator,omitempty"`
	Due      string `json:"due,omitempty"`
}

// ListAnswer is a page of a list; Next, when set, is the after= of the next page.
type ListAnswer struct {
	Kind string    `json:"kind"`
	Rows []ListRow `json:"rows"`
	Next string    `json:"next,omitempty"`

	last listCursor
}

// listCursor is the position after a row, sent as opaque base64url JSON.
type listCursor struct {
	At      string `json:"at"`
	ID      string `json:"id,omitempty"`
	Site    string `json:"s,omitempty"`
	Agent   string `json:"a,omitempty"`
	Journal string `json:"j,omitempty"`
	Seq     uint64 `json:"n,omitempty"`
}

func (c listCursor) String() string {
	return base64.RawURLEncoding.EncodeToString(mustJSON(c))
}

// listQuery parses the filters and paging of a list request.
func listQuery(r *http.Request) (ListFilter, int, error) {
	q := r.URL.Query()
	f := ListFilter{Site: q.Get("site"), Agent: q.Get("agent"), Reason: q.Get("reason")}
	for _, p := range []struct {
		name string
		into *string
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(p.name); v != "" {
			t, err := wire.ParseTime(v)
			if err != nil {
				return f, 0, fmt.Errorf("%s 无效 / invalid %s %q (RFC 3339, e.g. 2026-05-01T08:00:00Z)", p.name, p.name, v)
			}
			*p.into = wire.Time(t)
		}
	}
	limit := DefaultListLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxListLimit {
			return f, 0, fmt.Errorf("limit 无效 / invalid limit %q (1–%d)", v, MaxListLimit)
		}
		limit = n
	}
	if v := q.Get("after"); v != "" {
		raw, err := base64.RawURLEncoding.DecodeString(v)
		var c listCursor
		if err == nil {
			err = json.Unmarshal(raw, &c)
		}
		if err != nil {
			return f, 0, fmt.Errorf("after 无效 / invalid after %q (use the next value of the previous page)", v)
		}
		f.AfterAt, f.AfterID, f.HasAfter = c.At, c.ID, true
		f.AfterKey = EntryKey{Site: c.Site, Agent: c.Agent, Journal: c.Journal, Seq: c.Seq}
	}
	return f, limit, nil
}

// getList serves GET /v1/lists/{kind}?site=&agent=&since=&until=&reason=&limit=&after=.
func (h *Hub) getList(w http.ResponseWriter, r *http.Request) {
	kind := r.PathValue("kind")
	walk, ok := map[string]func(Tx, ListFilter, *ListAnswer, int) error{
		ListOverdue: h.listOverdue, ListHeld: listHeld, ListRejected: listRejected,
		ListFalseCompletion: h.listFalseCompletion,
	}[kind]
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("没有这个列表 / no list %q (overdue, held, rejected, false_completion)", kind))
		return
	}
	f, limit, err := listQuery(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ans := ListAnswer{Kind: kind, Rows: []ListRow{}}
	if err := h.db.View(r.Context(), func(tx Tx) error { return walk(tx, f, &ans, limit) }); err != nil {
		writeError(w, http.StatusInternalServerError, "读取失败 / store read failed: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, ans)
}

// add appends row (after is the position after it) and reports whether the walk goes on; a row
// that comes when the page is full sets Next (the position after the page's last row) and ends it.
func (a *ListAnswer) add(row ListRow, limit int, after listCursor) bool {
	if len(a.Rows) == limit {
		a.Next = a.last.String()
		return false
	}
	a.Rows, a.last = append(a.Rows, row), after
	return true
}

// listOverdue: orders in 待分仓 whose backlog time is over OverdueAfter ago (the hub's clock).
func (h *Hub) listOverdue(tx Tx, f ListFilter, a *ListAnswer, limit int) error {
	now := h.clk.Now().UTC()
	if f.Reason != "" && f.Reason != reasonOverdue {
		return nil
	}
	if cut := wire.Time(now.Add(-OverdueAfter)); f.Until == "" || cut < f.Until {
		f.Until = cut
	}
	return tx.OrdersInState(string(order.PendingAllocation), f, func(ix OrderIndex) (bool, error) {
		row := ListRow{OrderID: ix.OrderID, Site: ix.Site, Agent: ix.Agent, At: ix.Since, State: ix.State,
			StateLabel: order.State(ix.State).Label(), Reason: reasonOverdue,
			ReasonZH: "待分仓超过 30 分钟（从进入暂停进入/待分仓时算起）", ReasonEN: "over 30 minutes in pending allocation (counted from entering held/pending)"}
		if t, err := wire.ParseTime(ix.Since); err == nil && !t.IsZero() {
			row.WaitedMinutes = int64(now.Sub(t) / time.Minute)
		}
		return a.add(row, limit, listCursor{At: ix.Since, ID: ix.OrderID}), nil
	})
}

// listHeld: the holds of the agents, with the hub's state of the order. A hold of an order the
// hub knows to be beyond the backlog (printed, picked up, cancelled) is stale and left out.
func listHeld(tx Tx, f ListFilter, a *ListAnswer, limit int) error {
	if f.Reason != "" && f.Reason != string(order.ReasonHeld) {
		return nil
	}
	m := order.ReasonHeld.Message(order.Held)
	return tx.Holds(f, func(hd Hold) (bool, error) {
		row := ListRow{OrderID: hd.OrderID, Site: hd.Site, Agent: hd.Agent, At: hd.At, Reason: string(order.ReasonHeld), ReasonZH: m.ZH, ReasonEN: m.EN}
		ix, err := tx.OrderIndexOf(hd.OrderID)
		if err != nil {
			return false, err
		}
		if ix != nil {
			switch order.State(ix.State) {
			case order.WaybillPrinted, order.PickedUp, order.Cancelled:
				return true, nil
			}
			row.State, row.StateLabel = ix.State, order.State(ix.State).Label()
		}
		return a.add(row, limit, listCursor{At: hd.At, ID: hd.OrderID, Site: hd.Site, Agent: hd.Agent}), nil
	})
}

// listRejected: the reject entries, with the entry's station, code and detail (masked) and the
// hub's state of the order.
func listRejected(tx Tx, f ListFilter, a *ListAnswer, limit int) error {
	return tx.Rejections(f, func(rj Rejection) (bool, error) {
		var se storedEntry
		if _, err := getDoc(tx.Entry(rj.Key))(fmt.Sprintf("entry %q", ekey(rj.Key)), &se); err != nil {
			return false, err
		}
		m := order.Reason(rj.Reason).Message(order.State(se.From))
		row := ListRow{OrderID: rj.OrderID, Site: rj.Key.Site, Agent: rj.Key.Agent, At: rj.At, State: se.From, Reason: rj.Reason,
			ReasonZH: m.ZH, ReasonEN: m.EN, Journal: rj.Key.Journal, Seq: rj.Key.Seq, Station: se.Station,
			Code: order.MaskText(se.Code), Detail: order.MaskText(se.Detail)}
		if rj.OrderID != "" {
			ix, err := tx.OrderIndexOf(rj.OrderID)
			if err != nil {
				return false, err
			}
			if ix != nil {
				row.State = ix.State
			}
		}
		if row.State != "" {
			row.StateLabel = order.State(row.State).Label()
		}
		k := rj.Key
		return a.add(row, limit, listCursor{At: rj.At, Site: k.Site, Agent: k.Agent, Journal: k.Journal, Seq: k.Seq}), nil
	})
}
