package console

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Password hashes are "pbkdf2-sha256$<iterations>$<salt>$<key>" with salt (16 bytes) and key
// (32 bytes) in unpadded standard base64: PBKDF2-HMAC-SHA256 from the standard library
// (crypto/pbkdf2), so no new dependency. HashPassword uses DefaultIterations (OWASP 2023 level);
// CheckPassword accepts any count ≥ MinIterations, so stronger hashes keep working.
const (
	DefaultIterations = 600_000
	MinIterations     = 10_000
	hashScheme        = "pbkdf2-sha256"
)

// ErrBadHash means a password hash in the config is not in the documented format.
var ErrBadHash = errors.New("console: bad password hash (want pbkdf2-sha256$iterations$salt$key)")

// HashPassword returns the hash to put in the config for password.
func HashPassword(password string) (string, error) {
	return hashPassword(password, DefaultIterations)
}

func hashPassword(password string, iter int) (string, error) {
	if password == "" {
		return "", errors.New("console: empty password")
	}
	salt := make([]byte, 16)
	rand.Read(salt)
	key, err := pbkdf2.Key(sha256.New, password, salt, iter, 32)
	if err != nil {
		return "", err
	}
	enc := base64.RawStdEncoding
	return fmt.Sprintf("%s$%d$%s$%s", hashScheme, iter, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

type parsedHash struct {
	iter      int
	salt, key []byte
}

func parseHash(h string) (parsedHash, error) {
	p := strings.Split(h, "$")
	if len(p) != 4 || p[0] != hashScheme {
		return parsedHash{}, ErrBadHash
	}
	iter, err := strconv.Atoi(p[1])
	if err != nil || iter < MinIterations {
		return parsedHash{}, fmt.Errorf("%w: iterations %q (minimum %d)", ErrBadHash, p[1], MinIterations)
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(p[2])
	key, err2 := enc.DecodeString(p[3])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 {
		return parsedHash{}, ErrBadHash
	}
	return parsedHash{iter, salt, key}, nil
}

// CheckPassword reports whether password matches hash (constant time in the key comparison).
func CheckPassword(hash, password string) bool {
	ph, err := parseHash(hash)
	if err != nil {
		return false
	}
	key, err := pbkdf2.Key(sha256.New, password, ph.salt, ph.iter, len(ph.key))
	return err == nil && subtle.ConstantTimeCompare(key, ph.key) == 1
}

// Roles.
const (
	RoleViewer     = "viewer"
	RoleSupervisor = "supervisor"
)

const cookieName = "wedge_console"

// session is the signed cookie's content.
type session struct {
	User  string
	Role  string
	Exp   time.Time
	Nonce string // per session; the CSRF token is derived from it
}

func (c *Console) mac(msg string) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func (c *Console) encodeSession(s session) string {
	payload := strings.Join([]string{"v1", url.QueryEscape(s.User), s.Role, strconv.FormatInt(s.Exp.Unix(), 10), s.Nonce}, "|")
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(c.mac("session|"+payload))
}

func (c *Console) decodeSession(v string) (session, bool) {
	p64, m64, ok := strings.Cut(v, ".")
	if !ok {
		return session{}, false
	}
	enc := base64.RawURLEncoding
	payload, err1 := enc.DecodeString(p64)
	mac, err2 := enc.DecodeString(m64)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, c.mac("session|"+string(payload))) {
		return session{}, false
	}
	f := strings.Split(string(payload), "|")
	if len(f) != 5 || f[0] != "v1" {
		return session{}, false
	}
	user, err := url.QueryUnescape(f[1])
	exp, err2 := strconv.ParseInt(f[3], 10, 64)
	if err != nil || err2 != nil {
		return session{}, false
	}
	s := session{User: user, Role: f[2], Exp: time.Unix(exp, 0), Nonce: f[4]}
	if !c.clk.Now().Before(s.Exp) || (s.Role != RoleViewer && s.Role != RoleSupervisor) {
		return session{}, false
	}
	if s.Role == RoleSupervisor {
		if _, ok := c.opts.Users[s.User]; !ok { // removed from the config since
			return session{}, false
		}
	}
	return s, true
}

func (c *Console) csrfToken(s session) string {
	return base64.RawURLEncoding.EncodeToString(c.mac("csrf|" + s.Nonce))
}

func newNonce() string {
	b := make([]byte, 18)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// session returns the request's session, or a new viewer session set as a cookie.
func (c *Console) session(w http.ResponseWriter, r *http.Request) session {
	if ck, err := r.Cookie(cookieName); err == nil {
		if s, ok := c.decodeSession(ck.Value); ok {
			return s
		}
	}
	s := session{Role: RoleViewer, Exp: c.clk.Now().Add(c.opts.SessionTTL), Nonce: newNonce()}
	c.setCookie(w, r, s)
	return s
}

func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, s session) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: c.encodeSession(s), Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil || c.opts.SecureCookies,
		MaxAge: int(c.opts.SessionTTL / time.Second)}) // the signed expiry is what counts; MaxAge only tidies the browser
}

// originOK accepts no Origin (not a browser), the request's own host, or a configured origin.
func (c *Console) originOK(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	for _, a := range c.opts.AllowedOrigins {
		if strings.EqualFold(strings.TrimRight(a, "/"), o) {
			return true
		}
	}
	u, err := url.Parse(o)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && strings.EqualFold(u.Host, r.Host)
}

// checkWrite guards a state-changing request: a foreign Origin, a missing or wrong CSRF token, or a
// body that is not JSON are refused. It returns the session.
func (c *Console) checkWrite(w http.ResponseWriter, r *http.Request) (session, bool) {
	if r.Method != http.MethodPost {
		writeErr(w, http.StatusMethodNotAllowed, "只接受 POST", "POST only")
		return session{}, false
	}
	if !c.originOK(r) {
		writeErr(w, http.StatusForbidden, "来源不被允许", "origin not allowed")
		return session{}, false
	}
	ck, err := r.Cookie(cookieName)
	var s session
	ok := err == nil
	if ok {
		s, ok = c.decodeSession(ck.Value)
	}
	if !ok {
		writeErr(w, http.StatusForbidden, "会话无效，请刷新页面", "no valid session: reload the page")
		return session{}, false
	}
	tok := r.Header.Get("X-Wedge-CSRF")
	if tok == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(c.csrfToken(s))) != 1 {
		writeErr(w, http.StatusForbidden, "安全令牌无效，请刷新页面", "bad CSRF token: reload the page")
		return session{}, false
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		writeErr(w, http.StatusUnsupportedMediaType, "请求格式错误", "JSON body required")
		return session{}, false
	}
	return s, true
}

// ValidHash reports whether h is a password hash in the form HashPassword makes (for config checks).
func ValidHash(h string) bool {
	_, err := parseHash(h)
	return err == nil
}
