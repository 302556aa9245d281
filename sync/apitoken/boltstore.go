package apitoken

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BoltStore keeps tokens in a bucket of a bbolt database the caller owns (the hub's store), keyed
// by hash, so a lookup is one read.
type BoltStore struct {
	db *bolt.DB
}

var bktTokens = []byte("api_tokens")

// NewBoltStore returns a store in db, creating its bucket.
func NewBoltStore(db *bolt.DB) (*BoltStore, error) {
	err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bktTokens)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("apitoken: %w", err)
	}
	return &BoltStore{db: db}, nil
}

// PutToken implements Store.
func (s *BoltStore) PutToken(_ context.Context, t Token) error {
	v, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bktTokens)
		if err := b.ForEach(func(_, v []byte) error {
			var o Token
			if json.Unmarshal(v, &o) == nil && o.Name == t.Name && o.Active() {
				return ErrExists
			}
			return nil
		}); err != nil {
			return err
		}
		return b.Put([]byte(t.Hash), v)
	})
}

// TokenByHash implements Store.
func (s *BoltStore) TokenByHash(_ context.Context, hash string) (t Token, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bktTokens).Get([]byte(hash))
		if v == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(v, &t)
	})
	return t, ok, err
}

// Tokens implements Store.
func (s *BoltStore) Tokens(context.Context) ([]Token, error) {
	var out []Token
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bktTokens).ForEach(func(_, v []byte) error {
			var t Token
			if err := json.Unmarshal(v, &t); err != nil {
				return err
			}
			out = append(out, t)
			return nil
		})
	})
	sortByName(out)
	return out, err
}

// RevokeToken implements Store.
func (s *BoltStore) RevokeToken(_ context.Context, name string, at time.Time) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bktTokens)
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var t Token
			if json.Unmarshal(v, &t) != nil || t.Name != name || !t.Active() {
				continue
			}
			t.RevokedAt = at.UTC()
			nv, err := json.Marshal(t)
			if err != nil {
				return err
			}
			return b.Put(append([]byte(nil), k...), nv)
		}
		return ErrNotFound
	})
}
