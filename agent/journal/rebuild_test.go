package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"wedge/internal/clock"
	"wedge/order"
	"wedge/sync/wire"
)

// contents reads a closed journal back through the store: entries, orders, counts, position.
type contents struct {
	id      string
	entries []wire.Entry
	orders  map[string]order.Order
	counts  map[order.State]int
	acked   uint64
}

func readContents(t *testing.T, path string) contents {
	t.Helper()
	s, err := Open(path, &Options{Site: "sz01", Agent: "pack02", Clock: clock.NewFake(t0)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := contents{id: s.JournalID(), orders: map[string]order.Order{}, counts: s.Counts(), acked: s.AckedSeq()}
	if c.entries, err = s.Entries(0, 1<<20, 1<<30); err != nil {
		t.Fatal(err)
	}
	err = s.ForEachOrder("", func(o order.Order) bool { c.orders[o.ID] = o; return true })
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func seqOf(entries []wire.Entry) func(func(wire.Entry, error) bool) {
	return func(yield func(wire.Entry, error) bool) {
		for _, e := range entries {
			if !yield(e, nil) {
				return
			}
		}
	}
}

// TestRebuildReplaysOrders: a journal rebuilt from its own entries holds the same entries (seq and
// hash as sealed), the same orders field for field (intake data, printed waybills, times), the
// same counts, and the acked seq it was given.
func TestRebuildReplaysOrders(t *testing.T) {
	path, _ := damageFixture(t, 60)
	want := readContents(t, path)
	dst := filepath.Join(t.TempDir(), "rebuilt.db")
	last, err := Rebuild(dst, &Options{Site: "sz01", Agent: "pack02", Clock: clock.NewFake(t0)},
		Restore{JournalID: want.id, Entries: seqOf(want.entries), AckedSeq: 30})
	if err != nil {
		t.Fatal(err)
	}
	if last != uint64(len(want.entries)) {
		t.Errorf("last %d, want %d", last, len(want.entries))
	}
	if rep, err := Verify(dst); err != nil || !rep.OK {
		t.Fatalf("rebuilt journal: %s %v", rep, err)
	}
	got := readContents(t, dst)
	if got.id != want.id || got.acked != 30 {
		t.Errorf("journal %s acked %d, want %s acked 30", got.id, got.acked, want.id)
	}
	if !reflect.DeepEqual(got.entries, want.entries) {
		t.Error("entries differ")
	}
	if !reflect.DeepEqual(got.orders, want.orders) {
		for id, o := range want.orders {
			if !reflect.DeepEqual(got.orders[id], o) {
				t.Errorf("order %s:\n got %+v\nwant %+v", id, got.orders[id], o)
				break
			}
		}
	}
	if !reflect.DeepEqual(got.counts, want.counts) {
		t.Errorf("counts %v, want %v", got.counts, want.counts)
	}
}

func TestRebuildRefuses(t *testing.T) {
	path, _ := damageFixture(t, 10)
	c := readContents(t, path)
	opts := &Options{Site: "sz01", Agent: "pack02"}
	dir := t.TempDir()
	if _, err := Rebuild(path, opts, Restore{JournalID: c.id, Entries: seqOf(c.entries)}); !errors.Is(err, ErrOptions) {
		t.Errorf("over an existing file: %v", err)
	}
	edited := slices.Clone(c.entries)
	edited[4].Detail = "forged"
	forged := filepath.Join(dir, "forged.db")
	if _, err := Rebuild(forged, opts, Restore{JournalID: c.id, Entries: seqOf(edited)}); !errors.Is(err, ErrInvalid) || !errors.Is(err, wire.ErrChain) {
		t.Errorf("an edited entry: %v, want ErrInvalid and wire.ErrChain", err)
	}
	if _, err := os.Stat(forged); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed rebuild left %s behind", forged)
	}
	if _, err := Rebuild(filepath.Join(dir, "other.db"), opts, Restore{JournalID: "0000", Entries: seqOf(c.entries)}); !errors.Is(err, ErrInvalid) {
		t.Errorf("entries of another journal: %v", err)
	}
	if _, err := Rebuild(filepath.Join(dir, "gap.db"), opts, Restore{JournalID: c.id, Entries: seqOf(c.entries[1:])}); !errors.Is(err, ErrInvalid) {
		t.Errorf("entries not from seq 1: %v", err)
	}
	if _, err := Rebuild(filepath.Join(dir, "acked.db"), opts, Restore{JournalID: c.id, Entries: seqOf(c.entries), AckedSeq: 999}); !errors.Is(err, ErrInvalid) {
		t.Errorf("acked beyond the last entry: %v", err)
	}
	boom := errors.New("hub went away")
	failing := func(yield func(wire.Entry, error) bool) { yield(wire.Entry{}, boom) }
	if _, err := Rebuild(filepath.Join(dir, "fail.db"), opts, Restore{JournalID: c.id, Entries: failing}); !errors.Is(err, boom) {
		t.Errorf("an error from the entries: %v", err)
	}
}

// TestSalvage reads identity, meta state and entries from a sound file, and from one whose entry
// 5 is garbled: the entries stop before it, and those after it are still there for a later seq.
func TestSalvage(t *testing.T) {
	path, orig := damageFixture(t, 20)
	c := readContents(t, path)
	s, err := Salvage(path, 10)
	if err != nil {
		t.Fatal(err)
	}
	if s.JournalID != c.id || s.Site != "sz01" || s.Agent != "pack02" || s.LastSeq != uint64(len(c.entries)) || s.AckedSeq != c.acked || len(s.Damage) != 0 {
		t.Errorf("salvaged %+v", s)
	}
	if hseq := s.AppMeta["intake/hseq"]; len(hseq) != 8 || binary.BigEndian.Uint64(hseq) != 20 {
		t.Errorf("app meta %q", s.AppMeta)
	}
	if !reflect.DeepEqual(s.Entries, c.entries[10:]) {
		t.Errorf("entries after 10: %d of them, want %d", len(s.Entries), len(c.entries)-10)
	}
	at := bytes.Index(orig, append(be64(5), recBinary)) // the key, then the record
	if at < 0 {
		t.Fatal("entry 5 not found in the file")
	}
	at += 10 // into the record: its journal id
	data := bytes.Clone(orig)
	for i := at; i < at+8; i++ {
		data[i] ^= 0xFF
	}
	damaged := filepath.Join(t.TempDir(), "damaged.db")
	os.WriteFile(damaged, data, 0o600)
	if s, err = Salvage(damaged, 0); err != nil || len(s.Entries) != 4 || len(s.Damage) == 0 {
		t.Errorf("from 0: %d entries, damage %q, %v; want entries 1–4 and the damage", len(s.Entries), s.Damage, err)
	}
	if s, err = Salvage(damaged, 5); err != nil || !reflect.DeepEqual(s.Entries, c.entries[5:]) {
		t.Errorf("after 5: %d entries, %v", len(s.Entries), err)
	}
	// Without a readable meta page nothing can be located, and Salvage says so.
	copy(data, make([]byte, 2*4096))
	os.WriteFile(damaged, data, 0o600)
	if s, err = Salvage(damaged, 0); err != nil || s.JournalID != "" || len(s.Damage) == 0 {
		t.Errorf("no meta page: %+v %v", s, err)
	}
}
