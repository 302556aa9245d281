package console

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"wedge/internal/logging"
	"wedge/order"
	"wedge/sync/wire"
)

// ExceptionSource is optionally implemented by a Source that keeps an exception queue: the orders
// the order system intercepted. Before 已揽收 such a parcel is stopped at its next scan and waits on
// the exception shelf for a supervisor's resolution; after 已揽收 the supervisor contacts the
// carrier. Resolve journals the decision (manual, with operator and note); like Confirm, an error
// is for failures to record (ErrNotFound for an unknown order), a refusal is a Result with OK false.
type ExceptionSource interface {
	Exceptions(ctx context.Context) ([]Exception, error)
	Resolve(ctx context.Context, req ResolveRequest) (ConfirmResult, error)
}

// Exception is one line of the exception queue. It carries no personal data.
type Exception struct {
	OrderID        string        `json:"order_id"`
	ChannelOrderNo string        `json:"channel_order_no,omitempty"`
	State          order.State   `json:"state"`
	Waybill        string        `json:"waybill,omitempty"`
	Status         string        `json:"status"` // wire.InterceptRequested | wire.InterceptAfterPickup
	Reason         string        `json:"reason,omitempty"`
	Since          time.Time     `json:"since,omitzero"`
	Message        order.Message `json:"message"` // what to do
	Actions        []string      `json:"actions"` // the resolutions that apply (order.Resolve*)
	// CarrierEvent is the order's latest carrier event, if the hub relayed one (where the parcel is).
	CarrierEvent *order.CarrierEvent `json:"carrier_event,omitempty"`
}

// ExceptionOf is the queue line of order o (o has an open intercept).
func ExceptionOf(o order.Order) Exception {
	e := Exception{OrderID: o.ID, ChannelOrderNo: o.ChannelOrderNo, State: o.State, Waybill: o.Waybill, Status: o.Intercept.Status,
		Reason: o.Intercept.Reason, Since: o.Intercept.At, Message: o.InterceptMessage(),
		Actions: []string{order.ResolveRelease, order.ResolveCancel, order.ResolveReturnToStock}}
	if o.Intercept.Status == wire.InterceptAfterPickup {
		e.Actions = []string{order.ResolveAcknowledge}
	}
	if o.Tracking.Event != "" {
		ev := o.Tracking
		e.CarrierEvent = &ev
	}
	return e
}

// ResolveRequest is a supervisor's resolution of an intercepted order.
type ResolveRequest struct {
	OrderID  string `json:"order_id"`
	Action   string `json:"action"`   // release | cancel | return_to_stock | acknowledge
	Operator string `json:"operator"` // who handled the parcel
	Note     string `json:"note"`     // why
	By       string `json:"by"`       // the logged-in supervisor (set by the console)
}

// exceptionsView is GET /api/exceptions: the queue, and whether the agent keeps one at all.
type exceptionsView struct {
	Available  bool        `json:"available"`
	Exceptions []Exception `json:"exceptions"`
}

func (c *Console) exceptions(w http.ResponseWriter, r *http.Request) {
	es, ok := c.src.(ExceptionSource)
	if !ok {
		writeJSON(w, http.StatusOK, exceptionsView{Exceptions: []Exception{}})
		return
	}
	list, err := es.Exceptions(r.Context())
	if err != nil {
		c.log.Error("console exception queue failed", logging.Err(err))
		writeErr(w, http.StatusInternalServerError, "异常件列表读取失败，请重试", "exception queue failed, try again")
		return
	}
	if list == nil {
		list = []Exception{}
	}
	writeJSON(w, http.StatusOK, exceptionsView{Available: true, Exceptions: list})
}

var resolveActions = []string{order.ResolveRelease, order.ResolveCancel, order.ResolveReturnToStock, order.ResolveAcknowledge}

func (c *Console) resolve(w http.ResponseWriter, r *http.Request) {
	s, ok := c.supervisor(w, r)
	if !ok {
		return
	}
	es, ok := c.src.(ExceptionSource)
	if !ok {
		writeErr(w, http.StatusNotFound, "本机没有异常件队列", "this agent keeps no exception queue")
		return
	}
	var req ResolveRequest
	if !readBody(w, r, &req) {
		return
	}
	req.OrderID, req.Operator, req.Note = strings.TrimSpace(req.OrderID), strings.TrimSpace(req.Operator), strings.TrimSpace(req.Note)
	if !slices.Contains(resolveActions, req.Action) {
		writeErr(w, http.StatusBadRequest, "请选择处理方式：放行、取消订单、退回库存或已联系快递", "choose release, cancel, return_to_stock or acknowledge")
		return
	}
	if req.OrderID == "" || req.Operator == "" || req.Note == "" {
		m := order.ReasonManualIncomplete.Message("")
		writeErr(w, http.StatusBadRequest, m.ZH, m.EN)
		return
	}
	req.By = s.User
	res, err := es.Resolve(r.Context(), req)
	if err != nil {
		c.log.Error("console intercept resolution not recorded", logging.KeyOrder, req.OrderID, "by", s.User, logging.Err(err))
		if errors.Is(err, ErrNotFound) {
			writeErr(w, http.StatusNotFound, "查无此单："+req.OrderID, "no order "+req.OrderID)
			return
		}
		writeErr(w, http.StatusInternalServerError, "处理未保存，请重试", "the resolution was not recorded, try again")
		return
	}
	c.log.Info("console intercept resolved", logging.KeyOrder, req.OrderID, "action", req.Action, "by", s.User, "ok", res.OK)
	code := http.StatusOK
	if !res.OK {
		code = http.StatusConflict
	}
	c.Refresh()
	writeJSON(w, code, res)
}

// masked is v with the personal data of its order and its entries' order messages masked: the
// console shows what people may read, the label alone prints the address.
func (v OrderView) masked() OrderView {
	v.Order = v.Order.Masked()
	h := make([]wire.Entry, len(v.History))
	for i, e := range v.History {
		h[i] = order.MaskEntry(e)
	}
	v.History = h
	return v
}
