package uplink_test

import (
	"context"
	"testing"
	"time"

	"wedge/internal/testbroker"
	"wedge/sync/hub"
	"wedge/sync/uplink"
	"wedge/sync/uplink/uplinktest"
)

// TestResendAfterLaggingAck: the journal writes a hub ack with its next commit, so after a crash
// it may reopen with an acked seq below what the hub acked. The uplink then sends the rest again;
// the real hub drops them as duplicates (stores nothing twice) and acks again, and the acked seq
// catches up.
func TestResendAfterLaggingAck(t *testing.T) {
	b := testbroker.Start(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h, err := hub.New(ctx, hub.Options{BrokerURL: b.URL(), DataDir: t.TempDir(), Listen: "127.0.0.1:0", ClientID: "wedge-hub-ackrestart"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = h.Stop(ctx)
	})
	select {
	case <-h.Ready():
	case <-time.After(15 * time.Second):
		t.Fatal("hub not ready")
	}

	const n, onDisk = 300, 120
	src := uplinktest.NewMemSource(jid)
	src.Append(n)
	u, err := uplink.New(ctx, src, uplink.Options{URL: b.URL(), Site: site, Agent: agent, AcceptUnsigned: true})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the hub acks all", func() bool { return src.AckedSeq() == n })
	stopCtx, stopCancel := context.WithTimeout(ctx, 10*time.Second)
	defer stopCancel()
	if err := u.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	before := h.Stats()

	// The same journal reopened after a crash, its acked seq on disk at onDisk.
	again := uplinktest.NewMemSource(jid)
	again.Append(n)
	if err := again.Ack(ctx, onDisk); err != nil {
		t.Fatal(err)
	}
	start(t, again, uplink.Options{URL: b.URL()})
	eventually(t, 30*time.Second, "the acked seq catches up", func() bool { return again.AckedSeq() == n })
	eventually(t, 10*time.Second, "the hub counts the resent entries", func() bool {
		return h.Stats().DuplicatesDropped-before.DuplicatesDropped >= n-onDisk
	})
	after := h.Stats()
	if got := after.EventsIngested - before.EventsIngested; got != 0 {
		t.Errorf("the hub stored %d resent entries again, want 0", got)
	}
	if got := after.DuplicatesDropped - before.DuplicatesDropped; got != n-onDisk {
		t.Errorf("the hub dropped %d duplicates, want %d (entries %d–%d)", got, n-onDisk, onDisk+1, n)
	}
	if before.EventsIngested != n {
		t.Errorf("the hub stored %d entries in the first run, want %d", before.EventsIngested, n)
	}
}
