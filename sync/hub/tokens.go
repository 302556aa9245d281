package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"wedge/sync/apitoken"
)

// API tokens. The hub keeps them in its own bbolt file (bucket api_tokens, apitoken.BoltStore),
// hashed. bbolt's file lock keeps a second process out while the hub runs, so tokens are managed in
// one of two ways: through the running hub's admin API (POST/GET/DELETE /v1/tokens, scope admin),
// or, while the hub is stopped, by opening the file directly (OpenTokens, `wedge hub token --data`).
// The first admin token comes from the second way before the first start, or from
// Options.BootstrapTokenFile.

// ErrLocked means hub.db is held by a running hub: manage tokens through its API instead.
var ErrLocked = errors.New("hub: 中心正在运行，请用 --hub URL --token … / hub is running: use --hub URL --token …")

// BootstrapTokenName is the name of the admin token Options.BootstrapTokenFile creates.
const BootstrapTokenName = "admin"

// lockWait is how long OpenTokens waits for hub.db's lock before it reports ErrLocked.
const lockWait = 500 * time.Millisecond

// OpenTokens opens the token store of a hub's data directory while that hub is stopped, creating
// the directory and hub.db when missing (so the first token can be made before the first start).
// It returns ErrLocked when a running hub holds the file. close releases the file.
func OpenTokens(dataDir string) (s *apitoken.BoltStore, close func() error, err error) {
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, nil, fmt.Errorf("%w: data dir: %v", ErrStore, err)
	}
	path := filepath.Join(dataDir, "hub.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockWait})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, nil, fmt.Errorf("%w (%s)", ErrLocked, path)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: open %s: %v", ErrStore, path, err)
	}
	s, err = apitoken.NewBoltStore(db)
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("%w: %v", ErrStore, err)
	}
	return s, db.Close, nil
}

// Tokens is the store the hub authenticates against (Options.Tokens, or its own in hub.db). Tokens
// created in it are valid at once.
func (h *Hub) Tokens() apitoken.Store { return h.tokens }

// openTokens sets h.tokens and writes the bootstrap token when asked to and the store is empty.
func (h *Hub) openTokens() error {
	h.tokens = h.opts.Tokens
	if h.tokens == nil {
		s, err := h.db.Tokens()
		if err != nil {
			return fmt.Errorf("%w: %v", ErrStore, err)
		}
		h.tokens = s
	}
	if h.opts.BootstrapTokenFile == "" {
		return nil
	}
	ctx := context.Background()
	all, err := h.tokens.Tokens(ctx)
	if err != nil {
		return fmt.Errorf("%w: tokens: %v", ErrStore, err)
	}
	if len(all) > 0 {
		return nil
	}
	raw, _, err := apitoken.Create(ctx, h.tokens, BootstrapTokenName, []apitoken.Scope{apitoken.Admin}, h.clk.Now())
	if err != nil {
		return fmt.Errorf("%w: bootstrap token: %v", ErrStore, err)
	}
	if err := writeSecret(h.opts.BootstrapTokenFile, raw+"\n"); err != nil {
		// A token nobody can read must not stay valid; the next start tries again.
		_ = h.tokens.RevokeToken(ctx, BootstrapTokenName, h.clk.Now())
		return fmt.Errorf("%w: bootstrap token file: %v", ErrOptions, err)
	}
	h.log.Info("bootstrap admin token written (create named tokens with it, then revoke it)", "file", h.opts.BootstrapTokenFile, "token", BootstrapTokenName)
	return nil
}

// writeSecret writes s to path with mode 0600, through a temporary file and a rename.
func writeSecret(path, s string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".wedge-token-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.WriteString(s); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// TokenInfo is a token as the admin API lists it: never the secret or its hash.
type TokenInfo struct {
	Name      string           `json:"name"`
	Scopes    []apitoken.Scope `json:"scopes"`
	Prefix    string           `json:"prefix"`
	CreatedAt time.Time        `json:"created_at"`
	RevokedAt time.Time        `json:"revoked_at,omitzero"`
	Active    bool             `json:"active"`
}

// NewToken is the answer to POST /v1/tokens: the token itself is shown this once.
type NewToken struct {
	TokenInfo
	Token string `json:"token"`
}

// CreateTokenRequest is the body of POST /v1/tokens.
type CreateTokenRequest struct {
	Name   string   `json:"name"`
	Scopes []string `json:"scopes"`
}

// InfoOf is t without its secret parts.
func InfoOf(t apitoken.Token) TokenInfo {
	return TokenInfo{Name: t.Name, Scopes: t.Scopes, Prefix: t.Prefix, CreatedAt: t.CreatedAt, RevokedAt: t.RevokedAt, Active: t.Active()}
}

// ParseScopes parses scope names ("orders:write", "read", ...), each at most once.
func ParseScopes(names []string) ([]apitoken.Scope, error) {
	var out []apitoken.Scope
	seen := map[apitoken.Scope]bool{}
	for _, n := range names {
		for _, part := range strings.Split(n, ",") {
			if strings.TrimSpace(part) == "" {
				continue
			}
			sc, err := apitoken.ParseScope(part)
			if err != nil {
				return nil, err
			}
			if !seen[sc] {
				seen[sc] = true
				out = append(out, sc)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: a token needs at least one scope (%v)", apitoken.ErrInvalid, apitoken.Scopes)
	}
	return out, nil
}

// maxTokenBody bounds a token request.
const maxTokenBody = 4 << 10

// postToken creates a token and shows it once.
func (h *Hub) postToken(w http.ResponseWriter, r *http.Request) {
	var req CreateTokenRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, maxTokenBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "请求不是合法的 JSON / malformed JSON: "+err.Error())
		return
	}
	scopes, err := ParseScopes(req.Scopes)
	if err != nil {
		writeError(w, http.StatusBadRequest, "权限无效 / invalid scopes: "+err.Error())
		return
	}
	raw, t, err := apitoken.Create(r.Context(), h.tokens, strings.TrimSpace(req.Name), scopes, h.clk.Now())
	switch {
	case errors.Is(err, apitoken.ErrExists):
		writeError(w, http.StatusConflict, fmt.Sprintf("同名令牌已存在 / an active token named %q exists (revoke it first)", req.Name))
		return
	case errors.Is(err, apitoken.ErrInvalid):
		writeError(w, http.StatusBadRequest, "令牌无效 / invalid token request: "+err.Error())
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, "保存失败 / token not stored: "+err.Error())
		return
	}
	h.log.Info("API token created", "token", t.Name, "scopes", t.Scopes, "by", apitoken.NameFrom(r.Context()))
	writeJSON(w, http.StatusCreated, NewToken{TokenInfo: InfoOf(t), Token: raw})
}

// getTokens lists every token, revoked ones included, without secrets.
func (h *Hub) getTokens(w http.ResponseWriter, r *http.Request) {
	all, err := h.tokens.Tokens(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, "读取失败 / store read failed: "+err.Error())
		return
	}
	out := make([]TokenInfo, 0, len(all))
	for _, t := range all {
		out = append(out, InfoOf(t))
	}
	writeJSON(w, http.StatusOK, out)
}

// deleteToken revokes the active token with the path's name.
func (h *Hub) deleteToken(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	at := h.clk.Now().UTC()
	err := h.tokens.RevokeToken(r.Context(), name, at)
	switch {
	case errors.Is(err, apitoken.ErrNotFound):
		writeError(w, http.StatusNotFound, fmt.Sprintf("没有这个有效令牌 / no active token named %q", name))
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, "吊销失败 / not revoked: "+err.Error())
		return
	}
	h.log.Info("API token revoked", "token", name, "by", apitoken.NameFrom(r.Context()))
	writeJSON(w, http.StatusOK, map[string]any{"name": name, "revoked_at": at})
}
