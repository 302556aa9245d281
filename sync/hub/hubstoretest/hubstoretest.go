// Package hubstoretest is the conformance suite of hub.Store implementations: what the hub's owner
// relies on at the transaction boundary (idempotent entries with the first kept, journal walks,
// rollback, per-site hseq without gaps or duplicates, lost-update-free order records under
// concurrent transactions, commands, evidence, history, counters). The hub's behaviour on top of a
// store (dedupe, conflicts, chain checks, acks, merges, catch-up) is tested by sync/hub's own tests,
// which run against every store too.
package hubstoretest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"wedge/sync/hub"
)

// Factory makes stores for the suite.
type Factory struct {
	// New returns an empty store; the suite closes it.
	New func(t *testing.T) hub.Store
	// Reopen, when set, returns another handle on the data of s, used concurrently with s (two hub
	// replicas sharing one database). nil: the store is not shareable; concurrency is tested within
	// one handle only.
	Reopen func(t *testing.T, s hub.Store) hub.Store
}

var errRollback = errors.New("hubstoretest: roll back")

// Run runs the suite.
func Run(t *testing.T, f Factory) {
	ctx := context.Background()
	open := func(t *testing.T) hub.Store {
		s := f.New(t)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	update := func(t *testing.T, s hub.Store, fn func(hub.Tx) error) {
		t.Helper()
		if err := s.Update(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	view := func(t *testing.T, s hub.Store, fn func(hub.Tx) error) {
		t.Helper()
		if err := s.View(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("Central", func(t *testing.T) { central(t, open) })
	k := func(jid string, seq uint64) hub.EntryKey {
		return hub.EntryKey{Site: "sz01", Agent: "a1", Journal: jid, Seq: seq}
	}

	t.Run("EntriesFirstKept", func(t *testing.T) {
		s := open(t)
		update(t, s, func(tx hub.Tx) error {
			for _, c := range []struct {
				seq  uint64
				doc  string
				want bool
			}{{1, "first", true}, {1, "second", false}, {3, "three", true}, {2, "two", true}} {
				ok, err := tx.PutEntry(k("j1", c.seq), []byte(c.doc))
				if err != nil || ok != c.want {
					return fmt.Errorf("PutEntry(%d, %s) = %v, %v; want %v", c.seq, c.doc, ok, err, c.want)
				}
			}
			_, err := tx.PutEntry(k("j10", 1), []byte("other journal"))
			return err
		})
		view(t, s, func(tx hub.Tx) error {
			if d, err := tx.Entry(k("j1", 1)); err != nil || string(d) != "first" {
				t.Errorf("entry 1 = %q, %v; want the first stored", d, err)
			}
			if d, err := tx.Entry(k("j1", 9)); err != nil || d != nil {
				t.Errorf("missing entry = %q, %v", d, err)
			}
			var got []string
			err := tx.Entries("sz01", "a1", "j1", 1, func(seq uint64, d []byte) (bool, error) {
				got = append(got, strconv.FormatUint(seq, 10)+"="+string(d))
				return true, nil
			})
			if err != nil || fmt.Sprint(got) != "[2=two 3=three]" {
				t.Errorf("Entries after 1 = %v, %v (another journal's entries must not show)", got, err)
			}
			got = nil
			_ = tx.Entries("sz01", "a1", "j1", 0, func(seq uint64, d []byte) (bool, error) {
				got = append(got, string(d))
				return false, nil
			})
			if fmt.Sprint(got) != "[first]" {
				t.Errorf("Entries did not stop when fn said so: %v", got)
			}
			return nil
		})
	})

	t.Run("RollbackDiscardsEverything", func(t *testing.T) {
		s := open(t)
		err := s.Update(ctx, func(tx hub.Tx) error {
			if _, err := tx.PutEntry(k("j1", 1), []byte("x")); err != nil {
				return err
			}
			if _, err := tx.NextHSeq("sz01"); err != nil {
				return err
			}
			if err := tx.PutOrder("O-1", []byte("o")); err != nil {
				return err
			}
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			t.Fatalf("Update = %v, want fn's error", err)
		}
		update(t, s, func(tx hub.Tx) error {
			if d, _ := tx.Entry(k("j1", 1)); d != nil {
				t.Error("entry of a rolled-back transaction is stored")
			}
			if d, _ := tx.Order("O-1"); d != nil {
				t.Error("order of a rolled-back transaction is stored")
			}
			if n, err := tx.NextHSeq("sz01"); err != nil || n != 1 {
				t.Errorf("hseq after a rollback = %d, %v; want 1 (no gap)", n, err)
			}
			return nil
		})
	})

	t.Run("ViewIsReadOnly", func(t *testing.T) {
		s := open(t)
		err := s.View(ctx, func(tx hub.Tx) error { return tx.PutMeta("x", []byte("1")) })
		if err == nil {
			t.Fatal("a write in a View succeeded")
		}
		view(t, s, func(tx hub.Tx) error {
			if d, err := tx.Journal("sz01", "a1", "j1"); d != nil || err != nil {
				t.Errorf("journal in an empty store = %q, %v", d, err)
			}
			if d, err := tx.Order("O-1"); d != nil || err != nil {
				t.Errorf("order in an empty store = %q, %v", d, err)
			}
			return nil
		})
	})

	t.Run("LockedReadsOfMissingRowsStayMissing", func(t *testing.T) {
		s := open(t)
		update(t, s, func(tx hub.Tx) error {
			if d, err := tx.Journal("sz01", "a1", "j1"); d != nil || err != nil {
				return fmt.Errorf("journal = %q, %v", d, err)
			}
			if d, err := tx.Order("O-1"); d != nil || err != nil {
				return fmt.Errorf("order = %q, %v", d, err)
			}
			return nil
		})
		view(t, s, func(tx hub.Tx) error {
			if d, _ := tx.Journal("sz01", "a1", "j1"); d != nil {
				t.Errorf("a journal read in an Update became a record: %q", d)
			}
			if d, _ := tx.Order("O-1"); d != nil {
				t.Errorf("an order read in an Update became a record: %q", d)
			}
			return nil
		})
	})

	t.Run("PendingJournalsAgentsMeta", func(t *testing.T) {
		s := open(t)
		update(t, s, func(tx hub.Tx) error {
			for _, err := range []error{
				tx.PutPending(k("j1", 5), []byte("p5")), tx.PutPending(k("j1", 4), []byte("p4")), tx.PutPending(k("j1", 6), []byte("p6")),
				tx.DeletePending(k("j1", 5)),
				tx.PutJournal("sz01", "a1", "j1", []byte("J")),
				tx.PutAgent("sz01", "b", []byte("B")), tx.PutAgent("sz01", "a", []byte("A")),
				tx.PutMeta("stats", []byte("1")), tx.PutMeta("stats", []byte("2")),
			} {
				if err != nil {
					return err
				}
			}
			return nil
		})
		view(t, s, func(tx hub.Tx) error {
			var got []string
			_ = tx.Pendings("sz01", "a1", "j1", 0, func(seq uint64, d []byte) (bool, error) {
				got = append(got, fmt.Sprintf("%d %s", seq, d))
				return true, nil
			})
			if fmt.Sprint(got) != "[4 p4 6 p6]" {
				t.Errorf("pending = %v", got)
			}
			if d, _ := tx.Pending(k("j1", 5)); d != nil {
				t.Error("deleted pending entry still there")
			}
			if d, _ := tx.Journal("sz01", "a1", "j1"); string(d) != "J" {
				t.Errorf("journal = %q", d)
			}
			if d, _ := tx.Agent("sz01", "a"); string(d) != "A" {
				t.Errorf("agent = %q", d)
			}
			var agents []string
			_ = tx.Agents(func(d []byte) error { agents = append(agents, string(d)); return nil })
			if len(agents) != 2 {
				t.Errorf("agents = %v", agents)
			}
			if d, _ := tx.Meta("stats"); string(d) != "2" {
				t.Errorf("meta = %q", d)
			}
			return nil
		})
	})

	t.Run("DownlinkAndCatchup", func(t *testing.T) {
		s := open(t)
		update(t, s, func(tx hub.Tx) error {
			for i := 1; i <= 5; i++ {
				for _, site := range []string{"sz01", "sz02"} {
					n, err := tx.NextHSeq(site)
					if err != nil || n != uint64(i) {
						return fmt.Errorf("hseq %d of %s = %d, %v", i, site, n, err)
					}
					if err := tx.PutDownlink(site, n, []byte(site+"/"+strconv.Itoa(i))); err != nil {
						return err
					}
				}
			}
			return nil
		})
		view(t, s, func(tx hub.Tx) error {
			var got []string
			_ = tx.Downlink("sz01", 2, func(n uint64, d []byte) (bool, error) {
				got = append(got, string(d))
				return len(got) < 2, nil
			})
			if fmt.Sprint(got) != "[sz01/3 sz01/4]" {
				t.Errorf("catch-up page = %v", got)
			}
			return nil
		})
	})

	t.Run("CommandsEvidenceHistory", func(t *testing.T) {
		s := open(t)
		update(t, s, func(tx hub.Tx) error {
			for i := range 3 {
				n, err := tx.NextCommandSeq()
				if err != nil || n != uint64(i+1) {
					return fmt.Errorf("command seq = %d, %v", n, err)
				}
				agent := []string{"a1", "a2", "a1"}[i]
				if err := tx.PutCommand("sz01", agent, n, []byte("c"+strconv.FormatUint(n, 10))); err != nil {
					return err
				}
			}
			for _, u := range []struct {
				seq uint64
				d   string
			}{{2, "u2"}, {1, "u1a"}, {1, "u1b"}} {
				if err := tx.AddUnverified(k("j1", u.seq), []byte(u.d)); err != nil {
					return err
				}
			}
			for _, h := range []struct {
				at  string
				key hub.EntryKey
			}{{"2026-01-22T08:05:00.000Z", k("j1", 7)}, {"2026-01-22T08:01:00.000Z", hub.EntryKey{Site: "sz01", Agent: "b2", Journal: "jx", Seq: 300}}} {
				if err := tx.AddHistory("O-1", h.at, h.key); err != nil {
					return err
				}
			}
			return nil
		})
		view(t, s, func(tx hub.Tx) error {
			var cmds, ev []string
			_ = tx.Commands("sz01", "a1", func(d []byte) error { cmds = append(cmds, string(d)); return nil })
			if fmt.Sprint(cmds) != "[c1 c3]" {
				t.Errorf("commands of a1 = %v", cmds)
			}
			_ = tx.Unverified("sz01", "a1", func(d []byte) (bool, error) { ev = append(ev, string(d)); return true, nil })
			if fmt.Sprint(ev) != "[u1a u1b u2]" {
				t.Errorf("evidence = %v (by journal, seq, arrival)", ev)
			}
			var hist []hub.EntryKey
			_ = tx.History("O-1", func(k hub.EntryKey) error { hist = append(hist, k); return nil })
			if len(hist) != 2 || hist[0] != (hub.EntryKey{Site: "sz01", Agent: "b2", Journal: "jx", Seq: 300}) || hist[1] != k("j1", 7) {
				t.Errorf("history = %+v (by time)", hist)
			}
			return nil
		})
	})

	// Concurrent transactions, on one handle and (when the store is shareable) on two: each takes
	// an hseq and bumps an order's counter and one shared entry key. Every hseq is given once, with
	// no gap; no increment is lost; exactly one transaction stores the shared entry.
	t.Run("ConcurrentReplicas", func(t *testing.T) {
		s := open(t)
		handles := []hub.Store{s}
		if f.Reopen != nil {
			s2 := f.Reopen(t, s)
			t.Cleanup(func() { _ = s2.Close() })
			handles = append(handles, s2)
		}
		const workers, rounds = 4, 10
		var wg sync.WaitGroup
		var mu sync.Mutex
		seen := map[uint64]int{}
		inserted := 0
		errs := make(chan error, workers*rounds)
		for w := range workers {
			st := handles[w%len(handles)]
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := range rounds {
					var hseq uint64
					var ins bool
					err := st.Update(ctx, func(tx hub.Tx) error {
						d, err := tx.Order("O-1")
						if err != nil {
							return err
						}
						n := 0
						if d != nil {
							n, _ = strconv.Atoi(string(d))
						}
						if hseq, err = tx.NextHSeq("sz01"); err != nil {
							return err
						}
						if err := tx.PutDownlink("sz01", hseq, []byte("m")); err != nil {
							return err
						}
						if ins, err = tx.PutEntry(k("shared", uint64(r+1)), []byte(strconv.Itoa(w))); err != nil {
							return err
						}
						if err := tx.PutOrder("O-1", []byte(strconv.Itoa(n+1))); err != nil {
							return err
						}
						// Last, as the hub does: each replica adds what it counted.
						return tx.AddCounters(map[string]int64{"commits": 1, "state/x": 2, "state/y": -1})
					})
					if err != nil {
						errs <- err
						continue
					}
					mu.Lock()
					seen[hseq]++
					if ins {
						inserted++
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		close(errs)
		failed := 0
		for err := range errs {
			failed++
			t.Logf("transaction failed (the hub retries such a group; nothing of it counts): %v", err)
		}
		if failed > workers*rounds/4 {
			t.Fatalf("%d of %d transactions failed", failed, workers*rounds)
		}
		ok := workers*rounds - failed
		for n := uint64(1); n <= uint64(ok); n++ {
			if seen[n] != 1 {
				t.Errorf("hseq %d given %d times (committed transactions %d)", n, seen[n], ok)
			}
		}
		if len(seen) != ok {
			t.Errorf("%d distinct hseqs for %d committed transactions", len(seen), ok)
		}
		view(t, s, func(tx hub.Tx) error {
			d, _ := tx.Order("O-1")
			if string(d) != strconv.Itoa(ok) {
				t.Errorf("order counter = %s after %d committed increments: an update was lost", d, ok)
			}
			return nil
		})
		if inserted != rounds {
			t.Errorf("the %d shared entries were inserted %d times", rounds, inserted)
		}
		if got, want := counters(t, s), fmt.Sprintf("commits=%d state/x=%d state/y=%d ", ok, 2*ok, -ok); got != want {
			t.Errorf("counters %q after %d committed transactions, want %q: an addition was lost", got, ok, want)
		}
	})

	t.Run("CountersAdd", func(t *testing.T) {
		s := open(t)
		update(t, s, func(tx hub.Tx) error { return tx.AddCounters(map[string]int64{"b": 5, "a": 1}) })
		update(t, s, func(tx hub.Tx) error { return tx.AddCounters(map[string]int64{"b": -2, "c": 0}) })
		update(t, s, func(tx hub.Tx) error { return tx.AddCounters(nil) })
		err := s.Update(ctx, func(tx hub.Tx) error {
			if err := tx.AddCounters(map[string]int64{"a": 100}); err != nil {
				return err
			}
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			t.Fatalf("Update = %v, want fn's error", err)
		}
		if got := counters(t, s); got != "a=1 b=3 c=0 " {
			t.Errorf("counters %q, want a=1 b=3 c=0 (by name; the rollback added nothing)", got)
		}
		if err := s.View(ctx, func(tx hub.Tx) error { return tx.AddCounters(map[string]int64{"a": 1}) }); err == nil {
			t.Error("AddCounters in a View succeeded")
		}
		update(t, s, func(tx hub.Tx) error {
			if err := tx.PutMeta("m", []byte("x")); err != nil {
				return err
			}
			return tx.DeleteMeta("m")
		})
		view(t, s, func(tx hub.Tx) error {
			if d, err := tx.Meta("m"); d != nil || err != nil {
				t.Errorf("deleted meta reads %q, %v", d, err)
			}
			return nil
		})
	})
	runOutbox(t, f, open)
	runMeasures(t, f, open) // measures.go
	runEWaybill(t, f, open) // e-waybill requests (ewaybill.go)
	runLock(t, f, open)     // the periodic rules' locks (lock.go)

	runDownlinkEnd(t, f, open) // where a site's downlink ends (downlinkend.go)
}

// counters lists a store's counters as "name=n " by name.
func counters(t *testing.T, s hub.Store) string {
	t.Helper()
	var b strings.Builder
	err := s.View(context.Background(), func(tx hub.Tx) error {
		return tx.Counters(func(name string, n int64) error { fmt.Fprintf(&b, "%s=%d ", name, n); return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
