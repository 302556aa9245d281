//go:build windows

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/eventlog"
	"golang.org/x/sys/windows/svc/mgr"
)

// defaultConfigPath is where `wedge run` and `wedge service install` look without --config.
const defaultConfigPath = `C:\ProgramData\wedge\wedge.yaml`

const (
	serviceName        = "wedge"
	serviceDisplayName = "wedge 仓库边缘代理"
	serviceDescription = "wedge 仓库边缘代理：扫码枪、打单机与订单日志 warehouse edge agent: scanners, label printers and the order journal"
	// logDirName is the agent's log directory beside the config file (and so beside the default
	// data directory "data"): C:\ProgramData\wedge\logs\wedge.log for the default config.
	logDirName  = "logs"
	logFileName = "wedge.log"
	// waitHint tells the service control manager how long a pending start or stop may take; a
	// graceful stop is bounded by stopDeadline.
	waitHint = stopDeadline + 5*time.Second
)

// runAsService takes over the process when the service control manager started it: the
// service's command line (set by `wedge service install`) is `run --config FILE`, and the agent
// runs exactly as `wedge run` does, with Stop/Shutdown in place of SIGTERM. Interactive starts
// (a console, a scheduled task) decline and run the ordinary command line.
func runAsService(args []string) (int, bool) {
	isSvc, err := svc.IsWindowsService()
	if err != nil || !isSvc {
		return 0, false
	}
	return runService(args), true
}

// runService logs to <config dir>\logs\wedge.log and to the Windows event log (source "wedge",
// registered by `wedge service install`) for start, stop and anything that prevents logging.
func runService(args []string) int {
	elog, err := eventlog.Open(serviceName)
	if err != nil {
		elog = nil // the source may be unregistered (a hand-made sc.exe service): the file log still works
	}
	event := func(isErr bool, msg string) {
		if elog == nil {
			return
		}
		if isErr {
			elog.Error(1, msg)
		} else {
			elog.Info(1, msg)
		}
	}
	defer func() {
		if elog != nil {
			elog.Close()
		}
	}()
	if len(args) == 0 || args[0] != "run" {
		event(true, fmt.Sprintf("wedge 服务的命令行必须是 run --config FILE，实际为 %q；请用 wedge service install 重新注册。"+
			"The service command line must be run --config FILE, got %q; reinstall with wedge service install.", args, args))
		return exitUsage
	}
	runArgs := args[1:]
	var out io.Writer = io.Discard
	logPath := filepath.Join(filepath.Dir(configFlag(runArgs)), logDirName, logFileName)
	f, err := openLog(logPath)
	if err != nil {
		event(true, fmt.Sprintf("wedge 无法打开日志文件，代理照常运行但不写文件日志 cannot open the log file, the agent runs without a file log: %v", err))
	} else {
		defer f.Close()
		out = f
	}
	event(false, fmt.Sprintf("wedge 服务启动，日志 %s service starting, log %s", logPath, logPath))
	h := &service{args: runArgs, out: out}
	if err := svc.Run(serviceName, h); err != nil {
		event(true, fmt.Sprintf("wedge 服务无法运行 service cannot run: %v", err))
		return exitFailure
	}
	if h.code != exitOK {
		event(true, fmt.Sprintf("wedge 服务异常退出（退出码 %d），详见 %s；服务将按恢复设置重启。"+
			"The service exited with code %d, see %s; it will be restarted per its recovery settings.", h.code, logPath, h.code, logPath))
	} else {
		event(false, "wedge 服务已正常停止 service stopped cleanly")
	}
	return h.code
}

// openLog opens path for appending, creating its directory.
func openLog(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, err
	}
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
}

// configFlag is the --config value in `wedge run` arguments (defaultConfigPath when absent);
// runAgent parses and reports the arguments properly.
func configFlag(runArgs []string) string {
	fs := flag.NewFlagSet("wedge run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	path := fs.String("config", defaultConfigPath, "")
	fs.Bool("check", false, "")
	fs.Parse(runArgs)
	if abs, err := filepath.Abs(*path); err == nil {
		return abs
	}
	return *path
}

// service is the svc.Handler: it runs runAgent in one goroutine and turns Stop/Shutdown into the
// cancellation that SIGTERM is for `wedge run`.
type service struct {
	args []string
	out  io.Writer
	code int // runAgent's exit code, set when Execute returns
}

func (s *service) Execute(_ []string, r <-chan svc.ChangeRequest, changes chan<- svc.Status) (bool, uint32) {
	const accepts = svc.AcceptStop | svc.AcceptShutdown
	changes <- svc.Status{State: svc.StartPending, WaitHint: uint32(waitHint / time.Millisecond)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hooks := runHooks{
		ready:    func(string) { changes <- svc.Status{State: svc.Running, Accepts: accepts} },
		stopping: func() { changes <- svc.Status{State: svc.StopPending, WaitHint: uint32(waitHint / time.Millisecond)} },
	}
	done := make(chan int, 1)
	go func() { done <- runAgent(ctx, s.args, s.out, s.out, hooks) }()
	for {
		select {
		case code := <-done:
			s.code = code
			if code == exitOK {
				return false, 0
			}
			// A service-specific code keeps wedge's exit codes readable in `sc.exe query wedge`
			// and counts as a failure for the recovery actions (non-crash failures are enabled).
			return true, uint32(code)
		case c := <-r:
			switch c.Cmd {
			case svc.Interrogate:
				changes <- c.CurrentStatus
			case svc.Stop, svc.Shutdown:
				cancel()
			}
		}
	}
}

const serviceUsage = "用法 usage: wedge service install [--config FILE] | wedge service uninstall\n"

// cmdService installs or removes the Windows service; both need an elevated (Administrator) prompt.
func cmdService(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, serviceUsage)
		return exitUsage
	}
	switch args[0] {
	case "install":
		return serviceInstall(ctx, args[1:], stdout, stderr)
	case "uninstall":
		if len(args) > 1 {
			fmt.Fprint(stderr, serviceUsage)
			return exitUsage
		}
		return serviceUninstall(stdout, stderr)
	}
	fmt.Fprint(stderr, serviceUsage)
	return exitUsage
}

func serviceInstall(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wedge service install", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", defaultConfigPath, "配置文件 config file (see docs/config.example.yaml)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "wedge service install: 多余的参数 unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	cfg, err := filepath.Abs(*path)
	if err != nil {
		fmt.Fprintf(stderr, "wedge service install: 配置路径无效 bad config path: %v\n", err)
		return exitUsage
	}
	// A service with a broken config would only restart in a loop: check it as `wedge run --check`.
	if code := cmdRun(ctx, []string{"--config", cfg, "--check"}, stdout, stderr); code != exitOK {
		return code
	}
	exe, err := os.Executable()
	if err == nil {
		exe, err = filepath.Abs(exe)
	}
	if err != nil {
		fmt.Fprintf(stderr, "wedge service install: 找不到 wedge.exe 路径 cannot find the executable: %v\n", err)
		return exitFailure
	}
	m, err := mgr.Connect()
	if err != nil {
		fmt.Fprintf(stderr, "wedge service install: 无法连接服务管理器（需要以管理员身份运行）cannot connect to the service manager (run as Administrator): %v\n", err)
		return exitFailure
	}
	defer m.Disconnect()
	if s, err := m.OpenService(serviceName); err == nil {
		s.Close()
		fmt.Fprintf(stderr, "wedge service install: 服务 %q 已存在，请先 wedge service uninstall；service %q already exists, run wedge service uninstall first\n", serviceName, serviceName)
		return exitFailure
	}
	s, err := m.CreateService(serviceName, exe, mgr.Config{
		DisplayName: serviceDisplayName,
		Description: serviceDescription,
		StartType:   mgr.StartAutomatic,
	}, "run", "--config", cfg)
	if err != nil {
		fmt.Fprintf(stderr, "wedge service install: 注册服务失败 cannot create the service: %v\n", err)
		return exitFailure
	}
	defer s.Close()
	// Restart on failure: after 5 s, 30 s, then every 60 s; the failure count resets after a day.
	// Non-crash failures (a non-zero exit code) count too, so a fatal run-time error restarts.
	err = s.SetRecoveryActions([]mgr.RecoveryAction{
		{Type: mgr.ServiceRestart, Delay: 5 * time.Second},
		{Type: mgr.ServiceRestart, Delay: 30 * time.Second},
		{Type: mgr.ServiceRestart, Delay: 60 * time.Second},
	}, uint32((24 * time.Hour).Seconds()))
	if err == nil {
		err = s.SetRecoveryActionsOnNonCrashFailures(true)
	}
	if err != nil {
		fmt.Fprintf(stderr, "wedge service install: 服务已注册，但无法设置失败后重启 service created but recovery (restart on failure) not set: %v\n", err)
		return exitFailure
	}
	// A source left over from an earlier install is fine (eventlog reports it only as text).
	if err := eventlog.InstallAsEventCreate(serviceName, eventlog.Error|eventlog.Warning|eventlog.Info); err != nil && !strings.Contains(err.Error(), "already exists") {
		// Not fatal: the file log still works; only the event-log lines are lost.
		fmt.Fprintf(stderr, "wedge service install: 警告：无法注册事件日志来源 warning: cannot register the event-log source: %v\n", err)
	}
	logPath := filepath.Join(filepath.Dir(cfg), logDirName, logFileName)
	fmt.Fprintf(stdout, "已注册服务 %q（自动启动，失败后重启）service %q installed (automatic start, restart on failure)\n"+
		"  命令 command: %s run --config %s\n  日志 log: %s\n"+
		"启动 start: sc.exe start %s   (或 or: Start-Service %s)\n",
		serviceName, serviceName, exe, cfg, logPath, serviceName, serviceName)
	return exitOK
}

func serviceUninstall(stdout, stderr io.Writer) int {
	m, err := mgr.Connect()
	if err != nil {
		fmt.Fprintf(stderr, "wedge service uninstall: 无法连接服务管理器（需要以管理员身份运行）cannot connect to the service manager (run as Administrator): %v\n", err)
		return exitFailure
	}
	defer m.Disconnect()
	s, err := m.OpenService(serviceName)
	if err != nil {
		fmt.Fprintf(stderr, "wedge service uninstall: 服务 %q 未注册 service %q is not installed: %v\n", serviceName, serviceName, err)
		return exitFailure
	}
	defer s.Close()
	// Stop it first, gracefully, so the journal is closed cleanly before the service goes away.
	if st, err := s.Query(); err == nil && st.State != svc.Stopped {
		if _, err := s.Control(svc.Stop); err != nil {
			fmt.Fprintf(stderr, "wedge service uninstall: 警告：停止服务失败 warning: stop failed: %v\n", err)
		}
		for deadline := time.Now().Add(waitHint); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
			if st, err := s.Query(); err != nil || st.State == svc.Stopped {
				break
			}
		}
	}
	if err := s.Delete(); err != nil {
		fmt.Fprintf(stderr, "wedge service uninstall: 删除服务失败 cannot delete the service: %v\n", err)
		return exitFailure
	}
	if err := eventlog.Remove(serviceName); err != nil {
		fmt.Fprintf(stderr, "wedge service uninstall: 警告：无法删除事件日志来源 warning: cannot remove the event-log source: %v\n", err)
	}
	fmt.Fprintf(stdout, "已删除服务 %q（配置、数据和日志保留）service %q removed (config, data and logs are kept)\n", serviceName, serviceName)
	return exitOK
}
