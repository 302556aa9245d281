package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"wedge/internal/logging"
	"wedge/sync/hub"
)

func cmdHub(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wedge hub", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o hub.Options
	fs.StringVar(&o.BrokerURL, "broker", "tcp://127.0.0.1:1883", "MQTT broker URL (tcp:// or ssl://)")
	fs.StringVar(&o.DataDir, "data", "hub-data", "data directory (hub.db)")
	fs.StringVar(&o.Listen, "listen", hub.DefaultListen, "HTTP listen address")
	fs.StringVar(&o.ClientID, "client-id", "", "MQTT client id (default wedge-hub-<hostname>)")
	fs.StringVar(&o.CAFile, "ca", "", "CA file for TLS")
	fs.StringVar(&o.CertFile, "cert", "", "client certificate for TLS")
	fs.StringVar(&o.KeyFile, "key", "", "client key for TLS")
	fs.StringVar(&o.Username, "username", "", "broker user name")
	fs.StringVar(&o.Password, "password", "", "broker password")
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
	log, err := newLogger(stderr, *level, *format)
	if err != nil {
		fmt.Fprintf(stderr, "wedge hub: 日志设置无效 invalid log settings: %v\n", err)
		return exitUsage
	}
	o.Logger = log // the hub logs through slog itself, at the right levels (refusals at Error)
	h, err := hub.New(ctx, o)
	if err != nil {
		log.Error("无法启动 cannot start", logging.Err(err))
		return exitUsage
	}
	reloadOnHUP(ctx, h)
	fmt.Fprintf(stdout, "wedge hub: listening on http://%s, broker %s\n", h.Addr(), o.BrokerURL)
	<-ctx.Done()
	sctx, cancel := stopCtx()
	defer cancel()
	if err := h.Stop(sctx); err != nil {
		log.Error("停止出错 stop failed", logging.Err(err))
		return exitFailure
	}
	return exitOK
}
