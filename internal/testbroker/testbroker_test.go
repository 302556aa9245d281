package testbroker_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"wedge/internal/pki"
	"wedge/internal/testbroker"
)

const wait = 15 * time.Second

// connect connects a client with o and returns it (err when the broker refuses it).
func connect(t *testing.T, o *mqtt.ClientOptions) (mqtt.Client, error) {
	t.Helper()
	c := mqtt.NewClient(o.SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(wait))
	tok := c.Connect()
	if !tok.WaitTimeout(wait + 5*time.Second) {
		return nil, errors.New("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c, nil
}

func TestRestartKeepsThePort(t *testing.T) {
	b := testbroker.Start(t, nil)
	port := b.Port
	if _, err := connect(t, mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("before")); err != nil {
		t.Fatal(err)
	}
	b.Restart()
	if b.Port != port {
		t.Fatalf("port %d after Restart, was %d", b.Port, port)
	}
	if _, err := connect(t, mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("after")); err != nil {
		t.Fatalf("after Restart: %v", err)
	}
}

// A broker started with Options.Config comes back from Stop and Restart with that configuration
// (tests that take the broker down rely on it): the TLS listener on the same port still refuses
// clients without a certificate, and the ACL still drops what an identity may not publish.
func TestRestartKeepsTheConfig(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.Init(filepath.Join(dir, "ca"), pki.InitOptions{Name: "testbroker"})
	if err != nil {
		t.Fatal(err)
	}
	brokerDir := filepath.Join(dir, "broker")
	issued, err := ca.IssueBroker([]string{"127.0.0.1"}, pki.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ca.WriteIssued(brokerDir, issued); err != nil {
		t.Fatal(err)
	}
	sites, err := pki.ParseSites("sites.yaml", []byte("hubs: [h1]\nsites:\n  s1: [a1, a2]\n"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(brokerDir, pki.FileACL), pki.ACL(sites))
	crl, err := ca.WriteCRL()
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(brokerDir, pki.FileCRL), crl)
	calls := 0
	b := testbroker.Start(t, &testbroker.Options{Config: func(port int) string {
		calls++
		return string(pki.MosquittoConf(pki.ConfParams{Port: port, Bind: "127.0.0.1", Dir: brokerDir}))
	}})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CACertPEM())
	as := func(is *pki.Issued, err error) *mqtt.ClientOptions {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		cert, err := tls.X509KeyPair(is.CertPEM, is.KeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return mqtt.NewClientOptions().AddBroker(b.TLSURL()).SetTLSConfig(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}})
	}
	hubOpts, agentOpts := as(ca.IssueHub("h1", pki.IssueOptions{})), as(ca.IssueAgent("s1", "a1", pki.IssueOptions{}))

	port := b.Port
	b.Stop()
	b.Restart()
	if b.Port != port || calls != 1 {
		t.Fatalf("after Restart: port %d (was %d), Config called %d times", b.Port, port, calls)
	}
	if _, err := connect(t, mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("anonymous")); err == nil {
		t.Fatal("the restarted broker lets an anonymous client in over plain TCP")
	}
	if _, err := connect(t, mqtt.NewClientOptions().AddBroker(b.TLSURL()).SetClientID("no-cert").SetTLSConfig(&tls.Config{RootCAs: pool})); err == nil {
		t.Fatal("the restarted broker lets a TLS client without a certificate in")
	}

	// a1 publishes to a2's events (the ACL drops it), then to its own: mosquitto routes one
	// message after the other, so when the hub has the second, it would have had the first.
	got := make(chan string, 10)
	hub, err := connect(t, hubOpts.SetClientID("hub").SetOrderMatters(true))
	if err != nil {
		t.Fatalf("hub after Restart: %v", err)
	}
	if tok := hub.Subscribe("wedge/v1/+/+/events", 1, func(_ mqtt.Client, m mqtt.Message) { got <- m.Topic() }); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	agent, err := connect(t, agentOpts.SetClientID("a1"))
	if err != nil {
		t.Fatalf("agent after Restart: %v", err)
	}
	for _, topic := range []string{"wedge/v1/s1/a2/events", "wedge/v1/s1/a1/events"} {
		if tok := agent.Publish(topic, 1, false, "x"); !tok.WaitTimeout(wait) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", topic, tok.Error())
		}
	}
	select {
	case topic := <-got:
		if topic != "wedge/v1/s1/a1/events" {
			t.Fatalf("the hub received %s: the ACL is not applied after Restart", topic)
		}
	case <-time.After(wait):
		t.Fatalf("the hub did not receive a1's own events after Restart\n%s", b.Log())
	}
}

func writeFile(t *testing.T, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(name, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
