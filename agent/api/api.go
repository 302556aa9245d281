// Package api is the agent's local HTTP JSON API:
//
//	GET  /healthz                      {"ok":true}
//	GET  /api/v1/status                journal, sync, devices, backlog per state, stations, recent results
//	GET  /api/v1/orders/{id}           the order and its local history; id = order id, channel order no or waybill
//	POST /api/v1/orders/{id}/confirm   {"operator","note","waybill"?}: manual confirmation of the next step
//	POST /api/v1/scan                  {"station","code","device"?}: a software scan, journaled with device "api"
//	GET  /api/v1/orders/{id}/label.png the order's e-waybill label as a PNG (bound waybill, else the assigned one)
//	POST /api/v1/orders/{id}/reprint   {"operator","note"?,"station"?}: explicit, journaled reprint of a printed label
//	GET  /api/v1/journal/backup        (token) a consistent copy of the journal file (wedge journal backup)
//
// The status lists the printers ("printers") with their last seen faults (agent/printing), the hash
// of the configuration's shared settings ("settings_hash") and the breaker, overdue, KPI and data
// contract settings the agent applies, each with its source ("settings").
//
// POST requests and the journal backup need "Authorization: Bearer <token>" (401 without it, 403 with a wrong one; 403 when
// the agent has no token configured). Errors are {"error":{"code","zh","en"}}, Chinese first.
package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"wedge/agent/config"
	"wedge/agent/journal"
	"wedge/agent/printing"
	"wedge/agent/station"
	"wedge/drivers/scanner"
	"wedge/internal/clock"
	"wedge/internal/logging"
	"wedge/order"
	"wedge/sync/wire"
)

// MaxBody bounds request bodies.
const MaxBody = 64 << 10

// RecentMax is how many recent results the status keeps.
const RecentMax = 50

// Info is the agent's identity.
type Info struct {
	Site    string `json:"site"`
	Agent   string `json:"agent"`
	Version string `json:"version"`
}

// Sync reports the uplink's state. *uplink.Uplink fits.
type Sync interface {
	Connected() bool
	LastAck() time.Time
}

// Device is one device's line in the status.
type Device struct {
	Name    string         `json:"name"`
	Kind    string         `json:"kind"`
	Station string         `json:"station"`
	Profile string         `json:"profile,omitempty"`
	Port    string         `json:"port,omitempty"`
	Health  scanner.Health `json:"health"`
}

// Options are the API's dependencies. Store is required; the rest may be nil.
type Options struct {
	Info     Info
	Token    string // bearer token for POST; "" disables POST requests
	Store    *journal.Store
	Stations []*station.Station
	Sync     Sync            // nil: reported as not connected
	Devices  func() []Device // nil: no devices
	Printing Printing        // nil: no printers (label.png still renders; reprint answers no_printer)
	// Settings are the breaker, overdue, KPI and data contract settings with their source
	// (oversight.Oversight.Settings); nil: none. SettingsHash is the hash of the file's shared
	// settings (config.Config.SettingsHash).
	Settings     func() []config.Effective
	SettingsHash string
	// Pickup is the pickup policy in force (agent/pickup); nil: not reported.
	Pickup func() string
	Clock  clock.Clock
	Logger *slog.Logger // nil: discard
	// OnResult, if set, receives every committed manual confirmation (POST .../confirm), accepted or
	// refused, after its commit and before the answer, like a station's OnResult; the agent routes it
	// to the same sink as station results (console scan feed, metrics, outcome log). Scans through
	// POST /api/v1/scan reach that sink through their station's hook, not this one. It must not block.
	OnResult func(station.Result)
}

// Printing is the agent's printers. *printing.Set fits.
type Printing interface {
	Status() []printing.PrinterStatus
	LabelPNG(code string) ([]byte, error)
	Reprint(ctx context.Context, station string, req printing.ReprintRequest) station.Result
}

// API is an http.Handler.
type API struct {
	opts     Options
	clk      clock.Clock
	log      *slog.Logger
	mux      *http.ServeMux
	stations map[string]*station.Station

	mu     sync.Mutex
	recent []ResultJSON // ring, newest last
}

// New returns the API handler.
func New(opts Options) *API {
	a := &API{opts: opts, clk: clock.Or(opts.Clock), log: logging.Or(opts.Logger), mux: http.NewServeMux(), stations: map[string]*station.Station{}}
	for _, s := range opts.Stations {
		a.stations[s.Name()] = s
	}
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]bool{"ok": true}) })
	a.mux.HandleFunc("GET /api/v1/status", a.status)
	a.mux.HandleFunc("GET /api/v1/orders/{id}", a.order)
	a.mux.HandleFunc("GET /api/v1/journal/backup", a.auth(a.backup))
	a.mux.HandleFunc("POST /api/v1/orders/{id}/confirm", a.auth(a.confirm))
	a.mux.HandleFunc("POST /api/v1/scan", a.auth(a.scan))
	a.mux.HandleFunc("GET /api/v1/orders/{id}/label.png", a.labelPNG)
	a.mux.HandleFunc("POST /api/v1/orders/{id}/reprint", a.auth(a.reprint))
	for _, p := range []string{"/healthz", "/api/v1/status", "/api/v1/orders/{id}", "/api/v1/orders/{id}/confirm", "/api/v1/scan"} {
		a.mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			writeErr(w, http.StatusMethodNotAllowed, "method_not_allowed", "不支持的请求方法 "+r.Method, "method not allowed: "+r.Method)
		})
	}
	a.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, http.StatusNotFound, "not_found", "没有这个接口", "no such endpoint")
	})
	return a
}

// ServeHTTP serves the API.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			a.log.Error("api: panic serving a request", "method", r.Method, "path", r.URL.Path, "panic", v)
			writeErr(w, http.StatusInternalServerError, "internal", "内部错误", "internal error")
		}
	}()
	a.mux.ServeHTTP(w, r)
}

// Record keeps a result for the status's recent list. It never blocks for long; stations call it
// from their OnResult hook.
func (a *API) Record(r station.Result) {
	j := resultJSON(r)
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.recent) >= RecentMax {
		copy(a.recent, a.recent[1:])
		a.recent = a.recent[:RecentMax-1]
	}
	a.recent = append(a.recent, j)
}

// ErrorJSON is the error body.
type ErrorJSON struct {
	Error struct {
		Code string `json:"code"`
		ZH   string `json:"zh"`
		EN   string `json:"en"`
	} `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeErr(w http.ResponseWriter, status int, code, zh, en string) {
	var e ErrorJSON
	e.Error.Code, e.Error.ZH, e.Error.EN = code, zh, en
	writeJSON(w, status, e)
}

func (a *API) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.opts.Token == "" {
			writeErr(w, http.StatusForbidden, "token_not_configured", "本机未配置 api.token，不接受修改请求", "api.token is not configured: state-changing requests are disabled")
			return
		}
		h0 := r.Header.Get("Authorization")
		tok, ok := strings.CutPrefix(h0, "Bearer ")
		if h0 == "" || !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="wedge"`)
			writeErr(w, http.StatusUnauthorized, "unauthorized", "需要令牌：Authorization: Bearer <token>", "token required: Authorization: Bearer <token>")
			return
		}
		if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(a.opts.Token)) != 1 {
			writeErr(w, http.StatusForbidden, "forbidden", "令牌错误", "wrong token")
			return
		}
		h(w, r)
	}
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, MaxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeErr(w, http.StatusBadRequest, "bad_request", "请求格式错误："+err.Error(), "malformed request: "+err.Error())
		return false
	}
	return true
}

// StatusJSON is GET /api/v1/status.
type StatusJSON struct {
	Info
	JournalID       string                   `json:"journal_id"`
	LastSeq         uint64                   `json:"last_seq"`
	AckedSeq        uint64                   `json:"acked_seq"`
	Unsynced        uint64                   `json:"unsynced"`
	BrokerConnected bool                     `json:"broker_connected"`
	LastAck         string                   `json:"last_ack,omitempty"`
	Devices         []Device                 `json:"devices"`
	Backlog         map[order.State]int      `json:"backlog"`
	Stations        []StationJSON            `json:"stations"`
	Printers        []printing.PrinterStatus `json:"printers"`
	Recent          []ResultJSON             `json:"recent"`
	// SettingsHash is the hash of the shared settings of the configuration file (`wedge config
	// hash`); Settings the applied settings with their source (file and line, default, or hub
	// command with when and by whom).
	SettingsHash string             `json:"settings_hash"`
	Settings     []config.Effective `json:"settings"`
	Pickup       string             `json:"pickup,omitempty"` // handover_scan | carrier_first_scan
	At           string             `json:"at"`
}

// StationJSON is one station in the status.
type StationJSON struct {
	Name     string `json:"name"`
	Role     string `json:"role"`
	Operator string `json:"operator,omitempty"`
}

// Status assembles the status.
func (a *API) Status() StatusJSON {
	st := a.opts.Store
	s := StatusJSON{Info: a.opts.Info, JournalID: st.JournalID(), LastSeq: st.LastSeq(), AckedSeq: st.AckedSeq(),
		Backlog: map[order.State]int{}, Devices: []Device{}, Stations: []StationJSON{}, At: wire.Time(a.clk.Now()),
		SettingsHash: a.opts.SettingsHash, Settings: []config.Effective{}}
	if a.opts.Settings != nil {
		s.Settings = append(s.Settings, a.opts.Settings()...)
	}
	if a.opts.Pickup != nil {
		s.Pickup = a.opts.Pickup()
	}
	if s.LastSeq > s.AckedSeq {
		s.Unsynced = s.LastSeq - s.AckedSeq
	}
	for _, state := range order.States {
		s.Backlog[state] = 0
	}
	for k, v := range st.Counts() {
		s.Backlog[k] = v
	}
	if a.opts.Sync != nil {
		s.BrokerConnected = a.opts.Sync.Connected()
		s.LastAck = wire.Time(a.opts.Sync.LastAck())
	}
	if a.opts.Devices != nil {
		s.Devices = append(s.Devices, a.opts.Devices()...)
	}
	s.Printers = []printing.PrinterStatus{}
	if a.opts.Printing != nil {
		s.Printers = append(s.Printers, a.opts.Printing.Status()...)
	}
	for _, x := range a.opts.Stations {
		s.Stations = append(s.Stations, StationJSON{Name: x.Name(), Role: x.Role(), Operator: x.Operator()})
	}
	a.mu.Lock()
	s.Recent = make([]ResultJSON, 0, len(a.recent))
	for i := len(a.recent) - 1; i >= 0; i-- { // newest first
		s.Recent = append(s.Recent, a.recent[i])
	}
	a.mu.Unlock()
	return s
}

func (a *API) status(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, a.Status()) }

// backup sends a consistent copy of the journal file, for `wedge journal backup`. The copy is
// made first into a temporary file beside the journal (one short read transaction, scans go on;
// see journal.Store.BackupFile), then sent. It needs the API token: the journal holds every
// order's data.
func (a *API) backup(w http.ResponseWriter, r *http.Request) {
	st := a.opts.Store
	f, size, err := st.BackupFile(filepath.Dir(st.Path()))
	if err != nil {
		a.log.Error("api: journal backup failed", "remote", r.RemoteAddr, logging.Err(err))
		writeErr(w, http.StatusServiceUnavailable, "store_error", "无法复制日志："+err.Error(), "cannot copy the journal: "+err.Error())
		return
	}
	defer os.Remove(f.Name())
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="wedge.db"`)
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	n, err := io.Copy(w, f)
	if err != nil {
		// Content-Length was promised: the client sees a short body and fails.
		a.log.Error("api: journal backup cut", "bytes", n, "of", size, "remote", r.RemoteAddr, logging.Err(err))
		return
	}
	a.log.Info("api: journal backup sent", "bytes", n, "remote", r.RemoteAddr)
}

// OrderJSON is GET /api/v1/orders/{id}.
type OrderJSON struct {
	Order   order.Order  `json:"order"`
	StateZH string       `json:"state_zh"`
	History []wire.Entry `json:"history"`
}

func (a *API) order(w http.ResponseWriter, r *http.Request) {
	code := strings.TrimSpace(r.PathValue("id"))
	o, ok, err := a.opts.Store.FindOrder(code)
	if err != nil {
		a.log.Error("api: cannot read the order", "code", code, logging.Err(err))
		writeErr(w, http.StatusServiceUnavailable, "store_error", "读取本地数据失败", "cannot read the local store")
		return
	}
	if !ok {
		m := order.ReasonUnknownOrder.Message("")
		writeErr(w, http.StatusNotFound, string(order.ReasonUnknownOrder), m.ZH, m.EN)
		return
	}
	h, err := a.opts.Store.History(o.ID)
	if err != nil {
		a.log.Error("api: cannot read the order's history", logging.KeyOrder, o.ID, logging.Err(err))
		writeErr(w, http.StatusServiceUnavailable, "store_error", "读取本地数据失败", "cannot read the local store")
		return
	}
	if h == nil {
		h = []wire.Entry{}
	}
	// The API is read without a token: personal data leaves it masked, like the console shows it
	// (the full address is only on the label).
	o.RecipientName, o.RecipientPhone, o.RecipientAddress = order.MaskName(o.RecipientName), order.MaskPhone(o.RecipientPhone), order.MaskAddress(o.RecipientAddress)
	o.Recipient = order.MaskRecipientLine(o.Recipient)
	for i := range h {
		h[i] = order.MaskEntry(h[i])
	}
	writeJSON(w, 200, OrderJSON{Order: o, StateZH: o.State.LabelZH(), History: h})
}

// ResultJSON is the answer to a scan or a confirmation.
type ResultJSON struct {
	Good     bool          `json:"good"`
	Outcome  string        `json:"outcome"` // accepted | already_done | rejected
	Reason   string        `json:"reason,omitempty"`
	Kind     string        `json:"kind,omitempty"`
	OrderID  string        `json:"order_id,omitempty"`
	From     string        `json:"from,omitempty"`
	To       string        `json:"to,omitempty"`
	Waybill  string        `json:"waybill,omitempty"`
	Message  order.Message `json:"message"`
	Station  string        `json:"station,omitempty"`
	Device   string        `json:"device,omitempty"`
	Operator string        `json:"operator,omitempty"`
	Code     string        `json:"code,omitempty"`
	Seq      uint64        `json:"seq,omitempty"`
	At       string        `json:"at"`
	Error    string        `json:"error,omitempty"`
}

func resultJSON(r station.Result) ResultJSON {
	j := ResultJSON{Good: r.Good(), Outcome: r.Outcome.Result.String(), Kind: r.Kind, OrderID: r.Outcome.Order.ID,
		From: string(r.Outcome.From), To: string(r.Outcome.To), Waybill: r.Outcome.Waybill, Message: r.Message,
		Station: r.Station, Device: r.Device, Operator: r.Operator, Code: r.Code, Seq: r.Entry.Seq, At: wire.Time(r.At)}
	if r.Outcome.Result == order.Rejected {
		j.Reason = string(r.Outcome.Reason)
	}
	if r.Err != nil {
		j.Good, j.Outcome, j.Error = false, "error", r.Err.Error()
	}
	return j
}

func (a *API) writeResult(w http.ResponseWriter, res station.Result, rejectedStatus int) {
	j := resultJSON(res)
	switch {
	case res.Err != nil && errors.Is(res.Err, station.ErrNotFound):
		m := order.ReasonUnknownOrder.Message("")
		writeErr(w, http.StatusNotFound, string(order.ReasonUnknownOrder), m.ZH, m.EN)
	case res.Err != nil && (errors.Is(res.Err, context.Canceled) || errors.Is(res.Err, context.DeadlineExceeded)):
		writeErr(w, http.StatusServiceUnavailable, "timeout", "处理超时，未确认：请重试", "timed out, nothing acknowledged: try again")
	case res.Err != nil:
		a.log.Error("api: not committed", logging.KeyStation, res.Station, "code", res.Code, logging.Err(res.Err))
		writeErr(w, http.StatusServiceUnavailable, "not_committed", "写入日志失败，未确认：请重试", "journal commit failed, nothing acknowledged: try again")
	case !res.Good():
		writeJSON(w, rejectedStatus, j)
	default:
		writeJSON(w, http.StatusOK, j)
	}
}

// ConfirmRequest is the body of POST /api/v1/orders/{id}/confirm.
type ConfirmRequest struct {
	Operator string `json:"operator"`
	Note     string `json:"note"`
	Waybill  string `json:"waybill,omitempty"`
	Station  string `json:"station,omitempty"`
}

func (a *API) confirm(w http.ResponseWriter, r *http.Request) {
	var req ConfirmRequest
	if !decode(w, r, &req) {
		return
	}
	// A confirmation without operator or note is still journaled, as a refused manual attempt.
	res := station.Confirm(r.Context(), a.opts.Store, station.ManualRequest{
		Code: r.PathValue("id"), Operator: req.Operator, Note: req.Note, Waybill: req.Waybill, Station: req.Station, Device: station.DeviceAPI,
	}, a.clk)
	if res.Err == nil {
		a.Record(res)
		if a.opts.OnResult != nil {
			a.opts.OnResult(res)
		}
	}
	a.writeResult(w, res, http.StatusConflict)
}

// ScanRequest is the body of POST /api/v1/scan.
type ScanRequest struct {
	Station string `json:"station"`
	Code    string `json:"code"`
	Device  string `json:"device,omitempty"` // informational; the journal records device "api"
}

func (a *API) scan(w http.ResponseWriter, r *http.Request) {
	var req ScanRequest
	if !decode(w, r, &req) {
		return
	}
	s, ok := a.stations[req.Station]
	if !ok {
		writeErr(w, http.StatusNotFound, "unknown_station", "没有这个工作台："+req.Station, "no such station: "+req.Station)
		return
	}
	if strings.TrimSpace(req.Code) == "" {
		writeErr(w, http.StatusBadRequest, "bad_request", "缺少 code", "code is required")
		return
	}
	res := s.Handle(r.Context(), scanner.Read{Text: req.Code, Raw: []byte(req.Code), At: a.clk.Now(), Device: station.DeviceAPI})
	a.writeResult(w, res, http.StatusOK)
}

func (a *API) labelPNG(w http.ResponseWriter, r *http.Request) {
	code := strings.TrimSpace(r.PathValue("id"))
	var png []byte
	var err error
	if a.opts.Printing != nil {
		png, err = a.opts.Printing.LabelPNG(code)
	} else {
		png, err = printing.NewSet(a.opts.Store).LabelPNG(code)
	}
	switch {
	case errors.Is(err, printing.ErrNotFound):
		m := order.ReasonUnknownOrder.Message("")
		writeErr(w, http.StatusNotFound, string(order.ReasonUnknownOrder), m.ZH, m.EN)
	case errors.Is(err, printing.ErrNoWaybill):
		m := order.ReasonNoWaybill.Message("")
		writeErr(w, http.StatusConflict, string(order.ReasonNoWaybill), m.ZH, m.EN)
	case err != nil:
		a.log.Warn("api: cannot render the label", "code", code, logging.Err(err))
		writeErr(w, http.StatusUnprocessableEntity, "label_error", "无法生成面单："+err.Error(), "cannot render the label: "+err.Error())
	default:
		w.Header().Set("Content-Type", "image/png")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(png)
	}
}

// ReprintRequest is the body of POST /api/v1/orders/{id}/reprint.
type ReprintRequest struct {
	Operator string `json:"operator"`
	Note     string `json:"note,omitempty"`
	Station  string `json:"station,omitempty"` // default: where the order was printed, or the only printer
}

func (a *API) reprint(w http.ResponseWriter, r *http.Request) {
	var req ReprintRequest
	if !decode(w, r, &req) {
		return
	}
	if strings.TrimSpace(req.Operator) == "" {
		writeErr(w, http.StatusBadRequest, "bad_request", "补打须填写操作员（operator）", "a reprint needs the operator")
		return
	}
	if a.opts.Printing == nil {
		writeErr(w, http.StatusConflict, "no_printer", "本机未配置打印机", "no printer is configured on this agent")
		return
	}
	res := a.opts.Printing.Reprint(r.Context(), req.Station, printing.ReprintRequest{
		Code: r.PathValue("id"), Operator: req.Operator, Note: req.Note, Device: station.DeviceAPI})
	switch {
	case errors.Is(res.Err, printing.ErrNotFound):
		m := order.ReasonUnknownOrder.Message("")
		writeErr(w, http.StatusNotFound, string(order.ReasonUnknownOrder), m.ZH, m.EN)
		return
	case errors.Is(res.Err, printing.ErrNoPrinter):
		writeErr(w, http.StatusConflict, "no_printer", "没有可用的打印机："+res.Err.Error(), "no printer for this reprint: "+res.Err.Error())
		return
	}
	if res.Err == nil {
		a.Record(res)
	}
	a.writeResult(w, res, http.StatusConflict)
}
