package uplink_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/goleak"

	"wedge/internal/testbroker"
	"wedge/sync/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testWriter sends log records to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// lockedBuffer collects log records from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

const (
	site  = "sh01"
	agent = "pc1"
	jid   = "J-test-1"
)

// eventually polls cond until it holds or the deadline passes (a deadline for a hang, not a timing
// assertion).
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// client is a plain paho client for the test's side (hub, observer, publisher).
func client(t *testing.T, url, id string, onConnect func(c mqtt.Client)) mqtt.Client {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(true).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(100 * time.Millisecond).
		SetMaxReconnectInterval(time.Second).SetOrderMatters(false)
	if onConnect != nil {
		o.SetOnConnectHandler(onConnect)
	}
	c := mqtt.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("test client %s: connect: %v", id, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func subscribe(t *testing.T, c mqtt.Client, topic string, fn func(mqtt.Message)) {
	t.Helper()
	tok := c.Subscribe(topic, 1, func(_ mqtt.Client, m mqtt.Message) { fn(m) })
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", topic, tok.Error())
	}
}

// testHub stands in for sync/hub: it records every event it receives (duplicates counted), checks
// each batch, and acks the highest contiguous seq, but never above ackLimit.
type testHub struct {
	t   *testing.T
	cli mqtt.Client

	mu       sync.Mutex
	seen     map[uint64]int
	contig   uint64
	batches  int
	ackLimit uint64
	badBatch []string
}

func startHub(t *testing.T, url string, ackLimit uint64) *testHub {
	h := &testHub{t: t, seen: map[uint64]int{}, ackLimit: ackLimit}
	// Subscribe in the connect handler, so a broker restart (which forgets sessions) is survived.
	var ready sync.WaitGroup
	ready.Add(1)
	var once sync.Once
	h.cli = client(t, url, "test-hub", func(c mqtt.Client) {
		c.Subscribe(wire.TopicEvents(site, agent), 1, func(c mqtt.Client, m mqtt.Message) { h.onBatch(c, m.Payload()) }).Wait()
		once.Do(ready.Done)
	})
	ready.Wait()
	return h
}

func (h *testHub) onBatch(c mqtt.Client, p []byte) {
	var b wire.Batch
	if err := json.Unmarshal(p, &b); err != nil {
		h.mu.Lock()
		h.badBatch = append(h.badBatch, err.Error())
		h.mu.Unlock()
		return
	}
	h.mu.Lock()
	h.batches++
	if len(p) > wire.MaxBatchBytes || len(b.Events) > wire.MaxBatchEntries || len(b.Events) == 0 ||
		b.Site != site || b.Agent != agent || b.JournalID != jid {
		h.badBatch = append(h.badBatch, fmt.Sprintf("batch of %d events, %d bytes, %s/%s/%s", len(b.Events), len(p), b.Site, b.Agent, b.JournalID))
	}
	for i, e := range b.Events {
		var prev *wire.Entry
		if i > 0 {
			prev = &b.Events[i-1]
		}
		if prev != nil || e.Seq == 1 {
			if err := wire.VerifyLink(prev, e); err != nil {
				h.badBatch = append(h.badBatch, err.Error())
			}
		}
		h.seen[e.Seq]++
	}
	for h.seen[h.contig+1] > 0 {
		h.contig++
	}
	ack := min(h.contig, h.ackLimit)
	h.mu.Unlock()
	if ack > 0 {
		a, _ := json.Marshal(wire.Ack{JournalID: jid, AckedSeq: ack})
		c.Publish(wire.TopicAck(site, agent), 1, false, a)
	}
}

func (h *testHub) count(seq uint64) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.seen[seq]
}

func (h *testHub) contiguous() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.contig
}

func (h *testHub) check() {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, b := range h.badBatch {
		h.t.Errorf("hub got a bad batch: %s", b)
	}
}

// tlsBroker is a mosquitto with a TLS listener that requires client certificates.
type tlsBroker struct {
	URL                       string
	CA, ClientCert, ClientKey string
	OtherCA                   string
}

func startTLSBroker(t *testing.T) *tlsBroker {
	t.Helper()
	bin := testbroker.Path()
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("mosquitto is not installed")
		}
		t.Skip("mosquitto is not installed")
	}
	dir := t.TempDir()
	caCert, caKey := makeCA(t, dir, "ca", "wedge test CA")
	makeLeaf(t, dir, "server", caCert, caKey, true)
	makeLeaf(t, dir, "client", caCert, caKey, false)
	makeCA(t, dir, "other-ca", "some other CA")

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := fmt.Sprintf("user root\nlistener %d 127.0.0.1\nallow_anonymous true\ncafile %s\ncertfile %s\nkeyfile %s\nrequire_certificate true\n",
		port, filepath.Join(dir, "ca.pem"), filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key"))
	if os.Geteuid() != 0 {
		conf = conf[len("user root\n"):]
	}
	if err := os.WriteFile(filepath.Join(dir, "mosquitto.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, _ := os.Create(filepath.Join(dir, "mosquitto.log"))
	cmd := exec.Command(bin, "-c", filepath.Join(dir, "mosquitto.conf"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(waited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-waited; logf.Close() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-waited:
			b, _ := os.ReadFile(filepath.Join(dir, "mosquitto.log"))
			t.Fatalf("mosquitto (TLS) exited:\n%s", b)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("mosquitto (TLS) did not listen")
		}
	}
	return &tlsBroker{URL: "ssl://" + addr, CA: filepath.Join(dir, "ca.pem"),
		ClientCert: filepath.Join(dir, "client.pem"), ClientKey: filepath.Join(dir, "client.key"),
		OtherCA: filepath.Join(dir, "other-ca.pem")}
}

var serial int64

func nextSerial() *big.Int { serial++; return big.NewInt(serial) }

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func makeCA(t *testing.T, dir, name, cn string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, name+".pem"), "CERTIFICATE", der)
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}

func makeLeaf(t *testing.T, dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, server bool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.DNSNames = []string{"localhost"}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, name+".pem"), "CERTIFICATE", der)
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, name+".key"), "EC PRIVATE KEY", kder)
}

// proxy is a TCP proxy between the uplink and the broker whose connections the test can cut, so
// the broker sees the agent vanish without a DISCONNECT (and fires its last will).
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	wg     sync.WaitGroup
	down   bool // refuse connections (accept and close at once), as a broker that is down
}

// SetDown makes the proxy refuse (down) or accept connections.
func (p *proxy) SetDown(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() { ln.Close(); p.Cut(); p.wg.Wait() })
	return p
}

func (p *proxy) URL() string { return "tcp://" + p.ln.Addr().String() }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		b, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, b)
		p.mu.Unlock()
		p.wg.Add(2)
		go func() { defer p.wg.Done(); _, _ = io.Copy(b, c); b.Close() }()
		go func() { defer p.wg.Done(); _, _ = io.Copy(c, b); c.Close() }()
	}
}

// Cut closes every proxied connection.
func (p *proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (h *testHub) batchCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.batches
}

func (h *testHub) setAckLimit(n uint64) {
	h.mu.Lock()
	h.ackLimit = n
	h.mu.Unlock()
}

func (h *testHub) maxSeq() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	var m uint64
	for s := range h.seen {
		m = max(m, s)
	}
	return m
}
