package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"wedge/sync/apitoken"
)

// TokenStore is an apitoken.Store in the hub's PostgreSQL database (table hub_api_tokens). Every
// replica sees a token as soon as it is committed; one active token per name is a unique index.
type TokenStore struct {
	pool *pgxpool.Pool
}

var _ apitoken.Store = (*TokenStore)(nil)

// pgUniqueViolation is PostgreSQL's SQLSTATE for a unique constraint.
const pgUniqueViolation = "23505"

// PutToken implements apitoken.Store.
func (s *TokenStore) PutToken(ctx context.Context, t apitoken.Token) error {
	doc, err := json.Marshal(t)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO hub_api_tokens (hash, name, created_at, revoked, doc) VALUES ($1,$2,$3,$4,$5)`,
		t.Hash, t.Name, t.CreatedAt, !t.Active(), doc)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == pgUniqueViolation {
		return apitoken.ErrExists
	}
	if err != nil {
		return fmt.Errorf("pgstore: put token: %w", err)
	}
	return nil
}

// TokenByHash implements apitoken.Store.
func (s *TokenStore) TokenByHash(ctx context.Context, hash string) (apitoken.Token, bool, error) {
	var doc []byte
	err := s.pool.QueryRow(ctx, `SELECT doc FROM hub_api_tokens WHERE hash=$1`, hash).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return apitoken.Token{}, false, nil
	}
	if err != nil {
		return apitoken.Token{}, false, fmt.Errorf("pgstore: token: %w", err)
	}
	var t apitoken.Token
	if err := json.Unmarshal(doc, &t); err != nil {
		return apitoken.Token{}, false, fmt.Errorf("pgstore: token: %w", err)
	}
	return t, true, nil
}

// Tokens implements apitoken.Store.
func (s *TokenStore) Tokens(ctx context.Context) ([]apitoken.Token, error) {
	rows, err := s.pool.Query(ctx, `SELECT doc FROM hub_api_tokens ORDER BY name, created_at`)
	if err != nil {
		return nil, fmt.Errorf("pgstore: tokens: %w", err)
	}
	defer rows.Close()
	var out []apitoken.Token
	for rows.Next() {
		var doc []byte
		if err := rows.Scan(&doc); err != nil {
			return nil, fmt.Errorf("pgstore: tokens: %w", err)
		}
		var t apitoken.Token
		if err := json.Unmarshal(doc, &t); err != nil {
			return nil, fmt.Errorf("pgstore: tokens: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken implements apitoken.Store.
func (s *TokenStore) RevokeToken(ctx context.Context, name string, at time.Time) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var hash string
		var doc []byte
		err := tx.QueryRow(ctx, `SELECT hash, doc FROM hub_api_tokens WHERE name=$1 AND NOT revoked FOR UPDATE`, name).Scan(&hash, &doc)
		if errors.Is(err, pgx.ErrNoRows) {
			return apitoken.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("pgstore: revoke token: %w", err)
		}
		var t apitoken.Token
		if err := json.Unmarshal(doc, &t); err != nil {
			return fmt.Errorf("pgstore: revoke token: %w", err)
		}
		t.RevokedAt = at.UTC()
		if doc, err = json.Marshal(t); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE hub_api_tokens SET revoked = true, doc = $2 WHERE hash = $1`, hash, doc)
		return err
	})
}
