// Package journaltest holds hand-written helpers for tests of packages that use agent/journal: a
// store in a temporary directory that closes itself, a switchable "disk full" fault, and raw
// tampering of a closed journal file for Verify tests.
package journaltest

import (
	"encoding/binary"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"

	bolt "go.etcd.io/bbolt"

	"wedge/agent/journal"
)

// Open opens a fresh journal (wedge.db in t.TempDir()) and closes it when the test ends. Nil opts
// mean site "sz01", agent "pack02"; missing Site or Agent are filled in the same way.
func Open(t testing.TB, opts *journal.Options) *journal.Store {
	t.Helper()
	return OpenPath(t, filepath.Join(t.TempDir(), "wedge.db"), opts)
}

// OpenPath is Open on a given file (e.g. to reopen after Close).
func OpenPath(t testing.TB, path string, opts *journal.Options) *journal.Store {
	t.Helper()
	o := journal.Options{}
	if opts != nil {
		o = *opts
	}
	if o.Site == "" {
		o.Site = "sz01"
	}
	if o.Agent == "" {
		o.Agent = "pack02"
	}
	s, err := journal.Open(path, &o)
	if err != nil {
		t.Fatalf("journaltest: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("journaltest: close: %v", err)
		}
	})
	return s
}

// DiskFull is a switchable commit fault. Pass its Hook as Options.FailCommit; while Set(true),
// every commit fails with ENOSPC (callers see journal.ErrCommit) and nothing is recorded.
type DiskFull struct{ full atomic.Bool }

// Set turns the fault on or off.
func (d *DiskFull) Set(full bool) { d.full.Store(full) }

// Hook is the function for Options.FailCommit.
func (d *DiskFull) Hook() func() error {
	return func() error {
		if d.full.Load() {
			return syscall.ENOSPC
		}
		return nil
	}
}

// Tamper runs fn on the raw entries and meta buckets of a closed journal file, as someone editing
// it behind the agent's back would. Entry keys are Key(seq).
func Tamper(t testing.TB, path string, fn func(entries, meta *bolt.Bucket) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatalf("journaltest: tamper: %v", err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		return fn(tx.Bucket([]byte("entries")), tx.Bucket([]byte("meta")))
	})
	if err != nil {
		t.Fatalf("journaltest: tamper: %v", err)
	}
}

// Key is the entries-bucket key of seq.
func Key(seq uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], seq)
	return b[:]
}
