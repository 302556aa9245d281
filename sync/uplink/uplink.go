// Package uplink is the agent side of MQTT: it sends the journal to the hub in batches, keeps a
// bounded window of batches in flight, moves the journal's acked sequence only on the hub's own
// acks, resends after a reconnect or when acks stop, delivers the downlink (orders, direct replays,
// commands) without ever dropping a message, keeps a retained online/offline status with a last
// will, and asks the hub for catch-ups.
//
// What is synced is decided by exactly one thing: a wire.Ack on wire.TopicAck with our journal id,
// signed by the hub, for no more than we have sent. A paho token or a broker PUBACK means nothing
// here: a broker can lose what it acknowledged, and paho completes tokens of resent messages early.
//
// MQTT does not say who published a message, so what only the hub may say (acks, commands, the
// downlink) carries the hub's Ed25519 signature (wire.Signer) and is checked against the pinned
// Options.HubKeys; refused payloads are reported through Options.OnRefused and never acted on. Our
// own batches are signed with Options.SigningKey.
//
// Goroutines: one owner goroutine reads the Source and publishes; one feeder goroutine owns the
// downlink queue and feeds Downlink(). paho's handlers only append to queues and return.
// Network backoff is paho's (real time); ResendAfter and status times come from Options.Clock.
package uplink

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"wedge/internal/clock"
	"wedge/internal/logging"
	"wedge/sync/wire"
)

// Sentinel errors. Match them with errors.Is.
var (
	// ErrOptions means Options are incomplete or inconsistent (bad URL, site, agent, TLS files).
	ErrOptions = errors.New("uplink: 配置无效 / invalid options")
	// ErrTLS means the CA, certificate or key files could not be loaded.
	ErrTLS = errors.New("uplink: TLS 证书加载失败 / cannot load TLS files")
	// ErrConnect means the last attempt to reach the broker failed (see LastError).
	ErrConnect = errors.New("uplink: 无法连接消息服务器 / cannot connect to the MQTT broker")
)

// keyJournal is the log field of a journal id.
const keyJournal = "journal"

// Defaults of Options.
const (
	DefaultWindow       = 32
	DefaultResendAfter  = 10 * time.Second
	DefaultLinger       = 5 * time.Millisecond
	maxReconnect        = 10 * time.Second
	writeTimeout        = 5 * time.Second
	statusPublishWait   = 2 * time.Second
	subscribeWait       = 10 * time.Second // for the SUBACK before the connect's catch-up goes unconfirmed
	subscribeTries      = 3                // subscriptions to the orders topic per connect, to see its SUBACK
	disconnectQuiesceMS = 250
)

// Source is the journal as the uplink sees it. agent/journal.Store implements it.
type Source interface {
	JournalID() string
	// Entries returns entries with seq > after, at most maxEntries and about maxBytes of JSON.
	Entries(after uint64, maxEntries, maxBytes int) ([]wire.Entry, error)
	LastSeq() uint64
	AckedSeq() uint64
	// Ack records the hub's ack (monotonic, clamped to LastSeq): AckedSeq moves at once. It may be
	// written to disk later (agent/journal writes it with its next commit): after a crash the
	// source may reopen with a lower acked seq, and the entries after it are sent again, which the
	// hub drops as duplicates and acks again.
	Ack(ctx context.Context, seq uint64) error
	// Committed is signalled (coalesced) after each commit, so new entries are sent promptly.
	Committed() <-chan struct{}
}

// Message is one downlink message or command, as it arrived, with the signature frame removed.
type Message struct {
	Topic   string
	Payload []byte // the body: JSON
	// Authenticated means the hub's signature was verified. False only for a payload accepted
	// unsigned (Options.AcceptUnsigned).
	Authenticated bool
}

// Options configure an Uplink. Zero values mean the documented defaults.
type Options struct {
	// URL of the broker: tcp://, mqtt://, ssl://, tls://, mqtts://, ws:// or wss://. Required.
	URL string
	// Site and Agent name this agent (wire.ValidName). The client id is "wedge-{Site}-{Agent}".
	Site, Agent string
	// CAFile verifies the broker (PEM; empty = system roots). CertFile and KeyFile are the client
	// certificate (both or neither). TLS files need an ssl://, tls://, mqtts:// or wss:// URL.
	CAFile, CertFile, KeyFile string
	Username, Password        string
	// Clock drives ResendAfter and status times; nil = clock.Real.
	Clock clock.Clock
	// Logger receives diagnostics, with the site and agent fields; nil = silent.
	Logger *slog.Logger
	// Window is the number of batches in flight beyond the acked seq; 0 = DefaultWindow. Whatever
	// its size, no batch is read once wire.MaxPendingAhead − 4 × wire.MaxBatchEntries entries are
	// beyond the acked seq. The default, 32 batches of up to 64 KiB, is twice what the hub folds
	// into one commit (1 MiB): while the hub commits one half of a backlog's window the other half
	// is already queued at it, where a window of one commit left the hub idle between commits
	// (a drain of 47,000 entries went 1.2–1.6× faster; docs/BENCHMARKS.md).
	Window int
	// Linger: while a batch is in flight, entries that would make only a partial batch wait (for an
	// ack, for a full batch, or at most this long) so they go up together; with nothing in flight
	// they go at once. 0 = DefaultLinger; negative = never wait (see linger.go).
	Linger time.Duration
	// ResendAfter: with batches in flight and no ack progress for this long, resend from the acked
	// seq + 1. 0 = DefaultResendAfter.
	ResendAfter time.Duration
	// Status supplies the retained online status (breaker, unsynced count...). State is forced to
	// "online". nil = site, agent, journal id, unsynced and time only.
	Status func() wire.Status
	// CatchupSince, if set, is called on every (re)connect and a catch-up request with its result is
	// sent, so the downlink missed while away (beyond the broker's queue) is replayed.
	CatchupSince func() uint64
	// StatusInterval: while connected, the status is published again at least this often, and
	// when it changed at most once a second (see status.go). 0 = DefaultStatusInterval.
	StatusInterval time.Duration

	// HubKeys are the hub's public keys (more than one while a key rotates). Acks, commands and
	// downlink payloads must be signed by one of them for their topic; anything else is refused,
	// unless AcceptUnsigned.
	HubKeys []ed25519.PublicKey
	// AcceptUnsigned also takes unsigned acks, commands and downlink (and those signed by a key not
	// in HubKeys), delivered with Authenticated false. A signature that fails under a pinned key is
	// refused all the same. New fails when HubKeys is empty and AcceptUnsigned is false.
	AcceptUnsigned bool
	// SigningKey is this agent's own key: every batch is signed with it, so the hub can tell the
	// agent's journal from anything else published on its topic. nil = unsigned batches.
	SigningKey ed25519.PrivateKey
	// OnRefused receives each payload refused for its signature (reason wraps wire.ErrUnsigned or
	// wire.ErrBadSignature; excerpt is at most 200 bytes), from the uplink's goroutines: it must
	// return promptly. nil = each refusal is logged at Error level (with OnRefused set, reporting
	// is the callback's job).
	OnRefused func(topic string, reason error, excerpt []byte)
}

// Stats are counters since New.
type Stats struct {
	Batches     uint64 // batches published (resends included)
	Resends     uint64 // times the window was rewound to the acked seq + 1 (reconnect or ResendAfter)
	Acks        uint64 // hub acks that moved the acked seq
	IgnoredAcks uint64 // acks that were malformed, for another journal, beyond what was sent, or stale
	Downlink    uint64 // downlink messages received
	Refused     uint64 // acks, commands and downlink payloads refused for their signature
}

// Uplink is a running MQTT uplink. Create it with New, end it with Stop.
type Uplink struct {
	src      Source
	opts     Options
	clk      clock.Clock
	log      *slog.Logger
	cli      mqtt.Client
	connTok  mqtt.Token
	jid      string
	maxBytes int
	batchBuf []byte // the owner's scratch for encoding a batch (publishBatch), reused

	topicEvents, topicAck, topicStatus, topicCatchup string

	connected atomic.Bool
	gen       atomic.Uint64 // connection generation: +1 on every connect
	lastAck   atomic.Int64  // unix nanos of the clock, 0 = never

	trust trust

	batches, resends, acks, ignored, downlinks, refused atomic.Uint64

	mu           sync.Mutex
	inbox        []event
	lastErr      error
	pendingCatch *uint64 // a RequestCatchup made while disconnected
	lastStatus   lastStatus
	inboxSig     chan struct{}

	dlMu  sync.Mutex
	dlQ   []Message
	dlSig chan struct{}
	dlOut chan Message

	ctx       context.Context // cancelled by Stop
	cancel    context.CancelFunc
	stopOnce  sync.Once
	stopped   chan struct{}
	ownerDone chan struct{}
	feedDone  chan struct{}
	// ping carries Heartbeat's questions to the owner goroutine, which closes each.
	ping chan chan struct{}
	// disconnected is closed when Stop has disconnected the client.
	disconnected chan struct{}
	unwatch      func() bool
	stopErr      error

	// The connect's SUBACK (catchup_subscribed.go): subGen is the connection generation whose
	// subscriptions the broker confirmed; subWaits are the goroutines waiting for one, which Stop
	// waits for after setting stopping (under mu, so none is added after).
	subGen   atomic.Uint64
	subWaits sync.WaitGroup
	stopping bool
}

type event struct {
	connect bool
	gen     uint64 // of a connect event
	ack     []byte
}

// New validates opts, starts the goroutines and begins connecting in the background: a broker that
// is down is not an error (the agent works offline and syncs later); see Connected and LastError.
// When ctx ends the uplink stops as by Stop.
func New(ctx context.Context, src Source, opts Options) (*Uplink, error) {
	if src == nil {
		return nil, fmt.Errorf("%w: nil Source", ErrOptions)
	}
	if !wire.ValidName(opts.Site) || !wire.ValidName(opts.Agent) {
		return nil, fmt.Errorf("%w: site %q / agent %q (1–64 of A-Z a-z 0-9 _ -)", ErrOptions, opts.Site, opts.Agent)
	}
	tlsConf, err := tlsConfig(opts)
	if err != nil {
		return nil, err
	}
	tr, err := newTrust(opts)
	if err != nil {
		return nil, err
	}
	if opts.Window <= 0 {
		opts.Window = DefaultWindow
	}
	if opts.ResendAfter <= 0 {
		opts.ResendAfter = DefaultResendAfter
	}
	if opts.StatusInterval <= 0 {
		opts.StatusInterval = DefaultStatusInterval
	}
	if opts.Linger == 0 {
		opts.Linger = DefaultLinger
	}
	log := logging.Or(opts.Logger).With(logging.KeySite, opts.Site, logging.KeyAgent, opts.Agent)
	u := &Uplink{
		src: src, opts: opts, clk: clock.Or(opts.Clock), log: log, jid: src.JournalID(), trust: tr,
		topicEvents:  wire.TopicEvents(opts.Site, opts.Agent),
		topicAck:     wire.TopicAck(opts.Site, opts.Agent),
		topicStatus:  wire.TopicStatus(opts.Site, opts.Agent),
		topicCatchup: wire.TopicCatchup(opts.Site, opts.Agent),
		inboxSig:     make(chan struct{}, 1),
		dlSig:        make(chan struct{}, 1),
		dlOut:        make(chan Message, DownlinkAhead),
		stopped:      make(chan struct{}),
		ownerDone:    make(chan struct{}),
		ping:         make(chan chan struct{}),
		feedDone:     make(chan struct{}),
		disconnected: make(chan struct{}),
	}
	u.ctx, u.cancel = context.WithCancel(context.Background())
	env, _ := json.Marshal(wire.Batch{Site: opts.Site, Agent: opts.Agent, JournalID: u.jid, Events: []wire.Entry{}})
	// Entries counts entry JSON only: leave room for the envelope and one comma per entry.
	u.maxBytes = wire.MaxBatchBytes - len(env) - wire.MaxBatchEntries
	if tr.signer != nil {
		u.maxBytes -= sigOverhead
	}

	will, _ := json.Marshal(wire.Status{State: "offline", Site: opts.Site, Agent: opts.Agent, JournalID: u.jid})
	mo := mqtt.NewClientOptions().
		AddBroker(opts.URL).
		SetClientID("wedge-"+opts.Site+"-"+opts.Agent).
		SetCleanSession(false).
		SetResumeSubs(true).
		// Ordered delivery: the handler only appends to a queue and returns, so it cannot block
		// paho; unordered delivery made downlink arrays reach intake out of hseq order, and every
		// apparent gap cost a catch-up replay (measured: 48 catch-ups for a 47,000-order burst).
		SetOrderMatters(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(maxReconnect).
		SetConnectTimeout(10*time.Second).
		SetWriteTimeout(writeTimeout).
		SetKeepAlive(30*time.Second).
		SetBinaryWill(u.topicStatus, will, 1, true).
		SetDefaultPublishHandler(u.onMessage).
		SetOnConnectHandler(u.onConnect).
		SetConnectionLostHandler(u.onLost).
		SetConnectionNotificationHandler(u.onNotify).
		SetStore(copyStore{mqtt.NewMemoryStore()})
	if opts.Username != "" {
		mo.SetUsername(opts.Username)
		mo.SetPassword(opts.Password)
	}
	if tlsConf != nil {
		mo.SetTLSConfig(tlsConf)
	}
	u.cli = mqtt.NewClient(mo)
	go u.run()
	go u.feed()
	// With ConnectRetry the token completes once connected, or when Stop aborts the retries. Only
	// Stop waits on it (so that paho's connect goroutine is gone when Stop returns).
	u.connTok = u.cli.Connect()
	unwatch := context.AfterFunc(ctx, func() { _ = u.Stop(context.Background()) })
	u.mu.Lock()
	u.unwatch = unwatch
	u.mu.Unlock()
	u.log.Info("uplink started", "broker", opts.URL, "client_id", "wedge-"+opts.Site+"-"+opts.Agent, keyJournal, u.jid,
		"hub_keys", len(opts.HubKeys), "accept_unsigned", opts.AcceptUnsigned, "signed_batches", tr.signer != nil)
	if opts.AcceptUnsigned {
		u.log.Warn("接受未签名的中心消息 / accepting unsigned hub messages: anyone who can publish to the broker can ack, command and send orders")
	}
	return u, nil
}

// copyStore is paho's memory store, except that it keeps its own copy of each PUBLISH and
// SUBSCRIBE and hands out copies. paho's resume (after every connect with CleanSession false) sets
// Dup on the packet it got from the store while the same packet, just published from the connect
// handler or the owner, is being written (which sets its RemainingLength): a data race in paho
// v1.5.1 that -race reports. With copies, a resumed packet is a harmless duplicate. paho's store
// is only a cache here: the journal is the source of truth and the owner resends from it.
type copyStore struct{ mqtt.Store }

func clonePacket(p packets.ControlPacket) packets.ControlPacket {
	switch pp := p.(type) {
	case *packets.PublishPacket:
		cp := *pp
		return &cp
	case *packets.SubscribePacket:
		cp := *pp
		return &cp
	}
	return p
}

// Put stores a copy: it runs before the packet is handed to the writer, so the copy is clean.
func (s copyStore) Put(key string, p packets.ControlPacket) { s.Store.Put(key, clonePacket(p)) }

// Get returns a copy, so the stored packet is never shared with a writer.
func (s copyStore) Get(key string) packets.ControlPacket { return clonePacket(s.Store.Get(key)) }

func tlsConfig(o Options) (*tls.Config, error) {
	if o.URL == "" {
		return nil, fmt.Errorf("%w: broker URL is empty", ErrOptions)
	}
	pu, err := url.Parse(o.URL)
	if err != nil || pu.Host == "" {
		return nil, fmt.Errorf("%w: broker URL %q: want scheme://host:port", ErrOptions, o.URL)
	}
	secure := false
	switch strings.ToLower(pu.Scheme) {
	case "tcp", "mqtt", "ws":
	case "ssl", "tls", "mqtts", "tcps", "wss":
		secure = true
	default:
		return nil, fmt.Errorf("%w: broker URL %q: unknown scheme %q (tcp, ssl, tls, mqtts, ws, wss)", ErrOptions, o.URL, pu.Scheme)
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return nil, fmt.Errorf("%w: client certificate needs both CertFile and KeyFile", ErrOptions)
	}
	if !secure {
		if o.CAFile != "" || o.CertFile != "" {
			return nil, fmt.Errorf("%w: TLS files given but broker URL %q is not ssl:// or tls://", ErrOptions, o.URL)
		}
		return nil, nil
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: CA file: %v", ErrTLS, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: CA file %s holds no PEM certificate", ErrTLS, o.CAFile)
		}
		conf.RootCAs = pool
	}
	if o.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: client certificate %s / key %s: %v", ErrTLS, o.CertFile, o.KeyFile, err)
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	return conf, nil
}

// Downlink delivers every message received on the site's orders topic, this agent's direct and
// command topics, in arrival order, once its signature is checked (refused payloads go to
// Options.OnRefused instead). Nothing else is dropped: an internal queue grows while the consumer
// is slow. Up to DownlinkAhead checked messages wait in the channel itself, so a consumer that
// takes what is waiting (the agent's pump applies it in one journal commit) finds the messages
// that arrived during its last commit there. The channel is closed after Stop.
func (u *Uplink) Downlink() <-chan Message { return u.dlOut }

// Connected reports whether the MQTT connection is up.
func (u *Uplink) Connected() bool { return u.connected.Load() }

// LastAck is the clock time of the last hub ack that moved the acked seq (zero if none yet).
func (u *Uplink) LastAck() time.Time {
	n := u.lastAck.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// LastError is the reason of the last failed connection attempt or lost connection, wrapping
// ErrConnect; nil once connected.
func (u *Uplink) LastError() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.lastErr
}

// Stats returns the counters.
func (u *Uplink) Stats() Stats {
	return Stats{Batches: u.batches.Load(), Resends: u.resends.Load(), Acks: u.acks.Load(),
		IgnoredAcks: u.ignored.Load(), Downlink: u.downlinks.Load(), Refused: u.refused.Load()}
}

// PublishStatus re-publishes the retained online status now (e.g. the breaker changed). Without a
// connection it does nothing: the status is published on every connect anyway.
func (u *Uplink) PublishStatus() {
	if !u.connected.Load() {
		return
	}
	u.publishStatus()
}

func (u *Uplink) status() wire.Status {
	var s wire.Status
	if u.opts.Status != nil {
		s = u.opts.Status()
	} else {
		s = wire.Status{Site: u.opts.Site, Agent: u.opts.Agent, JournalID: u.jid, LastSeq: u.src.LastSeq()}
		if l, a := u.src.LastSeq(), u.src.AckedSeq(); l > a {
			s.Unsynced = l - a
		}
	}
	s.State = "online"
	if s.At == "" {
		s.At = wire.Time(u.clk.Now())
	}
	return s
}

func (u *Uplink) publishStatus() mqtt.Token {
	s := u.status()
	b, _ := json.Marshal(s)
	u.recordStatus(s)
	return u.cli.Publish(u.topicStatus, 1, true, b)
}

// RequestCatchup asks the hub to replay the site's downlink after hub sequence since to this
// agent's direct topic. Without a connection the request is kept (the lowest since wins) and sent
// on the next connect.
func (u *Uplink) RequestCatchup(since uint64) {
	if !u.connected.Load() {
		u.mu.Lock()
		if u.pendingCatch == nil || since < *u.pendingCatch {
			u.pendingCatch = &since
		}
		u.mu.Unlock()
		return
	}
	u.sendCatchup(since)
}

func (u *Uplink) sendCatchup(since uint64) {
	sub := u.subscribed()
	b, _ := json.Marshal(wire.CatchupRequest{JournalID: u.jid, Since: since, Subscribed: sub})
	u.cli.Publish(u.topicCatchup, 1, false, b) // not waited on: a lost request is asked again on reconnect
	u.log.Debug("catch-up requested", "since_hseq", since, "subscribed", sub)
}

// --- paho callbacks: they never block ---

func (u *Uplink) onConnect(c mqtt.Client) {
	gen := u.gen.Add(1)
	u.connected.Store(true)
	u.mu.Lock()
	u.lastErr = nil
	pending := u.pendingCatch
	u.pendingCatch = nil
	u.mu.Unlock()
	// The broker keeps our subscriptions (persistent session), but subscribe on every connect in
	// case the session was lost (broker restarted without persistence). The catch-up request goes
	// once the broker confirmed it (or after subscribeWait without), from another goroutine.
	tok := c.SubscribeMultiple(map[string]byte{
		u.topicAck:                    1,
		wire.TopicOrders(u.opts.Site): 1,
		wire.TopicDirect(u.opts.Site, u.opts.Agent):  1,
		wire.TopicCommand(u.opts.Site, u.opts.Agent): 1,
	}, nil)
	u.publishStatus()
	u.awaitSubscribed(tok, gen, pending)
	u.log.Info("uplink connected", "broker", u.opts.URL)
	u.push(event{connect: true, gen: gen})
}

func (u *Uplink) onLost(_ mqtt.Client, err error) {
	u.connected.Store(false)
	u.setErr(err)
	u.log.Warn("连接断开，正在重连 / uplink connection lost, reconnecting", "broker", u.opts.URL, logging.Err(err))
}

func (u *Uplink) onNotify(_ mqtt.Client, n mqtt.ConnectionNotification) {
	switch n := n.(type) {
	case mqtt.ConnectionNotificationBrokerFailed:
		u.setErr(n.Reason)
		broker := u.opts.URL
		if n.Broker != nil {
			broker = n.Broker.Redacted()
		}
		u.log.Warn("连接失败 / uplink cannot connect", "broker", broker, logging.Err(n.Reason))
	case mqtt.ConnectionNotificationFailed:
		u.setErr(n.Reason)
	}
}

func (u *Uplink) setErr(err error) {
	if err == nil {
		return
	}
	u.mu.Lock()
	u.lastErr = fmt.Errorf("%w %s: %w", ErrConnect, u.opts.URL, err)
	u.mu.Unlock()
}

// onMessage is paho's only message handler: it copies the payload onto a queue and returns.
func (u *Uplink) onMessage(_ mqtt.Client, m mqtt.Message) {
	p := append([]byte(nil), m.Payload()...)
	if m.Topic() == u.topicAck {
		u.push(event{ack: p})
		return
	}
	u.downlinks.Add(1)
	u.dlMu.Lock()
	u.dlQ = append(u.dlQ, Message{Topic: m.Topic(), Payload: p})
	u.dlMu.Unlock()
	select {
	case u.dlSig <- struct{}{}:
	default:
	}
}

func (u *Uplink) push(e event) {
	u.mu.Lock()
	u.inbox = append(u.inbox, e)
	u.mu.Unlock()
	select {
	case u.inboxSig <- struct{}{}:
	default:
	}
}

// --- the downlink feeder ---

func (u *Uplink) feed() {
	defer close(u.feedDone)
	defer close(u.dlOut)
	for {
		u.dlMu.Lock()
		if len(u.dlQ) == 0 {
			u.dlQ = nil // let a drained burst's backing array go
			u.dlMu.Unlock()
			select {
			case <-u.dlSig:
				continue
			case <-u.stopped:
				return
			}
		}
		m := u.dlQ[0]
		u.dlQ[0] = Message{}
		u.dlQ = u.dlQ[1:]
		u.dlMu.Unlock()
		body, auth, err := u.trust.check(m.Topic, m.Payload)
		if err != nil {
			u.refuse(m.Topic, m.Payload, err)
			continue
		}
		select {
		case u.dlOut <- Message{Topic: m.Topic, Payload: body, Authenticated: auth}:
		case <-u.stopped:
			return // dropped like the rest of the queue: the hub replays it on catch-up
		}
	}
}

// --- the owner ---

// run is the owner goroutine: it fills the window from the journal while connected and handles
// connects, hub acks and the resend deadline.
func (u *Uplink) run() {
	defer close(u.ownerDone)
	w := newWindow(u.src.AckedSeq(), u.opts.Window)
	rt := newResendTimer(u.clk, u.opts.ResendAfter)
	defer rt.disarm()
	lg := newLinger(u.clk, u.opts.Linger)
	defer lg.stop()
	st := u.clk.NewTimer(u.opts.StatusInterval)
	defer st.Stop()
	for {
		if u.connected.Load() {
			u.fill(w, rt, lg)
		}
		select {
		case <-u.stopped:
			return
		case <-u.src.Committed():
		case <-rt.C():
			rt.fired()
			if w.busy() {
				u.rewind(w, rt, fmt.Sprintf("no hub ack progress for %v", u.opts.ResendAfter))
			}
		case <-lg.C():
			lg.fired()
		case <-u.inboxSig:
			for _, e := range u.takeInbox() {
				if u.handle(w, rt, e) {
					lg.release()
				}
			}
		case <-st.C():
		case r := <-u.ping:
			close(r)
		}
		u.refreshStatus(st)
	}
}

// ErrStopped is Heartbeat's answer from a stopped uplink.
var ErrStopped = errors.New("uplink: stopped")

// Heartbeat returns once the owner goroutine has answered, or with ctx's error if it does not (it
// is stuck). It answers while the broker is unreachable: the loop still runs, offline. The
// watchdog (agent/watchdog) withholds systemd's pings while it does not answer.
func (u *Uplink) Heartbeat(ctx context.Context) error {
	r := make(chan struct{})
	select {
	case u.ping <- r:
	case <-u.stopped:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-r:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// fill publishes batches after the window's round while it has room and the journal has entries.
// A partial batch waits while another is in flight, until lg releases it (linger.go).
func (u *Uplink) fill(w *window, rt *resendTimer, lg *linger) {
	gen := u.gen.Load()
	for !w.full() {
		ready := u.src.LastSeq() // before the read: what it holds at least, unless a batch limit stopped it
		es, err := u.src.Entries(w.next, wire.MaxBatchEntries, u.maxBytes)
		if err != nil {
			u.log.Warn("cannot read the journal, retrying after the resend delay", "after_seq", w.next, logging.Err(err))
			rt.armIfIdle() // try again after ResendAfter
			return
		}
		if len(es) == 0 {
			return
		}
		// Only new entries wait: a resend round (after a reconnect or ResendAfter) goes as before.
		if w.busy() && es[0].Seq > w.sentMax && partial(es, ready) && lg.hold() {
			return
		}
		u.publishBatch(es)
		w.sent(es[len(es)-1].Seq, gen)
		rt.armIfIdle()
		lg.published()
	}
}

// rewind sends everything after the acked seq again, counting a resend if anything was unacked.
func (u *Uplink) rewind(w *window, rt *resendTimer, why string) {
	acked := w.acked
	if w.rewind() {
		u.resends.Add(1)
		u.log.Warn("resending unacked entries", logging.KeySeq, acked+1, "why", why)
	}
	rt.disarm()
}

func (u *Uplink) takeInbox() []event {
	u.mu.Lock()
	defer u.mu.Unlock()
	evs := u.inbox
	u.inbox = nil
	return evs
}

// handle applies one connect or ack event to the window. It reports whether an ack moved the
// acked seq.
func (u *Uplink) handle(w *window, rt *resendTimer, e event) bool {
	if e.connect {
		acked := max(w.acked, u.src.AckedSeq())
		reset, resend := w.connected(e.gen, acked)
		if resend {
			u.resends.Add(1)
			u.log.Info("resending unacked entries", logging.KeySeq, acked+1, "why", "reconnected")
		}
		if reset {
			rt.disarm()
		}
		return false
	}
	body, _, err := u.trust.check(u.topicAck, e.ack)
	if err != nil {
		u.refuse(u.topicAck, e.ack, err)
		return false
	}
	seq, ok := u.parseAck(body, w)
	if !ok {
		return false
	}
	if err := u.src.Ack(u.ctx, seq); err != nil {
		u.log.Warn("cannot record the hub ack (it will come again)", logging.KeySeq, seq, logging.Err(err))
		return false
	}
	u.acks.Add(1)
	u.lastAck.Store(u.clk.Now().UnixNano())
	if w.ack(seq) {
		rt.arm()
	} else {
		rt.disarm()
	}
	return true
}

// parseAck checks an ack payload; ok means it moves the acked seq to seq. An ack never moves the
// acked seq past what this process has published: entries the hub never received from us cannot
// have been stored by it.
func (u *Uplink) parseAck(p []byte, w *window) (uint64, bool) {
	var a wire.Ack
	if err := json.Unmarshal(p, &a); err != nil {
		u.ignored.Add(1)
		u.log.Warn("malformed hub ack ignored", "payload", excerpt(p), logging.Err(err))
		return 0, false
	}
	if a.JournalID != u.jid {
		u.ignored.Add(1)
		u.log.Warn("hub ack for another journal ignored", keyJournal, a.JournalID, "ours", u.jid, logging.KeySeq, a.AckedSeq)
		return 0, false
	}
	if last := u.src.LastSeq(); a.AckedSeq > last {
		u.ignored.Add(1)
		u.log.Warn("hub ack above our last seq ignored (hub bug or a foreign journal with our id)", logging.KeySeq, a.AckedSeq, "last_seq", last)
		return 0, false
	}
	if a.AckedSeq > w.sentMax {
		u.ignored.Add(1)
		u.log.Warn("hub ack beyond what this agent has sent ignored", logging.KeySeq, a.AckedSeq, "sent_seq", w.sentMax)
		return 0, false
	}
	if a.AckedSeq <= w.acked {
		u.ignored.Add(1) // stale or duplicate: acks only move forward
		return 0, false
	}
	return a.AckedSeq, true
}

func (u *Uplink) publishBatch(es []wire.Entry) {
	// json.Marshal's bytes, without reflection, into the reused scratch buffer: the signature
	// frame is a copy, and an unsigned payload is copied out too, since paho keeps the payload it
	// is given until the broker's PUBACK.
	bt := wire.Batch{Site: u.opts.Site, Agent: u.opts.Agent, JournalID: u.jid, Events: es}
	u.batchBuf = bt.AppendJSON(u.batchBuf[:0])
	b := u.trust.sign(u.topicEvents, u.batchBuf)
	if u.trust.signer == nil {
		b = bytes.Clone(b)
	}
	// The token is not waited on: its outcome means nothing for sync (only the hub's ack does), and
	// an error or a timeout just means the batch will be resent. Publish itself blocks at most
	// WriteTimeout on a stalled link.
	u.cli.Publish(u.topicEvents, 1, false, b)
	u.batches.Add(1)
}

func excerpt(p []byte) string {
	if len(p) > 80 {
		return string(p[:80]) + "…"
	}
	return string(p)
}

// Stop ends the uplink: the owner and the feeder finish, the retained offline status is published
// (when connected), and the client disconnects cleanly, so the broker does not fire the last will.
// Downlink is closed; messages still queued for it are dropped (the hub replays them on catch-up).
// Stopping twice is fine (the second call waits for the first).
func (u *Uplink) Stop(ctx context.Context) error {
	first := false
	u.stopOnce.Do(func() { first = true })
	if !first {
		select {
		case <-u.disconnected:
		case <-ctx.Done():
		}
		return nil
	}
	u.mu.Lock()
	if u.unwatch != nil {
		u.unwatch()
	}
	u.stopping = true
	u.mu.Unlock()
	close(u.stopped)
	u.cancel()
	subWaits := make(chan struct{})
	go func() { u.subWaits.Wait(); close(subWaits) }()
	var err error
	for _, d := range []chan struct{}{u.ownerDone, u.feedDone, subWaits} {
		select {
		case <-d:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if u.connected.Load() {
		off, _ := json.Marshal(wire.Status{State: "offline", Site: u.opts.Site, Agent: u.opts.Agent,
			JournalID: u.jid, At: wire.Time(u.clk.Now())})
		tok := u.cli.Publish(u.topicStatus, 1, true, off)
		select {
		case <-tok.Done():
		case <-ctx.Done():
		case <-time.After(statusPublishWait):
		}
	}
	u.connected.Store(false)
	u.cli.Disconnect(disconnectQuiesceMS)
	// When no connection was ever made, Disconnect returns at once but paho's connect goroutine
	// finishes only after its current attempt or retry sleep: wait for it.
	select {
	case <-u.connTok.Done():
	case <-ctx.Done():
		err = ctx.Err()
	}
	close(u.disconnected)
	if err != nil {
		return fmt.Errorf("uplink: stop: %w", err)
	}
	return nil
}
