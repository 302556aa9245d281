package uplink

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
)

// CheckTLS loads every certificate and key the options name (the broker CA, the client certificate
// and its key) and checks they fit the broker URL, without connecting: `wedge run --check` uses it so
// that a missing or unreadable file is found before the service starts.
func CheckTLS(o Options) error {
	_, err := tlsConfig(o)
	return err
}

// Reach connects to the broker's address and, for a TLS URL, completes the TLS handshake with the
// same CA and client certificate the uplink uses, then hangs up (no MQTT session: it takes no
// client id from the running agent). `wedge doctor` uses it.
func Reach(ctx context.Context, o Options) error {
	conf, err := tlsConfig(o)
	if err != nil {
		return err
	}
	pu, _ := url.Parse(o.URL) // tlsConfig parsed it
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", pu.Host)
	if err != nil {
		return fmt.Errorf("connect %s: %w", pu.Host, err)
	}
	defer conn.Close()
	if conf == nil {
		return nil
	}
	conf.ServerName = pu.Hostname()
	tc := tls.Client(conn, conf)
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("%w: handshake with %s: %w", ErrTLS, pu.Host, err)
	}
	return nil
}
