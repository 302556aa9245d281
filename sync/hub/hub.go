// Package hub is the reference wedge hub: it ingests the agents' journal batches from MQTT, stores
// every entry once in its store (a Store: its own bbolt file DataDir/hub.db, or PostgreSQL through
// sync/hub/pgstore) keyed by (site, agent, journal_id, seq), acknowledges the highest contiguous
// seq of each journal only after the store's commit, keeps the
// authoritative state of every order (moved forward with order.Merge, never backwards), rebroadcasts
// state changes to the site, replays the site's downlink on catch-up requests, tracks agents, and
// serves a small JSON API over HTTP.
//
// Delivery. The hub subscribes with CleanSession=false and a stable client id. The broker's PUBACK to
// the hub is not the durability signal: the hub's own Ack on wedge/v1/{site}/{agent}/ack is, and it
// is published only after the entries are committed. The hub sends the broker its PUBACK only
// after that commit too, so what a killed hub had received but not committed stays in flight in
// its broker session and comes back when it reconnects under the same client id (the agent's
// resend is the fallback). A batch lost between the broker and the commit
// (a hub crash) is never acked, so the agent sends it again. Duplicates are counted and dropped;
// a gap (seq 1, 2, 4) keeps the ack at 2 until 3 arrives.
//
// Trust. MQTT does not say who published. The hub signs what it publishes (Options.SigningKey,
// keys.go) and applies an agent's entry only when the batch is signed by the key registered for
// that agent (Options.AgentKeysDir) and the entry links to the journal's previous stored entry;
// anything else is kept as unverified evidence and never applied or acked (verify.go).
//
// One owner goroutine does all writing. MQTT handlers and HTTP POSTs only queue work for it and never
// block paho; the owner drains whatever has queued up into one bbolt transaction (group commit), then
// publishes the acks and downlink messages of that transaction. The store is reached only through
// Store and Tx (hubstore.go), drawn at that transaction.
//
// Downlink. Every message the hub publishes to a site (orders and other messages POSTed to
// /v1/orders, and state rebroadcasts) gets the site's next hseq and is stored in the downlink log in
// the same transaction, before it is published. A catch-up request replays the log after `since` on
// the agent's direct topic, in pages paced per agent (catchup.go), in arrays of up to 200 messages.
//
// Scale-out. With Shared (the default) the hub subscribes with the $share/wedge-hub/ prefix, so
// several hub processes split the stream. Hubs that share the load must share one store: with
// sync/hub/pgstore they do (row locks, idempotent inserts and in-database counters make the
// replicas' transactions compose; docs/HUB-STORE.md), and each needs its own stable client id
// (Options.Replica on a shared host). Two hubs with their own bbolt files each
// store and ack only the batches they received, and a journal split between them is acked by
// neither beyond its first gap: run one bbolt hub per broker group.
//
// Commands. POST /v1/agents/{site}/{agent}/commands takes a breaker_thresholds command, checks it
// with the agent's own parser (order.ParseCommand), stores it with who (the API token's name) and when,
// and publishes it QoS 1 on the agent's command topic; GET on the same path lists them (the audit).
//
// API security. Every route but GET /healthz needs a bearer token (sync/apitoken) with the route's
// scope: orders:write for POST /v1/orders, commands:write for commands, read for the GETs, admin for
// the token routes (/v1/tokens); GET /metrics (Prometheus, metrics.go) needs read unless
// Options.MetricsOpen. Tokens are stored hashed in hub.db; see tokens.go for how they are
// managed. The listener is hardened by internal/httpserve (timeouts, body cap, Host allow-list) and
// serves HTTPS with Options.TLSCertFile and TLSKeyFile.
//
// What the hub does not do on its own: a cancel or balance_paid POSTed to /v1/orders is stored and
// published, but the hub's order state moves only when an agent journals the step (every change of
// state is a journal entry with who, device and when). A waybill message updates the hub's copy of
// the order's assigned waybill and carrier.
package hub

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"wedge/internal/clock"
	"wedge/internal/httpserve"
	"wedge/internal/logging"
	"wedge/order"
	"wedge/sync/apitoken"
	"wedge/sync/hub/central"
	"wedge/sync/hub/hubconsole"
	"wedge/sync/wire"
)

// Sentinel errors. Match them with errors.Is.
var (
	// ErrOptions means New was given options it cannot work with.
	ErrOptions = errors.New("hub: invalid options")
	// ErrStopped means the hub is stopping or stopped.
	ErrStopped = errors.New("hub: stopped")
	// ErrStore means the hub's store failed (open, schema or commit).
	ErrStore = errors.New("hub: store")
)

// DefaultListen is the HTTP listen address when Options.Listen is empty.
const DefaultListen = "127.0.0.1:8480"

// Internal limits.
const (
	maxGroup       = 256       // queued items folded into one store transaction
	maxGroupBytes  = 1 << 20   // and their payload bytes (a batch is up to 64 KiB)
	maxQueue       = 50000     // queued items beyond this are dropped (never acked, so agents resend)
	maxQueueBytes  = 128 << 20 // and payload bytes beyond this
	maxReplayChunk = 200       // downlink messages per published array
	maxPostBody    = 8 << 20   // bytes of a POST body
)

// Options configure a Hub. Zero values mean the documented defaults.
type Options struct {
	// BrokerURL is the MQTT broker, e.g. tcp://127.0.0.1:1883 or ssl://broker:8883. Required.
	BrokerURL string
	// DataDir holds hub.db, the hub's bbolt store. Required unless Store is set; created if missing.
	DataDir string
	// Store is where the hub keeps its state (nil = OpenBolt(DataDir)). The hub owns it: Stop closes
	// it, and so does New when it fails.
	// A store shared by several hubs (sync/hub/pgstore) lets them split the stream; see Scale-out.
	Store Store
	// Listen is the HTTP listen address (default DefaultListen; "127.0.0.1:0" picks a free port).
	Listen string
	// ClientID is the MQTT client id (default DefaultClientID(Replica): "wedge-hub-<hostname>", or
	// "wedge-hub-<hostname>-<Replica>"). It must be stable across restarts, because the session is
	// persistent (CleanSession=false): the broker keeps what it queued for the id until it returns.
	ClientID string
	// Replica names this hub among the replicas on one host (wire.ValidName: letters, digits, - and
	// _, at most 64). It only shapes the default ClientID; set one or the other, not both. Two replicas
	// with one client id would take the broker session from each other in turn.
	Replica string
	// CAFile, CertFile and KeyFile configure TLS (CA to verify the broker; client certificate).
	CAFile, CertFile, KeyFile string
	// Username and Password authenticate to the broker.
	Username, Password string
	// Shared subscribes with wire.SharedGroup so several hubs split the load. nil means true.
	Shared *bool
	// Clock is the time source for receive times and last-seen (nil = clock.Real).
	Clock clock.Clock
	// Logger receives the hub's log, with site/agent/seq fields where they apply (nil = silent).
	Logger *slog.Logger

	// SigningKey signs everything only the hub may say: downlink on the orders topic, acks,
	// commands and catch-up replays (see keys.go). Every replica of a hub uses the same key.
	// nil = unsigned (agents then have to accept unsigned messages; a warning is logged).
	SigningKey ed25519.PrivateKey
	// AgentKeysDir is the agent key registry, {dir}/{site}/{agent}.pub (see keys.go). With it, an
	// entry is applied only when its batch is signed by the key registered for the agent its topic
	// names and it links to the journal's previous stored entry; anything else is kept as
	// unverified evidence. "" = batches are accepted unsigned (the chain must still link; a
	// warning is logged).
	AgentKeysDir string

	// Tokens holds the API's bearer tokens (nil = the hub's own store, bucket api_tokens of hub.db).
	// Every route but GET /healthz needs a token; see http.go.
	Tokens apitoken.Store
	// BootstrapTokenFile, when set and the token store holds no token at all, makes New create an
	// admin token named "admin" and write it to this file (mode 0600), so a fresh hub can be
	// administered. Ignored once any token exists.
	BootstrapTokenFile string
	// HTTP hardens the API listener: timeouts, body cap, Host allow-list (zero fields take
	// httpserve's defaults; the body cap defaults to 8 MiB here, the largest POST /v1/orders). The
	// host of a Listen address that is a specific IP is allowed too.
	HTTP httpserve.Options
	// TLSCertFile and TLSKeyFile, both set, make the API listener serve HTTPS with this certificate.
	TLSCertFile, TLSKeyFile string
	// Catchup bounds the answers to catch-up requests (see CatchupLimits).
	Catchup CatchupLimits
	// MetricsOpen serves GET /metrics (Prometheus, metrics.go) without a token, like /healthz.
	// false (the default) asks for a bearer token with the read scope.
	MetricsOpen bool
	// Notify turns on notifications: the rules that queue them in the outbox and the dispatcher that
	// sends them (notify.go, outbox.go). nil = none are queued or sent.
	Notify *NotifyOptions
	// Tracking configures the carriers' pushes (tracking.go); nil = only POST /v1/tracking with a
	// token.
	Tracking *TrackingOptions
	// Pickup is each site's pickup policy (hub.yaml sites.NAME.pickup); a site not listed has
	// order.PickupHandoverScan. For a carrier_first_scan site the hub relays every carrier
	// first_scan of a known order to the site's agents (wire.TypeFirstScan, tracking.go).
	Pickup map[string]order.PickupPolicy
	// Console, with at least one user, serves the central console at /console/ (hubconsole): the
	// network overview live, and the API's routes to signed-in users by role. nil = no console.
	// Its Clock and Logger default to the hub's.
	Console *hubconsole.Options
	// Measures configure the central measures and the daily report (measures.go).
	Measures MeasuresOptions

	// EWaybill makes the hub obtain e-waybill numbers for posted orders without one (waybills.go).
	EWaybill EWaybillOptions
}

// Hub is a running hub. Create it with New and end it with Stop.
type Hub struct {
	opts       Options
	pickupSent sync.Map // "site/agent" → order.PickupPolicy sent by pickupFromConfig
	clk        clock.Clock
	log        *slog.Logger
	shared     bool

	db     Store
	tokens apitoken.Store
	cli    mqtt.Client
	ln     net.Listener
	srv    *http.Server
	https  bool
	pacer  *pacer // catch-up pacing; owner goroutine only

	mu         sync.Mutex
	queue      []item
	queueBytes int
	wake       chan struct{}

	quit     chan struct{} // closed when Stop begins
	stopc    chan struct{} // closed when the owner should drain and exit
	done     chan struct{} // closed when the owner exited (and closed the db)
	httpDone chan struct{}
	ready    chan struct{}

	readyOnce sync.Once
	stopOnce  sync.Once
	stopErr   error
	unwatchMu sync.Mutex // guards unwatch: the AfterFunc may fire (and call Stop) before New stores it
	unwatch   func() bool

	statsMu sync.Mutex
	stats   Stats            // the store's counters as of this replica's last commit, plus unsaved
	unsaved map[string]int64 // counted outside the owner's transactions, added by the next commit

	signer    *wire.Signer // nil: publish unsigned
	agentKeys *keyring     // nil: accept unsigned batches

	publishFn func(topic string, payload []byte) // nil: MQTT
	metrics   *metrics                           // GET /metrics; nil in tests that build a Hub without New
	console   *hubconsole.Console                // /console/; nil without Options.Console

	notify     *NotifyOptions // nil: no notifications
	dispatch   *dispatcher    // sends the outbox; nil without Notify
	measures   *central.Measures
	reportAt   string          // "HH:MM" or "off"
	reportDone chan struct{}   // closed when the daily report's goroutine ended
	rulesDone  chan struct{}   // closed when the rules' tick ended (rules_tick.go)
	ewb        EWaybillOptions // with defaults
	waybiller  *waybiller      // nil: no provider

	scratch groupScratch // the owner's per-group maps, kept between groups (ingest_scratch.go)
}

// New opens the store, starts the HTTP server and the owner goroutine, and connects to the broker.
// The broker need not be up: the hub keeps trying to connect in the background. When ctx is
// cancelled the hub stops itself, as if Stop had been called.
func New(ctx context.Context, opts Options) (_ *Hub, err error) {
	defer func() {
		if err != nil && opts.Store != nil {
			_ = opts.Store.Close() // New owns the store it was given, also when it fails
		}
	}()
	if opts.BrokerURL == "" {
		return nil, fmt.Errorf("%w: BrokerURL is required", ErrOptions)
	}
	u, err := url.Parse(opts.BrokerURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("%w: BrokerURL %q is not a URL like tcp://host:1883", ErrOptions, opts.BrokerURL)
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ssl", "tls", "tcps", "mqtts", "ws", "wss":
	default:
		return nil, fmt.Errorf("%w: BrokerURL scheme %q (want tcp, ssl, ws or wss)", ErrOptions, u.Scheme)
	}
	if opts.DataDir == "" && opts.Store == nil {
		return nil, fmt.Errorf("%w: DataDir or Store is required", ErrOptions)
	}
	if opts.Listen == "" {
		opts.Listen = DefaultListen
	}
	if opts.Replica != "" && (opts.ClientID != "" || !wire.ValidName(opts.Replica)) {
		return nil, fmt.Errorf("%w: Replica %q: letters, digits, - and _ (at most 64), and no ClientID beside it", ErrOptions, opts.Replica)
	}
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID(opts.Replica)
	}
	tlsConf, err := tlsConfig(opts)
	if err != nil {
		return nil, err
	}
	h := &Hub{
		opts:     opts,
		clk:      clock.Or(opts.Clock),
		log:      logging.Or(opts.Logger),
		shared:   opts.Shared == nil || *opts.Shared,
		wake:     make(chan struct{}, 1),
		quit:     make(chan struct{}),
		stopc:    make(chan struct{}),
		done:     make(chan struct{}),
		httpDone: make(chan struct{}),
		ready:    make(chan struct{}),
	}
	if opts.SigningKey != nil {
		if len(opts.SigningKey) != ed25519.PrivateKeySize {
			return nil, fmt.Errorf("%w: SigningKey has %d bytes, want %d", ErrOptions, len(opts.SigningKey), ed25519.PrivateKeySize)
		}
		h.signer = wire.NewSigner(opts.SigningKey)
	}
	if h.ewb, err = opts.EWaybill.checked(); err != nil {
		return nil, err
	}
	if opts.AgentKeysDir != "" {
		if h.agentKeys, err = newKeyring(opts.AgentKeysDir); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrOptions, err)
		}
	}
	db := opts.Store
	if db == nil {
		if db, err = OpenBolt(opts.DataDir); err != nil {
			return nil, err
		}
	}
	h.db = db
	closeOwn := func() {
		if opts.Store == nil { // a given store is closed by the deferred function
			db.Close()
		}
	}
	if err := db.View(ctx, func(tx Tx) error { return loadStats(tx, &h.stats) }); err != nil {
		closeOwn()
		return nil, fmt.Errorf("%w: stats: %w", ErrStore, err)
	}
	if err := h.openTokens(); err != nil {
		closeOwn()
		return nil, err
	}
	h.pacer = newPacer(opts.Catchup)
	h.metrics = newMetrics(h)
	if err := h.startMeasures(); err != nil {
		closeOwn()
		return nil, err
	}
	if err := h.startConsole(); err != nil {
		closeOwn()
		return nil, err
	}
	if err := h.listen(); err != nil {
		if h.console != nil {
			h.console.Close()
		}
		closeOwn()
		return nil, err
	}
	go func() {
		defer close(h.httpDone)
		if err := h.srv.Serve(h.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			h.log.Error("hub HTTP server failed", logging.Err(err))
		}
	}()
	mailReports := opts.Measures.Mailer != nil && h.reportAt != "off"
	if opts.Notify != nil || mailReports {
		n := (&NotifyOptions{}).withDefaults(opts.ClientID)
		if opts.Notify != nil {
			n = opts.Notify.withDefaults(opts.ClientID)
			h.notify = &n
		}
		if mailReports { // the daily report's e-mail goes through the outbox too (dailyreport.go)
			n.Channels = maps.Clone(n.Channels)
			if n.Channels == nil {
				n.Channels = map[string]Channel{}
			}
			n.Channels[reportChannel] = reportMailer{h}
		}
		h.dispatch = startDispatcher(db, h.clk, h.log, n, h.metrics.noticeCounter())
	}
	h.startReports() // after the dispatcher, which they wake
	h.startRules()
	go h.run()
	h.startWaybiller()

	mo := mqtt.NewClientOptions().
		AddBroker(opts.BrokerURL).
		SetClientID(opts.ClientID).
		SetCleanSession(false).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(10 * time.Second).
		SetConnectTimeout(10 * time.Second).
		SetWriteTimeout(5 * time.Second).
		SetKeepAlive(30 * time.Second).
		SetOrderMatters(true).
		SetAutoAckDisabled(true). // PUBACK after the commit: see item.ack
		SetDefaultPublishHandler(h.onMessage).
		SetOnConnectHandler(h.onConnect).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			h.log.Warn("hub MQTT connection lost, reconnecting", "broker", opts.BrokerURL, logging.Err(err))
		})
	if opts.Username != "" {
		mo.SetUsername(opts.Username)
		mo.SetPassword(opts.Password)
	}
	if tlsConf != nil {
		mo.SetTLSConfig(tlsConf)
	}
	h.cli = mqtt.NewClient(mo)
	h.cli.Connect() // with ConnectRetry the token completes once connected; onConnect subscribes
	h.unwatchMu.Lock()
	h.unwatch = context.AfterFunc(ctx, func() { _ = h.Stop(context.Background()) })
	h.unwatchMu.Unlock()
	h.log.Info("hub started", "http", h.URL(), "broker", opts.BrokerURL, "client_id", opts.ClientID, "shared", h.shared)
	h.logTrust()
	return h, nil
}

// Addr is the HTTP listen address (host:port), useful when Listen asked for port 0.
func (h *Hub) Addr() string { return h.ln.Addr().String() }

// URL is the API's base URL: http://Addr, or https://Addr with TLSCertFile.
func (h *Hub) URL() string {
	if h.https {
		return "https://" + h.Addr()
	}
	return "http://" + h.Addr()
}

// Ready is closed once the hub has connected and subscribed for the first time.
func (h *Hub) Ready() <-chan struct{} { return h.ready }

// Connected reports whether the MQTT connection is up.
func (h *Hub) Connected() bool { return h.cli.IsConnectionOpen() }

// Stop shuts the HTTP server down, disconnects from the broker, lets the owner goroutine commit what
// was already queued, and closes the store. It waits for all of that up to ctx's deadline. Calling
// Stop again returns the first result.
func (h *Hub) Stop(ctx context.Context) error {
	h.stopOnce.Do(func() {
		h.unwatchMu.Lock()
		if h.unwatch != nil {
			h.unwatch()
		}
		h.unwatchMu.Unlock()
		close(h.quit)
		if h.console != nil {
			h.console.Close() // before Shutdown, which does not close hijacked WebSockets
		}
		shctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := h.srv.Shutdown(shctx); err != nil {
			h.srv.Close()
		}
		cancel()
		<-h.httpDone
		h.cli.Disconnect(250)
		if h.dispatch != nil {
			h.dispatch.stop() // before the owner closes the store
		}
		<-h.reportDone    // it writes to the store: done before the owner closes it
		<-h.rulesDone     // likewise
		h.stopWaybiller() // before the owner drains: its last answers are committed
		close(h.stopc)
	})
	select {
	case <-h.done:
		return h.stopErr
	case <-ctx.Done():
		return fmt.Errorf("%w: waiting for the owner goroutine: %v", ErrStopped, ctx.Err())
	}
}

// onConnect subscribes (again) after every connect. paho runs it on its own goroutine.
func (h *Hub) onConnect(c mqtt.Client) {
	prefix := ""
	if h.shared {
		prefix = wire.SharedGroup
	}
	filters := map[string]byte{
		prefix + wire.FilterEvents:  1,
		prefix + wire.FilterCatchup: 1,
		wire.FilterStatus:           1, // every hub tracks every agent's status
	}
	tok := c.SubscribeMultiple(filters, nil) // nil: messages go to the default handler
	select {
	case <-tok.Done():
	case <-h.quit:
		return
	}
	if err := tok.Error(); err != nil {
		h.log.Error("hub cannot subscribe (retried on the next connect)", logging.Err(err))
		return
	}
	h.log.Info("hub connected and subscribed")
	h.readyOnce.Do(func() { close(h.ready) })
}

// onMessage is paho's handler: it only queues the message for the owner.
func (h *Hub) onMessage(_ mqtt.Client, m mqtt.Message) {
	_, _, leaf, ok := wire.ParseAgentTopic(m.Topic())
	var k kind
	switch {
	case !ok:
		h.log.Warn("message on an unexpected topic dropped", "topic", m.Topic())
		m.Ack()
		return
	case leaf == "events":
		k = kindBatch
	case leaf == "catchup":
		k = kindCatchup
	case leaf == "status":
		k = kindStatus
	default:
		m.Ack()
		return
	}
	if !h.enqueue(item{kind: k, topic: m.Topic(), payload: append([]byte(nil), m.Payload()...), ack: m.Ack}) {
		m.Ack() // dropped: the agent sends it again
	}
}

// enqueue hands an item to the owner without blocking. It reports false when the queue is full (the
// item is dropped; a batch is never acked then, so its agent sends it again).
func (h *Hub) enqueue(it item) bool {
	h.mu.Lock()
	if len(h.queue) >= maxQueue || h.queueBytes+len(it.payload) > maxQueueBytes {
		n, b := len(h.queue), h.queueBytes
		h.mu.Unlock()
		h.countOutside(func(s *Stats) { s.OverloadDropped++ })
		h.log.Warn("hub queue full: message dropped (an agent resends it, a POST is refused)", "topic", it.topic, "queued", n, "queued_bytes", b)
		return false
	}
	h.queue = append(h.queue, it)
	h.queueBytes += len(it.payload)
	h.mu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
	return true
}

func (h *Hub) take(n int) []item {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.queue) == 0 {
		return nil
	}
	if n > len(h.queue) {
		n = len(h.queue)
	}
	// And at most maxGroupBytes of payload (at least one item): a replica that reconnects gets
	// its whole backlog at once, and one transaction over all of it could outlast the replica (a
	// kill rolls it back, and the broker hands the same backlog over again).
	size := 0
	for i, it := range h.queue[:n] {
		size += groupWeight(it)
		if i > 0 && size > maxGroupBytes {
			n = i
			break
		}
	}
	out := append([]item(nil), h.queue[:n]...)
	h.queue = append(h.queue[:0], h.queue[n:]...)
	for _, it := range out {
		h.queueBytes -= len(it.payload)
	}
	return out
}

// run is the owner goroutine.
func (h *Hub) run() {
	defer close(h.done)
	waitBackfill := h.startBackfill()
	defer func() {
		waitBackfill()
		if err := h.db.Close(); err != nil {
			h.stopErr = fmt.Errorf("%w: close: %v", ErrStore, err)
		}
	}()
	for {
		select {
		case <-h.wake:
			h.drain()
		case <-h.stopc:
			h.drain()
			return
		}
	}
}

func (h *Hub) drain() {
	for {
		items := h.take(maxGroup)
		if len(items) == 0 {
			return
		}
		h.commit(items)
		if h.console != nil {
			h.console.Changed()
		}
	}
}

// DefaultClientID is the client id of a hub without Options.ClientID: "wedge-hub-<hostname>", with
// "-<replica>" appended when replica is set. It is stable across restarts on purpose: a random id
// would leave the messages the broker queued for the previous session orphaned (docs/HUB-STORE.md,
// Replicas).
func DefaultClientID(replica string) string {
	host, _ := os.Hostname()
	var b strings.Builder
	for _, r := range host {
		if nameRune(r) {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		b.WriteString("unknown")
	}
	if replica != "" {
		return "wedge-hub-" + b.String() + "-" + replica
	}
	return "wedge-hub-" + b.String()
}

func nameRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'
}

func tlsConfig(opts Options) (*tls.Config, error) {
	if opts.CAFile == "" && opts.CertFile == "" && opts.KeyFile == "" {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if opts.CAFile != "" {
		pem, err := os.ReadFile(opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: CAFile: %v", ErrOptions, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: CAFile %s holds no PEM certificate", ErrOptions, opts.CAFile)
		}
		c.RootCAs = pool
	}
	if (opts.CertFile == "") != (opts.KeyFile == "") {
		return nil, fmt.Errorf("%w: CertFile and KeyFile go together", ErrOptions)
	}
	if opts.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(opts.CertFile, opts.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: client certificate: %v", ErrOptions, err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}
