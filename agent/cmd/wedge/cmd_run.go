package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"

	"wedge/agent"
	"wedge/agent/config"
	"wedge/agent/journal"
	"wedge/agent/version"
	"wedge/agent/watchdog"
	"wedge/drivers/profile"
	"wedge/internal/logging"
	"wedge/internal/sdnotify"
	"wedge/sync/uplink"
)

// runHooks tell a supervisor how the agent's run goes: systemd through sdnotify (cmdRun), the
// Windows service control manager through svc status changes (service_windows.go).
type runHooks struct {
	ready    func(status string) // the agent is up; status is a one-line summary
	stopping func()              // a graceful stop has begun
}

// systemdHooks are the hooks of a plain `wedge run` (no-ops without NOTIFY_SOCKET).
var systemdHooks = runHooks{
	ready: func(status string) {
		sdnotify.Ready()
		sdnotify.Status(status)
	},
	stopping: func() { sdnotify.Stopping() },
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runAgent(ctx, args, stdout, stderr, systemdHooks)
}

// runAgent is `wedge run`: it parses args, starts the agent, and stops it gracefully once ctx is
// done, telling the supervisor through h.
func runAgent(ctx context.Context, args []string, stdout, stderr io.Writer, h runHooks) int {
	fs := flag.NewFlagSet("wedge run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", defaultConfigPath, "配置文件 config file (see docs/config.example.yaml)")
	check := fs.Bool("check", false, "只校验配置后退出 validate the config and exit")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "wedge run: 多余的参数 unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	cfg, profiles, err := loadRunConfig(*path)
	if err != nil {
		fmt.Fprintf(stderr, "wedge run: %v\n", err)
		return exitUsage
	}
	if *check {
		fmt.Fprintf(stdout, "%s: OK (site %s, agent %s, %d stations, %d devices)\n", *path, cfg.Site, cfg.Agent, len(cfg.Stations), len(cfg.Devices))
		return exitOK
	}
	log, err := newLogger(stderr, cfg.Log.Level, cfg.Log.Format)
	if err != nil { // config.Load accepts only what logging.New takes; kept for safety
		fmt.Fprintf(stderr, "wedge run: 日志设置无效 invalid log settings: %v\n", err)
		return exitUsage
	}
	log = log.With(logging.KeySite, cfg.Site, logging.KeyAgent, cfg.Agent)
	log.Info("启动 starting", "config", *path, "version", version.Version)
	a, err := agent.New(ctx, cfg, agent.Deps{Logger: log, Profiles: profiles})
	if err != nil {
		log.Error("无法启动 cannot start", logging.Err(err))
		if errors.Is(err, journal.ErrDamaged) {
			// A distinct status, so systemd does not restart into the same damage forever.
			fmt.Fprint(stderr, recoverSteps(cfg.DataDir))
			return exitDamagedJournal
		}
		if errors.Is(err, agent.ErrStart) {
			return exitUsage
		}
		return exitFailure
	}
	if err := a.Store().Damaged(); err != nil {
		// The journal opened, but what the agent read at start (an order, a page) does not read
		// back: the same answer as a journal that does not open.
		fmt.Fprintf(stderr, "wedge run: 无法启动 cannot start: %v\n%s", err, recoverSteps(cfg.DataDir))
		sctx, cancel := stopCtx()
		defer cancel()
		a.Stop(sctx)
		return exitDamagedJournal
	}
	h.ready(fmt.Sprintf("site %s agent %s, API %s", cfg.Site, cfg.Agent, a.APIAddr()))
	fmt.Fprintf(stdout, "wedge %s/%s running; API http://%s\n", cfg.Site, cfg.Agent, a.APIAddr())
	stopWatchdog := startWatchdog(ctx, a, log)
	<-ctx.Done()
	stopWatchdog()
	h.stopping()
	log.Info("停止 stopping")
	sctx, cancel := stopCtx()
	defer cancel()
	if err := a.Stop(sctx); err != nil {
		log.Error("停止出错 stop failed", logging.Err(err))
		return exitFailure
	}
	log.Info("已停止 stopped")
	return exitOK
}

// startWatchdog pings systemd's watchdog (WatchdogSec= in wedge.service) while the journal writer
// and the uplink loop answer; without a systemd watchdog it does nothing. It returns its stop.
func startWatchdog(ctx context.Context, a *agent.Agent, log *slog.Logger) func() {
	opts, ok := watchdog.ForSystemd()
	if !ok {
		return func() {}
	}
	probes := map[string]watchdog.Probe{}
	for name, p := range a.Heartbeats() {
		probes[name] = p
	}
	opts.Logger = log.With("component", "watchdog")
	w, err := watchdog.Start(ctx, probes, opts)
	if err != nil { // only without probes, which Heartbeats always has
		log.Error("看门狗未启动 watchdog not started", logging.Err(err))
		return func() {}
	}
	log.Info("看门狗已启动 watchdog started", "interval", opts.Interval)
	return func() {
		sctx, cancel := stopCtx()
		defer cancel()
		w.Stop(sctx)
	}
}

// loadRunConfig loads the config at path as `wedge run` does, with the firmware profiles it
// names, and loads every certificate and key it names. The error is for people, Chinese first.
func loadRunConfig(path string) (*config.Config, map[string]profile.Profile, error) {
	// Device profiles are checked against the embedded set plus profiles_dir, which is only known
	// from the file: peek at it leniently, so one strict pass reports every problem at once.
	profiles, err := agent.LoadProfiles(peekProfilesDir(path))
	if err != nil {
		return nil, nil, fmt.Errorf("固件配置无效 firmware profiles (embedded or profiles_dir): %w", err)
	}
	cfg, err := config.Load(path, &config.Options{ProfileKind: func(id string) (string, bool) {
		p, ok := profiles[id]
		return p.Kind, ok
	}, ProfileTransports: func(id string) []string { return agent.ProfileTransports(profiles[id]) }})
	if err != nil {
		return nil, nil, fmt.Errorf("配置文件有误 invalid config:\n%w", err)
	}
	// Every certificate and key the config names is loaded now, so a missing CA file is a config
	// error at --check (and at start), not a connection that fails later.
	if err := uplink.CheckTLS(brokerOptions(cfg)); err != nil {
		return nil, nil, fmt.Errorf("配置文件有误 invalid config: %s: broker: %w", path, err)
	}
	return cfg, profiles, nil
}

// brokerOptions are the uplink options that name the broker and its TLS files.
func brokerOptions(cfg *config.Config) uplink.Options {
	return uplink.Options{URL: cfg.Broker.URL, CAFile: cfg.Broker.CA, CertFile: cfg.Broker.Cert, KeyFile: cfg.Broker.Key}
}

// peekProfilesDir reads profiles_dir from the config file without validating anything ("" when
// absent or unreadable); a relative path is taken from the file's directory, as config.Load does.
func peekProfilesDir(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var peek struct {
		ProfilesDir string `yaml:"profiles_dir"`
	}
	if yaml.Unmarshal(b, &peek) != nil || peek.ProfilesDir == "" {
		return ""
	}
	if filepath.IsAbs(peek.ProfilesDir) {
		return peek.ProfilesDir
	}
	return filepath.Join(filepath.Dir(path), peek.ProfilesDir)
}
