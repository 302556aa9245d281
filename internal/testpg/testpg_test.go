package testpg_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"wedge/internal/testpg"
)

// The server answers queries, and each database is its own.
func TestStart(t *testing.T) {
	s := testpg.Start(t)
	a, b := s.NewDatabase(t), s.NewDatabase(t)
	if a == b {
		t.Fatal("two tests got the same database")
	}
	ctx := context.Background()
	c, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE TABLE x (n int)"); err != nil {
		t.Fatal(err)
	}
	c2, err := pgx.Connect(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close(ctx)
	var n int
	if err := c2.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'x'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("table of one database seen in the other: %d %v", n, err)
	}
}

// A crash cuts the connections and refuses new ones; after Restart, on the same port, what was
// committed is there.
func TestCrashRestart(t *testing.T) {
	s := testpg.Start(t)
	dsn := s.NewDatabase(t)
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "CREATE TABLE x (n int); INSERT INTO x VALUES (7)"); err != nil {
		t.Fatal(err)
	}
	s.Crash(t)
	if _, err := c.Exec(ctx, "SELECT 1"); err == nil {
		t.Fatal("a connection survived the crash")
	}
	c.Close(ctx)
	if c, err := pgx.Connect(ctx, dsn); err == nil {
		c.Close(ctx)
		t.Fatal("connected to a crashed server")
	}
	s.Restart(t)
	c, err = pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var n int
	if err := c.QueryRow(ctx, "SELECT n FROM x").Scan(&n); err != nil || n != 7 {
		t.Fatalf("after restart: %d %v", n, err)
	}
}
