package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"wedge/sync/wire"
)

// wedgeCmd runs the real binary and returns its combined output and exit status.
func wedgeCmd(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(wedgeBin, args...).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("wedge %v: %v", args, err)
	}
	return string(out), 0
}

// exportLines decodes `wedge journal export` output.
func exportLines(t *testing.T, out []byte) []wire.Entry {
	t.Helper()
	var es []wire.Entry
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e wire.Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		es = append(es, e)
	}
	return es
}

// An online backup through the running agent's API (with its token), verified; an export of the
// backup as JSON lines whose hash chain links; --since by seq and by time; a refused export of
// the live journal; a refused wrong token; and a restore into the stopped agent's data directory
// that keeps the replaced journal aside.
func TestJournalBackupExportRestore(t *testing.T) {
	needE2E(t)
	dir := t.TempDir()
	b := startBroker(t, dir)
	h := startHub(t, dir, b, freeAddr(t))
	pack := newAgent(t, dir, "pack01", b, stationSpec{"print-1", "print", openPty(t)})
	orders := makeOrders("BK", 5)
	h.dispatch(t, "sz01", orders)
	waitFor(t, 60*time.Second, "the agent journals the orders", func() bool { return pack.status(t).LastSeq >= uint64(len(orders)) })

	backup := filepath.Join(dir, "backup.db")
	// The token comes from the config; the address from the log (the config listens on port 0).
	api := "http://" + pack.addr
	out, code := wedgeCmd(t, "journal", "backup", "--to", backup, "--config", pack.cfgPath, "--api", api)
	if code != 0 || !strings.Contains(out, "journal OK") {
		t.Fatalf("backup: exit %d\n%s", code, out)
	}
	if out, code := wedgeCmd(t, "journal", "backup", "--to", filepath.Join(dir, "b2.db"), "--api", api, "--token", "wrong"); code != 1 || !strings.Contains(out, "403") {
		t.Fatalf("wrong token: exit %d\n%s", code, out)
	}
	if out, code := wedgeCmd(t, "journal", "export", "--data", pack.data); code != 1 || !strings.Contains(out, "running agent") {
		t.Fatalf("export of the live journal: exit %d\n%s", code, out)
	}

	raw, err := exec.Command(wedgeBin, "journal", "export", "--data", backup).Output()
	if err != nil {
		t.Fatal(err)
	}
	es := exportLines(t, raw)
	if len(es) < len(orders) {
		t.Fatalf("exported %d entries, want at least %d", len(es), len(orders))
	}
	for i, e := range es {
		if e.Seq != uint64(i+1) || i > 0 && e.PrevHash != es[i-1].Hash || e.Hash == "" {
			t.Fatalf("entry %d: seq %d prev_hash %q, previous hash %q", i, e.Seq, e.PrevHash, es[max(i-1, 0)].Hash)
		}
	}
	raw, err = exec.Command(wedgeBin, "journal", "export", "--data", backup, "--since", "2").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := exportLines(t, raw); len(got) != len(es)-2 || got[0].Seq != 3 {
		t.Fatalf("--since 2: %d entries from seq %d", len(got), got[0].Seq)
	}
	last := es[len(es)-1]
	raw, err = exec.Command(wedgeBin, "journal", "export", "--data", backup, "--since", last.At).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range exportLines(t, raw) {
		if at, _ := wire.ParseTime(e.At); at.Before(mustTime(t, last.At)) {
			t.Fatalf("--since %s exported an entry at %s", last.At, e.At)
		}
	}

	pack.stop()
	out, code = wedgeCmd(t, "journal", "restore", "--from", backup, "--data", pack.data)
	if code != 0 || !strings.Contains(out, "before-restore") {
		t.Fatalf("restore: exit %d\n%s", code, out)
	}
	asides, _ := filepath.Glob(filepath.Join(pack.data, "wedge.db.before-restore-*"))
	if len(asides) != 1 {
		t.Fatalf("kept aside: %v", asides)
	}
	out, code = wedgeCmd(t, "journal", "verify", "--data", pack.data)
	if code != 0 || !strings.Contains(out, strconv.Itoa(len(es))+" entries") {
		t.Fatalf("verify after restore: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(backup + ".part"); !os.IsNotExist(err) {
		t.Errorf("a partial download was left: %v", err)
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	at, err := wire.ParseTime(s)
	if err != nil {
		t.Fatal(err)
	}
	return at
}
