package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"wedge/internal/testpg"
)

// storeEnv chooses the hub's store for the whole package: unset or "bolt" keeps the hub's state in
// a bbolt file in the test directory; "postgres" gives every test's hub a fresh PostgreSQL
// database (internal/testpg: a server the test starts, or WEDGE_TEST_PG), migrated with
// `wedge hub migrate` as an operator does before the first start. `make test-pg` runs the whole
// package that way.
const storeEnv = "WEDGE_E2E_STORE"

// hubStore returns the flags that put dir's hub state in the chosen store.
func hubStore(t *testing.T, dir string) []string {
	t.Helper()
	switch kind := os.Getenv(storeEnv); kind {
	case "", "bolt":
		return []string{"--data", filepath.Join(dir, "hub-data")}
	case "postgres":
		dsn := testpg.Start(t).NewDatabase(t)
		if out, err := exec.Command(wedgeBin, "hub", "migrate", "--store", dsn).CombinedOutput(); err != nil {
			t.Fatalf("wedge hub migrate: %v\n%s", err, out)
		}
		return []string{"--store", dsn}
	default:
		t.Fatalf("%s=%q: want bolt or postgres", storeEnv, kind)
		return nil
	}
}

// The real binary on a PostgreSQL store it cannot use: an unreachable server, a DSN that does not
// parse, a database never migrated and one a newer hub migrated. Each is a clear message (Chinese
// first) and exit status 2 before anything else starts, and a password in the DSN is not echoed.
func TestHubStoreRefusals(t *testing.T) {
	needE2E(t)
	srv := testpg.Start(t)
	empty, newer := srv.NewDatabase(t), newerSchema(t, srv)
	const secret = "s3cret-pw"
	unreachable := "postgres://wedge:" + secret + "@127.0.0.1:1/hub?sslmode=disable&connect_timeout=5"
	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"unreachable", []string{"hub", "--store", unreachable}, []string{"无法打开存储", "cannot open the store", "pgstore: connect"}},
		{"unparsable", []string{"hub", "--store", "postgres://wedge:" + secret + "@127.0.0.1:notaport/hub"}, []string{"cannot open the store", "pgstore: connect"}},
		{"not migrated", []string{"hub", "--store", empty}, []string{"数据库结构版本不符", "wedge hub migrate --store"}},
		{"newer schema", []string{"hub", "--store", newer}, []string{"数据库结构版本不符", "newer than this hub", "upgrade this hub"}},
		{"migrate unreachable", []string{"hub", "migrate", "--store", unreachable}, []string{"无法连接数据库", "cannot reach the database"}},
		{"token on no schema", []string{"hub", "token", "list", "--store", empty}, []string{"wedge hub migrate --store"}},
	} {
		args := c.args
		if args[1] == "--store" {
			args = append(args, "--broker", "tcp://127.0.0.1:1", "--listen", "127.0.0.1:0")
		}
		out, err := exec.Command(wedgeBin, args...).CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("%s: %v, want exit status 2\n%s", c.name, err, out)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(string(out), w) {
				t.Errorf("%s: output lacks %q:\n%s", c.name, w, out)
			}
		}
		if strings.Contains(string(out), secret) {
			t.Errorf("%s: the DSN's password is in the output:\n%s", c.name, out)
		}
	}
}

// newerSchema is a database as a newer hub's migration leaves it: migrated, plus a version this
// binary does not have.
func newerSchema(t *testing.T, srv *testpg.Server) string {
	t.Helper()
	dsn := srv.NewDatabase(t)
	if out, err := exec.Command(wedgeBin, "hub", "migrate", "--store", dsn).CombinedOutput(); err != nil {
		t.Fatalf("wedge hub migrate: %v\n%s", err, out)
	}
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `INSERT INTO hub_schema_version (version_id, is_applied) VALUES (9999, true)`); err != nil {
		t.Fatal(err)
	}
	return dsn
}
