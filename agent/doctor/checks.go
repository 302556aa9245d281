package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"wedge/agent/journal"
)

// Config is the config check's line: err from loading path, or a summary of what it holds.
func Config(path string, err error, summary string) Result {
	if errors.Is(err, fs.ErrPermission) {
		return result("config 配置", Fail, fmt.Sprintf("%s: %v", path, err),
			"配置只对 root 和 wedge 组可读：sudo wedge doctor\nthe config is readable by root and group wedge only: sudo wedge doctor")
	}
	if err != nil {
		return result("config 配置", Fail, fmt.Sprintf("%s: %v", path, err),
			"修改配置后运行 wedge run --check --config "+path+"\nfix the file, then run wedge run --check --config "+path)
	}
	return result("config 配置", OK, path+": "+summary, "")
}

// UdevRules checks that the scanner rules are installed in one of dirs (skipped off Linux).
func UdevRules(goos string, exists func(string) bool, dirs ...string) Result {
	const name = "udev 规则 rules"
	if goos != "linux" {
		return result(name, Skip, "仅 Linux only on Linux", "")
	}
	for _, d := range dirs {
		p := d + "/99-wedge-scanners.rules"
		if exists(p) {
			return result(name, OK, p, "")
		}
	}
	return result(name, Warn, "未安装扫码枪规则 99-wedge-scanners.rules not installed ("+strings.Join(dirs, ", ")+")",
		"重新安装软件包，或复制 packaging/udev/99-wedge-scanners.rules 到 /etc/udev/rules.d/ 后 udevadm control --reload && udevadm trigger\n"+
			"reinstall the package, or copy packaging/udev/99-wedge-scanners.rules to /etc/udev/rules.d/, then udevadm control --reload && udevadm trigger")
}

// Broker checks the broker is reachable with the configured TLS (reach does the connection).
func Broker(ctx context.Context, url string, reach func(context.Context) error) Result {
	const name = "broker 消息服务器"
	if err := reach(ctx); err != nil {
		return result(name, Fail, fmt.Sprintf("%s: %v", url, err),
			"检查网络、broker 地址和 TLS 证书（broker.url / ca / cert / key）；离线时扫码仍可用，恢复后自动同步\n"+
				"check the network, the broker address and the TLS files (broker.url / ca / cert / key); scans still work offline and sync later")
	}
	return result(name, OK, url+" 可达 reachable", "")
}

// Clock thresholds: within ClockWarn of the hub is OK, within ClockFail a warning, beyond a failure
// (order and ack times, token expiry and the hub's signed messages carry wall-clock times).
const (
	ClockWarn = 2 * time.Second
	ClockFail = 30 * time.Second
)

// Clock compares now with the Date header of the hub's /healthz. hubURL "" skips the check.
func Clock(ctx context.Context, client *http.Client, hubURL string, now func() time.Time) Result {
	const name = "clock 时钟"
	if hubURL == "" {
		return result(name, Skip, "未指定中心 no hub given (--hub http://HUB:8480)", "")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(hubURL, "/")+"/healthz", nil)
	if err != nil {
		return result(name, Fail, err.Error(), "检查 --hub 地址 check the --hub URL")
	}
	sent := now()
	resp, err := client.Do(req)
	if err != nil {
		return result(name, Warn, "无法访问中心 cannot reach the hub: "+err.Error(), "检查 --hub 地址和网络 check the --hub URL and the network")
	}
	resp.Body.Close()
	hubTime, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return result(name, Warn, "中心未返回 Date 头 the hub sent no Date header", "")
	}
	// Date has whole seconds: compare with the middle of the round trip, to the second.
	local := sent.Add(now().Sub(sent) / 2).Truncate(time.Second)
	off := local.Sub(hubTime)
	detail := fmt.Sprintf("本机比中心 this PC is %+.0fs against the hub", off.Seconds())
	fix := "启用时间同步（timedatectl set-ntp true，或 chrony）enable time sync (timedatectl set-ntp true, or chrony)"
	switch {
	case off.Abs() > ClockFail:
		return result(name, Fail, detail, fix)
	case off.Abs() > ClockWarn:
		return result(name, Warn, detail, fix)
	}
	return result(name, OK, detail, "")
}

// Free disk thresholds for the data directory.
const (
	DiskFail = 256 << 20 // below this, commits may fail soon
	DiskWarn = 1 << 30
)

// Disk checks the free space where the journal lives.
func Disk(dir string, free func(string) (uint64, error)) Result {
	const name = "disk 磁盘"
	n, err := free(dir)
	if errors.Is(err, errors.ErrUnsupported) {
		return result(name, Skip, "此系统未实现 not implemented on this OS", "")
	}
	if err != nil {
		return result(name, Fail, fmt.Sprintf("%s: %v", dir, err), "检查 data_dir 是否存在 check that data_dir exists")
	}
	detail := fmt.Sprintf("%s 剩余 free %d MiB", dir, n>>20)
	fix := "清理磁盘；日志满时扫码会被拒绝（不会丢失已确认的记录）\nfree some disk space; with a full disk scans are refused (nothing acknowledged is lost)"
	switch {
	case n < DiskFail:
		return result(name, Fail, detail, fix)
	case n < DiskWarn:
		return result(name, Warn, detail, fix)
	}
	return result(name, OK, detail, "")
}

// Journal verifies the journal file's hash chain and pages. A journal held by the running agent
// cannot be read here: SKIP, with how to check it anyway.
func Journal(path string, exists bool, verify func(string) (journal.Report, error)) Result {
	const name = "journal 日志"
	if !exists {
		return result(name, Warn, "还没有日志 no journal yet: "+path, "代理首次启动时创建 the agent creates it on its first start")
	}
	rep, err := verify(path)
	switch {
	case errors.Is(err, journal.ErrLocked):
		return result(name, Skip, "代理运行中，日志被占用 in use by the running agent",
			"在线检查：wedge journal backup --to FILE，再 wedge journal verify --data FILE\n"+
				"to check it online: wedge journal backup --to FILE, then wedge journal verify --data FILE")
	case err != nil && !errors.Is(err, journal.ErrDamaged):
		return result(name, Fail, err.Error(), "wedge journal verify --data "+path)
	case !rep.OK:
		return result(name, Fail, rep.String(), "停止代理后 wedge journal verify，再 wedge journal recover\nstop the agent, then wedge journal verify and wedge journal recover")
	}
	return result(name, OK, rep.String(), "")
}

// Status is what the backlog check needs from the running agent's /api/v1/status.
type Status struct {
	Unsynced        uint64 `json:"unsynced"`
	BrokerConnected bool   `json:"broker_connected"`
	LastAck         string `json:"last_ack"`
}

// BacklogWarn is the unsynced count above which the backlog warns even while connected.
const BacklogWarn = 10000

// Backlog checks the entries the hub has not acknowledged yet, from the running agent's status
// (err: the agent's API did not answer).
func Backlog(st Status, err error) Result {
	const name = "backlog 未同步"
	if err != nil {
		return result(name, Warn, "代理未运行或 API 未开启 the agent is not running or its API is off: "+err.Error(),
			"systemctl start wedge；再看 systemctl status wedge / journalctl -u wedge\nsystemctl start wedge; then systemctl status wedge / journalctl -u wedge")
	}
	detail := fmt.Sprintf("%d 条未同步 entries unsynced, broker connected=%v, last ack %s", st.Unsynced, st.BrokerConnected, orNever(st.LastAck))
	switch {
	case st.Unsynced > 0 && !st.BrokerConnected:
		return result(name, Warn, detail, "代理离线，恢复连接后自动补传 the agent is offline; it sends the backlog once connected (see the broker line)")
	case st.Unsynced > BacklogWarn:
		return result(name, Warn, detail, "同步落后，检查中心是否在线 syncing lags: check that the hub is up")
	}
	return result(name, OK, detail, "")
}

func orNever(s string) string {
	if s == "" {
		return "never"
	}
	return s
}
