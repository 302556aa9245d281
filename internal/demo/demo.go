package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"wedge/agent"
	"wedge/agent/config"
	"wedge/agent/printing"
	"wedge/agent/station"
	"wedge/internal/webauth/password"
	"wedge/order"
	"wedge/sync/apitoken"
	"wedge/sync/broker"
	"wedge/sync/hub"
	"wedge/sync/hub/hubconsole"
	"wedge/sync/wire"
)

// Sentinel errors. Match them with errors.Is.
var (
	// ErrStart means a part of the demo (broker, hub, agent, pty) could not start; the cause is wrapped.
	ErrStart = errors.New("demo: cannot start")
	// ErrStop means a part did not stop cleanly.
	ErrStop = errors.New("demo: stop")
)

// Defaults.
const (
	DefaultSite       = "sz01"
	DefaultRate       = 60.0 // orders per minute
	DefaultHubListen  = hub.DefaultListen
	DefaultPackListen = "127.0.0.1:8470"
	DefaultDockListen = "127.0.0.1:8471"
	DefaultScanGap    = 300 * time.Millisecond
	DefaultHandover   = 2 * time.Second
	DefaultMistakes   = 0.08
	// APIToken is the demo agents' API bearer token (for POST /api/v1/scan and confirmations).
	APIToken = "demo"
	// HubTokenName is the name of the hub API token the demo makes at every start (admin scope: the
	// order generator posts with it, and the demo prints it for trying the hub's API by hand).
	HubTokenName = "demo"
	// Profile is the firmware profile of the demo's simulated serial scanners.
	Profile = "generic-serial-cr"
	// PrinterName and PrinterProfile are pack01's label printer: a ZPL emulator on TCP.
	PrinterName    = "prn-p1"
	PrinterProfile = "zebra-zd421"
	// ConsoleUser and ConsolePassword sign in to the agents' supervisor consoles (/console/); the
	// password's hash is made at start-up with password.Hash and written to the agent YAML.
	ConsoleUser     = "demo"
	ConsolePassword = "demo"
	// HQUser and HQPassword sign in to the hub's central console (/console/ on the hub) as a
	// supervisor. A fixed demo password: the demo is for one machine and listens on loopback only.
	HQUser     = "hq"
	HQPassword = ConsolePassword // the same hash serves both, made once at start-up
)

// Options configure the demo. Zero values mean the documented defaults.
type Options struct {
	// DataDir keeps the hub's and agents' data; "" makes a fresh temporary directory.
	DataDir string
	// Keep leaves the data directory in place at Stop (a temporary one is removed otherwise; a
	// DataDir given by the caller is always kept).
	Keep bool
	// Rate is orders per minute from the generator (default DefaultRate; negative: no generator).
	Rate float64
	// Burst dispatches this many orders at once right after the start.
	Burst int
	// Site is the warehouse code (default DefaultSite).
	Site string
	// HubListen, PackListen and DockListen are the HTTP addresses of the hub and the two agents'
	// APIs (defaults DefaultHubListen, DefaultPackListen, DefaultDockListen). An address that is
	// taken falls back to a free loopback port.
	HubListen, PackListen, DockListen string
	// ScanGap is the simulated operators' time between two scans (default DefaultScanGap).
	ScanGap time.Duration
	// HandoverDelay is the time between a label's print and its handover (default DefaultHandover).
	HandoverDelay time.Duration
	// Mistakes is the share of operator actions that go wrong on purpose (default DefaultMistakes;
	// negative: none). Half as often, the printer runs out of paper before a label.
	Mistakes float64
	// Seed seeds the generator and the operators (0: from the clock).
	Seed uint64
	// Logger receives the components' log records (nil: text records in the file demo.log in the
	// data directory).
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.Rate == 0 {
		o.Rate = DefaultRate
	}
	if o.Site == "" {
		o.Site = DefaultSite
	}
	if o.HubListen == "" {
		o.HubListen = DefaultHubListen
	}
	if o.PackListen == "" {
		o.PackListen = DefaultPackListen
	}
	if o.DockListen == "" {
		o.DockListen = DefaultDockListen
	}
	if o.ScanGap <= 0 {
		o.ScanGap = DefaultScanGap
	}
	if o.HandoverDelay <= 0 {
		o.HandoverDelay = DefaultHandover
	}
	if o.Mistakes == 0 {
		o.Mistakes = DefaultMistakes
	}
	if o.Mistakes < 0 {
		o.Mistakes = 0
	}
	if o.Seed == 0 {
		o.Seed = uint64(time.Now().UnixNano())
	}
}

// Demo is a running demo: broker, hub, two agents, simulated scanners and printer, operators and
// generator.
type Demo struct {
	opts    Options
	dir     string
	tmp     bool
	logFile *os.File
	log     *slog.Logger

	brk    *broker.Broker
	keys   *demoKeys
	hub    *hub.Hub
	prn    simPrinter
	pack   *node
	dock   *node
	tr     *http.Transport
	client *http.Client

	hubToken string // the demo's admin token of the hub API

	cancel context.CancelFunc
	wg     sync.WaitGroup

	ev    *eventLog
	stats statCounters

	packQ *queue
	dockQ *queue

	genMu sync.Mutex
	gen   *gen // makes every order (so waybills and channel order numbers never repeat in a run)

	recMu   sync.Mutex
	records map[string]string // order id → kind (normal, presale, cancel, contract)

	// burstIn is closed once the start-up burst reached pack01 and its breaker looked at it (at
	// once without a burst): the print operator starts after it, so that a burst above the
	// breaker's max_backlog trips it whatever the operator's speed.
	burstIn chan struct{}
	// consoleHash is the hash of ConsolePassword in the agents' console.users.
	consoleHash string

	brMu      sync.Mutex
	brWasOpen bool // pack01's breaker as the view last saw it (for the open/close events)

	stopOnce sync.Once
	stopErr  error
}

// node is one agent of the demo with its station's simulated scanner.
type node struct {
	name    string
	station string
	device  string
	pty     simPort
	a       *agent.Agent
	results chan station.Result
	cfgFile string
	console string        // the supervisor console's URL, "" when the agent serves none
	refused atomic.Uint64 // hub messages the agent refused for their signature
	printer string        // the station's printer device, "" for a station without one
}

// simPort is the device side of a simulated serial scanner: what is written to it arrives at the
// serial port Path, which the agent's driver opens.
type simPort interface {
	Write(b []byte) (int, error)
	Close() error
	Path() string
}

// simPrinter is the demo's emulated label printer on a TCP port (Addr). PaperOut(true) makes it
// report paper out; false reloads the paper. A label held by the paper-out does not come out then:
// the agent cancelled it (~JA) when it recorded the printer_fault.
type simPrinter interface {
	Addr() string
	PaperOut(out bool)
	Printed() int // labels that came out
	Close() error
}

// Start starts everything: broker, hub, the printer emulator, agents (with their scanners on ptys),
// then the operators and the generator. On error whatever started is stopped again.
func Start(ctx context.Context, opts Options) (d *Demo, err error) {
	opts.defaults()
	d = &Demo{opts: opts, ev: newEventLog(256), records: map[string]string{}, gen: newGen(opts.Seed), packQ: newQueue(), dockQ: newQueue(),
		burstIn: make(chan struct{})}
	if opts.Burst <= 0 {
		close(d.burstIn)
	}
	defer func() {
		if err != nil {
			sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			d.Stop(sctx)
		}
	}()
	d.dir = opts.DataDir
	if d.dir == "" {
		if d.dir, err = os.MkdirTemp("", "wedge-demo-"); err != nil {
			return d, fmt.Errorf("%w: data directory: %w", ErrStart, err)
		}
		d.tmp = true
	} else if err := os.MkdirAll(d.dir, 0o750); err != nil {
		return d, fmt.Errorf("%w: data directory: %w", ErrStart, err)
	}
	d.log = opts.Logger
	if d.log == nil {
		if d.logFile, err = os.OpenFile(filepath.Join(d.dir, "demo.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640); err != nil {
			return d, fmt.Errorf("%w: log file: %w", ErrStart, err)
		}
		d.log = slog.New(slog.NewTextHandler(d.logFile, nil))
	}
	// The console password's hash (PBKDF2, deliberately slow) is made while the broker and hub start.
	type hashed struct {
		h   string
		err error
	}
	hashc := make(chan hashed, 1)
	go func() {
		h, err := password.Hash(ConsolePassword)
		hashc <- hashed{h, err}
	}()
	defer func() {
		if hashc != nil {
			<-hashc // an early error return: do not leave the goroutine behind
		}
	}()
	d.tr = &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second}
	d.client = &http.Client{Transport: d.tr, Timeout: 15 * time.Second}

	// 1. broker
	if d.brk, err = broker.Start("127.0.0.1:0", &broker.Options{Logger: d.log}); err != nil {
		return d, fmt.Errorf("%w: %w", ErrStart, err)
	}
	// 2. hub, signing what it publishes and believing the agents' batches only with their keys
	if d.keys, err = makeKeys(d.dir, opts.Site, "pack01", "dock01"); err != nil {
		return d, fmt.Errorf("%w: signing keys: %w", ErrStart, err)
	}
	hr := <-hashc
	hashc = nil
	if d.consoleHash, err = hr.h, hr.err; err != nil {
		return d, fmt.Errorf("%w: console password: %w", ErrStart, err)
	}
	if d.hub, err = hub.New(context.WithoutCancel(ctx), hub.Options{
		BrokerURL: d.brk.URL(), DataDir: filepath.Join(d.dir, "hub"), Listen: freeOr(opts.HubListen),
		ClientID: "wedge-demo-hub", Logger: d.log, SigningKey: d.keys.hub, AgentKeysDir: d.keys.registry,
		Console: &hubconsole.Options{Users: []hubconsole.User{{Name: HQUser, Role: hubconsole.RoleSupervisor, PasswordHash: d.consoleHash}}},
	}); err != nil {
		return d, fmt.Errorf("%w: %w", ErrStart, err)
	}
	if d.hubToken, err = demoToken(ctx, d.hub.Tokens()); err != nil {
		return d, fmt.Errorf("%w: hub token: %w", ErrStart, err)
	}
	// 3. pack01's label printer, then the agents, each with a serial scanner on a pty
	if d.prn, err = startPrinter(d.log); err != nil {
		return d, fmt.Errorf("%w: printer emulator: %w", ErrStart, err)
	}
	if d.pack, err = d.startNode(ctx, "pack01", station.RolePrint, "print-1", "scan-p1", d.prn.Addr(), opts.PackListen); err != nil {
		return d, err
	}
	if d.dock, err = d.startNode(ctx, "dock01", station.RoleHandover, "dock-1", "scan-d1", "", opts.DockListen); err != nil {
		return d, err
	}
	// The supervisor console, when this build's agent serves it.
	for _, n := range []*node{d.pack, d.dock} {
		if d.probe(ctx, "http://"+n.a.APIAddr()+"/console/") {
			n.console = "http://" + n.a.APIAddr() + "/console/"
		}
	}
	// A kept data directory: the operators resume the work the agents' journals still hold.
	d.resume()
	// 4. the simulated people
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d.cancel = cancel
	d.wg.Add(3)
	go d.packOperator(rctx, d.opts.Seed+1)
	go d.dockOperator(rctx, d.opts.Seed+2)
	go d.generator(rctx, d.opts.Seed)
	d.ev.add(Event{Source: "demo", Good: true, ZH: "演示已启动", EN: "demo started"})
	return d, nil
}

// startNode starts one agent; printerAddr, if not "", gives its station a ZPL printer on TCP.
func (d *Demo) startNode(ctx context.Context, name, role, st, dev, printerAddr, listen string) (*node, error) {
	n := &node{name: name, station: st, device: dev, results: make(chan station.Result, 256)}
	if printerAddr != "" {
		n.printer = PrinterName
	}
	p, err := openScannerPort()
	if err != nil {
		return nil, fmt.Errorf("%w: scanner of %s: %w", ErrStart, name, err)
	}
	n.pty = p
	n.cfgFile = filepath.Join(d.dir, name+".yaml")
	if err := os.WriteFile(n.cfgFile, []byte(agentYAML(d.opts.Site, name, role, st, dev, p.Path(), printerAddr, d.brk.URL(), freeOr(listen), d.consoleHash,
		d.keys.hubPub, d.keys.agents[name])), 0o640); err != nil {
		p.Close()
		return nil, fmt.Errorf("%w: config of %s: %w", ErrStart, name, err)
	}
	cfg, err := config.Load(n.cfgFile, nil)
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("%w: config of %s: %w", ErrStart, name, err)
	}
	n.a, err = agent.New(ctx, cfg, agent.Deps{Logger: d.log, OnResult: func(r station.Result) { d.onResult(n, r) },
		OnPrinterEvent: func(ev printing.Event) { d.onPrinterEvent(n, ev) },
		OnRefused:      func(string, error) { n.refused.Add(1) }})
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("%w: agent %s: %w", ErrStart, name, err)
	}
	return n, nil
}

// agentYAML is the configuration of one demo agent, written to DIR/NAME.yaml and loaded like any
// wedge.yaml. printerAddr, if not "", adds the station's network label printer; consoleHash is
// the password hash of the console user ConsoleUser; hubPub is the hub's public key the agent pins
// and keyFile the agent's own signing key.
func agentYAML(site, name, role, st, dev, port, printerAddr, brokerURL, listen, consoleHash, hubPub, keyFile string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# wedge demo: %s (%s station %s)\n", name, role, st)
	fmt.Fprintf(&b, "site: %s\nagent: %s\ndata_dir: %s\npair_window: 30s\n", site, name, name)
	b.WriteString("channels:\n")
	for _, c := range channelContracts {
		fmt.Fprintf(&b, "  %s: {order_no_pattern: %q}\n", c.Name, c.Pattern)
	}
	fmt.Fprintf(&b, "broker:\n  url: %q\n  hub_keys: [%q] # the demo hub's public key (keys/hub.key.pub)\n", brokerURL, hubPub)
	fmt.Fprintf(&b, "signing_key: %q # this agent's key; its public key is in keys/agents/%s/%s.pub\n", keyFile, site, name)
	fmt.Fprintf(&b, "api:\n  listen: %q\n  token: %q\n", listen, APIToken)
	b.WriteString("breaker: {max_backlog: 200} # above 200 orders in 待分仓 new orders are held (暂停进入); --burst 201 trips it\n")
	fmt.Fprintf(&b, "console:\n  users:\n    %s: %q # password %q (demo only)\n", ConsoleUser, consoleHash, ConsolePassword)
	fmt.Fprintf(&b, "stations:\n  - {name: %s, role: %s}\n", st, role)
	fmt.Fprintf(&b, "devices:\n  - {name: %s, kind: scanner, station: %s, transport: serial, port: %s, profile: %s}\n", dev, st, port, Profile)
	if printerAddr != "" {
		fmt.Fprintf(&b, "  - {name: %s, kind: printer, station: %s, transport: tcp, address: %q, profile: %s}\n", PrinterName, st, printerAddr, PrinterProfile)
	}
	return b.String()
}

// resume puts the orders a previous run left in 待分仓 at pack01 and in 已打单 at dock01 back on
// the operators' work lists.
func (d *Demo) resume() {
	var printed []string
	seen := map[string]bool{}
	d.pack.a.Store().ForEachOrder(order.PendingAllocation, func(o order.Order) bool {
		d.packQ.push(job{id: o.ID})
		return true
	})
	// Printed as dock01 knows it, and as pack01 knows it: a label printed just before the stop may
	// not have reached dock01 through the hub yet (the dock operator waits for it to arrive).
	for _, n := range []*node{d.dock, d.pack} {
		n.a.Store().ForEachOrder(order.WaybillPrinted, func(o order.Order) bool {
			if !seen[o.ID] {
				seen[o.ID] = true
				printed = append(printed, o.ID)
			}
			return true
		})
	}
	for _, id := range printed {
		d.dockQ.push(job{id: id})
	}
	if n := d.packQ.len() + len(printed); n > 0 {
		d.ev.add(Event{Source: "demo", Good: true, ZH: fmt.Sprintf("继续上次未完成的 %d 单", n), EN: fmt.Sprintf("resuming %d orders left by the last run", n)})
	}
}

// freeOr returns addr if it can be listened on now, else a free loopback port ("127.0.0.1:0").
func freeOr(addr string) string {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "127.0.0.1:0"
	}
	ln.Close()
	return addr
}

// onResult receives every committed station result of an agent (from the station's goroutine).
func (d *Demo) onResult(n *node, r station.Result) {
	good := r.Good()
	e := Event{Source: n.name, Good: good, ZH: r.Message.ZH, EN: r.Message.EN}
	code := r.Code
	if len(code) > 24 {
		code = code[:24] + "…"
	}
	e.ZH = "[" + code + "] " + e.ZH
	if r.Kind == wire.KindStep {
		e.ZH = fmt.Sprintf("[%s] 订单 %s %s → %s", code, short(r.Entry.OrderID), order.State(r.Entry.From).LabelZH(), order.State(r.Entry.To).LabelZH())
		e.EN = fmt.Sprintf("%s → %s", r.Entry.From, r.Entry.To)
	} else if !good && r.Entry.Reason != "" {
		e.EN += " (" + r.Entry.Reason + ")"
	}
	if !(good && r.Kind == wire.KindNote) { // notes (repeat scans) would crowd out the steps
		d.ev.add(e)
	}
	d.stats.result(r)
	select {
	case n.results <- r:
	default: // the operator is not waiting for this one
	}
}

// onPrinterEvent shows a printer fault's end (its start shows as the printer_fault rejection).
func (d *Demo) onPrinterEvent(n *node, ev printing.Event) {
	if ev.Cleared {
		d.ev.add(Event{Source: n.name, Good: true, ZH: ev.Message.ZH, EN: ev.Message.EN})
	}
}

// DataDir is the directory holding the hub's and agents' data, their configs and demo.log.
func (d *Demo) DataDir() string { return d.dir }

// HubURL is the hub's HTTP API base URL.
func (d *Demo) HubURL() string { return "http://" + d.hub.Addr() }

// HubConsoleURL is the hub's central console (sign in as HQUser / HQPassword).
func (d *Demo) HubConsoleURL() string { return d.HubURL() + "/console/" }

// HubToken is the demo's bearer token for the hub's API (admin scope).
func (d *Demo) HubToken() string { return d.hubToken }

// demoToken makes the demo's admin token. Only a hash is stored, so a kept data directory's token
// from an earlier run cannot be shown again: it is revoked and a new one made.
func demoToken(ctx context.Context, s apitoken.Store) (string, error) {
	raw, _, err := apitoken.Create(ctx, s, HubTokenName, []apitoken.Scope{apitoken.Admin}, time.Now())
	if errors.Is(err, apitoken.ErrExists) {
		if err := s.RevokeToken(ctx, HubTokenName, time.Now()); err != nil {
			return "", err
		}
		raw, _, err = apitoken.Create(ctx, s, HubTokenName, []apitoken.Scope{apitoken.Admin}, time.Now())
	}
	return raw, err
}

// hubRequest is a request to the hub's API, with the demo's token.
func (d *Demo) hubRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, d.HubURL()+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+d.hubToken)
	return req, nil
}

// AgentURLs are the agents' API base URLs by agent name.
func (d *Demo) AgentURLs() map[string]string {
	out := map[string]string{}
	for _, n := range []*node{d.pack, d.dock} {
		if n != nil && n.a != nil {
			out[n.name] = "http://" + n.a.APIAddr()
		}
	}
	return out
}

// BrokerURL is the embedded MQTT broker's URL.
func (d *Demo) BrokerURL() string { return d.brk.URL() }

// Records returns the order ids the generator created, with their kind: "normal", "presale",
// "cancel" (cancelled soon after) or "contract" (breaks the data contract on purpose).
func (d *Demo) Records() map[string]string {
	d.recMu.Lock()
	defer d.recMu.Unlock()
	out := make(map[string]string, len(d.records))
	for k, v := range d.records {
		out[k] = v
	}
	return out
}

func (d *Demo) record(id, kind string) {
	d.recMu.Lock()
	d.records[id] = kind
	d.recMu.Unlock()
}

// newOrder makes an order message (see gen.order).
func (d *Demo) newOrder(now time.Time, deposit, bad bool) wire.OrderMsg {
	d.genMu.Lock()
	defer d.genMu.Unlock()
	return d.gen.order(now, deposit, bad)
}

// Dispatch posts n orders at once (a burst), in requests of up to 200 orders.
func (d *Demo) Dispatch(ctx context.Context, n int) error {
	_, err := d.dispatch(ctx, n)
	return err
}

func (d *Demo) dispatch(ctx context.Context, n int) (all []string, err error) {
	for n > 0 {
		k := min(n, 200)
		n -= k
		msgs := make([]wire.OrderMsg, k)
		now := time.Now()
		for i := range msgs {
			msgs[i] = d.newOrder(now, false, false)
		}
		ids, err := d.post(ctx, msgs)
		if err != nil {
			return all, err
		}
		for _, id := range ids {
			d.record(id, "normal")
			d.packQ.push(job{id: id})
		}
		all = append(all, ids...)
	}
	return all, nil
}

// postResponse is the hub's answer to POST /v1/orders.
type postResponse struct {
	Accepted int      `json:"accepted"`
	OrderIDs []string `json:"order_ids"`
	Errors   []struct {
		Index int    `json:"index"`
		Error string `json:"error"`
	} `json:"errors"`
	Error string `json:"error"`
}

// post sends messages to the hub and returns the order ids of the accepted ones.
func (d *Demo) post(ctx context.Context, msgs []wire.OrderMsg) ([]string, error) {
	body, err := json.Marshal(map[string]any{"site": d.opts.Site, "orders": msgs})
	if err != nil {
		return nil, err
	}
	resp, err := d.postRaw(ctx, body)
	if err != nil {
		return nil, err
	}
	if resp.Error != "" {
		return nil, errors.New(resp.Error)
	}
	for _, e := range resp.Errors {
		d.stats.add(&d.stats.t.HubRefused, 1)
		d.ev.add(Event{Source: "hub", ZH: "中心拒收消息 " + e.Error, EN: fmt.Sprintf("hub refused message %d", e.Index)})
	}
	d.stats.add(&d.stats.t.Posted, resp.Accepted)
	return resp.OrderIDs, nil
}

// probe reports whether url answers 200.
func (d *Demo) probe(ctx context.Context, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// getHubJSON GETs the hub's path and decodes a 200 answer into v.
func (d *Demo) getHubJSON(ctx context.Context, path string, v any) error {
	req, err := d.hubRequest(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	url := req.URL.String()
	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(v)
}

func (d *Demo) postRaw(ctx context.Context, body []byte) (postResponse, error) {
	var pr postResponse
	req, err := d.hubRequest(ctx, http.MethodPost, "/v1/orders", bytes.NewReader(body))
	if err != nil {
		return pr, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.client.Do(req)
	if err != nil {
		return pr, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return pr, err
	}
	if err := json.Unmarshal(b, &pr); err != nil {
		return pr, fmt.Errorf("hub answered %s: %q", resp.Status, b)
	}
	if resp.StatusCode != http.StatusOK && pr.Error == "" && len(pr.Errors) == 0 {
		pr.Error = resp.Status
	}
	return pr, nil
}

// Stop ends the demo in reverse start order: generator and operators, agents (which close their
// scanners and printer connections), ptys, printer emulator, hub, broker; then removes a temporary data directory unless Keep. It waits for
// each part up to ctx's deadline. Calling it again returns the first result.
func (d *Demo) Stop(ctx context.Context) error {
	d.stopOnce.Do(func() {
		var errs []error
		if d.cancel != nil {
			d.cancel()
		}
		d.wg.Wait()
		for _, n := range []*node{d.dock, d.pack} {
			if n == nil {
				continue
			}
			if n.a != nil {
				if err := n.a.Stop(ctx); err != nil {
					errs = append(errs, fmt.Errorf("agent %s: %w", n.name, err))
				}
			}
			if n.pty != nil {
				n.pty.Close()
			}
		}
		if d.prn != nil {
			if err := d.prn.Close(); err != nil {
				errs = append(errs, fmt.Errorf("printer emulator: %w", err))
			}
		}
		if d.hub != nil {
			if err := d.hub.Stop(ctx); err != nil {
				errs = append(errs, fmt.Errorf("hub: %w", err))
			}
		}
		if d.brk != nil {
			if err := d.brk.Close(); err != nil {
				errs = append(errs, fmt.Errorf("broker: %w", err))
			}
		}
		if d.tr != nil {
			d.tr.CloseIdleConnections()
		}
		if d.logFile != nil {
			d.logFile.Close()
		}
		if d.tmp && !d.opts.Keep && d.dir != "" {
			if err := os.RemoveAll(d.dir); err != nil {
				errs = append(errs, fmt.Errorf("remove %s: %w", d.dir, err))
			}
		}
		if len(errs) > 0 {
			d.stopErr = fmt.Errorf("%w: %w", ErrStop, errors.Join(errs...))
		}
	})
	return d.stopErr
}
