package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"wedge/sync/apitoken"
	"wedge/sync/hub"
)

const hubTokenUsage = `用法 usage:
  wedge hub token create --name N --scope S[,S...] (--data DIR | --store postgres://… | --hub URL --token T)
  wedge hub token list   (--data DIR | --store postgres://… | --hub URL --token T)
  wedge hub token revoke --name N (--data DIR | --store postgres://… | --hub URL --token T)

--data DIR       直接打开中心的令牌库（仅在中心停止时） open the hub's store directly (only while the hub is stopped)
--store SPEC     bolt:DIR（同 --data）或 postgres://…（中心运行时也可，各副本立即生效）
                 bolt:DIR (= --data) or postgres://… (also while hubs run: every replica sees it at once)
--hub URL        通过运行中的中心的管理接口（需要 admin 令牌） through the running hub's admin API (an admin token)
权限 scopes: orders:write, commands:write, tracking:write, read, admin
create 在标准输出打印令牌，只显示这一次。create prints the token on stdout, this once only.
令牌也可来自 --token-file 或环境变量 WEDGE_HUB_TOKEN. The token may also come from --token-file or WEDGE_HUB_TOKEN.

flags:
`

// tokenAdmin manages a hub's tokens: in its store (the hub stopped) or through its API.
type tokenAdmin interface {
	create(ctx context.Context, name string, scopes []apitoken.Scope) (hub.NewToken, error)
	list(ctx context.Context) ([]hub.TokenInfo, error)
	revoke(ctx context.Context, name string) error
}

func cmdHubToken(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprint(stderr, hubTokenUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			return exitOK
		}
		return exitUsage
	}
	sub := args[0]
	switch sub {
	case "create", "list", "revoke":
	default:
		fmt.Fprintf(stderr, "wedge hub token: 未知子命令 unknown subcommand %q\n\n%s", sub, hubTokenUsage)
		return exitUsage
	}
	fs := flag.NewFlagSet("wedge hub token "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, hubTokenUsage)
		fs.PrintDefaults()
	}
	var dataDir, storeSpec, hubURL, token, tokenFile, caFile, name, scopes string
	fs.StringVar(&dataDir, "data", "", "中心的数据目录 the hub's data directory (hub stopped)")
	fs.StringVar(&storeSpec, "store", "", storeFlagHelp)
	fs.StringVar(&hubURL, "hub", "", "运行中的中心 the running hub's URL, e.g. http://127.0.0.1:8480")
	fs.StringVar(&token, "token", "", "admin 令牌 an admin token (with --hub)")
	fs.StringVar(&tokenFile, "token-file", "", "含 admin 令牌的文件 a file holding an admin token (with --hub)")
	fs.StringVar(&caFile, "ca", "", "验证中心 HTTPS 证书的 CA a CA to verify the hub's HTTPS certificate")
	if sub != "list" {
		fs.StringVar(&name, "name", "", "令牌名 the token's name (letters, digits, - and _)")
	}
	if sub == "create" {
		fs.StringVar(&scopes, "scope", "", "权限，逗号分隔 scopes, comma-separated")
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "wedge hub token %s: "+format+"\n", append([]any{sub}, a...)...)
		return code
	}
	if fs.NArg() > 0 {
		return fail(exitUsage, "多余的参数 unexpected arguments %q", fs.Args())
	}
	if n := countSet(dataDir, storeSpec, hubURL); n != 1 {
		return fail(exitUsage, "需要 --data DIR、--store SPEC 或 --hub URL --token … 之一 / give one of --data DIR (hub stopped), --store SPEC or --hub URL --token … (hub running)")
	}
	if strings.HasPrefix(storeSpec, "bolt:") {
		if dataDir = strings.TrimPrefix(storeSpec, "bolt:"); dataDir == "" {
			return fail(exitUsage, "--store bolt: 需要目录 needs a directory (bolt:DIR)")
		}
		storeSpec = ""
	} else if storeSpec != "" && !isPostgresDSN(storeSpec) {
		return fail(exitUsage, "--store %q: 需要 bolt:DIR 或 postgres://… / want bolt:DIR or postgres://…", redactDSN(storeSpec))
	}
	if sub != "list" && strings.TrimSpace(name) == "" {
		return fail(exitUsage, "需要 --name / --name is required")
	}
	var sc []apitoken.Scope
	if sub == "create" {
		var err error
		if sc, err = hub.ParseScopes([]string{scopes}); err != nil {
			return fail(exitUsage, "权限无效 / invalid --scope: %v", err)
		}
	}

	admin, closeAdmin, code, err := openTokenAdmin(ctx, tokenTarget{dataDir, storeSpec, hubURL, token, tokenFile, caFile})
	if err != nil {
		return fail(code, "%v", err)
	}
	defer closeAdmin()

	switch sub {
	case "create":
		nt, err := admin.create(ctx, strings.TrimSpace(name), sc)
		if err != nil {
			return fail(exitFailure, "%v", err)
		}
		fmt.Fprintln(stdout, nt.Token)
		fmt.Fprintf(stderr, "令牌 %q（%s）已创建；它只显示这一次，请妥善保存。\ntoken %q (%s) created; it is shown this once only: keep it safe.\n",
			nt.Name, joinScopes(nt.Scopes), nt.Name, joinScopes(nt.Scopes))
	case "list":
		list, err := admin.list(ctx)
		if err != nil {
			return fail(exitFailure, "%v", err)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSCOPES\tPREFIX\tCREATED\tSTATE")
		for _, t := range list {
			state := "active"
			if !t.Active {
				state = "revoked " + t.RevokedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s…\t%s\t%s\n", t.Name, joinScopes(t.Scopes), t.Prefix, t.CreatedAt.UTC().Format(time.RFC3339), state)
		}
		tw.Flush()
	case "revoke":
		if err := admin.revoke(ctx, strings.TrimSpace(name)); err != nil {
			return fail(exitFailure, "%v", err)
		}
		fmt.Fprintf(stdout, "令牌 %q 已吊销 / token %q revoked\n", name, name)
	}
	return exitOK
}

// tokenTarget is where `wedge hub token` works: one of dataDir, storeSpec (postgres) and hubURL.
type tokenTarget struct {
	dataDir, storeSpec, hubURL, token, tokenFile, caFile string
}

// openTokenAdmin opens the token store or the hub API the flags name; on error it also returns the
// exit status (a store that cannot be opened, a missing or unreadable token).
func openTokenAdmin(ctx context.Context, t tokenTarget) (tokenAdmin, func() error, int, error) {
	switch {
	case t.dataDir != "":
		s, closeStore, err := hub.OpenTokens(t.dataDir)
		if err != nil {
			return nil, nil, exitFailure, err
		}
		return storeAdmin{s}, closeStore, exitOK, nil
	case t.storeSpec != "":
		s, closeStore, err := openPgTokens(ctx, t.storeSpec)
		if err != nil {
			return nil, nil, exitUsage, err
		}
		return storeAdmin{s}, closeStore, exitOK, nil
	}
	token := t.token
	if token == "" && t.tokenFile != "" {
		b, err := os.ReadFile(t.tokenFile)
		if err != nil {
			return nil, nil, exitUsage, fmt.Errorf("令牌文件 / token file: %v", err)
		}
		token = strings.TrimSpace(string(b))
	}
	if token == "" {
		token = strings.TrimSpace(os.Getenv("WEDGE_HUB_TOKEN"))
	}
	if token == "" {
		return nil, nil, exitUsage, errors.New("--hub 需要 admin 令牌 / --hub needs an admin token: --token, --token-file or WEDGE_HUB_TOKEN")
	}
	a, err := newAPIAdmin(t.hubURL, token, t.caFile)
	if err != nil {
		return nil, nil, exitUsage, err
	}
	return a, func() error { return nil }, exitOK, nil
}

// countSet counts the non-empty strings.
func countSet(ss ...string) int {
	n := 0
	for _, s := range ss {
		if s != "" {
			n++
		}
	}
	return n
}

func joinScopes(sc []apitoken.Scope) string {
	s := make([]string, len(sc))
	for i, x := range sc {
		s[i] = string(x)
	}
	return strings.Join(s, ",")
}

// storeAdmin works on the store of a stopped hub.
type storeAdmin struct{ s apitoken.Store }

func (a storeAdmin) create(ctx context.Context, name string, scopes []apitoken.Scope) (hub.NewToken, error) {
	raw, t, err := apitoken.Create(ctx, a.s, name, scopes, time.Now())
	if errors.Is(err, apitoken.ErrExists) {
		return hub.NewToken{}, fmt.Errorf("同名令牌已存在，请先吊销 / an active token named %q exists: revoke it first", name)
	}
	if err != nil {
		return hub.NewToken{}, err
	}
	return hub.NewToken{TokenInfo: hub.InfoOf(t), Token: raw}, nil
}

func (a storeAdmin) list(ctx context.Context) ([]hub.TokenInfo, error) {
	all, err := a.s.Tokens(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]hub.TokenInfo, 0, len(all))
	for _, t := range all {
		out = append(out, hub.InfoOf(t))
	}
	return out, nil
}

func (a storeAdmin) revoke(ctx context.Context, name string) error {
	err := a.s.RevokeToken(ctx, name, time.Now())
	if errors.Is(err, apitoken.ErrNotFound) {
		return fmt.Errorf("没有这个有效令牌 / no active token named %q", name)
	}
	return err
}

// apiAdmin works through a running hub's admin API.
type apiAdmin struct {
	base, token string
	c           *http.Client
}

func newAPIAdmin(base, token, caFile string) (*apiAdmin, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--hub 应为 http(s)://主机:端口 / --hub %q: want http(s)://host:port", base)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca %s 不含 PEM 证书 / holds no PEM certificate", caFile)
		}
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	}
	return &apiAdmin{base: u.String(), token: token, c: &http.Client{Transport: tr, Timeout: 30 * time.Second}}, nil
}

// do sends a request and decodes a 2xx answer into out; other answers become the hub's error.
func (a *apiAdmin) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.c.Do(req)
	if err != nil {
		return fmt.Errorf("无法连接中心 / cannot reach the hub: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s: %s", resp.Status, e.Error)
		}
		return fmt.Errorf("%s: %q", resp.Status, b)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

func (a *apiAdmin) create(ctx context.Context, name string, scopes []apitoken.Scope) (hub.NewToken, error) {
	var nt hub.NewToken
	req := hub.CreateTokenRequest{Name: name}
	for _, s := range scopes {
		req.Scopes = append(req.Scopes, string(s))
	}
	err := a.do(ctx, http.MethodPost, "/v1/tokens", req, &nt)
	return nt, err
}

func (a *apiAdmin) list(ctx context.Context) ([]hub.TokenInfo, error) {
	var out []hub.TokenInfo
	err := a.do(ctx, http.MethodGet, "/v1/tokens", nil, &out)
	return out, err
}

func (a *apiAdmin) revoke(ctx context.Context, name string) error {
	return a.do(ctx, http.MethodDelete, "/v1/tokens/"+url.PathEscape(name), nil, nil)
}
