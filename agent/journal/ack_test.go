package journal

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"wedge/internal/clock"
	"wedge/sync/wire"
)

// TestAckRidesOnTheNextCommit: an ack moves AckedSeq at once and commits nothing; the next batch
// that commits anyway writes it, without a commit of its own. A call that writes nothing (a
// heartbeat) does not commit for it.
func TestAckRidesOnTheNextCommit(t *testing.T) {
	s, path := newStore(t)
	ctx := context.Background()
	for range 10 {
		appendNote(t, s, "", "")
	}
	before := s.Stats()
	if err := s.Ack(ctx, 6); err != nil {
		t.Fatal(err)
	}
	if s.AckedSeq() != 6 || s.SavedAckedSeq() != 0 {
		t.Fatalf("after Ack(6): acked %d, saved %d; want 6, 0", s.AckedSeq(), s.SavedAckedSeq())
	}
	if err := s.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Commits != before.Commits {
		t.Fatalf("Ack and a heartbeat committed %d times, want 0", st.Commits-before.Commits)
	}
	appendNote(t, s, "", "")
	if st := s.Stats(); st.Commits != before.Commits+1 || st.AckCommits != 0 {
		t.Fatalf("one append after an ack: %d commits (%d of them ack-only), want 1 (0)", st.Commits-before.Commits, st.AckCommits)
	}
	if s.SavedAckedSeq() != 6 {
		t.Fatalf("the append's commit wrote acked %d, want 6", s.SavedAckedSeq())
	}
	if got := fileAckedSeq(t, s); got != 6 {
		t.Fatalf("the file says acked %d, want 6", got)
	}
	s.Close()
	if st := s.Stats(); st.AckCommits != 0 {
		t.Errorf("Close committed the ack again (%d ack-only commits)", st.AckCommits)
	}
	s2 := open(t, path, nil)
	if s2.AckedSeq() != 6 || s2.SavedAckedSeq() != 6 || s2.LastSeq() != 11 {
		t.Errorf("reopened: acked %d saved %d last %d, want 6 6 11", s2.AckedSeq(), s2.SavedAckedSeq(), s2.LastSeq())
	}
}

// TestIdleAckCommit: with no commit to carry it, an ack is written alone once it waited AckDelay
// (a later ack does not postpone that), and Close writes the last one.
func TestIdleAckCommit(t *testing.T) {
	clk := clock.NewFake(t0)
	path := filepath.Join(t.TempDir(), "wedge.db")
	s := open(t, path, &Options{Site: "sz01", Agent: "pack02", Clock: clk, AckDelay: time.Second})
	ctx := context.Background()
	for range 10 {
		appendNote(t, s, "", "")
	}
	if clk.Waiters() != 0 {
		t.Fatalf("%d timers armed without an ack", clk.Waiters())
	}
	if err := s.Ack(ctx, 3); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the ack timer to be armed", func() bool { return clk.Waiters() == 1 })
	clk.Advance(600 * time.Millisecond)
	if err := s.Ack(ctx, 5); err != nil {
		t.Fatal(err)
	}
	if err := s.Heartbeat(ctx); err != nil { // the writer went round its loop after the second ack
		t.Fatal(err)
	}
	if s.SavedAckedSeq() != 0 || s.Stats().AckCommits != 0 {
		t.Fatalf("saved %d (%d ack commits) before AckDelay, want 0", s.SavedAckedSeq(), s.Stats().AckCommits)
	}
	clk.Advance(400 * time.Millisecond) // one second after the first ack
	waitUntil(t, "the idle ack commit", func() bool { return s.SavedAckedSeq() == 5 })
	if st := s.Stats(); st.AckCommits != 1 {
		t.Fatalf("%d ack-only commits, want 1", st.AckCommits)
	}
	if got := fileAckedSeq(t, s); got != 5 {
		t.Fatalf("the file says acked %d, want 5", got)
	}
	if err := s.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	if clk.Waiters() != 0 {
		t.Fatalf("%d timers armed with nothing to write", clk.Waiters())
	}

	// Close writes an ack still in memory.
	if err := s.Ack(ctx, 8); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.AckCommits != 2 {
		t.Errorf("%d ack-only commits after Close, want 2", st.AckCommits)
	}
	s2 := open(t, path, nil)
	if s2.AckedSeq() != 8 {
		t.Errorf("reopened after Close: acked %d, want 8", s2.AckedSeq())
	}
}

// TestAckKeptAfterFailedCommit: a commit that fails leaves the ack in memory (AckedSeq never
// moves back) and the next commit writes it.
func TestAckKeptAfterFailedCommit(t *testing.T) {
	fail := errors.New("disk full")
	var failing bool
	opts := testOpts()
	opts.FailCommit = func() error {
		if failing {
			return fail
		}
		return nil
	}
	s := open(t, filepath.Join(t.TempDir(), "wedge.db"), opts)
	ctx := context.Background()
	for range 5 {
		appendNote(t, s, "", "")
	}
	if err := s.Ack(ctx, 4); err != nil {
		t.Fatal(err)
	}
	failing = true
	err := s.Do(ctx, func(tx *Tx) error { tx.SetMeta("k", []byte("v")); return nil })
	if !errors.Is(err, ErrCommit) {
		t.Fatalf("Do with a failing commit: %v, want ErrCommit", err)
	}
	if s.AckedSeq() != 4 || s.SavedAckedSeq() != 0 {
		t.Fatalf("after the failed commit: acked %d, saved %d; want 4, 0", s.AckedSeq(), s.SavedAckedSeq())
	}
	failing = false
	appendNote(t, s, "", "")
	if s.AckedSeq() != 4 || s.SavedAckedSeq() != 4 || fileAckedSeq(t, s) != 4 {
		t.Fatalf("after the next commit: acked %d, saved %d, file %d; want 4", s.AckedSeq(), s.SavedAckedSeq(), fileAckedSeq(t, s))
	}
}

// TestAckBadOptions: a negative AckDelay is refused.
func TestAckBadOptions(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), "wedge.db"), &Options{Site: "sz01", Agent: "pack02", AckDelay: -time.Second})
	if !errors.Is(err, ErrOptions) {
		t.Fatalf("AckDelay -1s: %v, want ErrOptions", err)
	}
}

// ackCrashChildEnv names the db file of a child that commits, acks, and waits to be killed.
const ackCrashChildEnv = "WEDGE_JOURNAL_ACK_CRASH_CHILD"

func init() { children[ackCrashChildEnv] = ackCrashChild }

// ackCrashChild appends 10 entries, acks 4, appends one more (whose commit writes the ack), acks 9
// (in memory only: AckDelay is an hour), prints "acked 4 9 last 11" and waits for the kill.
func ackCrashChild(path string) {
	s, err := Open(path, &Options{Site: "sz01", Agent: "pack02", AckDelay: time.Hour})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(2)
	}
	ctx := context.Background()
	note := func() {
		if err := s.Do(ctx, func(tx *Tx) error {
			tx.Append(wire.Entry{Kind: wire.KindNote, OrderID: "O1", Trigger: wire.TriggerSystem})
			return nil
		}); err != nil {
			fmt.Fprintln(os.Stderr, "child do:", err)
			os.Exit(3)
		}
	}
	for range 10 {
		note()
	}
	if err := s.Ack(ctx, 4); err != nil {
		os.Exit(4)
	}
	note()
	if err := s.Ack(ctx, 9); err != nil {
		os.Exit(4)
	}
	fmt.Printf("acked %d %d last %d\n", s.SavedAckedSeq(), s.AckedSeq(), s.LastSeq())
	select {}
}

// TestAckCrash: SIGKILLed with an ack only in memory, the journal reopens with the acked seq of
// its last commit (never more than the hub acked), and every entry after it is there to be sent
// again (the hub drops what it already holds).
func TestAckCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "wedge.db")
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), ackCrashChildEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	line := ""
	if sc.Scan() {
		line = sc.Text()
	}
	cmd.Process.Kill() // SIGKILL
	cmd.Wait()
	if line != "acked 4 9 last 11" {
		t.Fatalf("child said %q, want \"acked 4 9 last 11\" (stderr %s)", line, stderr.String())
	}

	mustVerify(t, path)
	s := open(t, path, nil)
	if s.AckedSeq() != 4 || s.LastSeq() != 11 {
		t.Fatalf("reopened after SIGKILL: acked %d last %d, want 4 11", s.AckedSeq(), s.LastSeq())
	}
	es, err := s.Entries(s.AckedSeq(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 7 || es[0].Seq != 5 || es[6].Seq != 11 {
		t.Fatalf("entries to send again after the reopen: %d (%v…), want seq 5–11", len(es), es)
	}
	// The hub acks the resend again; the ack moves on from there.
	if err := s.Ack(context.Background(), 11); err != nil || s.AckedSeq() != 11 {
		t.Fatalf("ack after the reopen: %v, acked %d", err, s.AckedSeq())
	}
}

// fileAckedSeq reads acked_seq from the open file (what a reopen would start from).
func fileAckedSeq(t *testing.T, s *Store) uint64 {
	t.Helper()
	var n uint64
	err := s.view(func(tx *bolt.Tx) (err error) {
		n, err = u64(tx.Bucket(bMeta).Get([]byte(kAckedSeq)))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
