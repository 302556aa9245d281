package journal

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"wedge/sync/wire"
)

// A backup taken while the writer commits is a journal that verifies, as of one commit; Export
// reads it back by seq and refuses the live journal while the store holds it.
func TestBackupWhileWritingAndExport(t *testing.T) {
	s, path := newStore(t)
	for i := range 20 {
		appendNote(t, s, "O1", "before "+string(rune('a'+i)))
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 50 {
			appendNote(t, s, "O2", "during")
		}
	}()
	dir := t.TempDir()
	f, size, err := s.BackupFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	copyPath := filepath.Join(dir, "copy.db")
	out, err := os.Create(copyPath)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := io.Copy(out, f); err != nil || n != size {
		t.Fatalf("copied %d of %d: %v", n, size, err)
	}
	out.Close()
	f.Close()
	os.Remove(f.Name())
	rep, err := Verify(copyPath)
	if err != nil || !rep.OK || rep.Entries < 20 {
		t.Fatalf("backup: %v %s", err, rep)
	}

	var buf bytes.Buffer
	n, err := Export(copyPath, Since{Seq: 5}, &buf)
	if err != nil || uint64(n) != rep.Entries-5 {
		t.Fatalf("export since 5: %d entries, %v; want %d", n, err, rep.Entries-5)
	}
	sc := bufio.NewScanner(&buf)
	want := uint64(6)
	for sc.Scan() {
		var e wire.Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Seq != want {
			t.Fatalf("line %q: %v, want seq %d", sc.Text(), err, want)
		}
		want++
	}
	if _, err := Export(path, Since{}, io.Discard); !errors.Is(err, ErrLocked) {
		t.Fatalf("export of the open journal: %v, want ErrLocked", err)
	}
}
