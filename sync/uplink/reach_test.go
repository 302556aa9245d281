package uplink_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"wedge/sync/uplink"
)

// Reach completes the TLS handshake with the configured CA and client certificate against a real
// mosquitto, and fails with ErrTLS for a CA that did not sign the broker's certificate.
func TestReachTLSBroker(t *testing.T) {
	tb := startTLSBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := uplink.Reach(ctx, uplink.Options{URL: tb.URL, CAFile: tb.CA, CertFile: tb.ClientCert, KeyFile: tb.ClientKey}); err != nil {
		t.Fatalf("good CA: %v", err)
	}
	err := uplink.Reach(ctx, uplink.Options{URL: tb.URL, CAFile: tb.OtherCA, CertFile: tb.ClientCert, KeyFile: tb.ClientKey})
	if !errors.Is(err, uplink.ErrTLS) {
		t.Fatalf("other CA: %v, want ErrTLS", err)
	}
	if err := uplink.Reach(ctx, uplink.Options{URL: "tcp://127.0.0.1:1"}); err == nil {
		t.Fatal("a closed port was reached")
	}
}
