package hub

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"wedge/internal/logging"
	"wedge/sync/wire"
)

// FuzzBatch feeds arbitrary payloads to the batch ingester: it must never panic or fail the
// transaction, and a journal's ack never passes a seq that is not stored.
func FuzzBatch(f *testing.F) {
	e := wire.Entry{JournalID: "j1", Seq: 1, Kind: wire.KindStep, OrderID: "O-1", To: "waybill_printed", Waybill: "SF1", At: "2026-01-22T08:00:00Z"}
	e.Seal("")
	good, _ := json.Marshal(wire.Batch{Site: "sz01", Agent: "a1", JournalID: "j1", Events: []wire.Entry{e}})
	for _, s := range []string{string(good), "", "{", "[]", "null", `{"site":"sz01","agent":"a1","journal_id":"j1","events":[{"journal_id":"j1","seq":18446744073709551615}]}`,
		`{"site":"sz01","agent":"a1","journal_id":"j1","events":[{"journal_id":"j1","seq":2,"kind":"intake","order":{"type":"order"}}]}`,
		`{"site":"sz01","agent":"a1","journal_id":"j1","events":[{"journal_id":"j1","seq":3,"kind":"merge","order_id":"O\u0000x","to":"picked_up"}]}`} {
		f.Add([]byte(s))
	}
	db, err := bolt.Open(filepath.Join(f.TempDir(), "hub.db"), 0o600, nil)
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	h := &Hub{log: logging.Discard}
	if err := initStore(db, &h.stats); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		err := db.Update(func(tx *bolt.Tx) error {
			g := &group{h: h, tx: boltTx{tx: tx}, now: time.Unix(0, 0), stats: h.stats.clone(), ackIdx: map[string]int{}}
			if err := g.batch(wire.TopicEvents("sz01", "a1"), payload); err != nil {
				return err
			}
			for _, j := range g.acks {
				for s := uint64(1); s <= j.AckedSeq; s++ {
					if tx.Bucket(bktEntries).Get(entryKey(j.Site, j.Agent, j.JournalID, s)) == nil {
						t.Fatalf("acked %d but seq %d is not stored", j.AckedSeq, s)
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("ingest failed the transaction: %v", err)
		}
	})
}
