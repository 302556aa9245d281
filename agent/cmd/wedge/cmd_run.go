package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"wedge/agent"
	"wedge/agent/config"
	"wedge/internal/sdnotify"
)

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wedge run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "/etc/wedge/wedge.yaml", "配置文件 config file (see docs/config.example.yaml)")
	check := fs.Bool("check", false, "只校验配置后退出 validate the config and exit")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "wedge run: 多余的参数 unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	profiles, err := agent.LoadProfiles("")
	if err != nil {
		fmt.Fprintf(stderr, "wedge run: 内置固件配置无效 embedded firmware profiles: %v\n", err)
		return exitFailure
	}
	// The profile override directory is only known after parsing; check device profiles against
	// the embedded set plus that directory.
	cfg, err := config.Load(*path, nil)
	if err == nil && cfg.ProfilesDir != "" {
		profiles, err = agent.LoadProfiles(cfg.ProfilesDir)
		if err != nil {
			fmt.Fprintf(stderr, "wedge run: 固件配置目录无效 profiles_dir: %v\n", err)
			return exitUsage
		}
	}
	if err == nil {
		cfg, err = config.Load(*path, &config.Options{ProfileKind: func(id string) (string, bool) {
			p, ok := profiles[id]
			return p.Kind, ok
		}, ProfileTransports: func(id string) []string { return agent.ProfileTransports(profiles[id]) }})
	}
	if err != nil {
		fmt.Fprintf(stderr, "wedge run: 配置文件有误 invalid config:\n%v\n", err)
		return exitUsage
	}
	if *check {
		fmt.Fprintf(stdout, "%s: OK (site %s, agent %s, %d stations, %d devices)\n", *path, cfg.Site, cfg.Agent, len(cfg.Stations), len(cfg.Devices))
		return exitOK
	}
	logf := logger(stderr, "")
	if cfg.Log.Level == "warn" || cfg.Log.Level == "error" {
		logf = func(string, ...any) {}
	}
	a, err := agent.New(ctx, cfg, agent.Deps{Logf: logf, Profiles: profiles})
	if err != nil {
		fmt.Fprintf(stderr, "wedge run: 无法启动 cannot start: %v\n", err)
		if errors.Is(err, agent.ErrStart) {
			return exitUsage
		}
		return exitFailure
	}
	sdnotify.Ready()
	sdnotify.Status(fmt.Sprintf("site %s agent %s, API %s", cfg.Site, cfg.Agent, a.APIAddr()))
	fmt.Fprintf(stdout, "wedge %s/%s running; API http://%s\n", cfg.Site, cfg.Agent, a.APIAddr())
	<-ctx.Done()
	sdnotify.Stopping()
	sctx, cancel := stopCtx()
	defer cancel()
	if err := a.Stop(sctx); err != nil {
		fmt.Fprintf(stderr, "wedge run: 停止出错 stop: %v\n", err)
		return exitFailure
	}
	return exitOK
}
