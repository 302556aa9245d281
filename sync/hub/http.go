package hub

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"wedge/internal/httpserve"
	"wedge/order"
	"wedge/sync/apitoken"
	"wedge/sync/wire"
)

// route is one route of the API: its pattern, the scope a token needs, and the handler. The table
// is shared by the token-authenticated API and the central console (hubconsole), which serves the
// same handlers to signed-in users.
type route struct {
	pattern string
	scope   apitoken.Scope
	handler http.HandlerFunc
}

// apiRoutes is the API's route table (GET /metrics, /healthz and the fallback are added by routes).
func (h *Hub) apiRoutes() []route {
	rts := []route{
		{"POST /v1/orders", apitoken.OrdersWrite, h.postOrders},
		{"GET /v1/orders/{order_id}", apitoken.Read, h.getOrder},
		{"GET /v1/agents", apitoken.Read, h.getAgents},
		{"POST /v1/agents/{site}/{agent}/commands", apitoken.CommandsWrite, h.postCommand},
		{"GET /v1/agents/{site}/{agent}/commands", apitoken.Read, h.getCommands},
		{"GET /v1/agents/{site}/{agent}/unverified", apitoken.Read, h.getUnverified},
		{"GET /v1/stats", apitoken.Read, h.getStats},
		{"POST /v1/tokens", apitoken.Admin, h.postToken},
		{"GET /v1/tokens", apitoken.Admin, h.getTokens},
		{"DELETE /v1/tokens/{name}", apitoken.Admin, h.deleteToken},
		{"GET /v1/journals/{site}/{agent}/{journal_id}/entries", apitoken.Read, h.getJournalEntries},
		{"GET /v1/trace", apitoken.Read, h.getTrace},
		{"GET /v1/lists/{kind}", apitoken.Read, h.getList},
		{"GET /v1/notifications", apitoken.Read, h.getNotifications},
		{"POST /v1/tracking", apitoken.TrackingWrite, h.postTracking},
		{"GET /v1/tracking/{waybill}", apitoken.Read, h.getTracking},
		{"GET /v1/waybills/pending", apitoken.Read, h.getPendingWaybills}, // e-waybill numbers (waybills.go)
	}
	h.measuresRoutes(func(pattern string, scope apitoken.Scope, f http.HandlerFunc) { // measures.go
		rts = append(rts, route{pattern, scope, f})
	})
	return rts
}

// routes is the API. Every route but GET /healthz (and GET /metrics with Options.MetricsOpen) needs a bearer token with the route's scope
// (apitoken: 401 without a valid token, 403 without the scope); the handlers can read the token's
// name with apitoken.NameFrom. With a console, /console/ serves it (hubconsole).
func (h *Hub) routes() http.Handler {
	auth := apitoken.NewAuthenticator(h.tokens)
	mux := http.NewServeMux()
	for _, rt := range h.apiRoutes() {
		mux.Handle(rt.pattern, auth.Require(rt.scope, rt.handler))
	}
	mux.HandleFunc("POST /v1/tracking/kuaidi100", h.postKuaidi100) // authenticated by the push's sign, not a token
	if h.opts.MetricsOpen {
		mux.HandleFunc("GET /metrics", h.serveMetrics)
	} else {
		mux.Handle("GET /metrics", auth.Require(apitoken.Read, http.HandlerFunc(h.serveMetrics)))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "mqtt_connected": h.Connected()})
	})
	if h.console != nil {
		mux.Handle("/console/", http.StripPrefix("/console", h.console.Handler()))
		mux.Handle("GET /console", http.RedirectHandler("/console/", http.StatusFound))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "没有这个接口 / no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

// listen opens the API listener (TLS with TLSCertFile/TLSKeyFile) and sets up h.srv, hardened by
// httpserve: read, header and idle timeouts, a body cap and the Host allow-list.
func (h *Hub) listen() error {
	o := h.opts
	if (o.TLSCertFile == "") != (o.TLSKeyFile == "") {
		return fmt.Errorf("%w: TLSCertFile and TLSKeyFile go together", ErrOptions)
	}
	var tlsConf *tls.Config
	if o.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.TLSCertFile, o.TLSKeyFile)
		if err != nil {
			return fmt.Errorf("%w: API certificate %s / key %s: %v", ErrOptions, o.TLSCertFile, o.TLSKeyFile, err)
		}
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	}
	hopts := o.HTTP
	if hopts.MaxBodyBytes <= 0 {
		hopts.MaxBodyBytes = maxPostBody + 1 // the handlers answer 413 themselves, in the hub's words
	}
	// A hub told to listen on one specific address is reached by that address.
	if host, _, err := net.SplitHostPort(o.Listen); err == nil {
		if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
			hopts.AllowedHosts = append(append([]string(nil), hopts.AllowedHosts...), host)
		}
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("%w: listen %s: %v", ErrOptions, o.Listen, err)
	}
	h.srv = httpserve.Server(h.routes(), hopts)
	if tlsConf != nil {
		h.srv.TLSConfig = tlsConf
		ln = tls.NewListener(ln, tlsConf)
		h.https = true
	}
	h.ln = ln
	return nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// writeError writes {"error": "中文 / English", "zh": ..., "en": ...} (the shape of apitoken's and
// httpserve's errors); msg is "中文 / English", split at its first " / ".
func writeError(w http.ResponseWriter, code int, msg string) {
	zh, en, ok := strings.Cut(msg, " / ")
	if !ok {
		zh, en = msg, msg
	}
	writeJSON(w, code, map[string]string{"error": msg, "zh": zh, "en": en})
}

type postError struct {
	Index int    `json:"index"`
	Error string `json:"error"`
}

type postResponse struct {
	Accepted int         `json:"accepted"`
	OrderIDs []string    `json:"order_ids"`
	HSeqs    []uint64    `json:"hseqs,omitempty"`
	Versions []uint64    `json:"versions,omitempty"` // per accepted message: the order version it got (0: not an order message)
	Errors   []postError `json:"errors"`
}

// postOrders validates each message, stores the valid ones in the downlink log (creating the
// orders), publishes them to the site, and reports per message.
func (h *Hub) postOrders(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPostBody+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "请求读取失败 / cannot read the request: "+err.Error())
		return
	}
	if len(body) > maxPostBody {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("请求过大 / request larger than %d bytes", maxPostBody))
		return
	}
	// Decode the envelope first, then each message on its own, so one bad message names its index
	// and does not hide the others.
	var env struct {
		Site   string            `json:"site"`
		Orders []json.RawMessage `json:"orders"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&env); err != nil {
		writeError(w, http.StatusBadRequest, "请求不是合法的 JSON / malformed JSON: "+err.Error())
		return
	}
	if !wire.ValidName(env.Site) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("仓库名无效 / invalid site %q (1–64 of A-Z a-z 0-9 _ -)", env.Site))
		return
	}
	if len(env.Orders) == 0 {
		writeError(w, http.StatusBadRequest, "没有订单 / no orders in the request")
		return
	}
	resp := postResponse{OrderIDs: []string{}, Errors: []postError{}}
	var msgs []wire.OrderMsg
	for i, raw := range env.Orders {
		// DecodeOrderMsg yields what json.Unmarshal into a fresh OrderMsg yields, errors included
		// (it falls back to encoding/json for any shape it does not read itself), ~4× cheaper.
		m, err := wire.DecodeOrderMsg(raw)
		if err != nil {
			resp.Errors = append(resp.Errors, postError{i, "格式错误 / malformed: " + err.Error()})
			continue
		}
		if m.Type == "" {
			m.Type = wire.TypeOrder
		}
		if m.Type == wire.TypeState {
			resp.Errors = append(resp.Errors, postError{i, "state 消息只由中心根据扫描记录发出 / state messages are published by the hub from the agents' journals, not posted"})
			continue
		}
		m.HSeq = 0
		if err := m.Validate(); err != nil {
			resp.Errors = append(resp.Errors, postError{i, "无效 / invalid: " + err.Error()})
			continue
		}
		m.OrderID = m.ID()
		if !validOrderID(m.OrderID) {
			resp.Errors = append(resp.Errors, postError{i, fmt.Sprintf("订单号无效 / invalid order_id %q (1–128 printable characters)", m.OrderID)})
			continue
		}
		msgs = append(msgs, m)
	}
	if len(msgs) == 0 {
		writeJSON(w, http.StatusBadRequest, resp)
		return
	}
	p := &postReq{site: env.Site, msgs: msgs, reply: make(chan postResult, 1)}
	select {
	case <-h.quit:
		writeError(w, http.StatusServiceUnavailable, "中心正在停止 / hub is stopping")
		return
	default:
	}
	if !h.enqueue(item{kind: kindPost, topic: "POST /v1/orders", post: p}) {
		writeError(w, http.StatusServiceUnavailable, "中心繁忙，请稍后重试 / hub busy, retry later")
		return
	}
	var res postResult
	select {
	case res = <-p.reply:
	case <-h.done:
		writeError(w, http.StatusServiceUnavailable, "中心已停止 / hub stopped")
		return
	}
	if res.err != nil {
		writeError(w, http.StatusInternalServerError, "保存失败，未发布 / not stored, nothing published: "+res.err.Error())
		return
	}
	resp.Accepted = len(msgs)
	for _, m := range msgs {
		resp.OrderIDs = append(resp.OrderIDs, m.OrderID)
	}
	resp.HSeqs = res.hseqs
	resp.Versions = res.versions
	writeJSON(w, http.StatusOK, resp)
}

type orderResponse struct {
	OrderID         string        `json:"order_id"`
	Site            string        `json:"site"`
	State           string        `json:"state"`
	StateLabel      string        `json:"state_label"`
	Waybill         string        `json:"waybill"`
	Carrier         string        `json:"carrier"`
	AssignedWaybill string        `json:"assigned_waybill,omitempty"`
	Channel         string        `json:"channel,omitempty"`
	ChannelOrderNo  string        `json:"channel_order_no,omitempty"`
	UpdatedAt       string        `json:"updated_at"`
	History         []storedEntry `json:"history"`
	// The order data's version, every version posted (oldest first), the label's version and the
	// intercept.
	Version      uint64           `json:"version,omitempty"`
	Versions     []wire.OrderMsg  `json:"versions,omitempty"`
	LabelVersion uint64           `json:"label_version,omitempty"`
	Intercept    *order.Intercept `json:"intercept,omitempty"`
}

func (h *Hub) getOrder(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("order_id")
	var resp orderResponse
	var found bool
	err := h.db.View(r.Context(), func(tx Tx) error {
		rec, ok, err := loadOrder(tx, id)
		if err == nil {
			err = rec.withVersions()
		}
		if err != nil {
			return err
		}
		// An order the hub holds no record of may still have history (an agent refused its intake,
		// e.g. a contract violation): that evidence is shown with an empty state.
		found = ok
		o := rec.Order
		resp = orderResponse{OrderID: id, Site: rec.Site, State: string(o.State), Waybill: o.Waybill,
			Carrier: o.Carrier, AssignedWaybill: o.AssignedWaybill, Channel: o.Channel, ChannelOrderNo: o.ChannelOrderNo,
			UpdatedAt: rec.UpdatedAt, History: []storedEntry{}}
		if ok {
			resp.StateLabel = o.State.Label()
			resp.Version, resp.LabelVersion = o.Version, o.LabelVersion
			if o.Intercept.Status != "" {
				i := o.Intercept
				resp.Intercept = &i
			}
			resp.Versions = maskedVersions(rec.Versions) // phonemask_http.go
		}
		err = tx.History(id, func(k EntryKey) error {
			var se storedEntry
			if _, err := getDoc(tx.Entry(k))(fmt.Sprintf("entry %q", ekey(k)), &se); err != nil {
				return err
			}
			resp.History = append(resp.History, se)
			if !ok && resp.Site == "" {
				resp.Site = se.Site
			}
			return nil
		})
		found = found || len(resp.History) > 0
		return err
	})
	if err != nil {
		writeError(w, http.StatusInternalServerError, "读取失败 / store read failed: "+err.Error())
		return
	}
	if !found {
		writeError(w, http.StatusNotFound, fmt.Sprintf("订单不存在 / unknown order %q", id))
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (h *Hub) getAgents(w http.ResponseWriter, r *http.Request) {
	out, err := h.agents(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, "读取失败 / store read failed: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// agents is every agent the hub knows, by site and name, with SettingsDiffer marked.
func (h *Hub) agents(ctx context.Context) ([]agentRec, error) {
	out := []agentRec{}
	err := h.db.View(ctx, func(tx Tx) error {
		return tx.Agents(func(v []byte) error {
			var a agentRec
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("%w: agent: %v", ErrStore, err)
			}
			out = append(out, a)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Site != out[j].Site {
			return out[i].Site < out[j].Site
		}
		return out[i].Agent < out[j].Agent
	})
	markSettingsDiffer(out)
	return out, nil
}

// markSettingsDiffer flags the agents of each site whose published settings hashes are not all the
// same (agents that published none are left out): the PCs of a site disagree on a shared setting.
func markSettingsDiffer(agents []agentRec) {
	hashes := map[string]map[string]bool{}
	for _, a := range agents {
		if a.SettingsHash != "" {
			if hashes[a.Site] == nil {
				hashes[a.Site] = map[string]bool{}
			}
			hashes[a.Site][a.SettingsHash] = true
		}
	}
	for i, a := range agents {
		agents[i].SettingsDiffer = a.SettingsHash != "" && len(hashes[a.Site]) > 1
	}
}

func (h *Hub) getStats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, h.Stats())
}

// Stats returns the counters of the store, read now: on a store shared by replicas they are the
// network's, whichever replica is asked (each commit adds its own, Tx.AddCounters). What this
// replica counted outside its transactions and has not committed yet is added. When the store
// cannot be read, the replica's copy as of its last commit is returned.
func (h *Hub) Stats() Stats {
	var s Stats
	read := false
	if h.db != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		read = h.db.View(ctx, func(tx Tx) error { return loadStats(tx, &s) }) == nil
		cancel()
	}
	h.statsMu.Lock()
	if !read {
		s = h.stats.clone()
	} else {
		s.add(h.unsaved)
	}
	h.statsMu.Unlock()
	for k, v := range s.OrdersPerState {
		if v == 0 {
			delete(s.OrdersPerState, k)
		}
	}
	return s
}
