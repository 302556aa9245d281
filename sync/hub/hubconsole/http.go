package hubconsole

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"wedge/internal/webauth"
	"wedge/internal/webconsole"
	"wedge/sync/apitoken"
)

//go:embed web
var webFS embed.FS

// Handler serves the console with paths relative to its mount point: the page and its assets at
// "/", the session API under "/api/", the hub's routes under "/api/v1/…" and the WebSocket at
// "/ws". The hub mounts it with http.StripPrefix("/console", …); the page uses relative URLs only.
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(webFS, "web")
	files := http.FileServerFS(static)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, static, "index.html")
	})
	for _, f := range []string{"app.js", "app.css", "charts.js", "pages.js"} {
		mux.Handle("GET /"+f, files)
	}
	mux.HandleFunc("GET /ws", c.serveWS)
	mux.HandleFunc("GET /api/session", c.getSession)
	mux.HandleFunc("POST /api/login", c.login)
	mux.HandleFunc("POST /api/logout", c.logout)
	for _, rt := range c.routes {
		method, path, ok := strings.Cut(rt.Pattern, " ")
		if !ok {
			method, path = "", rt.Pattern
		}
		pattern := strings.TrimSpace(method + " /api" + path)
		mux.Handle(pattern, c.api(rt))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, http.StatusNotFound, "没有这个页面", "no such page: "+r.Method+" "+r.URL.Path)
	})
	return webconsole.SecurityHeaders(webconsole.CrossOrigin(c.origins, c.log, "hub console", writeErr, mux))
}

// writeErr writes the hub's error shape: {"error": "中文 / English", "zh": …, "en": …}.
func writeErr(w http.ResponseWriter, code int, zh, en string) {
	writeJSON(w, code, map[string]string{"error": zh + " / " + en, "zh": zh, "en": en})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

type sessionView struct {
	User      string   `json:"user"`
	Role      string   `json:"role"`
	CSRF      string   `json:"csrf"`
	ExpiresAt string   `json:"expires_at"`
	Can       []string `json:"can"` // the scopes of the role
}

func (c *Console) sessionView(s webauth.Session) sessionView {
	v := sessionView{User: s.User, Role: s.Role, CSRF: c.sessions.CSRFToken(s), ExpiresAt: s.Exp.UTC().Format(time.RFC3339)}
	for _, sc := range apitoken.Scopes {
		if roleToken(s.Role).Has(sc) {
			v.Can = append(v.Can, string(sc))
		}
	}
	return v
}

// signedIn returns the request's session, or answers 401.
func (c *Console) signedIn(w http.ResponseWriter, r *http.Request) (webauth.Session, bool) {
	s, ok := c.sessions.Get(r)
	if !ok {
		writeErr(w, http.StatusUnauthorized, "请先登录", "sign in first")
	}
	return s, ok
}

// checkWrite guards a state-changing request of a signed-in user: the session's CSRF token and a
// JSON body (its Origin was checked by webconsole.CrossOrigin).
func (c *Console) checkWrite(w http.ResponseWriter, r *http.Request, s webauth.Session) bool {
	if !c.sessions.CheckCSRF(s, r.Header.Get("X-Wedge-CSRF")) {
		writeErr(w, http.StatusForbidden, "安全令牌无效，请刷新页面", "bad CSRF token: reload the page")
		return false
	}
	if !wantsJSON(r) {
		writeErr(w, http.StatusUnsupportedMediaType, "请求格式错误", "JSON body required")
		return false
	}
	return true
}

func (c *Console) getSession(w http.ResponseWriter, r *http.Request) {
	if s, ok := c.signedIn(w, r); ok {
		writeJSON(w, http.StatusOK, c.sessionView(s))
	}
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if !wantsJSON(r) {
		writeErr(w, http.StatusUnsupportedMediaType, "请求格式错误", "JSON body required")
		return
	}
	s, ok := webauth.Login(w, r, webauth.LoginOptions{Sessions: c.sessions, Throttle: c.throttle, Hashes: c.hashes,
		Role: func(user string) string { return c.users[user].Role }, WriteErr: writeErr, LogName: "hub console", Logger: c.log})
	if !ok {
		return
	}
	c.log.Info("hub console login", "user", s.User, "role", s.Role, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, c.sessionView(s))
}

// logout replaces the cookie by an expired one.
func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	s, ok := c.signedIn(w, r)
	if !ok || !c.checkWrite(w, r, s) {
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	c.log.Info("hub console logout", "user", s.User, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// api serves one of the hub's routes to a signed-in user whose role has the route's scope; a
// state-changing request also needs the CSRF token. The handler sees the caller as
// "console:<user>".
func (c *Console) api(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := c.signedIn(w, r)
		if !ok {
			return
		}
		if !roleToken(s.Role).Has(rt.Scope) {
			writeErr(w, http.StatusForbidden, "权限不足：需要 "+string(rt.Scope)+"（当前角色 "+s.Role+"）",
				"your role "+s.Role+" lacks the scope "+string(rt.Scope))
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if !c.checkWrite(w, r, s) {
				return
			}
			c.log.Info("hub console action", "user", s.User, "role", s.Role, "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
		}
		rt.Handler.ServeHTTP(w, r.WithContext(apitoken.WithName(r.Context(), CallerName(s.User))))
	})
}
