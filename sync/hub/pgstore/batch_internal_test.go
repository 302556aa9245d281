package pgstore

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"wedge/internal/testpg"
	"wedge/sync/hub"
)

func openMigrated(t *testing.T) (*Store, string) {
	t.Helper()
	dsn := testpg.Start(t).NewDatabase(t)
	if _, _, err := Migrate(context.Background(), dsn); err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dsn
}

// Queued writes: a transaction reads its own writes in every kind of read, a write that fails
// when it is finally sent fails the Update though fn returned nil (nothing of it is committed),
// and an entry stored by another transaction after this one read it as missing fails the Update
// instead of being counted as stored.
func TestQueuedWrites(t *testing.T) {
	ctx := context.Background()
	s, dsn := openMigrated(t)
	k := func(seq uint64) hub.EntryKey { return hub.EntryKey{Site: "sz01", Agent: "a1", Journal: "j1", Seq: seq} }

	t.Run("ReadsSeeTheQueue", func(t *testing.T) {
		err := s.Update(ctx, func(tx hub.Tx) error {
			if err := tx.PutPending(k(5), []byte("p5")); err != nil {
				return err
			}
			if err := tx.PutOrder("O-1", []byte("o1")); err != nil {
				return err
			}
			if err := tx.PutDownlink("sz01", 1, []byte("m1")); err != nil {
				return err
			}
			var walked []string
			if err := tx.Pendings("sz01", "a1", "j1", 0, func(_ uint64, d []byte) (bool, error) { walked = append(walked, string(d)); return true, nil }); err != nil {
				return err
			}
			if err := tx.OrderRecords("", func(id string, d []byte) (bool, error) { walked = append(walked, id+"="+string(d)); return true, nil }); err != nil {
				return err
			}
			if err := tx.Downlink("sz01", 0, func(_ uint64, d []byte) (bool, error) { walked = append(walked, string(d)); return true, nil }); err != nil {
				return err
			}
			if got := len(walked); got != 3 || walked[0] != "p5" || walked[1] != "O-1=o1" || walked[2] != "m1" {
				t.Errorf("walks in the transaction = %q, want its own three writes", walked)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("FailedWriteFailsTheUpdate", func(t *testing.T) {
		err := s.Update(ctx, func(tx hub.Tx) error {
			if err := tx.PutOrder("O-2", []byte("o2")); err != nil {
				return err
			}
			// hseq 1 of sz01 is stored already (above): the insert fails when it is sent.
			if err := tx.PutDownlink("sz01", 1, []byte("again")); err != nil {
				t.Logf("failed at once: %v", err)
			}
			return nil
		})
		if err == nil {
			t.Fatal("Update with a failing queued write = nil, want its error")
		}
		err = s.View(ctx, func(tx hub.Tx) error {
			if d, err := tx.Order("O-2"); err != nil || d != nil {
				t.Errorf("order of the failed Update = %q, %v; want nothing stored", d, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("EntryStoredMeanwhileFailsTheUpdate", func(t *testing.T) {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		err = s.Update(ctx, func(tx hub.Tx) error {
			if d, err := tx.Entry(k(1)); err != nil || d != nil {
				t.Fatalf("Entry = %q, %v; want missing", d, err)
			}
			// Another writer (not holding the journal's lock, as a hub would) stores it now.
			if _, err := c.Exec(ctx, `INSERT INTO hub_entries (site, agent, journal, seq, doc) VALUES ('sz01','a1','j1',1,'other')`); err != nil {
				t.Fatal(err)
			}
			ok, err := tx.PutEntry(k(1), []byte("mine"))
			if err != nil || !ok {
				return err
			}
			_, err = tx.Order("O-3") // the next round trip sends the insert
			return err
		})
		if !errors.Is(err, errEntryRace) {
			t.Fatalf("Update = %v, want errEntryRace", err)
		}
		err = s.View(ctx, func(tx hub.Tx) error {
			if d, err := tx.Entry(k(1)); err != nil || string(d) != "other" {
				t.Errorf("entry 1 = %q, %v; want the other writer's", d, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
