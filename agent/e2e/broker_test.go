package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"wedge/internal/pki"
	"wedge/internal/testbroker"
)

// The broker of the end-to-end tests is set up the way docs/SECURITY.md section 1 tells IT to, with
// the library behind `wedge certs` (internal/pki; the command itself is tested end to end in
// agent/cmd/wedge, and running it here would cost a process per certificate): a CA, the broker's
// certificate, and the broker's mosquitto.conf, ACL and CRL from a sites file. mosquitto runs one
// TLS listener that requires a client certificate of that CA, takes the certificate's CN as user
// name and client id, and applies the per-identity ACL; the hub and each agent connect with their
// own certificate. This is the normal configuration of every test. The plain anonymous broker
// (startPlainBroker) is only for a test that needs a broker anyone may publish to, and says why.

// hubName is the hub replica the tests run (`wedge hub`, certificate CN hub:hub1).
const hubName = "hub1"

// The broker credentials of two more hub replicas. A test's own MQTT clients use them where only a
// hub may publish or subscribe: a replica with a bug, or a replica's certificate copied by an
// attacker (who has not got the hub's signing key). Each needs its own identity, as two clients
// with one certificate take the session from each other.
var (
	replicaA = pki.HubCN("hub2")
	replicaB = pki.HubCN("hub3")
)

// e2eSites is the broker's sites file: every identity it lets use a topic. An agent the tests start
// must be listed (identity checks), or the broker lets it connect but drops everything it sends.
const e2eSites = `hubs: [hub1, hub2, hub3]
sites:
  sz01: [pack01, dock01]
`

// e2eBroker is one test's mosquitto and how the hub, the agents and the test's own clients reach it.
type e2eBroker struct {
	*testbroker.Broker
	secure bool // TLS with client certificates and the ACL; false: anonymous plain TCP
	// On the secure broker: the CA, and the directory with its files, the broker's and one
	// directory per identity.
	ca    *pki.Store
	pki   string
	sites *pki.Sites
	ids   map[string]tlsFiles // issued so far, by CN
}

// startBroker starts the secure broker: TLS, client certificates, the ACL generated from
// e2eSites and the CA's CRL, on a random loopback port. Its files are in dir/pki.
func startBroker(t *testing.T, dir string) *e2eBroker {
	t.Helper()
	b := &e2eBroker{secure: true, pki: filepath.Join(dir, "pki"), ids: map[string]tlsFiles{}}
	var err error
	if b.sites, err = pki.ParseSites("e2eSites", []byte(e2eSites)); err != nil {
		t.Fatal(err)
	}
	if b.ca, err = pki.Init(filepath.Join(b.pki, "ca"), pki.InitOptions{Name: "wedge e2e"}); err != nil {
		t.Fatal(err)
	}
	brokerDir := filepath.Join(b.pki, "broker")
	is, err := b.ca.IssueBroker([]string{"127.0.0.1", "localhost"}, pki.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.ca.WriteIssued(brokerDir, is); err != nil { // also ca.crt
		t.Fatal(err)
	}
	crl, err := os.ReadFile(b.ca.CRLPath())
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{pki.FileACL: pki.ACL(b.sites), pki.FileCRL: crl} {
		if err := os.WriteFile(filepath.Join(brokerDir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b.Broker = testbroker.Start(t, &testbroker.Options{Config: func(port int) string {
		return string(pki.MosquittoConf(pki.ConfParams{Port: port, Bind: "127.0.0.1", Dir: brokerDir}))
	}})
	return b
}

// startPlainBroker starts mosquitto with one anonymous plain-TCP listener, where anyone may publish
// and subscribe to anything. Only for tests that show what the application layer refuses alone.
func startPlainBroker(t *testing.T) *e2eBroker {
	t.Helper()
	return &e2eBroker{Broker: testbroker.Start(t, nil)}
}

// eachBroker runs test as two subtests, "plain" on the anonymous broker and "tls" on the secure
// one, each with its own directory and processes. It is for the forgery tests: on the plain broker
// anyone can publish the forged messages and only the signatures stop them; on the secure broker
// the forger needs credentials the ACL lets publish there, and still only the signatures stop them.
func eachBroker(t *testing.T, test func(t *testing.T, dir string, b *e2eBroker)) {
	needE2E(t)
	for _, secure := range []bool{false, true} {
		name := map[bool]string{false: "plain", true: "tls"}[secure]
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			b := startPlainBroker
			if secure {
				b = func(t *testing.T) *e2eBroker { return startBroker(t, dir) }
			}
			test(t, dir, b(t))
		})
	}
}

// URL is what wedge processes and the test's clients connect to: ssl:// on the secure broker.
func (b *e2eBroker) URL() string {
	if b.secure {
		return b.TLSURL()
	}
	return b.Broker.URL()
}

// tlsFiles are one identity's files as `wedge certs issue` writes them.
type tlsFiles struct{ ca, cert, key string }

// identity returns the certificate of cn ("hub:NAME" or "sz01/AGENT"), issued on first use into
// its own directory as `wedge certs issue` writes it. cn must be in e2eSites.
func (b *e2eBroker) identity(t *testing.T, cn string) tlsFiles {
	t.Helper()
	if !b.secure {
		t.Fatalf("identity %s: the plain broker has no certificates", cn)
	}
	if f, ok := b.ids[cn]; ok {
		return f
	}
	var is *pki.Issued
	var err error
	if site, agent, ok := pki.ParseAgentCN(cn); ok && slices.Contains(b.sites.Sites[site], agent) {
		is, err = b.ca.IssueAgent(site, agent, pki.IssueOptions{})
	} else if name, ok := strings.CutPrefix(cn, "hub:"); ok && slices.Contains(b.sites.Hubs, name) {
		is, err = b.ca.IssueHub(name, pki.IssueOptions{})
	} else {
		t.Fatalf("identity %q is not in e2eSites: the broker would let it use no topic", cn)
	}
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(b.pki, pki.FileBase(is.Record))
	f := tlsFiles{ca: filepath.Join(out, pki.FileCACert)}
	if f.cert, f.key, err = b.ca.WriteIssued(out, is); err != nil {
		t.Fatal(err)
	}
	b.ids[cn] = f
	return f
}

// hubArgs are the broker flags of `wedge hub`.
func (b *e2eBroker) hubArgs(t *testing.T) []string {
	t.Helper()
	args := []string{"--broker", b.URL()}
	if b.secure {
		f := b.identity(t, pki.HubCN(hubName))
		args = append(args, "--ca", f.ca, "--cert", f.cert, "--key", f.key)
	}
	return args
}

// agentBroker is the broker mapping of agent name's wedge.yaml (site sz01), pinning hubKey.
func (b *e2eBroker) agentBroker(t *testing.T, name, hubKey string) string {
	t.Helper()
	s := fmt.Sprintf("url: %q, hub_keys: [%q]", b.URL(), hubKey)
	if b.secure {
		f := b.identity(t, pki.AgentCN("sz01", name))
		s += fmt.Sprintf(", ca: %q, cert: %q, key: %q", f.ca, f.cert, f.key)
	}
	return "{" + s + "}"
}

// clientOptions are the paho options of one of the test's own clients (a sniffer, a forger, a hub
// replica with a bug) as identity cn: on the secure broker with cn's certificate, which the broker
// makes the user name and client id; on the plain broker anonymous, with client id cn.
func (b *e2eBroker) clientOptions(t *testing.T, cn string) *mqtt.ClientOptions {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID(cn)
	if b.secure {
		f := b.identity(t, cn)
		cert, err := tls.LoadX509KeyPair(f.cert, f.key)
		if err != nil {
			t.Fatal(err)
		}
		o.SetTLSConfig(&tls.Config{RootCAs: b.caPool(t), Certificates: []tls.Certificate{cert}})
	}
	return o
}

func (b *e2eBroker) caPool(t *testing.T) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(b.ca.CACert())
	return pool
}

// requireSecure fails unless the broker listening on its port is the secure one: a client over
// plain TCP and a TLS client without a certificate are refused, a client with a certificate of
// the sites file gets in. (After Restart: the broker came back with the same configuration.)
func (b *e2eBroker) requireSecure(t *testing.T) {
	t.Helper()
	dial := func(o *mqtt.ClientOptions) error {
		c := mqtt.NewClient(o.SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(10 * time.Second))
		tok := c.Connect()
		if !tok.WaitTimeout(20 * time.Second) {
			return errors.New("connect timed out")
		}
		if err := tok.Error(); err != nil {
			return err
		}
		c.Disconnect(100)
		return nil
	}
	if err := dial(mqtt.NewClientOptions().AddBroker(b.Broker.URL()).SetClientID("e2e-anonymous")); err == nil {
		t.Fatalf("the broker on %s lets an anonymous client in over plain TCP", b.Addr())
	}
	noCert := mqtt.NewClientOptions().AddBroker(b.TLSURL()).SetClientID("e2e-no-certificate").SetTLSConfig(&tls.Config{RootCAs: b.caPool(t)})
	if err := dial(noCert); err == nil {
		t.Fatalf("the broker on %s lets a TLS client without a certificate in", b.Addr())
	}
	if err := dial(b.clientOptions(t, replicaA)); err != nil {
		t.Fatalf("a client with the certificate of %s cannot connect to %s: %v", replicaA, b.TLSURL(), err)
	}
}
