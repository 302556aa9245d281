// Package apitokentest is the conformance suite every apitoken.Store passes.
package apitokentest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"wedge/sync/apitoken"
)

// Run checks a fresh store from newStore: create, look up by hash only, names unique among active
// tokens, revoke, and the middleware's 401/403/200 over it.
func Run(t *testing.T, newStore func(t *testing.T) apitoken.Store) {
	ctx := context.Background()
	now := time.Date(2026, 11, 11, 0, 0, 0, 0, time.UTC)
	t.Run("CreateLookupRevoke", func(t *testing.T) {
		s := newStore(t)
		raw, tok, err := apitoken.Create(ctx, s, "erp", []apitoken.Scope{apitoken.OrdersWrite}, now)
		if err != nil {
			t.Fatal(err)
		}
		if tok.Hash == raw || tok.Hash != apitoken.Hash(raw) || len(raw) < 40 {
			t.Fatalf("token %+v raw %q", tok, raw)
		}
		got, ok, err := s.TokenByHash(ctx, apitoken.Hash(raw))
		if err != nil || !ok || got.Name != "erp" || !got.Has(apitoken.OrdersWrite) || got.Has(apitoken.Read) {
			t.Fatalf("lookup %+v %v %v", got, ok, err)
		}
		if _, ok, _ := s.TokenByHash(ctx, raw); ok {
			t.Fatal("found by the raw token: the store keeps the secret")
		}
		if _, _, err := apitoken.Create(ctx, s, "erp", []apitoken.Scope{apitoken.Read}, now); !errors.Is(err, apitoken.ErrExists) {
			t.Fatalf("second erp: %v", err)
		}
		if err := s.RevokeToken(ctx, "erp", now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeToken(ctx, "erp", now.Add(time.Hour)); !errors.Is(err, apitoken.ErrNotFound) {
			t.Fatalf("revoke twice: %v", err)
		}
		got, ok, _ = s.TokenByHash(ctx, apitoken.Hash(raw))
		if !ok || got.Active() {
			t.Fatalf("revoked token %+v", got)
		}
		// The name is free again once revoked; the list keeps both.
		if _, _, err := apitoken.Create(ctx, s, "erp", []apitoken.Scope{apitoken.Read}, now.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		list, err := s.Tokens(ctx)
		if err != nil || len(list) != 2 || list[0].Active() || !list[1].Active() {
			t.Fatalf("list %+v %v", list, err)
		}
	})
	t.Run("Middleware", func(t *testing.T) {
		s := newStore(t)
		rawRead, _, _ := apitoken.Create(ctx, s, "viewer", []apitoken.Scope{apitoken.Read}, now)
		rawAdmin, _, _ := apitoken.Create(ctx, s, "root", []apitoken.Scope{apitoken.Admin}, now)
		rawGone, _, _ := apitoken.Create(ctx, s, "gone", []apitoken.Scope{apitoken.Admin}, now)
		_ = s.RevokeToken(ctx, "gone", now)
		var who string
		h := apitoken.NewAuthenticator(s).Require(apitoken.CommandsWrite, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			who = apitoken.NameFrom(r.Context())
		}))
		for _, c := range []struct {
			auth string
			want int
		}{{"", 401}, {"Bearer ", 401}, {"Basic eDp5", 401}, {"Bearer wdg_nope", 401}, {"Bearer " + rawGone, 401},
			{"Bearer " + rawRead, 403}, {"Bearer " + rawAdmin, 200}} {
			who = ""
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("POST", "/x", nil)
			if c.auth != "" {
				req.Header.Set("Authorization", c.auth)
			}
			h.ServeHTTP(rec, req)
			if rec.Code != c.want {
				t.Fatalf("%q: %d, want %d (%s)", c.auth, rec.Code, c.want, rec.Body)
			}
			if c.want == 200 && who != "root" {
				t.Fatalf("token name in context %q", who)
			}
			if c.want == 401 && rec.Header().Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
		}
	})
}
