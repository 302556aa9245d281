package hub

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"wedge/sync/wire"
)

// centralSnapshot is everything the central index holds, for comparing two builds.
type centralSnapshot struct {
	Orders     []OrderIndex
	Holds      []Hold
	Rejections []Rejection
}

func snapshotCentral(t *testing.T, s Store, ids []string) centralSnapshot {
	t.Helper()
	var c centralSnapshot
	err := s.View(context.Background(), func(tx Tx) error {
		for _, id := range ids {
			ix, err := tx.OrderIndexOf(id)
			if err != nil {
				return err
			}
			if ix != nil {
				ix.Agent = "" // a rebuilt row does not know the agent that last touched the order
				c.Orders = append(c.Orders, *ix)
			}
		}
		if err := tx.Holds(ListFilter{}, func(h Hold) (bool, error) { c.Holds = append(c.Holds, h); return true, nil }); err != nil {
			return err
		}
		return tx.Rejections(ListFilter{}, func(r Rejection) (bool, error) { c.Rejections = append(c.Rejections, r); return true, nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A store written before the central index existed (its cx buckets empty, no marker) gets the same
// index from BuildCentralIndex as the owner keeps while it ingests, in chunks that resume.
func TestCentralIndexBuiltForAnOlderStore(t *testing.T) {
	h, _ := ownerOnly(t)
	defer h.db.Close()
	old := backfillChunk
	backfillChunk = 2
	defer func() { backfillChunk = old }()
	at := func(m int) string { return wire.Time(t0.Add(time.Duration(m) * time.Minute)) }
	var entries []wire.Entry
	prev := ""
	for i, e := range []wire.Entry{
		{Kind: wire.KindIntake, OrderID: "O-1", To: "held", Order: &wire.OrderMsg{Type: wire.TypeOrder, OrderID: "O-1", Channel: "jd", ChannelOrderNo: "JD1", BuyerID: "b", OrderedAt: at(0)}},
		{Kind: wire.KindIntake, OrderID: "O-2", To: "pending_allocation", Order: &wire.OrderMsg{Type: wire.TypeOrder, OrderID: "O-2"}},
		{Kind: wire.KindStep, OrderID: "O-2", From: "pending_allocation", To: "waybill_printed", Waybill: "SF1234567890123"},
		{Kind: wire.KindReject, OrderID: "O-2", Reason: "wrong_state", From: "waybill_printed", To: "waybill_printed"},
		{Kind: wire.KindReject, Reason: "unknown_code", Code: "??"},
		{Kind: wire.KindIntake, OrderID: "O-3", To: "held", Order: &wire.OrderMsg{Type: wire.TypeOrder, OrderID: "O-3"}},
		{Kind: wire.KindStep, OrderID: "O-3", From: "held", To: "pending_allocation"},
	} {
		e.JournalID, e.Seq, e.At = "j1", uint64(i+1), at(i)
		e.Seal(prev)
		prev = e.Hash
		entries = append(entries, e)
	}
	b, _ := json.Marshal(wire.Batch{Site: "sz01", Agent: "pack01", JournalID: "j1", Events: entries})
	h.commit([]item{{kind: kindBatch, topic: wire.TopicEvents("sz01", "pack01"), payload: b}})
	ids := []string{"O-1", "O-2", "O-3"}
	want := snapshotCentral(t, h.db, ids)
	if len(want.Orders) != 3 || len(want.Holds) != 1 || len(want.Rejections) != 2 {
		t.Fatalf("the owner's index = %+v", want)
	}

	// Forget the index, as a store written by an older hub.
	db := h.db.(*boltStore).db
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, b := range centralBuckets {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
			if _, err := tx.CreateBucket(b); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := snapshotCentral(t, h.db, ids); len(got.Orders)+len(got.Holds)+len(got.Rejections) != 0 {
		t.Fatalf("index not cleared: %+v", got)
	}
	if err := BuildCentralIndex(context.Background(), h.db, h.clk.Now); err != nil {
		t.Fatal(err)
	}
	if got := snapshotCentral(t, h.db, ids); !reflect.DeepEqual(got, want) {
		t.Fatalf("rebuilt index = %+v\nwant %+v", got, want)
	}
	var m centralMark
	if err := h.db.View(context.Background(), func(tx Tx) error {
		_, err := getDoc(tx.Meta(keyCentralIndex))("mark", &m)
		return err
	}); err != nil || !m.Done || m.V != centralIndexVersion {
		t.Fatalf("marker = %+v, %v", m, err)
	}
}
