package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"wedge/internal/logging"

	bolt "go.etcd.io/bbolt"

	"wedge/sync/wire"
)

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// journalOf10 makes a closed journal with entries 1..10 and returns its path.
func journalOf10(t *testing.T) string {
	t.Helper()
	s, path := newStore(t)
	for i := 1; i <= 10; i++ {
		appendNote(t, s, fmt.Sprint("O", i%3), fmt.Sprintf("note %02d", i))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// raw edits the db file with bbolt directly, as someone tampering with it would.
func raw(t *testing.T, path string, fn func(entries, meta *bolt.Bucket) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { return fn(tx.Bucket(bEntries), tx.Bucket(bMeta)) }); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyUntouched(t *testing.T) {
	path := journalOf10(t)
	rep := mustVerify(t, path)
	if rep.Entries != 10 || rep.FirstBad != 0 || rep.JournalID == "" {
		t.Errorf("report %+v", rep)
	}
	if s := rep.String(); !strings.Contains(s, "日志完好") || !strings.Contains(s, "journal OK") || !strings.Contains(s, "10 entries") {
		t.Errorf("String() = %q", s)
	}
	// An empty journal is fine too.
	s, p2 := newStore(t)
	s.Close()
	if rep := mustVerify(t, p2); rep.Entries != 0 {
		t.Errorf("empty journal: %+v", rep)
	}
}

func TestVerifyTampered(t *testing.T) {
	cases := []struct {
		name     string
		tamper   func(entries, meta *bolt.Bucket) error
		firstBad uint64
		problem  string
	}{
		{"edited byte", func(entries, _ *bolt.Bucket) error {
			v := bytes.Replace(entries.Get(be64(5)), []byte("note 05"), []byte("note 95"), 1)
			return entries.Put(be64(5), v)
		}, 5, "edited"},
		{"edited and resealed", func(entries, _ *bolt.Bucket) error {
			// A careful forger recomputes the entry's own hash: the next link breaks.
			var e wire.Entry
			e, _ = decodeEntryRecord(entries.Get(be64(5)))
			e.Detail = "forged"
			e.Seal(e.PrevHash)
			b, _ := json.Marshal(e)
			return entries.Put(be64(5), b)
		}, 6, "prev_hash"},
		{"garbled JSON", func(entries, _ *bolt.Bucket) error {
			return entries.Put(be64(7), []byte(`{"seq":7,`))
		}, 7, "JSON"},
		{"removed entry", func(entries, _ *bolt.Bucket) error { return entries.Delete(be64(4)) }, 4, "missing"},
		{"removed first entry", func(entries, _ *bolt.Bucket) error { return entries.Delete(be64(1)) }, 1, "missing"},
		{"swapped entries", func(entries, _ *bolt.Bucket) error {
			a, b := bytes.Clone(entries.Get(be64(3))), bytes.Clone(entries.Get(be64(6)))
			if err := entries.Put(be64(3), b); err != nil {
				return err
			}
			return entries.Put(be64(6), a)
		}, 3, "reordered"},
		{"swapped and renumbered", func(entries, _ *bolt.Bucket) error {
			// The forger also swaps the seq fields: the hashes give it away.
			var a, b wire.Entry
			a, _ = decodeEntryRecord(entries.Get(be64(3)))
			b, _ = decodeEntryRecord(entries.Get(be64(4)))
			a.Seq, b.Seq = 4, 3
			if err := entries.Put(be64(3), mustJSONNoT(b)); err != nil {
				return err
			}
			return entries.Put(be64(4), mustJSONNoT(a))
		}, 3, "hash"},
		{"deleted tail", func(entries, _ *bolt.Bucket) error {
			if err := entries.Delete(be64(10)); err != nil {
				return err
			}
			return entries.Delete(be64(9))
		}, 9, "tail"},
		{"deleted tail and meta rewound but not its hash", func(entries, meta *bolt.Bucket) error {
			if err := entries.Delete(be64(10)); err != nil {
				return err
			}
			return meta.Put([]byte(kLastSeq), be64(9))
		}, 9, "last_hash"},
		{"entry added outside the agent", func(entries, _ *bolt.Bucket) error {
			var e wire.Entry
			e, _ = decodeEntryRecord(entries.Get(be64(10)))
			n := wire.Entry{JournalID: e.JournalID, Seq: 11, Kind: wire.KindNote, At: e.At}
			n.Seal(e.Hash)
			return entries.Put(be64(11), mustJSONNoT(n))
		}, 11, "outside"},
		{"entry from another journal", func(entries, _ *bolt.Bucket) error {
			var prev, e wire.Entry
			prev, _ = decodeEntryRecord(entries.Get(be64(1)))
			e, _ = decodeEntryRecord(entries.Get(be64(2)))
			e.JournalID = "0000000000000000"
			e.Seal(prev.Hash)
			return entries.Put(be64(2), mustJSONNoT(e))
		}, 2, "journal"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := journalOf10(t)
			raw(t, path, c.tamper)
			rep, err := Verify(path)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK || rep.FirstBad != c.firstBad || !strings.Contains(rep.Problem, c.problem) {
				t.Errorf("report %+v: want not OK, first bad %d, problem mentioning %q", rep, c.firstBad, c.problem)
			}
			if s := rep.String(); !strings.Contains(s, "日志已损坏") || !strings.Contains(s, fmt.Sprintf("seq %d", c.firstBad)) {
				t.Errorf("String() = %q", s)
			}
		})
	}
}

func mustJSONNoT(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func TestVerifyUnreadable(t *testing.T) {
	dir := t.TempDir()
	if _, err := Verify(filepath.Join(dir, "missing.db")); err == nil {
		t.Error("Verify of a missing file succeeded")
	}
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, bytes.Repeat([]byte("not a bbolt file "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	if rep, err := Verify(junk); err == nil || rep.OK {
		t.Errorf("Verify of junk: %+v %v", rep, err)
	}
	other := filepath.Join(dir, "other.db")
	db, err := bolt.Open(other, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if rep, err := Verify(other); !errors.Is(err, ErrCorrupt) || rep.OK {
		t.Errorf("Verify of a bbolt file that is not a journal: %+v %v", rep, err)
	}
	// Open must not adopt another program's bbolt file.
	hub := filepath.Join(dir, "hub.db")
	db, err = bolt.Open(hub, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("events")); return err })
	db.Close()
	if _, err := Open(hub, testOpts()); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "events") {
		t.Errorf("Open of another program's bbolt file: %v, want ErrCorrupt naming its buckets", err)
	}
	db, err = bolt.Open(hub, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bMeta) != nil {
			t.Error("Open wrote into another program's file")
		}
		return nil
	})
	db.Close()
}

func TestOpenWarnsOnBrokenTail(t *testing.T) {
	path := journalOf10(t)
	raw(t, path, func(entries, _ *bolt.Bucket) error { return entries.Delete(be64(10)) })
	var logs []string
	o := testOpts()
	o.Logger = logging.FromLogf(func(format string, args ...any) { logs = append(logs, fmt.Sprintf(format, args...)) })
	s := open(t, path, o)
	if len(logs) != 1 || !strings.Contains(logs[0], "journal verify") {
		t.Errorf("logs %q: want one warning pointing at journal verify", logs)
	}
	// The agent keeps recording on top of its meta; Verify still points at the hole.
	if e := appendNote(t, s, "", "after"); e.Seq != 11 {
		t.Errorf("seq %d, want 11", e.Seq)
	}
	s.Close()
	if rep, err := Verify(path); err != nil || rep.OK || rep.FirstBad != 10 {
		t.Errorf("verify: %s %v, want first bad 10", rep, err)
	}
}

func TestOpenCorruptMeta(t *testing.T) {
	path := journalOf10(t)
	raw(t, path, func(_, meta *bolt.Bucket) error { return meta.Put([]byte(kLastSeq), []byte("ten")) })
	if _, err := Open(path, testOpts()); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "last_seq") {
		t.Errorf("Open with a garbled last_seq: %v, want ErrCorrupt naming it", err)
	}
	if rep, err := Verify(path); !errors.Is(err, ErrCorrupt) || rep.OK {
		t.Errorf("Verify with a garbled last_seq: %+v %v", rep, err)
	}
}
