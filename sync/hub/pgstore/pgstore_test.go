package pgstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"wedge/internal/testpg"
	"wedge/sync/apitoken"
	"wedge/sync/apitoken/apitokentest"
	"wedge/sync/hub/pgstore"
)

func migrated(t *testing.T, srv *testpg.Server) string {
	t.Helper()
	dsn := srv.NewDatabase(t)
	if _, _, err := pgstore.Migrate(context.Background(), dsn); err != nil {
		t.Fatal(err)
	}
	return dsn
}

func TestTokens(t *testing.T) {
	srv := testpg.Start(t)
	apitokentest.Run(t, func(t *testing.T) apitoken.Store {
		s, err := pgstore.Open(context.Background(), migrated(t, srv), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		ts, err := s.Tokens()
		if err != nil {
			t.Fatal(err)
		}
		return ts
	})
}

// Open refuses a database that was never migrated and one a newer hub migrated; Migrate is
// idempotent.
func TestSchemaVersion(t *testing.T) {
	ctx := context.Background()
	srv := testpg.Start(t)
	dsn := srv.NewDatabase(t)
	if _, err := pgstore.Open(ctx, dsn, nil); !errors.Is(err, pgstore.ErrSchema) {
		t.Fatalf("Open of an empty database = %v, want ErrSchema", err)
	}
	from, to, err := pgstore.Migrate(ctx, dsn)
	if err != nil || from != 0 || to < 1 {
		t.Fatalf("Migrate = %d → %d, %v", from, to, err)
	}
	if again, to2, err := pgstore.Migrate(ctx, dsn); err != nil || again != to || to2 != to {
		t.Fatalf("second Migrate = %d → %d, %v; want %d → %d", again, to2, err, to, to)
	}
	s, err := pgstore.Open(ctx, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// A newer hub's migration.
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `INSERT INTO hub_schema_version (version_id, is_applied) VALUES ($1, true)`, to+1); err != nil {
		t.Fatal(err)
	}
	if _, err := pgstore.Open(ctx, dsn, nil); !errors.Is(err, pgstore.ErrSchema) {
		t.Fatalf("Open of a newer schema = %v, want ErrSchema", err)
	}
	if _, err := pgstore.Open(ctx, "postgres://nobody@127.0.0.1:1/x?sslmode=disable&connect_timeout=2", nil); !errors.Is(err, pgstore.ErrConnect) {
		t.Fatalf("Open of an unreachable server = %v, want ErrConnect", err)
	}
}
