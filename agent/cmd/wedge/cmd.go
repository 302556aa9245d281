package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"wedge/agent/version"
)

// Exit codes.
const (
	exitOK       = 0 // success
	exitFailure  = 1 // the command ran and failed: a broken journal chain, invalid profiles, a fatal run-time error
	exitUsage    = 2 // bad usage, an invalid config file, a data directory that cannot be opened
	exitNotYet   = 3 // the subcommand is not available in this build or on this platform
	stopDeadline = 25 * time.Second

	// exitDamagedJournal: the journal file is damaged, so a restart cannot help (systemd's
	// RestartPreventExitStatus names it); the operator verifies and recovers it.
	exitDamagedJournal = 65
)

const helpText = `wedge — 仓库边缘代理 warehouse edge agent

用法 Usage:
  wedge run --config FILE              运行代理 run the agent daemon
  wedge hub --broker URL --data DIR --listen ADDR [--ca F --cert F --key F] [--log-level LEVEL] [--log-format text|json]
                                       运行参考中心 run the reference hub (TLS client certificate: wedge certs issue --hub)
  wedge demo [flags]                   一键演示（内置 MQTT、中心、两个代理、模拟扫码枪）
                                       the all-in-one demo (embedded broker, hub, two agents, simulated scanners)
  wedge journal verify --data DIR      校验日志文件和哈希链 verify the journal file and its hash chain
  wedge journal recover --data DIR --hub URL [--token T]
                                       用中心的副本重建损坏的日志（原文件保留）
                                       rebuild a damaged journal from the hub's copy (the damaged file is kept)
  wedge journal export --data DIR|FILE [--since SEQ|TIME] [--out FILE]
                                       导出记录（JSON 行，供审计） export entries as JSON lines for auditors
  wedge journal backup --to FILE [--config FILE]
                                       在线备份运行中代理的日志（经 API，需令牌）并校验
                                       online backup of the running agent's journal (API token), verified
  wedge journal restore --from FILE --data DIR
                                       代理停止时用备份替换日志（原文件保留） replace a stopped agent's journal by a backup
  wedge profiles validate DIR          校验固件配置文件 validate firmware profiles in DIR
  wedge config diff [--all] A.yaml B.yaml
                                       配置双环境比对：逐项比较生效设置（默认值已填入），含文件和行号；
                                       不同退出 1，相同退出 0（大促前执行）
                                       compare the effective settings field by field with file:line;
                                       exit 1 when they differ, 0 when equal (run it before a campaign)
  wedge config hash [--canonical] FILE...
                                       共享设置的哈希（代理在状态中发布同一哈希）
                                       hash of the shared settings (the agent publishes the same hash)
  wedge console hash-password          生成主管控制台密码哈希（读取标准输入一行）
                                       hash a console password (one line on stdin) for console.users
  wedge devices [--json] [--profiles DIR]
                                       列出已连接的扫码枪、匹配的型号、模式和配置段落
                                       list attached scanners, matched profile, mode and a config snippet
  wedge doctor [--config FILE] [--hub URL]
                                       安装自检：配置、设备及权限、udev 规则、broker(TLS)、时钟、磁盘、日志、未同步
                                       check the install: config, devices and permissions, udev rules, broker (TLS),
                                       clock, disk, journal, backlog; exit 0 all OK, 1 any FAIL, 2 warnings only,
                                       64 bad flags
  wedge certs init|issue|revoke|crl|list|mosquitto --dir CA_DIR ...
                                       证书：CA、代理/中心/服务器证书、吊销、mosquitto 配置和 ACL
                                       certificates: CA, agent/hub/broker certs, revocation, mosquitto config and ACL
  wedge service install --config FILE | uninstall
                                       注册/删除 Windows 服务（仅 Windows；Linux 用 systemd）
                                       install/remove the Windows service (Windows only; Linux uses systemd)
  wedge version                        版本 print the version
  wedge help                           本帮助 this help

退出码 Exit codes:
  0  成功 success
  1  执行失败：日志链断裂、配置文件无效、运行时致命错误
     failure: broken journal chain, invalid profiles, fatal run-time error
  2  用法错误、配置文件错误、数据目录无法打开
     usage error, invalid config file, data directory cannot be opened
  3  此版本或此平台不提供该功能 not available in this build or on this platform
  65 日志文件已损坏：先 wedge journal verify，再 wedge journal recover 或从备份恢复
     the journal file is damaged: run wedge journal verify, then wedge journal recover, or restore a backup

SIGINT/SIGTERM 优雅停止 stop gracefully (the journal is closed cleanly; nothing acknowledged is lost).
配置示例 Example config: docs/config.example.yaml
`

// run is the whole command line; main only exits with its result.
func run(args []string, stdout, stderr io.Writer) int {
	// Started by the Windows service control manager: the service handler owns the process
	// (service_windows.go). Elsewhere runAsService always declines.
	if code, ok := runAsService(args); ok {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runCtx(ctx, args, stdout, stderr)
}

func runCtx(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, helpText)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, helpText)
		return exitOK
	case "version", "--version":
		fmt.Fprintf(stdout, "wedge %s\n", version.Version)
		return exitOK
	case "run":
		return cmdRun(ctx, rest, stdout, stderr)
	case "hub":
		return cmdHub(ctx, rest, stdout, stderr)
	case "demo":
		return cmdDemo(ctx, rest, stdout, stderr)
	case "console":
		return cmdConsole(ctx, rest, stdout, stderr)
	case "devices":
		return cmdDevices(ctx, rest, stdout, stderr)
	case "doctor":
		return cmdDoctor(ctx, rest, stdout, stderr)
	case "service":
		return cmdService(ctx, rest, stdout, stderr)
	case "certs":
		return cmdCerts(ctx, rest, stdout, stderr)
	case "journal":
		if len(rest) > 0 && rest[0] == "verify" {
			return cmdJournalVerify(ctx, rest[1:], stdout, stderr)
		}
		if len(rest) > 0 && rest[0] == "recover" {
			return cmdJournalRecover(ctx, rest[1:], stdout, stderr)
		}
		if sub, ok := journalCmds[firstArg(rest)]; ok {
			return sub(ctx, rest[1:], stdout, stderr)
		}
		fmt.Fprintln(stderr, "用法 usage: wedge journal verify|recover|export|backup|restore ...")
		return exitUsage
	case "config":
		return cmdConfig(ctx, rest, stdout, stderr)
	case "profiles":
		if len(rest) > 0 && rest[0] == "validate" {
			return cmdProfilesValidate(ctx, rest[1:], stdout, stderr)
		}
		fmt.Fprintln(stderr, "用法 usage: wedge profiles validate DIR")
		return exitUsage
	}
	fmt.Fprintf(stderr, "未知命令 unknown command %q\n\n%s", cmd, helpText)
	return exitUsage
}

// journalCmds are the journal subcommands for operators and auditors (cmd_journal_backup.go).
var journalCmds = map[string]func(context.Context, []string, io.Writer, io.Writer) int{
	"export": cmdJournalExport, "backup": cmdJournalBackup, "restore": cmdJournalRestore,
}

func firstArg(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}

// stopCtx bounds a graceful stop.
func stopCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), stopDeadline)
}
