package demo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"wedge/agent"
	"wedge/agent/station"
	"wedge/internal/logging"
	"wedge/order"
	"wedge/sync/wire"
)

// Event is one line of the live view's event list.
type Event struct {
	At     time.Time
	Source string // demo, generator, hub, pack01, dock01, prn-p1
	Good   bool
	ZH, EN string
}

// eventLog keeps the last events and counts all of them (so a view can tell what is new).
type eventLog struct {
	mu    sync.Mutex
	max   int
	ring  []Event
	total uint64
}

func newEventLog(max int) *eventLog { return &eventLog{max: max} }

func (l *eventLog) add(e Event) {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ring = append(l.ring, e)
	if len(l.ring) > l.max {
		l.ring = l.ring[len(l.ring)-l.max:]
	}
	l.total++
}

// last returns the kept events (oldest first) and the total ever added.
func (l *eventLog) last() ([]Event, uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Event(nil), l.ring...), l.total
}

// Totals count what this run did.
type Totals struct {
	Posted      int // orders and messages the hub accepted
	HubRefused  int // messages the hub refused (malformed, invalid)
	Contract    int // orders sent that break the data contract
	Presale     int // presale orders (deposit only)
	BalancePaid int // balance_paid messages sent
	Cancels     int // cancel messages sent
	Malformed   int // unreadable messages a faulty publisher put on the downlink topic
	Scans       int // committed scan results at the stations
	Rejected    int // of them rejected
	Printed     int // 待分仓 → 已打单 steps
	PaperOut    int // paper-out faults of the emulated printer (each refused one label as printer_fault)
	PickedUp    int // 已打单 → 已揽收 steps
}

type statCounters struct {
	mu sync.Mutex
	t  Totals
}

func (s *statCounters) add(field *int, n int) {
	s.mu.Lock()
	*field += n
	s.mu.Unlock()
}

func (s *statCounters) result(r station.Result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.t.Scans++
	if !r.Good() {
		s.t.Rejected++
	}
	if r.Kind == wire.KindStep {
		switch order.State(r.Entry.To) {
		case order.WaybillPrinted:
			s.t.Printed++
		case order.PickedUp:
			s.t.PickedUp++
		}
	}
}

func (s *statCounters) get() Totals {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.t
}

// job is an order on an operator's work list.
type job struct {
	id        string
	notBefore time.Time
	premature bool // a presale order scanned before its balance is paid (a mistake)
	cancelled bool // an order cancelled after it reached the work list
}

// queue is an unbounded FIFO work list (a burst may put thousands of orders on it).
type queue struct {
	mu    sync.Mutex
	jobs  []job
	ready chan struct{}
}

func newQueue() *queue { return &queue{ready: make(chan struct{}, 1)} }

func (q *queue) push(j job) {
	q.mu.Lock()
	q.jobs = append(q.jobs, j)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// pop waits for the next job and then until its notBefore time.
func (q *queue) pop(ctx context.Context) (job, bool) {
	for {
		q.mu.Lock()
		if len(q.jobs) > 0 {
			j := q.jobs[0]
			q.jobs = q.jobs[1:]
			q.mu.Unlock()
			if wait := time.Until(j.notBefore); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					return job{}, false
				}
			}
			return j, true
		}
		q.mu.Unlock()
		select {
		case <-q.ready:
		case <-ctx.Done():
			return job{}, false
		}
	}
}

// peek returns the first job's id without removing it.
func (q *queue) peek() (string, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.jobs) == 0 {
		return "", false
	}
	return q.jobs[0].id, true
}

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.jobs)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// scanTimeout bounds the wait for a station's answer to one simulated scan.
const scanTimeout = 5 * time.Second

// scan writes code and a CR to the scanner's pty, as a serial scanner in CR mode does, and waits
// for the station's committed result for it.
func (d *Demo) scan(ctx context.Context, n *node, code string) (station.Result, bool) {
	for drained := false; !drained; {
		select {
		case <-n.results:
		default:
			drained = true
		}
	}
	if _, err := n.pty.Write([]byte(code + "\r")); err != nil {
		d.log.Warn("demo: scanner pty write", logging.KeyAgent, n.name, logging.Err(err))
		return station.Result{}, false
	}
	t := time.NewTimer(scanTimeout)
	defer t.Stop()
	for {
		select {
		case r := <-n.results:
			if r.Code == code {
				return r, true
			}
		case <-t.C:
			d.log.Warn("demo: no answer to a scan", logging.KeyAgent, n.name, "code", code, "timeout", scanTimeout)
			return station.Result{}, false
		case <-ctx.Done():
			return station.Result{}, false
		}
	}
}

// signIn scans the operator's badge until the station confirms it (the driver may still be opening
// the port when the demo starts; a repeated badge scan is harmless).
func (d *Demo) signIn(ctx context.Context, n *node, badge string) bool {
	for ctx.Err() == nil {
		if r, ok := d.scan(ctx, n, badge); ok && r.Good() {
			return true
		}
		if !sleep(ctx, 200*time.Millisecond) {
			return false
		}
	}
	return false
}

// waitOrder polls the agent's store until the order satisfies ok, up to limit.
func (d *Demo) waitOrder(ctx context.Context, n *node, id string, limit time.Duration, ok func(order.Order) bool) (order.Order, bool) {
	deadline := time.Now().Add(limit)
	for {
		o, found, err := n.a.Store().Order(id)
		if err == nil && found && ok(o) {
			return o, true
		}
		if time.Now().After(deadline) || !sleep(ctx, 50*time.Millisecond) {
			return o, false
		}
	}
}

// orderWait bounds how long an operator waits for an order to reach its agent.
const orderWait = 30 * time.Second

// packOperator works the print station: badge, then for each order its code, which prints the
// label on the station's printer (no second scan). Now and then the printer runs out of paper
// first: the scan is refused (printer_fault), the operator puts in a new roll and scans again.
func (d *Demo) packOperator(ctx context.Context, seed uint64) {
	defer d.wg.Done()
	n, rnd, g := d.pack, rand.New(rand.NewPCG(seed, 7)), newGen(seed)
	if !d.signIn(ctx, n, "OP-LI07") {
		return
	}
	select {
	case <-d.burstIn:
	case <-ctx.Done():
		return
	}
	for {
		j, ok := d.packQ.pop(ctx)
		if !ok {
			return
		}
		known := func(o order.Order) bool { return o.State != order.AwaitingBalance || j.premature }
		if j.cancelled {
			known = func(o order.Order) bool { return o.State == order.Cancelled }
		}
		o, ok := d.waitOrder(ctx, n, j.id, orderWait, known)
		if ctx.Err() != nil {
			return
		}
		if !ok {
			d.ev.add(Event{Source: n.name, ZH: "订单未到达 " + short(j.id), EN: "order did not reach " + n.name})
			continue
		}
		if o.State == order.Held && !j.cancelled {
			// Held by the backlog breaker (暂停进入): not on the shelf yet; back to the end of the
			// work list until the breaker closes and releases it to 待分仓.
			j.notBefore = time.Now().Add(time.Second)
			d.packQ.push(j)
			continue
		}
		code := o.ID
		if o.ChannelOrderNo != "" && rnd.IntN(2) == 0 {
			code = o.ChannelOrderNo
		}
		if j.premature || j.cancelled || o.State != order.PendingAllocation {
			// A presale order before its balance, or a cancelled one, taken from the shelf by
			// mistake: the station refuses it.
			d.scan(ctx, n, code)
			sleep(ctx, d.opts.ScanGap)
			continue
		}
		if rnd.Float64() < d.opts.Mistakes {
			d.scan(ctx, n, g.productBarcode()) // the product's EAN instead of the order
			sleep(ctx, d.opts.ScanGap)
		}
		if rnd.Float64() < d.opts.Mistakes/2 {
			d.paperOut(ctx, n, code)
		}
		if r, ok := d.scan(ctx, n, code); ok && r.Good() && r.Kind == wire.KindStep {
			d.dockQ.push(job{id: o.ID, notBefore: time.Now().Add(d.opts.HandoverDelay)})
		}
		sleep(ctx, d.opts.ScanGap)
	}
}

// paperOutFor is how long the emulated printer stays out of paper (the operator fetching a roll).
const paperOutFor = 500 * time.Millisecond

// paperOut empties the printer's paper, scans code (refused: printer_fault, the order stays
// 待分仓), then reloads the paper.
func (d *Demo) paperOut(ctx context.Context, n *node, code string) {
	d.prn.PaperOut(true)
	d.stats.add(&d.stats.t.PaperOut, 1)
	d.ev.add(Event{Source: PrinterName, ZH: "打印机缺纸（模拟故障）", EN: "printer out of paper (simulated fault)"})
	d.scan(ctx, n, code)
	sleep(ctx, paperOutFor)
	d.prn.PaperOut(false)
	d.ev.add(Event{Source: PrinterName, Good: true, ZH: "已换上新纸卷，重新扫描订单", EN: "paper roll replaced, scanning the order again"})
	sleep(ctx, d.opts.ScanGap)
}

// dockOperator works the handover station: badge, then each printed parcel's waybill when the
// courier takes it.
func (d *Demo) dockOperator(ctx context.Context, seed uint64) {
	defer d.wg.Done()
	n, rnd, g := d.dock, rand.New(rand.NewPCG(seed, 11)), newGen(seed)
	if !d.signIn(ctx, n, "OP-WANG12") {
		return
	}
	for {
		j, ok := d.dockQ.pop(ctx)
		if !ok {
			return
		}
		o, ok := d.waitOrder(ctx, n, j.id, orderWait, func(o order.Order) bool { return o.Waybill != "" && o.State != order.PendingAllocation })
		if ctx.Err() != nil {
			return
		}
		if !ok {
			d.ev.add(Event{Source: n.name, ZH: "交接台未收到已打单状态 " + short(j.id), EN: "printed state did not reach " + n.name})
			continue
		}
		if rnd.Float64() < d.opts.Mistakes {
			switch rnd.IntN(3) {
			case 0: // a parcel that was never printed: the order's code instead of a label
				if id, ok := d.packQ.peek(); ok {
					if p, ok := d.waitOrder(ctx, n, id, 0, func(o order.Order) bool { return o.State == order.PendingAllocation }); ok {
						d.scan(ctx, n, p.ID)
						sleep(ctx, d.opts.ScanGap)
					}
				}
			case 1: // a damaged label: what the scanner reads is too short for the carrier
				d.scan(ctx, n, g.badWaybill(o.Waybill))
				sleep(ctx, d.opts.ScanGap)
			default:
				d.scan(ctx, n, g.productBarcode())
				sleep(ctx, d.opts.ScanGap)
			}
		}
		d.scan(ctx, n, o.Waybill)
		sleep(ctx, d.opts.ScanGap)
	}
}

// burstWait bounds how long the print operator waits for the start-up burst to reach pack01.
const burstWait = 30 * time.Second

// burstArrived waits until pack01's journal holds every order of the burst, then has its breaker
// look at the backlog at once: above max_backlog (200) it opens and the orders that arrive next are
// held (暂停进入) until the backlog is worked down.
func (d *Demo) burstArrived(ctx context.Context, ids []string) {
	st := d.pack.a.Store()
	for deadline := time.Now().Add(burstWait); len(ids) > 0; {
		if _, ok, err := st.Order(ids[0]); err == nil && ok {
			ids = ids[1:]
			continue
		}
		if time.Now().After(deadline) || !sleep(ctx, 50*time.Millisecond) {
			d.log.Warn("demo: orders of the burst did not reach the agent", logging.KeyAgent, d.pack.name, "missing", len(ids))
			break
		}
	}
	if sup := d.pack.a.Supervisor(); sup != nil && ctx.Err() == nil {
		sup.Check(ctx)
	}
}

// generator posts orders to the hub at the configured rate, with presales, cancels and bad input.
func (d *Demo) generator(ctx context.Context, seed uint64) {
	defer d.wg.Done()
	if d.opts.Burst > 0 {
		ids, err := d.dispatch(ctx, d.opts.Burst)
		if err != nil && ctx.Err() == nil {
			d.ev.add(Event{Source: "generator", ZH: "批量下单失败 " + err.Error(), EN: "burst failed"})
		} else if err == nil {
			d.ev.add(Event{Source: "generator", Good: true, ZH: fmt.Sprintf("批量下发 %d 单", d.opts.Burst), EN: fmt.Sprintf("burst of %d orders dispatched", d.opts.Burst)})
		}
		d.burstArrived(ctx, ids)
		close(d.burstIn)
	}
	if d.opts.Rate < 0 {
		return
	}
	interval := time.Duration(float64(time.Minute) / d.opts.Rate)
	balanceAfter := max(10*interval, time.Second)
	g, rnd := newGen(seed+3), rand.New(rand.NewPCG(seed, 3))
	type due struct {
		id string
		at time.Time
	}
	var balances []due
	var watch []string // contract-breaking orders whose refusal has not been seen at the hub yet
	faulty := &faultyPublisher{url: d.brk.URL(), topic: wire.TopicOrders(d.opts.Site)}
	defer faulty.close()
	seenMalformed := map[string]uint64{}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		for len(balances) > 0 && !balances[0].at.After(now) {
			b := balances[0]
			balances = balances[1:]
			if _, err := d.post(ctx, []wire.OrderMsg{{Type: wire.TypeBalancePaid, OrderID: b.id}}); err != nil {
				d.postFailed(ctx, err)
				continue
			}
			d.stats.add(&d.stats.t.BalancePaid, 1)
			d.ev.add(Event{Source: "generator", Good: true, ZH: "预售尾款已付 " + short(b.id), EN: "presale balance paid"})
			d.packQ.push(job{id: b.id})
		}
		watch = d.watchRefusals(ctx, watch)
		d.watchMalformed(seenMalformed)
		switch x := rnd.Float64(); {
		case x < 0.02: // a faulty publisher on the site's downlink topic, bypassing the hub (unsigned)
			payload := g.malformedDownlink()
			if err := faulty.publish(payload); err != nil {
				d.log.Warn("generator: faulty publisher", logging.Err(err))
				continue
			}
			d.stats.add(&d.stats.t.Malformed, 1)
			d.ev.add(Event{Source: "generator", ZH: "模拟故障发布者向下发主题发送无法解析的消息", EN: "a faulty publisher sent an unreadable message on the downlink topic"})
		case x < 0.045: // a malformed request
			body, what := g.malformedBody(d.opts.Site)
			resp, err := d.postRaw(ctx, []byte(body))
			if err != nil {
				d.postFailed(ctx, err)
				continue
			}
			d.stats.add(&d.stats.t.HubRefused, 1)
			reason := resp.Error
			if reason == "" && len(resp.Errors) > 0 {
				reason = resp.Errors[0].Error
			}
			d.ev.add(Event{Source: "hub", ZH: "中心拒收格式错误的消息（" + what + "）：" + reason, EN: "hub refused a malformed message"})
		case x < 0.085: // an order that breaks the data contract
			m := d.newOrder(now, false, true)
			ids, err := d.post(ctx, []wire.OrderMsg{m})
			if err != nil {
				d.postFailed(ctx, err)
				continue
			}
			for _, id := range ids {
				d.record(id, "contract")
				watch = append(watch, id)
			}
			d.stats.add(&d.stats.t.Contract, 1)
			d.ev.add(Event{Source: "generator", ZH: fmt.Sprintf("下发违反数据契约的订单 %s 单号 %s：代理将拒收", m.Channel, m.ChannelOrderNo),
				EN: "order breaking the data contract sent: agents refuse it (contract_violation)"})
		case x < 0.165: // presale: deposit now, balance later
			ids, err := d.post(ctx, []wire.OrderMsg{d.newOrder(now, true, false)})
			if err != nil {
				d.postFailed(ctx, err)
				continue
			}
			d.stats.add(&d.stats.t.Presale, 1)
			for _, id := range ids {
				d.record(id, "presale")
				balances = append(balances, due{id, now.Add(balanceAfter)})
				if rnd.Float64() < d.opts.Mistakes*4 {
					d.packQ.push(job{id: id, premature: true})
				}
			}
		case x < 0.205: // ordered, then cancelled by the buyer
			ids, err := d.post(ctx, []wire.OrderMsg{d.newOrder(now, false, false)})
			if err != nil || len(ids) == 0 {
				d.postFailed(ctx, err)
				continue
			}
			if _, err := d.post(ctx, []wire.OrderMsg{{Type: wire.TypeCancel, OrderID: ids[0], Reason: "买家取消 buyer cancelled"}}); err != nil {
				d.postFailed(ctx, err)
				continue
			}
			d.record(ids[0], "cancel")
			d.stats.add(&d.stats.t.Cancels, 1)
			d.ev.add(Event{Source: "generator", Good: true, ZH: "买家取消订单 " + short(ids[0]), EN: "order cancelled by the buyer"})
			if d.opts.Mistakes > 0 {
				d.packQ.push(job{id: ids[0], cancelled: true})
			}
		default:
			ids, err := d.post(ctx, []wire.OrderMsg{d.newOrder(now, false, false)})
			if err != nil {
				d.postFailed(ctx, err)
				continue
			}
			for _, id := range ids {
				d.record(id, "normal")
				d.packQ.push(job{id: id})
			}
		}
	}
}

// watchMalformed shows each agent's refusals of downlink messages the hub did not sign (the faulty
// publisher's, journaled as message_refused) and of unreadable ones (journaled by its intake as
// malformed_message).
func (d *Demo) watchMalformed(seen map[string]uint64) {
	for _, n := range []*node{d.pack, d.dock} {
		if r := n.refused.Load(); r > seen[n.name+"/refused"] {
			d.ev.add(Event{Source: n.name, ZH: "拒收未经中心签名的消息", EN: "refused a message the hub did not sign (" + agent.ReasonMessageRefused + ")"})
			seen[n.name+"/refused"] = r
		}
		m := n.a.Intake().Stats().Malformed
		if m > seen[n.name] {
			msg := order.ReasonMalformed.Message("")
			d.ev.add(Event{Source: n.name, ZH: msg.ZH, EN: msg.EN + " (" + string(order.ReasonMalformed) + ")"})
		}
		seen[n.name] = m
	}
}

// faultyPublisher stands for a broken (or hostile) system publishing on the site's downlink topic
// directly, not through the hub and so without its signature: the agents refuse what it sends.
// It connects on first use.
type faultyPublisher struct {
	url, topic string
	cli        mqtt.Client
}

func (f *faultyPublisher) publish(payload []byte) error {
	if f.cli == nil {
		o := mqtt.NewClientOptions().AddBroker(f.url).SetClientID("wedge-demo-faulty-publisher").
			SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
		c := mqtt.NewClient(o)
		if t := c.Connect(); !t.WaitTimeout(5*time.Second) || t.Error() != nil {
			c.Disconnect(0)
			return fmt.Errorf("connect %s: %v", f.url, t.Error())
		}
		f.cli = c
	}
	t := f.cli.Publish(f.topic, 1, false, payload)
	if !t.WaitTimeout(5 * time.Second) {
		return fmt.Errorf("publish to %s: timeout", f.topic)
	}
	return t.Error()
}

func (f *faultyPublisher) close() {
	if f.cli != nil {
		f.cli.Disconnect(250)
	}
}

// watchRefusals looks up, at the hub, the history of contract-breaking orders and shows the
// agents' refusals once they arrived there. It returns the orders still to watch.
func (d *Demo) watchRefusals(ctx context.Context, ids []string) []string {
	keep := ids[:0]
	for i, id := range ids {
		if i >= 3 { // a few lookups a tick are enough
			keep = append(keep, ids[i:]...)
			break
		}
		var o struct {
			History []struct {
				wire.Entry
				Agent string `json:"agent"`
			} `json:"history"`
		}
		if err := d.getHubJSON(ctx, "/v1/orders/"+id, &o); err != nil {
			keep = append(keep, id)
			continue
		}
		var agents []string
		detail := ""
		for _, e := range o.History {
			if e.Kind == wire.KindReject && e.Reason == string(order.ReasonContract) {
				agents = append(agents, e.Agent)
				detail = e.Detail
			}
		}
		if len(agents) == 0 {
			keep = append(keep, id)
			continue
		}
		m := order.ReasonContract.Message("")
		d.ev.add(Event{Source: strings.Join(agents, ","), ZH: fmt.Sprintf("拒收订单 %s：%s", short(id), m.ZH),
			EN: m.EN + " (" + detail + ")"})
	}
	return keep
}

func (d *Demo) postFailed(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	if err == nil {
		err = fmt.Errorf("no order id returned")
	}
	d.log.Warn("generator: posting to the hub failed", logging.Err(err))
	d.ev.add(Event{Source: "generator", ZH: "下单失败 " + err.Error(), EN: "posting to the hub failed"})
}

// short shortens an order id for the view.
func short(id string) string {
	if len(id) > 12 {
		return id[:12] + "…"
	}
	return id
}
