package uplink_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"wedge/internal/testbroker"
	"wedge/sync/uplink"
	"wedge/sync/uplink/uplinktest"
)

// The owner loop answers heartbeats connected and through a broker outage (the watchdog must not
// restart an agent because the broker is down), and a stopped uplink says so.
func TestHeartbeatAnswersThroughABrokerOutage(t *testing.T) {
	b := testbroker.Start(t, nil)
	px := startProxy(t, b.Addr())
	u := start(t, uplinktest.NewMemSource(jid), uplink.Options{URL: px.URL()})
	eventually(t, 20*time.Second, "connected", u.Connected)
	beat := func(what string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := u.Heartbeat(ctx); err != nil {
			t.Fatalf("heartbeat %s: %v", what, err)
		}
	}
	beat("connected")
	px.SetDown(true)
	px.Cut()
	eventually(t, 20*time.Second, "disconnected", func() bool { return !u.Connected() })
	beat("while the broker is unreachable")
	beat("again while the broker is unreachable")
	// Back online before Stop: paho's reconnect back-off sleep outlives a Stop made while it waits.
	px.SetDown(false)
	eventually(t, 30*time.Second, "reconnected", u.Connected)
	beat("reconnected")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := u.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := u.Heartbeat(context.Background()); !errors.Is(err, uplink.ErrStopped) {
		t.Fatalf("heartbeat after Stop: %v, want ErrStopped", err)
	}
}
