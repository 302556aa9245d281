package uplink_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"wedge/internal/testbroker"
	"wedge/internal/testpg"
	"wedge/sync/hub"
	"wedge/sync/hub/pgstore"
	"wedge/sync/uplink"
	"wedge/sync/uplink/uplinktest"
	"wedge/sync/wire"
)

// commitFailures counts the hub's "commit failed" log records (and passes every record on).
type commitFailures struct {
	slog.Handler
	n *atomic.Int64
}

func (c commitFailures) Handle(ctx context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, "commit failed") {
		c.n.Add(1)
	}
	return c.Handler.Handle(ctx, r)
}

func (c commitFailures) WithAttrs(a []slog.Attr) slog.Handler {
	return commitFailures{c.Handler.WithAttrs(a), c.n}
}

func (c commitFailures) WithGroup(g string) slog.Handler {
	return commitFailures{c.Handler.WithGroup(g), c.n}
}

// PostgreSQL restarted in the middle of a stream (a crash: connections cut, nothing flushed): the
// hub stops acking, reconnects when the server is back and resumes; the agent resends what was not
// acked. Nothing is acked that is not stored: an acked entry is never sent again, so an ack the hub
// gave without its commit would leave a hole that nobody fills. The end state shows there is none
// (every entry stored once, in order, with its hash), and no entry appended while the server was
// down was acked before it came back.
func TestReferenceHubSurvivesPostgresRestart(t *testing.T) {
	srv := testpg.Start(t)
	dsn := srv.NewDatabase(t)
	ctx := context.Background()
	if _, _, err := pgstore.Migrate(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	store, err := pgstore.Open(ctx, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := testbroker.Start(t, nil)
	hubPub, hubKey, _ := wire.GenerateKey()
	agentPub, agentKey, _ := wire.GenerateKey()
	keys := t.TempDir()
	if err := os.MkdirAll(filepath.Join(keys, site), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(keys, site, agent+".pub"), []byte(wire.FormatPublicKey(agentPub)), 0o644); err != nil {
		t.Fatal(err)
	}
	var failures atomic.Int64
	log := slog.New(commitFailures{slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}), &failures})
	h, err := hub.New(ctx, hub.Options{BrokerURL: b.URL(), Store: store, Listen: "127.0.0.1:0", ClientID: "wedge-hub-pg-restart",
		SigningKey: hubKey, AgentKeysDir: keys, Logger: log})
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
	src := uplinktest.NewMemSource(jid)
	src.Append(600)
	u := start(t, src, uplink.Options{URL: b.URL(), HubKeys: []ed25519.PublicKey{hubPub}, SigningKey: agentKey})
	eventually(t, 60*time.Second, "the stream is under way (some entries acked)", func() bool { return src.AckedSeq() >= 50 })

	srv.Crash(t)
	firstWhileDown := src.Append(1) // anything from here on cannot be committed until the restart
	src.Append(599)
	eventually(t, 60*time.Second, "the hub's commits fail while the server is down", func() bool { return failures.Load() >= 3 })
	commits := h.Stats().Commits
	eventually(t, 60*time.Second, "the agent resends and the hub fails again", func() bool { return failures.Load() >= 6 })
	if got := h.Stats().Commits; got != commits {
		t.Fatalf("the hub committed %d groups while the server was down", got-commits)
	}
	if a := src.AckedSeq(); a >= firstWhileDown {
		t.Fatalf("acked %d while the server was down; entries from %d on were appended after the crash", a, firstWhileDown)
	}

	srv.Restart(t)
	last := src.LastSeq()
	eventually(t, 120*time.Second, "the hub reconnects and the agent's resends are all acked", func() bool { return src.AckedSeq() == last })
	checkStored(t, dsn, src, last)
	st := h.Stats()
	if st.EventsIngested != last || st.Conflicts != 0 || st.ChainBreaks != 0 || st.Unverified != 0 || u.Stats().Refused != 0 {
		t.Fatalf("hub stats %+v (want %d ingested, nothing refused or conflicting), agent refused %d", st, last, u.Stats().Refused)
	}
	t.Logf("%d commit failures while the server was down; %d duplicates dropped after the resends", failures.Load(), st.DuplicatesDropped)
}

// checkStored reads the journal back from a fresh handle on the database: seqs 1..last, each once,
// each the agent's entry (same hash).
func checkStored(t *testing.T, dsn string, src *uplinktest.MemSource, last uint64) {
	t.Helper()
	s, err := pgstore.Open(context.Background(), dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want, err := src.Entries(0, int(last), 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	err = s.View(context.Background(), func(tx hub.Tx) error {
		return tx.Entries(site, agent, jid, 0, func(seq uint64, doc []byte) (bool, error) {
			var e wire.Entry
			if err := json.Unmarshal(doc, &e); err != nil {
				return false, err
			}
			if n++; seq != n || e.Hash != want[n-1].Hash {
				t.Fatalf("stored entry %d is seq %d hash %s, want seq %d hash %s", n, seq, e.Hash, n, want[n-1].Hash)
			}
			return true, nil
		})
	})
	if err != nil || n != last {
		t.Fatalf("the store holds %d entries (%v), want %d", n, err, last)
	}
}
