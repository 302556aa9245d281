package console

import (
	"embed"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"wedge/internal/logging"
	"wedge/internal/webauth"
	"wedge/internal/webconsole"
	"wedge/order"
)

//go:embed web
var webFS embed.FS

// Handler serves the console: the page and its assets at "/", the JSON API under "/api/", and the
// WebSocket at "/ws".
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(webFS, "web")
	files := http.FileServerFS(static)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		c.session(w, r) // every visitor gets a (viewer) session, so the page can fetch its CSRF token
		http.ServeFileFS(w, r, static, "index.html")
	})
	mux.Handle("GET /app.js", files)
	mux.Handle("GET /app.css", files)
	mux.HandleFunc("GET /ws", c.serveWS)
	mux.HandleFunc("GET /api/session", func(w http.ResponseWriter, r *http.Request) {
		s := c.session(w, r)
		writeJSON(w, http.StatusOK, c.sessionView(s))
	})
	mux.HandleFunc("GET /api/snapshot", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, c.full())
	})
	mux.HandleFunc("GET /api/search", c.search)
	mux.HandleFunc("/api/login", c.login)
	mux.HandleFunc("/api/logout", c.logout)
	mux.HandleFunc("/api/confirm", c.confirm)
	mux.HandleFunc("/api/breaker/reset", c.resetBreaker)
	mux.HandleFunc("/api/alerts/ack", c.ackAlert)
	mux.HandleFunc("GET /api/exceptions", c.exceptions)
	mux.HandleFunc("/api/exceptions/resolve", c.resolve)
	return webconsole.SecurityHeaders(webconsole.CrossOrigin(c.origins, c.log, "console", writeErr, mux))
}

type sessionView struct {
	User      string `json:"user,omitempty"`
	Role      string `json:"role"`
	CSRF      string `json:"csrf"`
	CanLogin  bool   `json:"can_login"`
	ExpiresAt string `json:"expires_at"`
}

func (c *Console) sessionView(s webauth.Session) sessionView {
	return sessionView{User: s.User, Role: s.Role, CSRF: c.sessions.CSRFToken(s), CanLogin: len(c.opts.Users) > 0, ExpiresAt: s.Exp.UTC().Format(time.RFC3339)}
}

type apiError struct {
	Error order.Message `json:"error"`
}

func writeErr(w http.ResponseWriter, code int, zh, en string) {
	writeJSON(w, code, apiError{order.Message{ZH: zh, EN: en}})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// readBody decodes a small JSON body strictly.
func readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 16<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeErr(w, http.StatusBadRequest, "请求内容无法解析", "bad request body: "+err.Error())
		return false
	}
	return true
}

func (c *Console) supervisor(w http.ResponseWriter, r *http.Request) (webauth.Session, bool) {
	s, ok := c.checkWrite(w, r)
	if !ok {
		return s, false
	}
	if s.Role != RoleSupervisor {
		writeErr(w, http.StatusForbidden, "需要主管登录", "supervisor login required")
		return s, false
	}
	return s, true
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if _, ok := c.checkWrite(w, r); !ok {
		return
	}
	s, ok := webauth.Login(w, r, webauth.LoginOptions{Sessions: c.sessions, Throttle: c.throttle, Hashes: c.opts.Users,
		Role: func(string) string { return RoleSupervisor }, WriteErr: writeErr, LogName: "console", Logger: c.log, MaxBody: 16 << 10})
	if !ok {
		return
	}
	c.log.Info("console login", "user", s.User, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, c.sessionView(s))
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	if _, ok := c.checkWrite(w, r); !ok {
		return
	}
	s := c.sessions.New("", RoleViewer)
	c.sessions.Set(w, r, s)
	writeJSON(w, http.StatusOK, c.sessionView(s))
}

func (c *Console) search(w http.ResponseWriter, r *http.Request) {
	code := strings.TrimSpace(r.URL.Query().Get("code"))
	if code == "" || len(code) > 128 {
		writeErr(w, http.StatusBadRequest, "请输入订单号、平台单号或面单号", "enter an order id, channel order number or waybill")
		return
	}
	v, err := c.src.Search(r.Context(), code)
	switch {
	case errors.Is(err, ErrNotFound):
		writeErr(w, http.StatusNotFound, "查无此单："+code, "no order found for "+code)
		return
	case err != nil:
		c.log.Error("console search failed", "code", code, logging.Err(err))
		writeErr(w, http.StatusInternalServerError, "查询失败，请重试", "search failed, try again")
		return
	}
	if v.Next == "" {
		v.Next, _ = order.Next(v.Order.State)
	}
	writeJSON(w, http.StatusOK, v.masked())
}

func (c *Console) confirm(w http.ResponseWriter, r *http.Request) {
	s, ok := c.supervisor(w, r)
	if !ok {
		return
	}
	var req ConfirmRequest
	if !readBody(w, r, &req) {
		return
	}
	req.OrderID, req.Operator, req.Note = strings.TrimSpace(req.OrderID), strings.TrimSpace(req.Operator), strings.TrimSpace(req.Note)
	if req.OrderID == "" || req.Operator == "" || req.Note == "" {
		m := order.ReasonManualIncomplete.Message("")
		writeErr(w, http.StatusBadRequest, m.ZH, m.EN)
		return
	}
	req.By = s.User
	res, err := c.src.Confirm(r.Context(), req)
	if err != nil {
		c.log.Error("console confirmation not recorded", logging.KeyOrder, req.OrderID, "by", s.User, logging.Err(err))
		if errors.Is(err, ErrNotFound) {
			writeErr(w, http.StatusNotFound, "查无此单："+req.OrderID, "no order "+req.OrderID)
			return
		}
		writeErr(w, http.StatusInternalServerError, "确认未保存，请重试", "the confirmation was not recorded, try again")
		return
	}
	code := http.StatusOK
	if !res.OK {
		code = http.StatusConflict
	}
	writeJSON(w, code, res)
}

func (c *Console) resetBreaker(w http.ResponseWriter, r *http.Request) {
	s, ok := c.supervisor(w, r)
	if !ok {
		return
	}
	var req struct {
		Reason string `json:"reason"`
	}
	if !readBody(w, r, &req) {
		return
	}
	if strings.TrimSpace(req.Reason) == "" {
		writeErr(w, http.StatusBadRequest, "复位熔断须填写原因", "a reset needs a reason")
		return
	}
	if err := c.src.ResetBreaker(r.Context(), s.User, strings.TrimSpace(req.Reason)); err != nil {
		c.log.Warn("console breaker reset refused", "by", s.User, logging.Err(err))
		writeErr(w, http.StatusConflict, "复位失败："+err.Error(), "reset failed: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (c *Console) ackAlert(w http.ResponseWriter, r *http.Request) {
	s, ok := c.supervisor(w, r)
	if !ok {
		return
	}
	var req struct {
		ID string `json:"id"`
	}
	if !readBody(w, r, &req) {
		return
	}
	a, err := c.ack(r.Context(), req.ID, s.User)
	if err != nil {
		writeErr(w, http.StatusNotFound, "提醒不存在或已确认", "no such open alert")
		return
	}
	writeJSON(w, http.StatusOK, a)
}
