package hub

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// setMeta writes one meta key of a closed store file, or deletes it with a nil value.
func setMeta(t *testing.T, path, key string, v []byte) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		if v == nil {
			return tx.Bucket(bktMeta).Delete([]byte(key))
		}
		return tx.Bucket(bktMeta).Put([]byte(key), v)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func storeFormat(t *testing.T, dir string) string {
	t.Helper()
	s, err := OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var v []byte
	s.(*boltStore).db.View(func(tx *bolt.Tx) error { v = tx.Bucket(bktMeta).Get([]byte(boltFormatKey)); return nil })
	return string(v)
}

// A new store records its format; a store from before the format key gets it, and a store of
// format 1 (JSON records only) is raised to 2 (binary records); a store of a newer format is
// refused with a message that says it is a downgrade.
func TestBoltStoreFormat(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hub.db")
	if got := storeFormat(t, dir); got != "2" {
		t.Fatalf("new store: format %q", got)
	}
	setMeta(t, path, boltFormatKey, nil) // as written before the key existed
	if got := storeFormat(t, dir); got != "2" {
		t.Fatalf("legacy store: format %q", got)
	}
	setMeta(t, path, boltFormatKey, []byte("1")) // as the previous release wrote it
	if got := storeFormat(t, dir); got != "2" {
		t.Fatalf("format 1 store: format %q", got)
	}
	setMeta(t, path, boltFormatKey, []byte("3"))
	_, err := OpenBolt(dir)
	if !errors.Is(err, ErrNewerStore) || !errors.Is(err, ErrStore) || !strings.Contains(err.Error(), "downgrade is refused") {
		t.Fatalf("newer store: %v", err)
	}
	setMeta(t, path, boltFormatKey, []byte("x"))
	if _, err := OpenBolt(dir); !errors.Is(err, ErrStore) || errors.Is(err, ErrNewerStore) {
		t.Fatalf("garbled format: %v", err)
	}
}
