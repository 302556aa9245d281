package hub_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"wedge/internal/httpserve"
	"wedge/internal/testbroker"
	"wedge/order"
	"wedge/sync/apitoken"
	"wedge/sync/hub"
	"wedge/sync/wire"
)

// apiError is the hub's error body.
type apiError struct {
	Error string `json:"error"`
	ZH    string `json:"zh"`
	EN    string `json:"en"`
}

func decodeError(t *testing.T, body []byte) apiError {
	t.Helper()
	var e apiError
	if err := json.Unmarshal(body, &e); err != nil || e.ZH == "" || e.EN == "" || e.Error == "" {
		t.Fatalf("error body %s: want {error, zh, en} (%v)", body, err)
	}
	return e
}

// Every route but GET /healthz needs a token: 401 without one (or with an unknown or revoked one),
// 403 without the route's scope, and the route's answer with it.
func TestAPINeedsATokenWithTheRightScope(t *testing.T) {
	e := newEnv(t)
	h := e.hub
	reader := newToken(t, h, "reader", apitoken.Read)
	orders := newToken(t, h, "erp", apitoken.OrdersWrite)
	commands := newToken(t, h, "ops", apitoken.CommandsWrite)
	admin := newToken(t, h, "root", apitoken.Admin)
	orderBody, _ := json.Marshal(map[string]any{"site": "sz01", "orders": []*wire.OrderMsg{orderMsg("1")}})
	command := []byte(`{"type":"breaker_thresholds","max_backlog":300}`)
	token := []byte(`{"name":"x","scopes":["read"]}`)
	routes := []struct {
		method, path string
		body         []byte
		scope        string // the token that may
	}{
		{"POST", "/v1/orders", orderBody, orders},
		{"GET", "/v1/orders/O-1", nil, reader},
		{"GET", "/v1/agents", nil, reader},
		{"POST", "/v1/agents/sz01/pack01/commands", command, commands},
		{"GET", "/v1/agents/sz01/pack01/commands", nil, reader},
		{"GET", "/v1/stats", nil, reader},
		{"GET", "/v1/tokens", nil, admin},
		{"POST", "/v1/tokens", token, admin},
		{"DELETE", "/v1/tokens/nobody", nil, admin},
		{"GET", "/v1/kpi?by=site", nil, reader},
		{"GET", "/v1/kpi/late", nil, reader},
		{"GET", "/v1/anomalies", nil, reader},
		{"GET", "/v1/consistency", nil, reader},
		{"GET", "/v1/presale", nil, reader},
		{"GET", "/v1/reports/daily/2026-01-22", nil, reader},
	}
	all := []string{reader, orders, commands}
	for _, r := range routes {
		for _, tok := range []string{"", "wdg_not-a-token", "garbage"} {
			code, body := do(t, h, r.method, r.path, tok, r.body)
			if code != http.StatusUnauthorized {
				t.Fatalf("%s %s with token %q: %d %s, want 401", r.method, r.path, tok, code, body)
			}
			decodeError(t, body)
		}
		for _, tok := range all {
			if tok == r.scope {
				continue
			}
			code, body := do(t, h, r.method, r.path, tok, r.body)
			if code != http.StatusForbidden {
				t.Fatalf("%s %s with a token of another scope: %d %s, want 403", r.method, r.path, code, body)
			}
			if e := decodeError(t, body); !strings.Contains(e.EN, "scope") {
				t.Fatalf("403 body %s", body)
			}
		}
		// With the scope (or admin), the request reaches the route: whatever it answers, not 401/403.
		for _, tok := range []string{r.scope, admin} {
			if code, body := do(t, h, r.method, r.path, tok, r.body); code == http.StatusUnauthorized || code == http.StatusForbidden {
				t.Fatalf("%s %s with its scope: %d %s", r.method, r.path, code, body)
			}
		}
	}
	if code, body := do(t, h, "GET", "/healthz", "", nil); code != http.StatusOK {
		t.Fatalf("healthz without a token: %d %s", code, body)
	}
	// A revoked token is refused at once.
	if code, body := do(t, h, "DELETE", "/v1/tokens/reader", admin, nil); code != http.StatusOK {
		t.Fatalf("revoke: %d %s", code, body)
	}
	if code, _ := do(t, h, "GET", "/v1/stats", reader, nil); code != http.StatusUnauthorized {
		t.Fatalf("revoked token: %d, want 401", code)
	}
	// Errors of the routes themselves carry zh and en too.
	code, body := do(t, h, "GET", "/v1/orders/NOPE", admin, nil)
	if e := decodeError(t, body); code != http.StatusNotFound || !strings.Contains(e.ZH, "订单不存在") || !strings.Contains(e.EN, "unknown order") {
		t.Fatalf("404: %d %+v", code, e)
	}
}

// The admin API creates a token (shown once), lists tokens without secrets, and revokes by name.
func TestTokenAdminAPI(t *testing.T) {
	e := newEnv(t)
	admin := newToken(t, e.hub, "root", apitoken.Admin)
	var created hub.NewToken
	postJSONAs(t, e.hub, admin, "/v1/tokens", map[string]any{"name": "erp", "scopes": []string{"orders:write", "read"}}, http.StatusCreated, &created)
	if created.Name != "erp" || !strings.HasPrefix(created.Token, "wdg_") || len(created.Scopes) != 2 || !created.Active ||
		!strings.HasPrefix(created.Token, created.Prefix) {
		t.Fatalf("created %+v", created)
	}
	if code, body := do(t, e.hub, "GET", "/v1/stats", created.Token, nil); code != http.StatusOK {
		t.Fatalf("new token: %d %s", code, body)
	}
	var er apiError
	postJSONAs(t, e.hub, admin, "/v1/tokens", map[string]any{"name": "erp", "scopes": []string{"read"}}, http.StatusConflict, &er)
	for _, bad := range []map[string]any{
		{"name": "erp 2", "scopes": []string{"read"}},
		{"name": "erp2", "scopes": []string{}},
		{"name": "erp2", "scopes": []string{"root"}},
		{"name": "erp2", "scopes": []string{"read"}, "colour": "red"},
	} {
		postJSONAs(t, e.hub, admin, "/v1/tokens", bad, http.StatusBadRequest, &er)
		if er.ZH == "" || er.EN == "" {
			t.Fatalf("%v: %+v", bad, er)
		}
	}
	code, body := do(t, e.hub, "GET", "/v1/tokens", admin, nil)
	if code != http.StatusOK || strings.Contains(string(body), created.Token) || strings.Contains(string(body), apitoken.Hash(created.Token)) {
		t.Fatalf("list: %d %s (must not show secrets or hashes)", code, body)
	}
	var list []hub.TokenInfo
	if err := json.Unmarshal(body, &list); err != nil || len(list) != 2 || list[0].Name != "erp" || list[1].Name != "root" {
		t.Fatalf("list %s: %v", body, err)
	}
	if code, body := do(t, e.hub, "DELETE", "/v1/tokens/erp", admin, nil); code != http.StatusOK {
		t.Fatalf("revoke: %d %s", code, body)
	}
	if code, _ := do(t, e.hub, "DELETE", "/v1/tokens/erp", admin, nil); code != http.StatusNotFound {
		t.Fatalf("revoke twice: %d, want 404", code)
	}
	_, body = do(t, e.hub, "GET", "/v1/tokens", admin, nil)
	if err := json.Unmarshal(body, &list); err != nil || list[0].Active || list[0].RevokedAt.IsZero() {
		t.Fatalf("after revoke: %s", body)
	}
	// The name is free again.
	postJSONAs(t, e.hub, admin, "/v1/tokens", map[string]any{"name": "erp", "scopes": []string{"read"}}, http.StatusCreated, &created)
}

// A command's "by" is the name of the token that sent it, in the answer, the audit and the
// published payload; a person named in the request is kept after the token's name.
func TestCommandByIsTheTokenName(t *testing.T) {
	e := newEnv(t)
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	got := make(chan []byte, 4)
	if tok := a.cli.Subscribe(wire.TopicCommand("sz01", "pack01"), 1, func(_ mqtt.Client, m mqtt.Message) {
		got <- append([]byte(nil), m.Payload()...)
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	st, _ := json.Marshal(wire.Status{State: "online", JournalID: "j1"})
	a.publish(wire.TopicStatus("sz01", "pack01"), st)
	waitFor(t, "agent known", func() bool {
		var agents []map[string]any
		getJSON(t, e.hub, "/v1/agents", http.StatusOK, &agents)
		return len(agents) == 1
	})
	console := newToken(t, e.hub, "ops-console", apitoken.CommandsWrite)
	path := "/v1/agents/sz01/pack01/commands"
	for _, c := range []struct{ body, by string }{
		{`{"type":"breaker_thresholds","max_backlog":300}`, "ops-console"},
		{`{"type":"breaker_thresholds","by":"ops-console","max_backlog":300}`, "ops-console"},
		{`{"type":"breaker_thresholds","by":"王五","max_backlog":300}`, "ops-console:王五"},
	} {
		var rec commandView
		postJSONAs(t, e.hub, console, path, json.RawMessage(c.body), http.StatusAccepted, &rec)
		if rec.By != c.by || rec.Token != "ops-console" {
			t.Fatalf("%s: answer %+v, want by %q", c.body, rec, c.by)
		}
		select {
		case p := <-got:
			cmd, _, err := order.ParseCommand(p)
			if err != nil || cmd.By != c.by {
				t.Fatalf("published %s: by %q, want %q (%v)", p, cmd.By, c.by, err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("command not published")
		}
	}
	var list []commandView
	getJSON(t, e.hub, path, http.StatusOK, &list)
	if len(list) != 3 || list[2].By != "ops-console:王五" || list[2].Token != "ops-console" {
		t.Fatalf("audit %+v", list)
	}
}

// Tokens are managed in hub.db directly only while the hub is stopped: a running hub holds the
// file, and OpenTokens says so. A token made offline works once the hub runs.
func TestOpenTokensOnlyWhileStopped(t *testing.T) {
	e := newEnv(t)
	if _, _, err := hub.OpenTokens(e.dir); !errors.Is(err, hub.ErrLocked) {
		t.Fatalf("OpenTokens of a running hub: %v, want ErrLocked", err)
	}
	if !strings.Contains(hub.ErrLocked.Error(), "--hub URL --token") {
		t.Fatalf("ErrLocked says %q", hub.ErrLocked)
	}
	e.stopHub()
	s, closeStore, err := hub.OpenTokens(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	raw, _, err := apitoken.Create(context.Background(), s, "offline", []apitoken.Scope{apitoken.Read}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := closeStore(); err != nil {
		t.Fatal(err)
	}
	e.startHub("wedge-hub-test")
	if code, body := do(t, e.hub, "GET", "/v1/stats", raw, nil); code != http.StatusOK {
		t.Fatalf("token made offline: %d %s", code, body)
	}
	// Before the first start: the data directory and hub.db are created.
	fresh := filepath.Join(t.TempDir(), "new-hub")
	s, closeStore, err = hub.OpenTokens(fresh)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := apitoken.Create(context.Background(), s, "admin", []apitoken.Scope{apitoken.Admin}, time.Now()); err != nil {
		t.Fatal(err)
	}
	closeStore()
	if _, err := os.Stat(filepath.Join(fresh, "hub.db")); err != nil {
		t.Fatal(err)
	}
}

// BootstrapTokenFile gives a hub without tokens an admin token in a 0600 file, once.
func TestBootstrapTokenFile(t *testing.T) {
	b := testbroker.Start(t, nil)
	dir, file := t.TempDir(), filepath.Join(t.TempDir(), "admin.token")
	start := func() *hub.Hub {
		h, err := hub.New(context.Background(), hub.Options{BrokerURL: b.URL(), DataDir: dir, Listen: "127.0.0.1:0",
			ClientID: "wedge-hub-boot", BootstrapTokenFile: file})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = h.Stop(context.Background()) })
		return h
	}
	h := start()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v", fi.Mode())
	}
	tok := strings.TrimSpace(string(raw))
	if code, body := do(t, h, "GET", "/v1/tokens", tok, nil); code != http.StatusOK || !strings.Contains(string(body), `"admin"`) {
		t.Fatalf("bootstrap token: %d %s", code, body)
	}
	if err := h.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A store with tokens is left alone: the file is not rewritten, the old token still works.
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	h = start()
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("bootstrap file rewritten for a store with tokens: %v", err)
	}
	if code, _ := do(t, h, "GET", "/v1/stats", tok, nil); code != http.StatusOK {
		t.Fatalf("bootstrap token after a restart: %d", code)
	}
}

// The API listener is hardened: a client that sends its header slowly is cut off, a foreign Host
// is refused (DNS rebinding), and one named in the allow-list is served.
func TestAPIHardened(t *testing.T) {
	b := testbroker.Start(t, nil)
	h, err := hub.New(context.Background(), hub.Options{BrokerURL: b.URL(), DataDir: t.TempDir(), Listen: "127.0.0.1:0",
		ClientID: "wedge-hub-hard", HTTP: httpserve.Options{ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: 300 * time.Millisecond,
			AllowedHosts: []string{"hub.example"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Stop(context.Background()) })
	tok := tokenFor(t, h)

	// Half a header, then nothing: the server closes the connection.
	c, err := net.Dial("tcp", h.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /v1/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthori")
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("slow header: connection not closed by the hub: %v", err)
	}
	// A whole header, then a body that never comes: cut by ReadTimeout, nothing stored.
	s, err := net.Dial("tcp", h.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	io.WriteString(s, "POST /v1/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "+tok+"\r\nContent-Length: 1000\r\n\r\n{\"site\":")
	s.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(s), nil)
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusOK {
			t.Fatalf("slow body accepted: %s", body)
		}
	}
	var st hub.Stats
	getJSON(t, h, "/v1/stats", http.StatusOK, &st)
	if st.DownlinkPublished != 0 {
		t.Fatalf("a cut request published something: %+v", st)
	}

	for host, want := range map[string]int{"evil.example": http.StatusMisdirectedRequest, "hub.example:8480": http.StatusOK,
		"localhost": http.StatusOK} {
		req, _ := http.NewRequest("GET", "http://"+h.Addr()+"/v1/stats", nil)
		req.Host = host
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("Host %s: %d %s, want %d", host, resp.StatusCode, body, want)
		}
		if want != http.StatusOK {
			decodeError(t, body)
		}
	}
}

// With TLSCertFile and TLSKeyFile the API is served over HTTPS only.
func TestAPIOverTLS(t *testing.T) {
	b := testbroker.Start(t, nil)
	certFile, keyFile, pool := selfSigned(t)
	h, err := hub.New(context.Background(), hub.Options{BrokerURL: b.URL(), DataDir: t.TempDir(), Listen: "127.0.0.1:0",
		ClientID: "wedge-hub-tls", TLSCertFile: certFile, TLSKeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Stop(context.Background()) })
	if !strings.HasPrefix(h.URL(), "https://") {
		t.Fatalf("URL %s", h.URL())
	}
	tok := tokenFor(t, h)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest("GET", h.URL()+"/v1/stats", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTPS: %d", resp.StatusCode)
	}
	c.CloseIdleConnections()
	if resp, err := http.Get("http://" + h.Addr() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP served on the TLS listener")
		}
	}
	// Half a pair is refused.
	if _, err := hub.New(context.Background(), hub.Options{BrokerURL: b.URL(), DataDir: t.TempDir(), Listen: "127.0.0.1:0",
		TLSCertFile: certFile}); !errors.Is(err, hub.ErrOptions) {
		t.Fatalf("cert without key: %v", err)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns a pool that trusts it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hub"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "hub.crt"), filepath.Join(dir, "hub.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
