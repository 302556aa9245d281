package demo

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// Exit codes of Run (the same as the wedge command's).
const (
	ExitOK      = 0 // the demo ran and stopped cleanly
	ExitFailure = 1 // a part could not start or did not stop cleanly
	ExitUsage   = 2 // bad flags
)

// stopTimeout bounds the demo's stop.
const stopTimeout = 25 * time.Second

const usageText = `用法 Usage: wedge demo [flags]

一键演示：内置 MQTT、参考中心、两个代理（打单台 pack01、交接台 dock01）、串口模拟扫码枪、订单生成器。
The all-in-one demo: embedded MQTT broker, reference hub, two agents (print station pack01, handover
station dock01) with simulated serial scanners on pseudo-terminals, and an order generator.

`

// Run is `wedge demo [flags]`: it starts the demo, shows the live view on stdout until ctx ends or
// --duration passes, then stops everything. Errors go to stderr.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wedge demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o Options
	var duration time.Duration
	var plain bool
	fs.Float64Var(&o.Rate, "rate", DefaultRate, "下单速率 orders per minute from the generator (0 or less: none)")
	fs.IntVar(&o.Burst, "burst", 0, "启动后一次下发 N 单 dispatch N orders at once after the start")
	fs.DurationVar(&duration, "duration", 0, "运行时长，0 = 直到 Ctrl-C  run this long (0 = until Ctrl-C), e.g. 30s")
	fs.StringVar(&o.DataDir, "data", "", "数据目录（保留） data directory, kept (default: a fresh temporary one, removed on exit)")
	fs.BoolVar(&o.Keep, "keep", false, "退出时保留临时数据目录 keep the temporary data directory on exit")
	fs.BoolVar(&plain, "plain", false, "每秒一行，不刷新屏幕 one line per second, no redrawing (default when stdout is not a terminal)")
	fs.StringVar(&o.Site, "site", DefaultSite, "仓库编码 site code")
	fs.StringVar(&o.HubListen, "hub-listen", DefaultHubListen, "中心 HTTP 地址 hub HTTP address (taken: a free port)")
	fs.StringVar(&o.PackListen, "pack-listen", DefaultPackListen, "pack01 API 地址 address (taken: a free port)")
	fs.StringVar(&o.DockListen, "dock-listen", DefaultDockListen, "dock01 API 地址 address (taken: a free port)")
	fs.DurationVar(&o.ScanGap, "scan-gap", DefaultScanGap, "模拟操作员两次扫码间隔 simulated operators' time between scans")
	fs.DurationVar(&o.HandoverDelay, "handover-delay", DefaultHandover, "打单到交接的间隔 time from print to handover")
	fs.Float64Var(&o.Mistakes, "mistakes", DefaultMistakes, "操作失误比例 share of operator mistakes (0: none)")
	fs.Uint64Var(&o.Seed, "seed", 0, "随机种子 random seed (0: from the clock)")
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "wedge demo: 多余的参数 unexpected arguments %q\n", fs.Args())
		return ExitUsage
	}
	if o.Rate <= 0 {
		o.Rate = -1
	}
	if o.Mistakes <= 0 {
		o.Mistakes = -1
	}
	if duration < 0 || o.Burst < 0 {
		fmt.Fprintln(stderr, "wedge demo: --duration 和 --burst 不能为负 must not be negative")
		return ExitUsage
	}
	tty := !plain && isTerminal(stdout)

	started := time.Now()
	d, err := Start(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "wedge demo: 无法启动 cannot start: %v\n", err)
		return ExitFailure
	}
	// --duration counts from the moment everything runs: a slow start (a loaded machine, the
	// deliberately slow console password hash) neither eats the run nor aborts the start.
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}
	var b strings.Builder
	if tty {
		io.WriteString(stdout, "\x1b[?25l\x1b[2J") // hide the cursor, clear
	} else {
		b.WriteString("wedge 演示 demo: 订单 待分仓 → 已打单 → 已揽收 orders moving pending → printed → picked up\n")
		d.header(&b)
		io.WriteString(stdout, b.String())
	}
	var seen uint64
	render := func() {
		if s := d.Snapshot(); tty {
			d.renderFull(stdout, s, started)
		} else {
			seen = d.renderLine(stdout, s, seen)
		}
	}
	if tty {
		render() // the URLs at once, not after a second
	}
	t := time.NewTicker(time.Second)
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-t.C:
		}
		render()
	}
	t.Stop()
	if tty {
		io.WriteString(stdout, "\x1b[?25h")
	}
	fmt.Fprintln(stdout, "wedge demo: 正在停止 stopping…")
	sctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	last := d.Snapshot()
	tot := last.Totals
	if err := d.Stop(sctx); err != nil {
		fmt.Fprintf(stderr, "wedge demo: 停止出错 stop: %v\n", err)
		return ExitFailure
	}
	fmt.Fprintf(stdout, "wedge demo: 已停止 stopped: 下发 sent %d, 打单 printed %d, 揽收 picked up %d, 扫码 scans %d (拒绝 rejected %d)\n",
		tot.Posted, tot.Printed, tot.PickedUp, tot.Scans, tot.Rejected)
	var hs []string
	for _, st := range viewStates {
		if n := last.HubStates[string(st)]; n > 0 {
			hs = append(hs, fmt.Sprintf("%s %s %d", st.LabelZH(), st, n))
		}
	}
	fmt.Fprintf(stdout, "wedge demo: 中心所见 the hub saw: %s\n", strings.Join(hs, " · "))
	if !d.tmp || o.Keep {
		fmt.Fprintf(stdout, "wedge demo: 数据保留在 data kept in %s\n", d.dir)
	}
	return ExitOK
}
