// Package pgstore keeps a hub's state in PostgreSQL (hub.Store), so several hub replicas behind the
// broker's shared subscription can share one store. The schema is migrated by goose from SQL files
// embedded in the binary (Migrate, `wedge hub migrate`); Open refuses a database whose schema
// version it does not know (ErrSchema).
//
// Transactions run at READ COMMITTED. Rows that a transaction reads to change them (a journal's
// record, an order's record) are locked with SELECT … FOR UPDATE, created empty first when missing
// so that the lock exists before the first write: two replicas moving one journal or one order run
// one after the other, and the second sees what the first committed. Entries are inserted with
// ON CONFLICT DO NOTHING (the first stored is kept); the per-site downlink counter and the command
// counter are rows advanced by UPDATE … RETURNING inside the publishing transaction, so a rollback
// gives the number back and two replicas never get the same one. docs/HUB-STORE.md has the full
// argument.
package pgstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"wedge/sync/apitoken"
	"wedge/sync/hub"
)

// Sentinel errors. Match them with errors.Is.
var (
	// ErrSchema means the database's schema is not the version this binary works with: older (run
	// Migrate) or newer (a newer hub migrated it).
	ErrSchema = errors.New("pgstore: schema version")
	// ErrConnect means the database cannot be reached or the DSN is unusable.
	ErrConnect = errors.New("pgstore: connect")
)

//go:embed migrations/*.sql
var migrations embed.FS

// gooseTable is where goose records the applied migrations.
const gooseTable = "hub_schema_version"

// Options configure a Store. Zero values mean the documented defaults.
type Options struct {
	// MaxConns bounds the pool (default pgxpool's: the larger of 4 and the number of CPUs).
	MaxConns int32
	// Tracer, when set, sees every statement and pipeline the store sends (pgx's tracing: the
	// tests count round trips with it). Default: none.
	Tracer pgx.QueryTracer
}

// Store is a hub.Store in PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
}

var _ hub.Store = (*Store)(nil)

func provider(db *sql.DB) (*goose.Provider, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(goose.DialectPostgres, db, sub, goose.WithTableName(gooseTable))
}

// Versions reports the database's schema version and the version this binary works with.
func Versions(ctx context.Context, dsn string) (current, target int64, err error) {
	err = withProvider(ctx, dsn, func(p *goose.Provider) error {
		current, target, err = p.GetVersions(ctx)
		return err
	})
	return current, target, err
}

// Migrate brings the database's schema up to this binary's version and returns the versions
// before and after. It is safe to run while hubs of the same version run, and twice.
func Migrate(ctx context.Context, dsn string) (from, to int64, err error) {
	err = withProvider(ctx, dsn, func(p *goose.Provider) error {
		if from, err = p.GetDBVersion(ctx); err != nil {
			return err
		}
		if _, err = p.Up(ctx); err != nil {
			return err
		}
		to, err = p.GetDBVersion(ctx)
		return err
	})
	if err != nil {
		return from, to, fmt.Errorf("pgstore: migrate: %w", err)
	}
	return from, to, nil
}

func withProvider(ctx context.Context, dsn string, fn func(*goose.Provider) error) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrConnect, err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("%w: %v", ErrConnect, err)
	}
	p, err := provider(db)
	if err != nil {
		return err
	}
	return fn(p)
}

// Open connects to the database at dsn (postgres://user:pass@host:5432/db?sslmode=…) and checks
// that its schema is this binary's version (ErrSchema otherwise: run Migrate first).
func Open(ctx context.Context, dsn string, opts *Options) (*Store, error) {
	if opts == nil {
		opts = &Options{}
	}
	current, target, err := Versions(ctx, dsn)
	if err != nil {
		return nil, err
	}
	switch {
	case current < target:
		return nil, fmt.Errorf("%w: the database is at version %d, this hub needs %d: run `wedge hub migrate --store DSN` first", ErrSchema, current, target)
	case current > target:
		return nil, fmt.Errorf("%w: the database is at version %d, newer than this hub's %d (a newer hub migrated it): upgrade this hub", ErrSchema, current, target)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConnect, err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if opts.Tracer != nil {
		cfg.ConnConfig.Tracer = opts.Tracer
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConnect, err)
	}
	return &Store{pool: pool}, nil
}

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Tokens is the API token store in the same database.
func (s *Store) Tokens() (apitoken.Store, error) { return &TokenStore{pool: s.pool}, nil }

// Update implements hub.Store: one READ COMMITTED transaction, committed when fn returns nil.
func (s *Store) Update(ctx context.Context, fn func(hub.Tx) error) error {
	return s.run(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, true, fn)
}

// View implements hub.Store: one REPEATABLE READ, read-only transaction (one snapshot).
func (s *Store) View(ctx context.Context, fn func(hub.Tx) error) error {
	return s.run(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, false, fn)
}

func (s *Store) run(ctx context.Context, o pgx.TxOptions, writable bool, fn func(hub.Tx) error) (err error) {
	tx, err := s.pool.BeginTx(ctx, o)
	if err != nil {
		return fmt.Errorf("pgstore: begin: %w", err)
	}
	defer func() {
		if r := recover(); r != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
			panic(r)
		}
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	t := newTx(ctx, tx, writable)
	if err := fn(t); err != nil {
		return err
	}
	if err := t.commit(); err != nil {
		return fmt.Errorf("pgstore: commit: %w", err)
	}
	return nil
}
