// Package apitoken is the hub API's bearer-token authentication: tokens with scopes, created with a
// name and stored only as a SHA-256 hash (the raw token is shown once and never stored), revocable,
// and an HTTP middleware that answers 401 without a valid token and 403 without the scope, with
// errors in Chinese and English. The token name is put in the request context so every change can
// record who sent it.
package apitoken

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"wedge/sync/wire"
)

// Scope is what a token may do.
type Scope string

// The scopes. Admin implies every other scope.
const (
	OrdersWrite   Scope = "orders:write"   // post orders, waybills, cancels
	CommandsWrite Scope = "commands:write" // send breaker commands to agents
	TrackingWrite Scope = "tracking:write" // post carrier events
	Read          Scope = "read"           // read orders, agents, stats, commands
	Admin         Scope = "admin"          // manage tokens; everything
)

// Scopes lists every scope.
var Scopes = []Scope{OrdersWrite, CommandsWrite, TrackingWrite, Read, Admin}

// ParseScope parses a scope name.
func ParseScope(s string) (Scope, error) {
	sc := Scope(strings.TrimSpace(s))
	if !slices.Contains(Scopes, sc) {
		return "", fmt.Errorf("%w: unknown scope %q (want one of %v)", ErrInvalid, s, Scopes)
	}
	return sc, nil
}

// Errors.
var (
	ErrInvalid  = errors.New("apitoken: invalid")
	ErrExists   = errors.New("apitoken: a token with that name exists")
	ErrNotFound = errors.New("apitoken: no such token")
)

// Token is a stored token: never the raw secret, only its hash.
type Token struct {
	Name      string    `json:"name"`
	Scopes    []Scope   `json:"scopes"`
	Hash      string    `json:"hash"`   // hex SHA-256 of the raw token
	Prefix    string    `json:"prefix"` // the raw token's first characters, to recognise it in a list
	CreatedAt time.Time `json:"created_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// Has reports whether t grants scope.
func (t Token) Has(scope Scope) bool {
	return slices.Contains(t.Scopes, Admin) || slices.Contains(t.Scopes, scope)
}

// Active reports whether t is not revoked.
func (t Token) Active() bool { return t.RevokedAt.IsZero() }

// Store keeps tokens. The hub implements it in its own store; MemStore is for tests and the demo.
type Store interface {
	// PutToken stores a new token; ErrExists when its name is taken by an active token.
	PutToken(ctx context.Context, t Token) error
	// TokenByHash finds a token (active or not) by hash.
	TokenByHash(ctx context.Context, hash string) (Token, bool, error)
	// Tokens lists every token, revoked ones included, by name.
	Tokens(ctx context.Context) ([]Token, error)
	// RevokeToken marks the active token name revoked at at; ErrNotFound when there is none.
	RevokeToken(ctx context.Context, name string, at time.Time) error
}

// rawPrefix marks wedge hub tokens, so secret scanners and people can recognise one.
const rawPrefix = "wdg_"

// Hash is the stored form of a raw token. Tokens are 256 random bits, so a plain SHA-256 is enough
// (no password stretching: nothing to guess).
func Hash(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:])
}

// Create makes a token named name with scopes, stores its hash and returns the raw token, which is
// shown once.
func Create(ctx context.Context, s Store, name string, scopes []Scope, now time.Time) (raw string, t Token, err error) {
	if !wire.ValidName(name) {
		return "", Token{}, fmt.Errorf("%w: name %q (letters, digits, - and _)", ErrInvalid, name)
	}
	if len(scopes) == 0 {
		return "", Token{}, fmt.Errorf("%w: a token needs at least one scope", ErrInvalid)
	}
	for _, sc := range scopes {
		if _, err := ParseScope(string(sc)); err != nil {
			return "", Token{}, err
		}
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", Token{}, err
	}
	raw = rawPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	t = Token{Name: name, Scopes: slices.Clone(scopes), Hash: Hash(raw), Prefix: raw[:len(rawPrefix)+6], CreatedAt: now.UTC()}
	if err := s.PutToken(ctx, t); err != nil {
		return "", Token{}, err
	}
	return raw, t, nil
}

type ctxKey struct{}

// NameFrom returns the name of the token that authenticated the request, or "".
func NameFrom(ctx context.Context) string {
	t, _ := ctx.Value(ctxKey{}).(Token)
	return t.Name
}

// WithName returns ctx carrying name as the authenticated caller, as Require does for a token: for
// a request authenticated another way (a hub console session, "console:alice"), so the handlers
// shared with the token API record who it was.
func WithName(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, ctxKey{}, Token{Name: name})
}

// Authenticator checks bearer tokens against a Store.
type Authenticator struct {
	store Store
}

// NewAuthenticator returns an authenticator over s.
func NewAuthenticator(s Store) *Authenticator { return &Authenticator{store: s} }

// Authenticate returns the active token for the request's "Authorization: Bearer" header.
func (a *Authenticator) Authenticate(r *http.Request) (Token, error) {
	h := r.Header.Get("Authorization")
	raw, ok := strings.CutPrefix(h, "Bearer ")
	raw = strings.TrimSpace(raw)
	if !ok || raw == "" {
		return Token{}, fmt.Errorf("%w: no bearer token", ErrInvalid)
	}
	want := Hash(raw)
	t, found, err := a.store.TokenByHash(r.Context(), want)
	if err != nil {
		return Token{}, err
	}
	// The lookup is by hash, so its timing does not depend on the raw token's bytes; compare once
	// more in constant time for form's sake.
	if !found || subtle.ConstantTimeCompare([]byte(t.Hash), []byte(want)) != 1 || !t.Active() {
		return Token{}, fmt.Errorf("%w: unknown or revoked token", ErrInvalid)
	}
	return t, nil
}

// Require wraps h: the request needs an active token with scope. 401 without one (with a
// WWW-Authenticate header), 403 when the token lacks the scope, 500 when the store fails.
func (a *Authenticator) Require(scope Scope, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, err := a.Authenticate(r)
		switch {
		case errors.Is(err, ErrInvalid):
			w.Header().Set("WWW-Authenticate", `Bearer realm="wedge-hub"`)
			writeError(w, http.StatusUnauthorized, "需要有效的访问令牌", "a valid bearer token is required")
			return
		case err != nil:
			writeError(w, http.StatusInternalServerError, "令牌校验失败", "token check failed: "+err.Error())
			return
		case !t.Has(scope):
			writeError(w, http.StatusForbidden, "令牌权限不足：需要 "+string(scope), "the token lacks the scope "+string(scope))
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, t)))
	})
}

// writeError writes the JSON error shape the hub uses everywhere: {"error": "中文 / English", "zh", "en"}.
func writeError(w http.ResponseWriter, code int, zh, en string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": zh + " / " + en, "zh": zh, "en": en})
}
