package apitoken

import (
	"context"
	"sort"
	"sync"
	"time"
)

// MemStore is a Store in memory (tests, and a hub run without a store of its own).
type MemStore struct {
	mu     sync.Mutex
	tokens []Token
}

// PutToken implements Store.
func (m *MemStore) PutToken(_ context.Context, t Token) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range m.tokens {
		if o.Name == t.Name && o.Active() {
			return ErrExists
		}
	}
	m.tokens = append(m.tokens, t)
	return nil
}

// TokenByHash implements Store.
func (m *MemStore) TokenByHash(_ context.Context, hash string) (Token, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range m.tokens {
		if t.Hash == hash {
			return t, true, nil
		}
	}
	return Token{}, false, nil
}

// Tokens implements Store.
func (m *MemStore) Tokens(context.Context) ([]Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := append([]Token(nil), m.tokens...)
	sortByName(out)
	return out, nil
}

func sortByName(ts []Token) {
	sort.SliceStable(ts, func(i, j int) bool {
		if ts[i].Name != ts[j].Name {
			return ts[i].Name < ts[j].Name
		}
		return ts[i].CreatedAt.Before(ts[j].CreatedAt)
	})
}

// RevokeToken implements Store.
func (m *MemStore) RevokeToken(_ context.Context, name string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, t := range m.tokens {
		if t.Name == name && t.Active() {
			m.tokens[i].RevokedAt = at.UTC()
			return nil
		}
	}
	return ErrNotFound
}
