package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"wedge/sync/apitoken"
	"wedge/sync/hub"
	"wedge/sync/hub/pgstore"
)

// The hub's store on the command line: --store bolt:DIR (the same as --data DIR) or
// --store postgres://user@host/db?sslmode=… (a database migrated with `wedge hub migrate`).

const storeFlagHelp = "中心存储 the hub's store: bolt:DIR (= --data DIR) or postgres://user:pass@host:5432/db?sslmode=verify-full"

// isPostgresDSN reports whether spec names a PostgreSQL database.
func isPostgresDSN(spec string) bool {
	return strings.HasPrefix(spec, "postgres://") || strings.HasPrefix(spec, "postgresql://")
}

// applyHubStore sets o.DataDir or o.Store from --store (empty: keep --data).
func applyHubStore(ctx context.Context, spec string, o *hub.Options) error {
	switch {
	case spec == "":
		return nil
	case strings.HasPrefix(spec, "bolt:"):
		if o.DataDir = strings.TrimPrefix(spec, "bolt:"); o.DataDir == "" {
			return fmt.Errorf("--store bolt: 需要目录 needs a directory (bolt:DIR)")
		}
		return nil
	case isPostgresDSN(spec):
		s, err := openPg(ctx, spec)
		if err != nil {
			return err
		}
		o.Store = s
		return nil
	}
	return fmt.Errorf("--store %q: 需要 bolt:DIR 或 postgres://… / want bolt:DIR or postgres://…", redactDSN(spec))
}

// openPg opens a migrated PostgreSQL store, explaining a schema at another version.
func openPg(ctx context.Context, spec string) (*pgstore.Store, error) {
	s, err := pgstore.Open(ctx, spec, nil)
	if errors.Is(err, pgstore.ErrSchema) {
		return nil, fmt.Errorf("数据库结构版本不符，拒绝启动 / refusing to start on this schema version: %w", err)
	}
	return s, err
}

// openPgTokens opens the API token store of a PostgreSQL hub store. Unlike bbolt's file, the
// database may be shared with running hubs: a token made here is valid on every replica at once.
func openPgTokens(ctx context.Context, spec string) (apitoken.Store, func() error, error) {
	s, err := openPg(ctx, spec)
	if err != nil {
		return nil, nil, err
	}
	ts, err := s.Tokens()
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	return ts, s.Close, nil
}

// redactDSN hides a password in a DSN for messages.
func redactDSN(spec string) string {
	if i := strings.Index(spec, "://"); i >= 0 {
		if at := strings.Index(spec[i+3:], "@"); at >= 0 {
			if c := strings.Index(spec[i+3:i+3+at], ":"); c >= 0 {
				return spec[:i+3+c+1] + "***" + spec[i+3+at:]
			}
		}
	}
	return spec
}

// cmdHubMigrate is `wedge hub migrate --store postgres://…`: bring the database's schema up to
// this binary's version.
func cmdHubMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wedge hub migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	spec := fs.String("store", "", storeFlagHelp)
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "wedge hub migrate: 多余的参数 unexpected arguments %q\n", fs.Args())
		return exitUsage
	case strings.HasPrefix(*spec, "bolt:"):
		fmt.Fprintln(stdout, "wedge hub migrate: bbolt 存储无需迁移 a bbolt store needs no migration")
		return exitOK
	case !isPostgresDSN(*spec):
		fmt.Fprintln(stderr, "wedge hub migrate: 需要 --store postgres://… / --store postgres://… is required")
		return exitUsage
	}
	from, to, err := pgstore.Migrate(ctx, *spec)
	if errors.Is(err, pgstore.ErrConnect) {
		// Like a data directory that cannot be opened: the operator's DSN is wrong.
		fmt.Fprintf(stderr, "wedge hub migrate: 无法连接数据库 cannot reach the database: %v\n", err)
		return exitUsage
	}
	if err != nil {
		fmt.Fprintf(stderr, "wedge hub migrate: 迁移失败 migration failed: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(stdout, "wedge hub migrate: 结构版本 schema version %d → %d\n", from, to)
	return exitOK
}
