package demo

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"wedge/order"
)

// AgentStat is one agent's journal and sync position.
type AgentStat struct {
	Name     string
	URL      string
	Role     string
	LastSeq  uint64 // entries journaled
	Acked    uint64 // entries the hub acknowledged (stored durably at the hub)
	Unsynced uint64
	// IntakeRejected counts downlink messages the agent's intake refused (journaled), Malformed
	// those of them that could not be read at all.
	IntakeRejected, Malformed uint64
	// Refused counts messages refused before intake because the hub did not sign them.
	Refused uint64
}

// Snapshot is what the live view shows.
type Snapshot struct {
	At        time.Time
	HubStates map[string]uint64 // orders per state as the hub sees them
	Agents    []AgentStat
	Events    []Event // the last events, oldest first
	EventsAll uint64  // events ever added (to tell which are new)
	Totals    Totals
	Backlog   int // orders on the print operator's work list
	Labels    int // labels the emulated printer put out
	Breaker   BreakerView
}

// BreakerView is pack01's backlog breaker as the view shows it.
type BreakerView struct {
	Agent      string
	Known      bool   // the agent runs a breaker
	Open       bool   // new orders are held (暂停进入) instead of entering 待分仓
	Why        string // why it opened, or how it closed
	Backlog    int    // 待分仓 at its last observation
	MaxBacklog int    // its threshold
	Held       int    // orders held now, in the agent's journal
}

// breakerView reads pack01's breaker and journal, and adds an event when it opened or closed.
func (d *Demo) breakerView() BreakerView {
	v := BreakerView{Agent: d.pack.name}
	sup := d.pack.a.Supervisor()
	if sup == nil {
		return v
	}
	st := sup.Breaker().State()
	v.Known, v.Open, v.Why, v.Backlog, v.MaxBacklog = true, st.Open, st.Why, st.Backlog, st.Thresholds.MaxBacklog
	d.pack.a.Store().ForEachOrder(order.Held, func(order.Order) bool { v.Held++; return true })
	d.brMu.Lock()
	changed := v.Open != d.brWasOpen
	d.brWasOpen = v.Open
	d.brMu.Unlock()
	if changed && v.Open {
		d.ev.add(Event{Source: d.pack.name, ZH: fmt.Sprintf("积压熔断打开：待分仓 %d 单超过上限 %d，新订单暂停进入", v.Backlog, v.MaxBacklog),
			EN: fmt.Sprintf("backlog breaker open: %d pending > max %d, new orders are held", v.Backlog, v.MaxBacklog)})
	} else if changed {
		d.ev.add(Event{Source: d.pack.name, Good: true, ZH: "积压熔断已关闭：暂停进入的订单按到达顺序放行到待分仓",
			EN: "backlog breaker closed: held orders released to pending in arrival order"})
	}
	return v
}

// line is the breaker in one line.
func (v BreakerView) line() string {
	if !v.Known {
		return "积压熔断 breaker: 无 none"
	}
	state := "关闭 closed"
	if v.Open {
		state = "打开 OPEN"
	}
	return fmt.Sprintf("积压熔断 breaker %s: %s (待分仓 pending %d / 上限 max %d) · 暂停进入 held %d", v.Agent, state, v.Backlog, v.MaxBacklog, v.Held)
}

// Snapshot returns the current state of the demo.
func (d *Demo) Snapshot() Snapshot {
	s := Snapshot{At: time.Now(), HubStates: d.hub.Stats().OrdersPerState, Totals: d.stats.get(), Backlog: d.packQ.len(), Labels: d.prn.Printed(),
		Breaker: d.breakerView()}
	s.Events, s.EventsAll = d.ev.last()
	for _, n := range []*node{d.pack, d.dock} {
		st := n.a.Store()
		a := AgentStat{Name: n.name, URL: "http://" + n.a.APIAddr(), LastSeq: st.LastSeq(), Acked: st.AckedSeq()}
		is := n.a.Intake().Stats()
		a.IntakeRejected, a.Malformed, a.Refused = is.Rejected, is.Malformed, n.refused.Load()
		if a.LastSeq > a.Acked {
			a.Unsynced = a.LastSeq - a.Acked
		}
		a.Role = "打单台 print (扫订单号即打印面单 order code → label printed on " + PrinterName + ")"
		if n == d.dock {
			a.Role = "交接台 handover (扫面单 waybill)"
		}
		s.Agents = append(s.Agents, a)
	}
	return s
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// viewStates are the states shown, in flow order.
var viewStates = []order.State{order.AwaitingBalance, order.Held, order.PendingAllocation, order.WaybillPrinted, order.PickedUp, order.Cancelled}

func mark(good bool) string {
	if good {
		return "✔"
	}
	return "✘"
}

func (e Event) line() string {
	return fmt.Sprintf("%s %s %-9s %s / %s", e.At.Format("15:04:05"), mark(e.Good), e.Source, e.ZH, e.EN)
}

// header is the fixed part: URLs and where the data is.
func (d *Demo) header(b *strings.Builder) {
	fmt.Fprintf(b, "中心 hub API      %s/v1/stats  ·  %s/v1/agents  ·  %s/v1/orders/{order_id}\n", d.HubURL(), d.HubURL(), d.HubURL())
	fmt.Fprintf(b, "中心令牌 hub token Authorization: Bearer %s\n", d.hubToken)
	fmt.Fprintf(b, "中心控制台 central console  %s  (登录 login %s / %s)\n", d.HubConsoleURL(), HQUser, HQPassword)
	for _, n := range []*node{d.pack, d.dock} {
		u := "http://" + n.a.APIAddr()
		fmt.Fprintf(b, "代理 agent %-6s %s/api/v1/status  ·  %s/api/v1/orders/{id}  (token %q)\n", n.name, u, u, APIToken)
		if n.console != "" {
			fmt.Fprintf(b, "主管看板 console  %s  (登录 login %s / %s)\n", n.console, ConsoleUser, ConsolePassword)
		}
	}
	fmt.Fprintf(b, "MQTT 代理 broker  %s (内置 embedded)\n", d.BrokerURL())
	fmt.Fprintf(b, "扫码枪 scanners   %s → %s, %s → %s (串口 serial, %s)\n", d.pack.device, d.pack.pty.Path(), d.dock.device, d.dock.pty.Path(), Profile)
	fmt.Fprintf(b, "面单打印机 printer %s → tcp %s (ZPL 模拟 emulated, %s)\n", PrinterName, d.prn.Addr(), PrinterProfile)
	keep := "退出时删除 removed on exit"
	if !d.tmp || d.opts.Keep {
		keep = "保留 kept"
	}
	fmt.Fprintf(b, "数据 data         %s (%s; 日志 log: demo.log, 配置 configs: pack01.yaml, dock01.yaml)\n", d.dir, keep)
}

// renderFull draws the whole screen (terminal mode).
func (d *Demo) renderFull(w io.Writer, s Snapshot, started time.Time) {
	var b strings.Builder
	up := s.At.Sub(started).Truncate(time.Second)
	fmt.Fprintf(&b, "wedge 演示 demo · 站点 site %s · 已运行 running %s · Ctrl-C 停止 stop\n\n", d.opts.Site, up)
	d.header(&b)
	b.WriteString("\n中心所见订单状态 orders per state as the hub sees them\n")
	for _, st := range viewStates {
		fmt.Fprintf(&b, "  %s %-20s %6d\n", padWidth(st.LabelZH(), 8), st, s.HubStates[string(st)])
	}
	b.WriteString("\n代理同步 agent sync (日志条目 journal entries)\n")
	for _, a := range s.Agents {
		fmt.Fprintf(&b, "  %-7s 已记录 journaled %6d · 中心已确认 acked %6d · 未同步 unsynced %4d · 下发拒收 intake refused %3d · 未签名拒收 unsigned refused %3d   %s\n",
			a.Name, a.LastSeq, a.Acked, a.Unsynced, a.IntakeRejected, a.Refused, a.Role)
	}
	t := s.Totals
	fmt.Fprintf(&b, "\n本次 this run: 已下发 sent %d · 待打单 work list %d · 扫码 scans %d (拒绝 rejected %d) · 打单 printed %d · 揽收 picked up %d\n",
		t.Posted, s.Backlog, t.Scans, t.Rejected, t.Printed, t.PickedUp)
	fmt.Fprintf(&b, "              预售 presale %d (尾款 balance paid %d) · 取消 cancelled %d · 违反数据契约 contract violations %d · 中心拒收 hub refused %d · 故障发布 faulty downlink %d\n",
		t.Presale, t.BalancePaid, t.Cancels, t.Contract, t.HubRefused, t.Malformed)
	fmt.Fprintf(&b, "              打印机 printer: 已出面单 labels out %d · 缺纸 paper out %d\n", s.Labels, t.PaperOut)
	fmt.Fprintf(&b, "              %s\n", s.Breaker.line())
	b.WriteString("\n最近事件 last events\n")
	for i := len(s.Events) - 1; i >= 0 && i >= len(s.Events)-10; i-- {
		b.WriteString("  " + s.Events[i].line() + "\n")
	}
	// Home, draw each line over the old one (erasing its rest), erase below: no flicker.
	out := "\x1b[H" + strings.ReplaceAll(b.String(), "\n", "\x1b[K\n") + "\x1b[J"
	io.WriteString(w, out)
}

// renderLine prints one status line, then the events that are new since the last line (plain mode).
func (d *Demo) renderLine(w io.Writer, s Snapshot, seen uint64) uint64 {
	var b strings.Builder
	b.WriteString(s.At.Format("15:04:05"))
	for _, st := range viewStates {
		if n := s.HubStates[string(st)]; n > 0 || st == order.PendingAllocation || st == order.WaybillPrinted || st == order.PickedUp {
			fmt.Fprintf(&b, " %s %s %d |", st.LabelZH(), st, n)
		}
	}
	for _, a := range s.Agents {
		fmt.Fprintf(&b, " %s 未同步 unsynced %d 已确认 acked %d |", a.Name, a.Unsynced, a.Acked)
	}
	if s.Breaker.Open || s.Breaker.Held > 0 {
		b.WriteString(" " + s.Breaker.line() + " |")
	}
	fmt.Fprintf(&b, " 扫码 scans %d 拒绝 rejected %d\n", s.Totals.Scans, s.Totals.Rejected)
	fresh := int(s.EventsAll - seen)
	if fresh > len(s.Events) {
		fmt.Fprintf(&b, "  … %d 条事件略 events skipped\n", fresh-len(s.Events))
		fresh = len(s.Events)
	}
	for _, e := range s.Events[len(s.Events)-fresh:] {
		b.WriteString("  " + e.line() + "\n")
	}
	io.WriteString(w, b.String())
	return s.EventsAll
}

// padWidth pads s with spaces to w terminal columns (CJK characters take two).
func padWidth(s string, w int) string {
	n := 0
	for _, r := range s {
		n++
		if r >= 0x2E80 {
			n++
		}
	}
	if n >= w {
		return s
	}
	return s + strings.Repeat(" ", w-n)
}
