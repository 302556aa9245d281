package console

import (
	"net/http"
	"strings"

	"wedge/internal/webauth"
)

// Roles.
const (
	RoleViewer     = "viewer"
	RoleSupervisor = "supervisor"
)

const cookieName = "wedge_console"

// validSession refuses roles the console does not know and supervisors removed from the config
// since their login.
func (c *Console) validSession(s webauth.Session) bool {
	switch s.Role {
	case RoleViewer:
		return true
	case RoleSupervisor:
		_, ok := c.opts.Users[s.User]
		return ok
	}
	return false
}

// session returns the request's session, or a new viewer session set as a cookie.
func (c *Console) session(w http.ResponseWriter, r *http.Request) webauth.Session {
	if s, ok := c.sessions.Get(r); ok {
		return s
	}
	s := c.sessions.New("", RoleViewer)
	c.sessions.Set(w, r, s)
	return s
}

// checkWrite guards a state-changing request (its Origin was checked by webconsole.CrossOrigin): a method
// other than POST, a missing or wrong CSRF token, or a body that is not JSON are refused. It
// returns the session.
func (c *Console) checkWrite(w http.ResponseWriter, r *http.Request) (webauth.Session, bool) {
	if r.Method != http.MethodPost {
		writeErr(w, http.StatusMethodNotAllowed, "只接受 POST", "POST only")
		return webauth.Session{}, false
	}
	s, ok := c.sessions.Get(r)
	if !ok {
		writeErr(w, http.StatusForbidden, "会话无效，请刷新页面", "no valid session: reload the page")
		return webauth.Session{}, false
	}
	if !c.sessions.CheckCSRF(s, r.Header.Get("X-Wedge-CSRF")) {
		writeErr(w, http.StatusForbidden, "安全令牌无效，请刷新页面", "bad CSRF token: reload the page")
		return webauth.Session{}, false
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		writeErr(w, http.StatusUnsupportedMediaType, "请求格式错误", "JSON body required")
		return webauth.Session{}, false
	}
	return s, true
}
