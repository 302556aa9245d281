package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"wedge/internal/logging"
	"wedge/sync/hub"
)

const hubUsage = `用法 usage:
  wedge hub --broker URL --data DIR --listen ADDR [flags]       运行参考中心 run the reference hub
  wedge hub --broker URL --store postgres://… [flags]          中心状态存于 PostgreSQL（可多副本）state in PostgreSQL (replicas share it)
  wedge hub migrate --store postgres://…                        升级数据库结构 migrate the database's schema
  wedge hub token create --name N --scope S[,S...] (--data DIR | --hub URL --token T)
  wedge hub token list (--data DIR | --hub URL --token T)
  wedge hub token revoke --name N (--data DIR | --hub URL --token T)
                                       管理 API 令牌 manage the hub API's tokens (wedge hub token -h)

API 的每个接口（/healthz 除外）都需要令牌。首次启动前用 --data 创建管理员令牌，或用
--bootstrap-token-file 让中心在首次启动时写出一个。
Every API route but /healthz needs a token. Create an admin token with --data before the first
start, or let the hub write one at first start with --bootstrap-token-file.

flags:
`

func cmdHub(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "token" {
		return cmdHubToken(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "migrate" {
		return cmdHubMigrate(ctx, args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("wedge hub", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, hubUsage)
		fs.PrintDefaults()
	}
	var o hub.Options
	var allowed string
	fs.StringVar(&o.BrokerURL, "broker", "tcp://127.0.0.1:1883", "MQTT broker URL (tcp:// or ssl://)")
	fs.StringVar(&o.DataDir, "data", "hub-data", "data directory (hub.db)")
	store := fs.String("store", "", storeFlagHelp)
	fs.StringVar(&o.Listen, "listen", hub.DefaultListen, "HTTP listen address")
	fs.StringVar(&o.ClientID, "client-id", "", "MQTT client id (default wedge-hub-<hostname>)")
	fs.StringVar(&o.CAFile, "ca", "", "CA file for TLS")
	fs.StringVar(&o.CertFile, "cert", "", "client certificate for TLS")
	fs.StringVar(&o.KeyFile, "key", "", "client key for TLS")
	fs.StringVar(&o.Username, "username", "", "broker user name")
	fs.StringVar(&o.Password, "password", "", "broker password")
	fs.StringVar(&o.TLSCertFile, "tls-cert", "", "API 的 HTTPS 证书 certificate for serving the API over HTTPS (with --tls-key)")
	fs.StringVar(&o.TLSKeyFile, "tls-key", "", "API 的 HTTPS 私钥 key of --tls-cert")
	fs.StringVar(&allowed, "allowed-hosts", "", "API 接受的主机名（逗号分隔；localhost 总是接受）host names the API answers to, comma-separated (localhost and the --listen IP always)")
	fs.StringVar(&o.BootstrapTokenFile, "bootstrap-token-file", "", "令牌库为空时写出管理员令牌到此文件 write an admin token to this file when the hub has no token yet")
	level := fs.String("log-level", "info", "日志级别 log level: debug, info, warn or error")
	format := fs.String("log-format", "text", "日志格式 log format: text or json")
	var keys hubKeyFlags
	keys.register(fs)
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "wedge hub: 多余的参数 unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	if done, err := keys.apply(&o, stdout); err != nil {
		fmt.Fprintf(stderr, "wedge hub: %v\n", err)
		return exitUsage
	} else if done {
		return exitOK
	}
	for _, h := range strings.Split(allowed, ",") {
		if h = strings.TrimSpace(h); h != "" {
			o.HTTP.AllowedHosts = append(o.HTTP.AllowedHosts, h)
		}
	}
	log, err := newLogger(stderr, *level, *format)
	if err != nil {
		fmt.Fprintf(stderr, "wedge hub: 日志设置无效 invalid log settings: %v\n", err)
		return exitUsage
	}
	o.Logger = log // the hub logs through slog itself, at the right levels (refusals at Error)
	if err := applyHubStore(ctx, *store, &o); err != nil {
		log.Error("无法打开存储 cannot open the store", logging.Err(err))
		return exitUsage
	}
	h, err := hub.New(ctx, o)
	if err != nil {
		log.Error("无法启动 cannot start", logging.Err(err))
		return exitUsage
	}
	reloadOnHUP(ctx, h)
	fmt.Fprintf(stdout, "wedge hub: listening on %s, broker %s\n", h.URL(), o.BrokerURL)
	<-ctx.Done()
	sctx, cancel := stopCtx()
	defer cancel()
	if err := h.Stop(sctx); err != nil {
		log.Error("停止出错 stop failed", logging.Err(err))
		return exitFailure
	}
	return exitOK
}
