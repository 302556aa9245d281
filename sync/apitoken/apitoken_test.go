package apitoken_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"wedge/sync/apitoken"
	"wedge/sync/apitoken/apitokentest"
)

func TestMemStore(t *testing.T) {
	apitokentest.Run(t, func(*testing.T) apitoken.Store { return &apitoken.MemStore{} })
}

func TestBoltStore(t *testing.T) {
	apitokentest.Run(t, func(t *testing.T) apitoken.Store {
		db, err := bolt.Open(filepath.Join(t.TempDir(), "hub.db"), 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		s, err := apitoken.NewBoltStore(db)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestCreateRefusesBadInput(t *testing.T) {
	s := &apitoken.MemStore{}
	now := time.Now()
	for _, c := range []struct {
		name   string
		scopes []apitoken.Scope
	}{{"", []apitoken.Scope{apitoken.Read}}, {"a b", []apitoken.Scope{apitoken.Read}}, {"ok", nil}, {"ok", []apitoken.Scope{"root"}}} {
		if _, _, err := apitoken.Create(context.Background(), s, c.name, c.scopes, now); !errors.Is(err, apitoken.ErrInvalid) {
			t.Fatalf("%+v: %v", c, err)
		}
	}
	if _, err := apitoken.ParseScope("orders:write"); err != nil {
		t.Fatal(err)
	}
}
