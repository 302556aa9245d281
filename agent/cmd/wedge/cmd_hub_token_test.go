package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"wedge/internal/testbroker"
)

// apiStatus GETs url with token and returns the status code.
func apiStatus(t *testing.T, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Tokens as an operator manages them: the first admin token with --data before the first start;
// while the hub runs, --data is refused with a clear message and --hub URL --token goes through its
// admin API; a revoked token stops working.
func TestHubTokenCommands(t *testing.T) {
	b := testbroker.Start(t, nil)
	data := filepath.Join(t.TempDir(), "hub-data")

	code, out, errs := wedge(t, "hub", "token", "create", "--data", data, "--name", "ops-admin", "--scope", "admin")
	admin := strings.TrimSpace(out)
	if code != exitOK || !strings.HasPrefix(admin, "wdg_") || strings.Count(out, "\n") != 1 || !strings.Contains(errs, "shown this once") {
		t.Fatalf("create --data: %d %q %q", code, out, errs)
	}
	if code, out, _ := wedge(t, "hub", "token", "list", "--data", data); code != exitOK || !strings.Contains(out, "ops-admin") ||
		!strings.Contains(out, "admin") || strings.Contains(out, admin) {
		t.Fatalf("list --data: %d %q", code, out)
	}
	for _, args := range [][]string{
		{"hub", "token", "create", "--data", data, "--name", "x"},                    // no scope
		{"hub", "token", "create", "--data", data, "--name", "x", "--scope", "root"}, // unknown scope
		{"hub", "token", "create", "--name", "x", "--scope", "read"},                 // neither --data nor --hub
		{"hub", "token", "list", "--data", data, "--hub", "http://127.0.0.1:1"},      // both
		{"hub", "token", "revoke", "--data", data},                                   // no name
		{"hub", "token", "list", "--hub", "http://127.0.0.1:1"},                      // no token
		{"hub", "token", "frobnicate"},                                               // unknown
		{"hub", "token", "list", "--hub", "ftp://x", "--token", "t"},                 // bad URL
	} {
		if code, out, errs := wedge(t, args...); code != exitUsage || errs == "" {
			t.Errorf("%v: %d %q %q, want a usage error", args, code, out, errs)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var hout, herr syncBuf
	hubDone := make(chan int, 1)
	go func() {
		hubDone <- runCtx(ctx, []string{"hub", "--broker", b.URL(), "--data", data, "--listen", "127.0.0.1:0", "--client-id", "wedge-hub-tok"}, &hout, &herr)
	}()
	hubURL := strings.TrimSuffix(waitOutput(t, "wedge hub", &hout, &herr, hubDone, "listening on "), ",")
	if got := apiStatus(t, hubURL+"/v1/stats", ""); got != http.StatusUnauthorized {
		t.Fatalf("no token: %d", got)
	}
	if got := apiStatus(t, hubURL+"/v1/stats", admin); got != http.StatusOK {
		t.Fatalf("the token made before the start: %d", got)
	}

	code, out, errs = wedge(t, "hub", "token", "create", "--data", data, "--name", "erp", "--scope", "read")
	if code != exitFailure || !strings.Contains(errs, "hub is running: use --hub URL --token") || !strings.Contains(errs, "中心正在运行") {
		t.Fatalf("--data while the hub runs: %d %q %q", code, out, errs)
	}

	code, out, errs = wedge(t, "hub", "token", "create", "--hub", hubURL, "--token", admin, "--name", "erp", "--scope", "orders:write,read")
	erp := strings.TrimSpace(out)
	if code != exitOK || !strings.HasPrefix(erp, "wdg_") {
		t.Fatalf("create --hub: %d %q %q", code, out, errs)
	}
	if got := apiStatus(t, hubURL+"/v1/stats", erp); got != http.StatusOK {
		t.Fatalf("new token: %d", got)
	}
	if got := apiStatus(t, hubURL+"/v1/tokens", erp); got != http.StatusForbidden {
		t.Fatalf("a read token on the admin API: %d", got)
	}
	// A non-admin token cannot manage tokens; the hub's error is shown.
	if code, _, errs := wedge(t, "hub", "token", "list", "--hub", hubURL, "--token", erp); code != exitFailure || !strings.Contains(errs, "403") ||
		!strings.Contains(errs, "admin") {
		t.Fatalf("list with a read token: %d %q", code, errs)
	}
	tokFile := filepath.Join(t.TempDir(), "admin.token")
	os.WriteFile(tokFile, []byte(admin+"\n"), 0o600)
	code, out, _ = wedge(t, "hub", "token", "list", "--hub", hubURL, "--token-file", tokFile)
	if code != exitOK || !strings.Contains(out, "erp") || !strings.Contains(out, "orders:write,read") || strings.Contains(out, erp) {
		t.Fatalf("list --hub: %d %q", code, out)
	}
	t.Setenv("WEDGE_HUB_TOKEN", admin)
	if code, out, errs := wedge(t, "hub", "token", "revoke", "--hub", hubURL, "--name", "erp"); code != exitOK {
		t.Fatalf("revoke --hub: %d %q %q", code, out, errs)
	}
	if got := apiStatus(t, hubURL+"/v1/stats", erp); got != http.StatusUnauthorized {
		t.Fatalf("revoked token: %d", got)
	}
	if code, _, errs := wedge(t, "hub", "token", "revoke", "--hub", hubURL, "--name", "erp"); code != exitFailure || !strings.Contains(errs, "404") {
		t.Fatalf("revoke twice: %d %q", code, errs)
	}
	cancel()
	if code := <-hubDone; code != exitOK {
		t.Fatalf("hub exit %d: %s", code, herr.String())
	}

	// Stopped again: --data works, and shows the revocation.
	code, out, _ = wedge(t, "hub", "token", "list", "--data", data)
	if code != exitOK || !strings.Contains(out, "revoked") {
		t.Fatalf("list after stop: %d %q", code, out)
	}
	if code, _, errs := wedge(t, "hub", "token", "revoke", "--data", data, "--name", "ops-admin"); code != exitOK {
		t.Fatalf("revoke --data: %d %q", code, errs)
	}
}

// --bootstrap-token-file gives a fresh hub an admin token at its first start.
func TestHubBootstrapTokenFile(t *testing.T) {
	b := testbroker.Start(t, nil)
	dir := t.TempDir()
	file := filepath.Join(dir, "admin.token")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var hout, herr syncBuf
	hubDone := make(chan int, 1)
	go func() {
		hubDone <- runCtx(ctx, []string{"hub", "--broker", b.URL(), "--data", filepath.Join(dir, "data"), "--listen", "127.0.0.1:0",
			"--client-id", "wedge-hub-boot", "--bootstrap-token-file", file, "--allowed-hosts", "hub.example, other.example"}, &hout, &herr)
	}()
	hubURL := strings.TrimSuffix(waitOutput(t, "wedge hub", &hout, &herr, hubDone, "listening on "), ",")
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if got := apiStatus(t, hubURL+"/v1/tokens", strings.TrimSpace(string(raw))); got != http.StatusOK {
		t.Fatalf("bootstrap token: %d", got)
	}
	req, _ := http.NewRequest("GET", hubURL+"/healthz", nil)
	req.Host = "other.example"
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("--allowed-hosts: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	req.Host = "evil.example"
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("foreign host: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	cancel()
	<-hubDone
}
