package webauth

import (
	"crypto/hmac"
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

	"wedge/internal/clock"
)

// ErrOptions means invalid options.
var ErrOptions = errors.New("webauth: invalid options")

// DefaultTTL is how long a session lasts by default.
const DefaultTTL = 12 * time.Hour

// MinKeyLen is the least length of a session signing key.
const MinKeyLen = 32

// Session is the content of a signed session cookie.
type Session struct {
	User  string    // "" for an anonymous session
	Role  string    // the application's role name
	Exp   time.Time // the signed expiry (second precision)
	Nonce string    // per session; the CSRF token is derived from it
}

// SessionOptions configure Sessions. Zero values mean the documented defaults.
type SessionOptions struct {
	// CookieName names the session cookie (required).
	CookieName string
	// Key signs the cookies (at least MinKeyLen bytes). nil: a random key, so sessions end with the process.
	Key []byte
	// TTL is how long a session lasts (default DefaultTTL).
	TTL time.Duration
	// Secure forces the cookie's Secure attribute on plain HTTP (behind a TLS proxy). It is always
	// set when the server itself serves TLS.
	Secure bool
	// Valid is asked about every session with a good signature that has not expired (nil: all are
	// valid), e.g. to refuse roles the application does not know or users removed since.
	Valid func(Session) bool
	Clock clock.Clock
}

// Sessions makes, signs and reads session cookies. It is safe for concurrent use.
type Sessions struct {
	name   string
	key    []byte
	ttl    time.Duration
	secure bool
	valid  func(Session) bool
	clk    clock.Clock
}

// NewSessions checks opts.
func NewSessions(opts SessionOptions) (*Sessions, error) {
	if opts.CookieName == "" {
		return nil, fmt.Errorf("%w: CookieName is required", ErrOptions)
	}
	if opts.Key != nil && len(opts.Key) < MinKeyLen {
		return nil, fmt.Errorf("%w: the session key must have at least %d bytes", ErrOptions, MinKeyLen)
	}
	s := &Sessions{name: opts.CookieName, key: opts.Key, ttl: opts.TTL, secure: opts.Secure, valid: opts.Valid, clk: clock.Or(opts.Clock)}
	if s.key == nil {
		s.key = make([]byte, MinKeyLen)
		rand.Read(s.key)
	}
	if s.ttl <= 0 {
		s.ttl = DefaultTTL
	}
	return s, nil
}

// New returns a fresh session for user in role: expiry now + TTL and a new nonce, so a login gets a
// new CSRF token (no session fixation).
func (s *Sessions) New(user, role string) Session {
	b := make([]byte, 18)
	rand.Read(b)
	return Session{User: user, Role: role, Exp: s.clk.Now().Add(s.ttl).Truncate(time.Second), Nonce: base64.RawURLEncoding.EncodeToString(b)}
}

// Get returns the request's session, if its cookie is present, correctly signed, not expired and
// valid.
func (s *Sessions) Get(r *http.Request) (Session, bool) {
	ck, err := r.Cookie(s.name)
	if err != nil {
		return Session{}, false
	}
	return s.decode(ck.Value)
}

// Set sets ss as the response's session cookie: HttpOnly, SameSite=Strict, Secure on TLS or when
// SessionOptions.Secure is set.
func (s *Sessions) Set(w http.ResponseWriter, r *http.Request, ss Session) {
	http.SetCookie(w, &http.Cookie{Name: s.name, Value: s.encode(ss), Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil || s.secure,
		MaxAge: int(s.ttl / time.Second)}) // the signed expiry is what counts; MaxAge only tidies the browser
}

// CSRFToken is the token state-changing requests of ss must carry.
func (s *Sessions) CSRFToken(ss Session) string {
	return base64.RawURLEncoding.EncodeToString(s.mac("csrf|" + ss.Nonce))
}

// CheckCSRF reports whether token is ss's CSRF token (constant time).
func (s *Sessions) CheckCSRF(ss Session, token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.CSRFToken(ss))) == 1
}

func (s *Sessions) mac(msg string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// encode is "base64(v1|user|role|exp|nonce).base64(hmac)".
func (s *Sessions) encode(ss Session) string {
	payload := strings.Join([]string{"v1", url.QueryEscape(ss.User), ss.Role, strconv.FormatInt(ss.Exp.Unix(), 10), ss.Nonce}, "|")
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(s.mac("session|"+payload))
}

func (s *Sessions) decode(v string) (Session, bool) {
	p64, m64, ok := strings.Cut(v, ".")
	if !ok {
		return Session{}, false
	}
	enc := base64.RawURLEncoding
	payload, err1 := enc.DecodeString(p64)
	mac, err2 := enc.DecodeString(m64)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, s.mac("session|"+string(payload))) {
		return Session{}, false
	}
	f := strings.Split(string(payload), "|")
	if len(f) != 5 || f[0] != "v1" {
		return Session{}, false
	}
	user, err := url.QueryUnescape(f[1])
	exp, err2 := strconv.ParseInt(f[3], 10, 64)
	if err != nil || err2 != nil {
		return Session{}, false
	}
	ss := Session{User: user, Role: f[2], Exp: time.Unix(exp, 0), Nonce: f[4]}
	if !s.clk.Now().Before(ss.Exp) || (s.valid != nil && !s.valid(ss)) {
		return Session{}, false
	}
	return ss, true
}
