package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"wedge/internal/logging"
	"wedge/sync/hub"
)

const hubUsage = `用法 usage:
  wedge hub --broker URL --data DIR --listen ADDR [flags]       运行参考中心 run the reference hub
  wedge hub --config hub.yaml [--check] [flags]                  按配置文件运行（或只检查）run from a config file (or only check it);
                                                                 flags given explicitly override the file
  wedge hub --broker URL --store postgres://… [flags]          中心状态存于 PostgreSQL（可多副本）state in PostgreSQL (replicas share it)
  wedge hub migrate --store postgres://…                        升级数据库结构 migrate the database's schema
  wedge hub token create --name N --scope S[,S...] (--data DIR | --store postgres://… | --hub URL --token T)
  wedge hub token list (--data DIR | --store postgres://… | --hub URL --token T)
  wedge hub token revoke --name N (--data DIR | --store postgres://… | --hub URL --token T)
                                       管理 API 令牌 manage the hub API's tokens (wedge hub token -h)

API 的每个接口（/healthz 除外；metrics_auth: open 时 /metrics 也除外）都需要令牌。首次启动前用 --data（或 --store）创建管理员令牌，或用
--bootstrap-token-file 让中心在首次启动时写出一个。
Every API route but /healthz (and /metrics with metrics_auth: open) needs a token. Create an admin token with --data (or --store) before the
first start, or let the hub write one at first start with --bootstrap-token-file.

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
	var f hubRunFlags
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "wedge hub: 多余的参数 unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	cfg, err := f.resolve(fs)
	if err != nil {
		fmt.Fprintf(stderr, "wedge hub: 配置无效 invalid configuration:\n%v\n", err)
		return exitUsage
	}
	o := hubOptions(cfg)
	if o.Notify, err = hubNotify(cfg); err != nil {
		fmt.Fprintf(stderr, "wedge hub: 通知设置无效 invalid notify settings: %v\n", err)
		return exitUsage
	}
	if o.Tracking, err = hubTracking(cfg); err != nil {
		fmt.Fprintf(stderr, "wedge hub: 物流推送设置无效 invalid tracking settings: %v\n", err)
		return exitUsage
	}
	if o.Console, err = hubConsoleOptions(cfg); err != nil {
		fmt.Fprintf(stderr, "wedge hub: %v\n", err)
		return exitUsage
	}
	f.keys.signingKey, f.keys.agentKeys = cfg.SigningKey, cfg.AgentKeys
	if done, err := f.keys.apply(&o, stdout); err != nil {
		fmt.Fprintf(stderr, "wedge hub: %v\n", err)
		return exitUsage
	} else if done {
		return exitOK
	}
	if err := applyEWaybill(cfg.EWaybill, &o); err != nil {
		fmt.Fprintf(stderr, "wedge hub: %v\n", err)
		return exitUsage
	}
	log, err := newLogger(stderr, cfg.Log.Level, cfg.Log.Format)
	if err != nil {
		fmt.Fprintf(stderr, "wedge hub: 日志设置无效 invalid log settings: %v\n", err)
		return exitUsage
	}
	if f.check {
		src := cfg.File
		if src == "" {
			src = "flags"
		}
		fmt.Fprintf(stdout, "wedge hub: 配置有效 configuration ok (%s)\n", src)
		return exitOK
	}
	o.Logger = log // the hub logs through slog itself, at the right levels (refusals at Error)
	if err := applyHubStore(ctx, cfg.Store, &o); err != nil {
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
