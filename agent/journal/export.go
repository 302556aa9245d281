package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"wedge/sync/wire"
)

// Backup writes a consistent copy of the whole journal file to w while the agent runs: one bbolt
// read transaction (Tx.WriteTo), so writers go on and the copy is the journal as of one commit.
// The copy is a journal file like the original (`wedge journal verify` and `export` read it).
// size, when not nil, is told the copy's size before the first byte is written (an HTTP handler
// sets Content-Length with it, so a cut transfer is an error at the client).
func (s *Store) Backup(w io.Writer, size func(int64)) (int64, error) {
	var n int64
	err := s.view(func(tx *bolt.Tx) error {
		if size != nil {
			size(tx.Size())
		}
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// BackupFile writes a Backup into a new temporary file in dir and returns it open at its start,
// with its size. The read transaction ends before the caller reads the file: bbolt's writers wait
// for open read transactions when the file must grow (remap), so a slow reader of a streamed
// transaction could hold up commits, and scans with them. The caller closes and removes the file.
func (s *Store) BackupFile(dir string) (*os.File, int64, error) {
	f, err := os.CreateTemp(dir, ".backup-*.db")
	if err != nil {
		return nil, 0, err
	}
	n, err := s.Backup(f, nil)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, 0, err
	}
	return f, n, nil
}

// Since selects the entries an export starts from: those with seq > Seq, and with an agent time
// at or after Time (zero: any time).
type Since struct {
	Seq  uint64
	Time time.Time
}

// Export writes the entries of the journal file at path selected by since to w as JSON lines, one
// wire.Entry each, in seq order, exactly as stored (auditors can recompute the hash chain: each
// hash covers the entry's JSON with hash empty, see wire.Entry.Canonical, and prev_hash links it). It opens the file read-only: a journal held by a running agent gives
// ErrLocked (export a backup instead). It returns how many entries it wrote.
func Export(path string, since Since, w io.Writer) (int, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: VerifyLockTimeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return 0, fmt.Errorf("%w: %s: 日志正被运行中的代理使用，请导出备份（wedge journal backup） the journal is in use by a running agent: export a backup (wedge journal backup)", ErrLocked, path)
	}
	if err != nil {
		return 0, fmt.Errorf("journal: export: %s: %w", path, err)
	}
	defer db.Close()
	n := 0
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bEntries)
		if b == nil {
			return fmt.Errorf("%w: %s has no entries bucket", ErrCorrupt, path)
		}
		c := b.Cursor()
		var buf []byte
		for k, v := c.Seek(be64(since.Seq + 1)); k != nil; k, v = c.Next() {
			e, err := decodeEntryRecord(v)
			if err != nil {
				return fmt.Errorf("%w: entry %d: %v", ErrCorrupt, binary.BigEndian.Uint64(k), err)
			}
			ok, err := selected(e, since.Time)
			if err != nil {
				return fmt.Errorf("%w: entry %d: %v", ErrCorrupt, binary.BigEndian.Uint64(k), err)
			}
			if !ok {
				continue
			}
			// A JSON record is written as stored (v is bbolt's read-only mapping: never append to
			// it); a binary one as its JSON, the same bytes json.Marshal writes.
			line := v
			if !isJSONRecord(v) {
				buf = e.AppendJSON(buf[:0])
				line = buf
			}
			if _, err := w.Write(line); err != nil {
				return err
			}
			if _, err := w.Write([]byte{'\n'}); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// selected reports whether a stored entry's agent time is at or after t.
func selected(e wire.Entry, t time.Time) (bool, error) {
	if t.IsZero() {
		return true, nil
	}
	at, err := wire.ParseTime(e.At)
	if err != nil {
		return false, err
	}
	return !at.Before(t), nil
}
