package journal

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"wedge/order"
	"wedge/sync/wire"
)

// crashChildEnv names the db file a re-executed test binary appends to until it is killed.
const crashChildEnv = "WEDGE_JOURNAL_CRASH_CHILD"

func init() { children[crashChildEnv] = crashChild }

// crashChild appends from several goroutines forever, printing "seq order-id" for every Do that
// returned nil: each printed line is a promise that the entry and its order are on disk.
func crashChild(path string) {
	s, err := Open(path, &Options{Site: "sz01", Agent: "pack02"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(2)
	}
	fmt.Fprintf(os.Stdout, "ready %d\n", s.LastSeq())
	var mu sync.Mutex // one line per write, never interleaved
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("C%d-%d-%d", os.Getpid(), g, i)
				var seq uint64
				err := s.Do(context.Background(), func(tx *Tx) error {
					tx.PutOrder(order.Order{ID: id, State: order.PendingAllocation})
					seq = tx.Append(wire.Entry{Kind: wire.KindIntake, OrderID: id, Trigger: wire.TriggerHub}).Seq
					return nil
				})
				if err != nil {
					fmt.Fprintln(os.Stderr, "child do:", err)
					os.Exit(3)
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "%d %s\n", seq, id)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	os.Exit(0)
}

func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "wedge.db")
	acked := map[uint64]string{}
	for round := range 10 {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
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
		if !sc.Scan() || !strings.HasPrefix(sc.Text(), "ready ") {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("round %d: child did not start: %q %s", round, sc.Text(), stderr.String())
		}
		killAfter := 1 + rand.IntN(400) // acknowledged lines before the kill
		lines := 0
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 2 {
				t.Fatalf("round %d: bad line %q", round, sc.Text())
			}
			seq, err := strconv.ParseUint(f[0], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			if prev, dup := acked[seq]; dup {
				t.Fatalf("round %d: seq %d acknowledged twice (%s, %s)", round, seq, prev, f[1])
			}
			acked[seq] = f[1]
			if lines++; lines == killAfter {
				cmd.Process.Kill() // SIGKILL
			}
		}
		err = cmd.Wait()
		if cmd.ProcessState.Exited() { // killed processes did not exit
			t.Fatalf("round %d: child ended without the kill: %v %s", round, err, stderr.String())
		}

		// Everything acknowledged survived, and the chain is whole.
		rep := mustVerify(t, path)
		s, err := Open(path, testOpts())
		if err != nil {
			t.Fatal(err)
		}
		if rep.Entries != s.LastSeq() {
			t.Errorf("round %d: verify walked %d entries, last seq %d", round, rep.Entries, s.LastSeq())
		}
		for seq, id := range acked {
			es, err := s.Entries(seq-1, 1, 0)
			if err != nil || len(es) != 1 || es[0].Seq != seq || es[0].OrderID != id {
				t.Fatalf("round %d: acknowledged seq %d (%s) lost: %v %v", round, seq, id, es, err)
			}
			if o, ok, err := s.Order(id); !ok || err != nil || o.State != order.PendingAllocation {
				t.Fatalf("round %d: acknowledged order %s lost: %v %v", round, id, ok, err)
			}
		}
		// Each Do wrote one order and one entry in one transaction: never one without the other.
		if n := s.Counts()[order.PendingAllocation]; uint64(n) != s.LastSeq() {
			t.Errorf("round %d: %d orders for %d entries: a transaction was torn", round, n, s.LastSeq())
		}
		s.Close()
	}
	t.Logf("%d acknowledged entries survived 10 SIGKILLs", len(acked))
}
