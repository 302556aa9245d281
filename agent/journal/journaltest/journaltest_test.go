package journaltest_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/goleak"

	"wedge/agent/journal"
	"wedge/agent/journal/journaltest"
	"wedge/sync/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func note(tx *journal.Tx) error { tx.Append(wire.Entry{Kind: wire.KindNote}); return nil }

func TestDiskFull(t *testing.T) {
	var full journaltest.DiskFull
	s := journaltest.Open(t, &journal.Options{FailCommit: full.Hook()})
	ctx := context.Background()
	if err := s.Do(ctx, note); err != nil {
		t.Fatal(err)
	}
	full.Set(true)
	if err := s.Do(ctx, note); !errors.Is(err, journal.ErrCommit) {
		t.Errorf("disk full: %v, want ErrCommit", err)
	}
	if s.LastSeq() != 1 {
		t.Errorf("last seq %d after a failed commit", s.LastSeq())
	}
	full.Set(false)
	if err := s.Do(ctx, note); err != nil || s.LastSeq() != 2 {
		t.Errorf("after the disk has room: %v, last seq %d", err, s.LastSeq())
	}
}

func TestTamper(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wedge.db")
	s, err := journal.Open(path, &journal.Options{Site: "s", Agent: "a"})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := s.Do(context.Background(), note); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	if rep, err := journal.Verify(path); err != nil || !rep.OK {
		t.Fatalf("untouched: %s %v", rep, err)
	}
	journaltest.Tamper(t, path, func(entries, _ *bolt.Bucket) error { return entries.Delete(journaltest.Key(2)) })
	if rep, err := journal.Verify(path); err != nil || rep.OK || rep.FirstBad != 2 {
		t.Errorf("after deleting seq 2: %s %v", rep, err)
	}
	reopened := journaltest.OpenPath(t, path, &journal.Options{Site: "s", Agent: "a"})
	if reopened.LastSeq() != 3 {
		t.Errorf("reopened last seq %d", reopened.LastSeq())
	}
}
