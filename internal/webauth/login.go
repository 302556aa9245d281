package webauth

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"wedge/internal/logging"
	"wedge/internal/webauth/password"
)

// DefaultLoginMaxBody bounds a login request's body when LoginOptions.MaxBody is zero.
const DefaultLoginMaxBody = 4 << 10

// LoginOptions configure Login: the parts that differ between the consoles.
type LoginOptions struct {
	Sessions *Sessions
	Throttle *Throttle
	// Hashes maps the user names that may sign in to their password hashes (password.Hash).
	Hashes map[string]string
	// Role gives a signed-in user's session role.
	Role func(user string) string
	// WriteErr writes an error answer in the console's own shape, Chinese first.
	WriteErr func(w http.ResponseWriter, code int, zh, en string)
	// LogName prefixes the log messages ("<LogName> login failed"); default "console".
	LogName string
	Logger  *slog.Logger
	MaxBody int64 // bytes of the JSON body read at most; default DefaultLoginMaxBody
}

// Login serves a login request whose method, Content-Type and (where the console wants one)
// CSRF token the caller has already checked: it decodes {"user","password"} strictly (400), asks
// the throttle (429 with Retry-After), checks the password (401) and on success sets a new session
// (a fresh nonce and CSRF token: no session fixation) and returns it; the caller writes the
// answer. On false the answer has been written.
func Login(w http.ResponseWriter, r *http.Request, o LoginOptions) (Session, bool) {
	name := o.LogName
	if name == "" {
		name = "console"
	}
	max := o.MaxBody
	if max <= 0 {
		max = DefaultLoginMaxBody
	}
	log := logging.Or(o.Logger)
	var req struct {
		User     string `json:"user"`
		Password string `json:"password"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, max))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		o.WriteErr(w, http.StatusBadRequest, "请求内容无法解析", "bad request body: "+err.Error())
		return Session{}, false
	}
	user := strings.TrimSpace(req.User)
	if wait := o.Throttle.Wait(user, r.RemoteAddr); wait > 0 {
		mins := int(wait/time.Minute) + 1
		w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)+1))
		o.WriteErr(w, http.StatusTooManyRequests, fmt.Sprintf("登录失败次数过多，请 %d 分钟后再试", mins), fmt.Sprintf("too many failed logins, try again in %d min", mins))
		return Session{}, false
	}
	release, ok := o.Throttle.TryCheck()
	if !ok {
		w.Header().Set("Retry-After", "1")
		o.WriteErr(w, http.StatusTooManyRequests, "登录请求过多，请稍后再试", "too many logins at once, try again in a moment")
		return Session{}, false
	}
	good := password.CheckUser(o.Hashes, user, req.Password)
	release()
	if !good {
		log.Warn(name+" login failed", "user", user, "remote", r.RemoteAddr)
		o.Throttle.Failed(user, r.RemoteAddr)
		o.WriteErr(w, http.StatusUnauthorized, "用户名或密码错误", "wrong user name or password")
		return Session{}, false
	}
	o.Throttle.Succeeded(user, r.RemoteAddr)
	s := o.Sessions.New(user, o.Role(user))
	o.Sessions.Set(w, r, s)
	return s, true
}
