// Package console is the supervisor console: an http.Handler serving embedded web assets
// (plain JS/CSS, no CDN, no build step; Chinese by default with an English toggle) and a WebSocket
// hub that pushes the live board, the scan feed and popups to every open browser.
//
// The agent implements Source (board snapshot, order search, manual confirmation, breaker reset)
// and, optionally, ExceptionSource (the exception queue of intercepted orders and their
// resolution), and pushes events with Publish. Personal data is shown masked (order.Masked):
// search answers mask the order and its entries' order messages. Each browser gets a snapshot when it connects, then events. A
// slow browser never blocks Publish: each client has a bounded queue; when it overflows the queue
// is dropped and that client gets a fresh snapshot instead (a resync).
//
// Access (internal/webauth): everybody who can reach the console sees the read-only board;
// supervisors log in with a name and password (PBKDF2-SHA256 hashes in config, see
// internal/webauth/password) to confirm steps, reset the breaker and acknowledge popups for
// everyone. Sessions are HMAC-signed cookies (HttpOnly, SameSite=Strict, Secure on TLS or when
// Options.SecureCookies is set); every state-changing request must carry the session's CSRF token in
// the X-Wedge-CSRF header and a JSON body, and state-changing requests (net/http's
// CrossOriginProtection) or WebSocket upgrades from a foreign origin are refused. The agent decides the listen address (localhost by
// default) and mounts the handler, e.g. mux.Handle("/console/", http.StripPrefix("/console",
// c.Handler())): the page uses relative URLs only.
package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"wedge/agent/breaker"
	"wedge/agent/config"
	"wedge/agent/latency"
	"wedge/internal/clock"
	"wedge/internal/logging"
	"wedge/internal/webauth"
	"wedge/internal/webauth/password"
	"wedge/order"
	"wedge/order/kpi"
	"wedge/sync/wire"
)

// Sentinel errors.
var (
	// ErrNotFound is what Source.Search returns (wrapped) when no order matches the code.
	ErrNotFound = errors.New("console: not found")
	// ErrOptions means New was given bad options.
	ErrOptions = errors.New("console: invalid options")
	// ErrClosed means the console was closed.
	ErrClosed = errors.New("console: closed")
)

// Source is what the agent provides to the console.
type Source interface {
	// Snapshot is the board now. It must be cheap (cached counts): it is called on every (re)connect
	// and every BoardEvery. The console encodes it on other goroutines, so return fresh values (a
	// new Counts map, new slices) that the agent does not modify afterwards.
	Snapshot() Snapshot
	// Search finds an order by order id, channel order number or waybill, with its local history.
	Search(ctx context.Context, code string) (OrderView, error)
	// Confirm records a supervisor's manual confirmation of the order's next step (journaled as
	// trigger manual); an error is for failures to record, a refusal is a Result with OK false.
	Confirm(ctx context.Context, req ConfirmRequest) (ConfirmResult, error)
	// ResetBreaker closes the breaker on a supervisor's decision (journaled), see breaker.Reset.
	ResetBreaker(ctx context.Context, by, reason string) error
}

// AlertAcker is optionally implemented by a Source that wants to journal acknowledged popups.
type AlertAcker interface {
	AckAlert(ctx context.Context, a Alert) error
}

// Snapshot is the board. Durations are JSON nanoseconds.
type Snapshot struct {
	Site    string              `json:"site"`
	Agent   string              `json:"agent"`
	At      time.Time           `json:"at"`
	Counts  map[order.State]int `json:"counts"`
	Backlog breaker.Stats       `json:"backlog"`
	Breaker breaker.State       `json:"breaker"`
	KPI     KPI                 `json:"kpi"`
	Devices []Device            `json:"devices"`
	Sync    Sync                `json:"sync"`
	Overdue []OrderRow          `json:"overdue"` // highlighted: in 待分仓 past overdue_after, oldest first
	// Intake is how late orders reach this PC after payment: the median of the last 10 minutes,
	// its distribution (latency.Buckets), the orders not measured, the limit and the alert.
	Intake latency.Stats `json:"intake"`
	// Settings are the breaker, overdue, KPI and data contract settings the agent applies, each
	// with its source (configuration file and line, default, or hub command).
	Settings []config.Effective `json:"settings"`
}

// KPI is the board's KPI part.
type KPI struct {
	Goal  float64  `json:"goal"`
	Warn  float64  `json:"warn"`
	Day   kpi.Rate `json:"day"`
	Shift kpi.Rate `json:"shift"`
}

// Device is one scanner or printer.
type Device struct {
	Name    string `json:"name"`
	Kind    string `json:"kind"` // scanner | printer
	Station string `json:"station,omitempty"`
	Up      bool   `json:"up"`
	Health  string `json:"health,omitempty"` // ok | fault | unplugged | ...
	Detail  string `json:"detail,omitempty"`
}

// Sync is the uplink's state.
type Sync struct {
	Unsynced  uint64    `json:"unsynced"`
	LastAck   time.Time `json:"last_ack,omitzero"`
	Connected bool      `json:"connected"`
}

// OrderRow is an order line on the board.
type OrderRow struct {
	ID             string      `json:"order_id"`
	ChannelOrderNo string      `json:"channel_order_no,omitempty"`
	State          order.State `json:"state"`
	Since          time.Time   `json:"since"`
	Overdue        bool        `json:"overdue,omitempty"`
}

// OrderView is a search result.
type OrderView struct {
	Order   order.Order  `json:"order"`
	History []wire.Entry `json:"history"`
	Next    order.Action `json:"next,omitempty"` // what a manual confirmation would do, "" if nothing
}

// ConfirmRequest is a manual confirmation.
type ConfirmRequest struct {
	OrderID  string `json:"order_id"`
	Operator string `json:"operator"` // who did the step physically
	Note     string `json:"note"`     // why it is confirmed by hand
	By       string `json:"by"`       // the logged-in supervisor (set by the console)
}

// ConfirmResult is the answer to a confirmation.
type ConfirmResult struct {
	OK      bool          `json:"ok"`
	From    order.State   `json:"from,omitempty"`
	To      order.State   `json:"to,omitempty"`
	Message order.Message `json:"message"`
}

// Scan is one line of the live scan feed.
type Scan struct {
	At       time.Time     `json:"at"`
	Station  string        `json:"station"`
	Device   string        `json:"device"`
	Operator string        `json:"operator,omitempty"`
	Code     string        `json:"code"`
	OrderID  string        `json:"order_id,omitempty"`
	Result   string        `json:"result"`           // accepted | already_done | recorded | rejected
	Reason   order.Reason  `json:"reason,omitempty"` // when rejected
	Message  order.Message `json:"message"`
}

// Alert kinds.
const (
	AlertBreaker       = "breaker"
	AlertPrinterFault  = "printer_fault"
	AlertUnplugged     = "unplugged"
	AlertOverdue       = "overdue"
	AlertIntakeLatency = "intake_latency"
	// AlertCarrierException: the hub relayed a carrier exception event (快递异常) for an order.
	AlertCarrierException = "carrier_exception"
)

// Alert is a popup that stays until acknowledged.
type Alert struct {
	ID      string        `json:"id"` // set by Publish when empty
	Kind    string        `json:"kind"`
	At      time.Time     `json:"at"`
	Title   order.Message `json:"title"`
	Detail  string        `json:"detail,omitempty"`
	AckedBy string        `json:"acked_by,omitempty"`
	AckedAt time.Time     `json:"acked_at,omitzero"`
}

// BreakerAlert is the popup for a breaker transition (open or reset/close, so every screen learns it).
func BreakerAlert(t breaker.Transition) Alert {
	return Alert{Kind: AlertBreaker, At: t.At, Title: t.Message(), Detail: t.Entry().Detail}
}

// IntakeLatencyAlert is the popup for orders reaching the PC late after payment: the median of the
// window s passed its limit.
func IntakeLatencyAlert(s latency.Stats) Alert {
	win := s.Window.Round(time.Minute)
	return Alert{Kind: AlertIntakeLatency, At: s.At, Title: order.Message{
		ZH: fmt.Sprintf("订单到仓延迟过高：近 %s 支付→到达本机中位数 %s，超过上限 %s，请联系订单系统检查推送", win, s.Median.Round(time.Second), s.Limit),
		EN: fmt.Sprintf("Orders arrive late: median payment → arrival at this PC over the last %s is %s, over the %s limit; ask the order system to check its push", win, s.Median.Round(time.Second), s.Limit)},
		Detail: fmt.Sprintf("median %s over %d orders (max %s), limit %s; not measured: %d without paid_at, %d paid after arrival (clock skew)",
			s.Median.Round(time.Second), s.Count, s.Max.Round(time.Second), s.Limit, s.NoPaidAt, s.Future)}
}

// PrinterFaultAlert is the popup for a printer fault.
func PrinterFaultAlert(at time.Time, printer, detail string) Alert {
	return Alert{Kind: AlertPrinterFault, At: at, Detail: detail, Title: order.Message{
		ZH: "打印机故障：" + printer + "，请检查纸张、碳带和机盖", EN: "Printer fault: " + printer + ", check paper, ribbon and cover"}}
}

// UnpluggedAlert is the popup for a device that disappeared.
func UnpluggedAlert(at time.Time, kind, name string) Alert {
	return Alert{Kind: AlertUnplugged, At: at, Title: order.Message{
		ZH: "设备已断开：" + name + "（" + kind + "），请检查 USB 线", EN: "Device unplugged: " + name + " (" + kind + "), check the USB cable"}}
}

// Event types.
const (
	EventBoard    = "board"    // Data: Snapshot
	EventScan     = "scan"     // Data: Scan
	EventAlert    = "alert"    // Data: Alert
	EventAck      = "ack"      // Data: Alert (acknowledged)
	EventSnapshot = "snapshot" // sent by the console itself on (re)connect: Data: Full
)

// Event is one push to the browsers.
type Event struct {
	Type string `json:"type"`
	Data any    `json:"data"`
}

// BoardEvent, ScanEvent and AlertEvent build events.
func BoardEvent(s Snapshot) Event { return Event{EventBoard, s} }

// ScanEvent is a feed line.
func ScanEvent(s Scan) Event { return Event{EventScan, s} }

// AlertEvent is a popup.
func AlertEvent(a Alert) Event { return Event{EventAlert, a} }

// Full is what a (re)connecting browser gets: the board, the recent feed and the open popups.
type Full struct {
	Board  Snapshot `json:"board"`
	Feed   []Scan   `json:"feed"`   // newest last
	Alerts []Alert  `json:"alerts"` // not yet acknowledged by a supervisor
}

// Options configure a Console. Zero values mean the documented defaults.
type Options struct {
	Source Source // required
	// Users maps supervisor names to password hashes made by password.Hash. Empty: nobody can log
	// in and the console is read-only.
	Users map[string]string
	// SessionKey signs session cookies (≥ 32 bytes). nil: a random key, so sessions end with the process.
	SessionKey []byte
	// SessionTTL is how long a login lasts (default 12 h).
	SessionTTL time.Duration
	// AllowedOrigins are extra Origin values (e.g. "https://console.example") accepted besides the
	// request's own host.
	AllowedOrigins []string
	// SecureCookies forces the Secure attribute on plain HTTP (set it when a TLS proxy fronts the
	// console). It is always set when the console itself serves TLS. On plain HTTP without a proxy
	// browsers would drop a Secure cookie, so it is not set there: use TLS for LAN access.
	SecureCookies bool
	QueueLen      int           // per-client queue (default 256 events)
	FeedLen       int           // scan feed lines kept for resync (default 50)
	MaxAlerts     int           // open popups kept (default 50, oldest dropped)
	WriteTimeout  time.Duration // per WebSocket write (default 10 s); a client that stalls longer is closed
	PingEvery     time.Duration // WebSocket pings (default 30 s)
	// BoardEvery is how often the console re-reads Source.Snapshot and pushes the board when it
	// changed and someone is watching (default 2 s; negative: only on Refresh).
	BoardEvery time.Duration
	Clock      clock.Clock
	Logger     *slog.Logger // nil: discard
}

// Stats count fan-out health (for metrics and the benchmark).
type Stats struct {
	Clients   int    `json:"clients"`
	Published uint64 `json:"published"`
	Resyncs   uint64 `json:"resyncs"` // queue overflows that were replaced by a snapshot
	Closed    uint64 `json:"closed"`  // clients closed for a failed or stalled write
}

// Console is the handler plus the hub. Publish and the handler are safe for concurrent use.
type Console struct {
	src      Source
	opts     Options
	clk      clock.Clock
	log      *slog.Logger
	sessions *webauth.Sessions
	throttle *webauth.Throttle
	origins  *webauth.Origins
	upgrader websocket.Upgrader

	mu      sync.Mutex
	clients map[*client]struct{}
	feed    []Scan
	alerts  []Alert
	closed  bool

	nextID    atomic.Uint64
	published atomic.Uint64
	resyncs   atomic.Uint64
	dropped   atomic.Uint64

	closing chan struct{}
	refresh chan struct{}
	wg      sync.WaitGroup
	lastBrd []byte // owned by the board goroutine
}

// New checks opts and returns a console. It starts one owner goroutine (the board refresher);
// each connected browser gets a reader and a writer goroutine. Close stops them all.
func New(opts Options) (*Console, error) {
	if opts.Source == nil {
		return nil, fmt.Errorf("%w: Source is required", ErrOptions)
	}
	for name, h := range opts.Users {
		if err := password.Validate(h); err != nil {
			return nil, fmt.Errorf("%w: user %q: %w", ErrOptions, name, err)
		}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opts.SessionTTL, webauth.DefaultTTL)
	def(&opts.WriteTimeout, 10*time.Second)
	def(&opts.PingEvery, 30*time.Second)
	if opts.BoardEvery == 0 {
		opts.BoardEvery = 2 * time.Second
	}
	if opts.QueueLen <= 0 {
		opts.QueueLen = 256
	}
	if opts.FeedLen <= 0 {
		opts.FeedLen = 50
	}
	if opts.MaxAlerts <= 0 {
		opts.MaxAlerts = 50
	}
	c := &Console{src: opts.Source, opts: opts, clk: clock.Or(opts.Clock), log: logging.Or(opts.Logger),
		clients: map[*client]struct{}{}, closing: make(chan struct{}), refresh: make(chan struct{}, 1)}
	var err error
	c.sessions, err = webauth.NewSessions(webauth.SessionOptions{CookieName: cookieName, Key: opts.SessionKey, TTL: opts.SessionTTL,
		Secure: opts.SecureCookies, Valid: c.validSession, Clock: c.clk})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOptions, err)
	}
	if c.origins, err = webauth.NewOrigins(opts.AllowedOrigins); err != nil {
		return nil, fmt.Errorf("%w: AllowedOrigins: %w", ErrOptions, err)
	}
	c.throttle = webauth.NewThrottle(webauth.ThrottleOptions{Clock: c.clk})
	c.upgrader = websocket.Upgrader{CheckOrigin: c.origins.SameOrigin, ReadBufferSize: 1024, WriteBufferSize: 16 << 10,
		HandshakeTimeout: 10 * time.Second}
	var timer clock.Timer
	if opts.BoardEvery > 0 {
		timer = c.clk.NewTimer(opts.BoardEvery) // armed before New returns, so a fake clock can drive it at once
	}
	c.wg.Add(1)
	go c.boardLoop(timer)
	return c, nil
}

// Refresh asks for the board to be re-read and pushed now (e.g. after a commit or a breaker
// transition). It never blocks; calls while one is pending coalesce.
func (c *Console) Refresh() {
	select {
	case c.refresh <- struct{}{}:
	default:
	}
}

// boardLoop is the console's owner goroutine: it pushes the board when it changed.
func (c *Console) boardLoop(timer clock.Timer) {
	defer c.wg.Done()
	var tick <-chan time.Time
	if timer != nil {
		defer timer.Stop()
		tick = timer.C()
	}
	for {
		select {
		case <-c.closing:
			return
		case <-c.refresh:
		case <-tick:
			timer.Reset(c.opts.BoardEvery)
		}
		c.mu.Lock()
		watched := len(c.clients) > 0
		c.mu.Unlock()
		if !watched {
			continue
		}
		s := c.src.Snapshot()
		s.At = time.Time{} // a new read time alone is no change
		b, err := json.Marshal(s)
		if err != nil || bytes.Equal(b, c.lastBrd) {
			continue
		}
		c.lastBrd = b
		c.Publish(BoardEvent(c.src.Snapshot()))
	}
}

// Stats returns the fan-out counters.
func (c *Console) Stats() Stats {
	c.mu.Lock()
	n := len(c.clients)
	c.mu.Unlock()
	return Stats{Clients: n, Published: c.published.Load(), Resyncs: c.resyncs.Load(), Closed: c.dropped.Load()}
}

// Publish pushes ev to every connected browser without blocking. Scan events are also kept for the
// feed of (re)connecting browsers, alerts until a supervisor acknowledges them. Unknown types are
// sent as they are.
func (c *Console) Publish(ev Event) {
	switch ev.Type {
	case EventScan:
		if s, ok := ev.Data.(Scan); ok {
			c.mu.Lock()
			c.feed = append(c.feed, s)
			if len(c.feed) > c.opts.FeedLen {
				c.feed = append(c.feed[:0:0], c.feed[len(c.feed)-c.opts.FeedLen:]...)
			}
			c.mu.Unlock()
		}
	case EventAlert:
		if a, ok := ev.Data.(Alert); ok {
			if a.ID == "" {
				a.ID = "a" + strconv.FormatUint(c.nextID.Add(1), 10)
			}
			if a.At.IsZero() {
				a.At = c.clk.Now()
			}
			ev.Data = a
			c.mu.Lock()
			c.alerts = append(c.alerts, a)
			if len(c.alerts) > c.opts.MaxAlerts {
				c.alerts = append(c.alerts[:0:0], c.alerts[len(c.alerts)-c.opts.MaxAlerts:]...)
			}
			c.mu.Unlock()
		}
	}
	b, err := json.Marshal(ev)
	if err != nil {
		c.log.Error("console cannot encode an event", "type", ev.Type, logging.Err(err))
		return
	}
	c.published.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	for cl := range c.clients {
		cl.push(b, c)
	}
}

// full builds the (re)connect snapshot.
func (c *Console) full() Full {
	board := c.src.Snapshot()
	c.mu.Lock()
	defer c.mu.Unlock()
	return Full{Board: board, Feed: append([]Scan{}, c.feed...), Alerts: append([]Alert{}, c.alerts...)}
}

// ack removes an open alert and broadcasts it acknowledged.
func (c *Console) ack(ctx context.Context, id, by string) (Alert, error) {
	c.mu.Lock()
	var a Alert
	found := false
	for i, x := range c.alerts {
		if x.ID == id {
			a, found = x, true
			c.alerts = append(c.alerts[:i:i], c.alerts[i+1:]...)
			break
		}
	}
	c.mu.Unlock()
	if !found {
		return Alert{}, fmt.Errorf("%w: alert %q", ErrNotFound, id)
	}
	a.AckedBy, a.AckedAt = by, c.clk.Now()
	if ak, ok := c.src.(AlertAcker); ok {
		if err := ak.AckAlert(ctx, a); err != nil {
			c.log.Error("console popup acknowledgement not journaled", "alert", id, logging.Err(err))
		}
	}
	c.Publish(Event{EventAck, a})
	return a, nil
}

// Close disconnects every browser and waits for their goroutines. The handler then refuses
// WebSocket upgrades; plain requests keep working.
func (c *Console) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.closing)
	for cl := range c.clients {
		cl.conn.Close()
	}
	c.mu.Unlock()
	c.wg.Wait()
	return nil
}
