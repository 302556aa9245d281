package hub

import (
	"errors"
	"io"
	"net/http"
	"net/url"

	"wedge/internal/logging"
	"wedge/sync/apitoken"
)

// maxTrackingBody caps a tracking POST (a Kuaidi100 push carries the whole trace).
const maxTrackingBody = 1 << 20

// trackingAnswer is POST /v1/tracking's answer.
type trackingAnswer struct {
	Stored    int    `json:"stored"` // new events (0: all were stored before)
	OrderID   string `json:"order_id,omitempty"`
	Known     bool   `json:"known"`
	Message   string `json:"message"`
	Duplicate bool   `json:"duplicate,omitempty"`
}

func answerFor(stored, n int, orderID string) trackingAnswer {
	a := trackingAnswer{Stored: stored, OrderID: orderID, Known: orderID != "", Duplicate: stored == 0 && n > 0,
		Message: "已记录 / recorded"}
	if orderID == "" {
		a.Message = "已记录，但运单号不属于已知订单 / recorded, but the waybill belongs to no order the hub knows"
	}
	return a
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxTrackingBody+1))
	switch {
	case err != nil:
		writeError(w, http.StatusBadRequest, "无法读取请求 / cannot read the request body")
		return nil, false
	case len(b) > maxTrackingBody:
		writeError(w, http.StatusRequestEntityTooLarge, "请求过大 / request body too large (1 MiB)")
		return nil, false
	}
	return b, true
}

// postTracking takes one carrier event as JSON: {carrier, waybill, event, at, raw}.
func (h *Hub) postTracking(w http.ResponseWriter, r *http.Request) {
	b, ok := readBody(w, r)
	if !ok {
		return
	}
	e, err := parseTrackingJSON(b)
	if err != nil {
		writeError(w, http.StatusBadRequest, trimSentinel(err))
		return
	}
	stored, orderID, err := h.storeTracking(r.Context(), []TrackingEvent{e}, apitoken.NameFrom(r.Context()))
	if err != nil {
		h.log.Error("tracking event not stored", "waybill", e.Waybill, logging.Err(err))
		writeError(w, http.StatusServiceUnavailable, "暂时无法保存，请重试 / not stored, try again")
		return
	}
	code := http.StatusOK
	if orderID == "" {
		code = http.StatusAccepted
	}
	writeJSON(w, code, answerFor(stored, 1, orderID))
}

// postKuaidi100 takes a Kuaidi100 push (form fields param and sign) and answers in Kuaidi100's
// words: result true only once the events are stored.
func (h *Hub) postKuaidi100(w http.ResponseWriter, r *http.Request) {
	k100 := func(code int, ok bool, rc, msg string) {
		writeJSON(w, code, map[string]any{"result": ok, "returnCode": rc, "message": msg})
	}
	if h.opts.Tracking == nil || h.opts.Tracking.Kuaidi100Salt == "" {
		writeError(w, http.StatusNotFound, "未配置快递100推送 / Kuaidi100 pushes are not configured")
		return
	}
	b, ok := readBody(w, r)
	if !ok {
		return
	}
	form, err := url.ParseQuery(string(b))
	if err != nil || form.Get("param") == "" {
		k100(http.StatusBadRequest, false, "500", "缺少 param / missing form field param")
		return
	}
	param := form.Get("param")
	if !VerifyKuaidi100(param, form.Get("sign"), h.opts.Tracking.Kuaidi100Salt) {
		h.log.Warn("Kuaidi100 push with a bad sign refused", "remote", r.RemoteAddr)
		k100(http.StatusForbidden, false, "500", "签名错误 / bad sign")
		return
	}
	events, err := parseKuaidi100(param)
	if err != nil {
		k100(http.StatusBadRequest, false, "500", trimSentinel(err))
		return
	}
	stored, orderID, err := h.storeTracking(r.Context(), events, "kuaidi100")
	if err != nil {
		h.log.Error("Kuaidi100 push not stored (it is pushed again)", logging.Err(err))
		k100(http.StatusServiceUnavailable, false, "500", "暂时无法保存 / not stored, try again")
		return
	}
	a := answerFor(stored, len(events), orderID)
	k100(http.StatusOK, true, "200", "成功 "+a.Message)
}

// getTracking shows a waybill's events (without the carriers' raw traces) and its summary.
func (h *Hub) getTracking(w http.ResponseWriter, r *http.Request) {
	wb := r.PathValue("waybill")
	if !validWaybill(wb) {
		writeError(w, http.StatusBadRequest, "运单号无效 / invalid waybill")
		return
	}
	var events []TrackingEvent
	var orderID string
	err := h.db.View(r.Context(), func(tx Tx) error {
		var err error
		if orderID, err = tx.WaybillOrder(wb); err != nil {
			return err
		}
		return tx.Tracking(wb, func(doc []byte) (bool, error) {
			var e TrackingEvent
			if _, err := getDoc(doc, nil)("tracking", &e); err != nil {
				return false, err
			}
			events = append(events, e)
			return true, nil
		})
	})
	if err != nil {
		h.log.Error("tracking not read", "waybill", wb, logging.Err(err))
		writeError(w, http.StatusInternalServerError, "读取失败 / cannot read the tracking")
		return
	}
	if len(events) == 0 && orderID == "" {
		writeError(w, http.StatusNotFound, "没有这个运单的记录 / nothing known of this waybill")
		return
	}
	writeJSON(w, http.StatusOK, summarize(wb, orderID, events))
}

// trimSentinel drops ErrTracking's own words from a message shown to the caller.
func trimSentinel(err error) string {
	msg := err.Error()
	if errors.Is(err, ErrTracking) {
		msg = msg[len(ErrTracking.Error())+2:]
	}
	return msg
}
