// Package broker runs an embedded MQTT broker (github.com/mochi-mqtt/server/v2) for `wedge demo`, so
// the demo needs no mosquitto. It listens on loopback TCP, lets every client in (allow-all auth:
// never expose it), keeps persistent sessions for CleanSession=false clients and retained messages
// in memory, and supports shared subscriptions ($share/group/filter), which the hub uses.
//
// Queued messages of a persistent session are re-sent on reconnect ordered only by the second they
// were created (mochi v2.7.9 Inflight.GetAll), so messages from the same second may arrive in any
// order; wedge orders by seq and hseq, never by arrival, and agents ask for a catch-up on a gap.
//
// It is not a production broker: sessions, queued messages and retained messages are lost when it
// closes. wedge's own delivery (hub acks over bbolt journals, downlink catch-up) tolerates that, as
// it tolerates a mosquitto crash.
package broker

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"wedge/internal/logging"
)

// Sentinel errors. Match them with errors.Is.
var (
	// ErrOptions means Start was given an address it will not serve.
	ErrOptions = errors.New("broker: invalid options")
	// ErrStart means the broker could not listen or start.
	ErrStart = errors.New("broker: start")
)

// DefaultAddr is the listen address when Start gets "".
const DefaultAddr = "127.0.0.1:1883"

// Options tune the broker. A nil *Options means the defaults.
type Options struct {
	// AllowRemote lets the broker listen on a non-loopback address. The broker lets every client
	// in, so this is for a closed demo network only. Default false: loopback only.
	AllowRemote bool
	// Logger receives the broker's (mochi's) log records, with component=broker (nil = discard).
	Logger *slog.Logger
}

// Broker is a running embedded broker.
type Broker struct {
	srv   *mqtt.Server
	addr  string
	once  sync.Once
	close error
}

// Start listens on addr (host:port; "" means DefaultAddr, port 0 picks a free one) and serves.
func Start(addr string, opts *Options) (*Broker, error) {
	if opts == nil {
		opts = &Options{}
	}
	if addr == "" {
		addr = DefaultAddr
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%w: address %q: %v", ErrOptions, addr, err)
	}
	if !opts.AllowRemote {
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, fmt.Errorf("%w: address %q is not loopback (the embedded broker lets anyone in; set AllowRemote for a closed demo network)", ErrOptions, addr)
		}
	}
	srv := mqtt.New(&mqtt.Options{InlineClient: false, Logger: logging.Or(opts.Logger).With("component", "broker")})
	if err := srv.AddHook(new(allowAll), nil); err != nil {
		return nil, fmt.Errorf("%w: auth hook: %v", ErrStart, err)
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "tcp", Address: addr})
	if err := srv.AddListener(tcp); err != nil { // listens (Init) here
		return nil, fmt.Errorf("%w: listen %s: %v", ErrStart, addr, err)
	}
	if err := srv.Serve(); err != nil {
		_ = srv.Close()
		return nil, fmt.Errorf("%w: %v", ErrStart, err)
	}
	return &Broker{srv: srv, addr: tcp.Address()}, nil
}

// Addr is the address the broker listens on (host:port).
func (b *Broker) Addr() string { return b.addr }

// URL is the tcp:// URL for MQTT clients.
func (b *Broker) URL() string { return "tcp://" + b.addr }

// Close disconnects every client, stops listening and waits for the client goroutines. Closing
// twice is fine.
// Online reports whether a client with this id is connected now (a persistent session whose
// client has gone counts as offline).
func (b *Broker) Online(id string) bool {
	cl, ok := b.srv.Clients.Get(id)
	return ok && !cl.Closed()
}

// Queued is how many QoS 1/2 messages the broker holds for client id's session, waiting to be
// delivered (0 for an unknown id).
func (b *Broker) Queued(id string) int {
	cl, ok := b.srv.Clients.Get(id)
	if !ok {
		return 0
	}
	return cl.State.Inflight.Len()
}

func (b *Broker) Close() error {
	b.once.Do(func() { b.close = b.srv.Close() })
	return b.close
}

// allowAll lets every client connect and use every topic. It is mochi's auth.AllowHook, written out
// here because mochi's auth package also pulls in a YAML library for its ledger.
type allowAll struct{ mqtt.HookBase }

func (*allowAll) ID() string { return "wedge-allow-all" }

func (*allowAll) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnConnectAuthenticate, mqtt.OnACLCheck}, []byte{b})
}

func (*allowAll) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

func (*allowAll) OnACLCheck(*mqtt.Client, string, bool) bool { return true }
