package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"wedge/internal/testbroker"
	"wedge/internal/testpg"
)

// Tokens on a PostgreSQL store: the first admin token with --store before the first start, used
// against a hub running on that database; since the database is shared (replicas), --store also
// works while the hub runs, and a token made or revoked that way counts at once.
func TestHubTokenCommandsOnPostgres(t *testing.T) {
	dsn := testpg.Start(t).NewDatabase(t)
	b := testbroker.Start(t, nil)

	// Before the migration the store refuses, with the reason.
	if code, _, errs := wedge(t, "hub", "token", "create", "--store", dsn, "--name", "ops", "--scope", "admin"); code != exitUsage ||
		!strings.Contains(errs, "wedge hub migrate") {
		t.Fatalf("create on an unmigrated database: %d %q", code, errs)
	}
	if code, out, errs := wedge(t, "hub", "migrate", "--store", dsn); code != exitOK || !strings.Contains(out, "→") {
		t.Fatalf("migrate: %d %q %q", code, out, errs)
	}
	code, out, errs := wedge(t, "hub", "token", "create", "--store", dsn, "--name", "ops", "--scope", "admin")
	admin := strings.TrimSpace(out)
	if code != exitOK || !strings.HasPrefix(admin, "wdg_") {
		t.Fatalf("create --store: %d %q %q", code, out, errs)
	}
	for _, args := range [][]string{
		{"hub", "token", "list", "--store", dsn, "--data", t.TempDir()},                // two stores
		{"hub", "token", "list", "--store", "mysql://x"},                               // not a store
		{"hub", "token", "list", "--store", "bolt:"},                                   // no directory
		{"hub", "token", "list", "--store", dsn, "--hub", "http://x:1"},                // store and API
		{"hub", "token", "create", "--store", dsn, "--name", "ops", "--scope", "read"}, // name taken
	} {
		if code, out, errs := wedge(t, args...); code == exitOK || errs == "" {
			t.Errorf("%v: %d %q %q, want an error", args, code, out, errs)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var hout, herr syncBuf
	hubDone := make(chan int, 1)
	go func() {
		hubDone <- runCtx(ctx, []string{"hub", "--broker", b.URL(), "--store", dsn, "--listen", "127.0.0.1:0", "--client-id", "wedge-hub-pgtok"}, &hout, &herr)
	}()
	hubURL := strings.TrimSuffix(waitOutput(t, "wedge hub", &hout, &herr, hubDone, "listening on "), ",")
	if got := apiStatus(t, hubURL+"/v1/tokens", admin); got != http.StatusOK {
		t.Fatalf("the token made with --store before the start: %d", got)
	}

	// While the hub runs: made in the database, valid at once; revoked there, refused at once.
	code, out, errs = wedge(t, "hub", "token", "create", "--store", dsn, "--name", "erp", "--scope", "read")
	erp := strings.TrimSpace(out)
	if code != exitOK || !strings.HasPrefix(erp, "wdg_") {
		t.Fatalf("create --store while the hub runs: %d %q %q", code, out, errs)
	}
	if got := apiStatus(t, hubURL+"/v1/stats", erp); got != http.StatusOK {
		t.Fatalf("token made while the hub runs: %d", got)
	}
	if code, out, _ := wedge(t, "hub", "token", "list", "--store", dsn); code != exitOK || !strings.Contains(out, "erp") || strings.Contains(out, erp) {
		t.Fatalf("list --store: %d %q", code, out)
	}
	if code, _, errs := wedge(t, "hub", "token", "revoke", "--store", dsn, "--name", "erp"); code != exitOK {
		t.Fatalf("revoke --store: %d %q", code, errs)
	}
	if got := apiStatus(t, hubURL+"/v1/stats", erp); got != http.StatusUnauthorized {
		t.Fatalf("token revoked in the database: %d", got)
	}
	// The same database through the hub's API shows the revocation.
	if code, out, _ := wedge(t, "hub", "token", "list", "--hub", hubURL, "--token", admin); code != exitOK || !strings.Contains(out, "revoked") {
		t.Fatalf("list --hub: %d %q", code, out)
	}
	cancel()
	if code := <-hubDone; code != exitOK {
		t.Fatalf("hub exit %d: %s", code, herr.String())
	}
}
