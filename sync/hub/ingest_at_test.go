package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"wedge/internal/clock"
	"wedge/sync/wire"
)

// The group's hub time is formatted once (group.at) and is exactly wire.Time of the group's now,
// the zero time included.
func TestGroupAtIsWireTimeOfNow(t *testing.T) {
	cst := time.FixedZone("CST", 8*3600)
	for _, now := range []time.Time{{}, t0, time.Date(2026, 1, 22, 16, 0, 0, 123456789, cst), time.Date(2026, 12, 31, 23, 59, 59, 999999999, time.UTC)} {
		g := &group{now: now}
		if got, want := g.at(), wire.Time(now); got != want {
			t.Errorf("at() of %v = %q, want %q", now, got, want)
		}
		if got, want := g.at(), wire.Time(now); got != want {
			t.Errorf("second at() of %v = %q, want %q", now, got, want)
		}
	}
}

// Every hub time a batch's commit stores (each entry's received_at, the journal's first and last
// seen, the order's created_at and updated_at) is the group's receive time, to the byte as
// wire.Time writes it: truncated to the millisecond, in UTC.
func TestBatchStoresOneReceiveTime(t *testing.T) {
	h, _ := ownerOnly(t)
	fake := h.clk.(*clock.Fake)
	now := time.Date(2026, 1, 22, 16, 0, 0, 123456789, time.FixedZone("CST", 8*3600))
	fake.Set(now)
	const want = "2026-01-22T08:00:00.123Z"
	if wire.Time(now) != want {
		t.Fatalf("wire.Time(%v) = %q, want %q", now, wire.Time(now), want)
	}
	var entries []wire.Entry
	prev := ""
	for i, e := range []wire.Entry{
		{Kind: wire.KindIntake, OrderID: "O-1", To: "pending_allocation", Order: &wire.OrderMsg{Type: wire.TypeOrder, OrderID: "O-1"}},
		{Kind: wire.KindStep, OrderID: "O-1", From: "pending_allocation", To: "waybill_printed", Waybill: "SF1234567890123"},
		{Kind: wire.KindIntake, OrderID: "O-2", To: "held", Order: &wire.OrderMsg{Type: wire.TypeOrder, OrderID: "O-2"}},
	} {
		e.JournalID, e.Seq, e.At = "j1", uint64(i+1), wire.Time(t0.Add(time.Duration(i)*time.Minute))
		e.Seal(prev)
		prev = e.Hash
		entries = append(entries, e)
	}
	b, _ := json.Marshal(wire.Batch{Site: "sz01", Agent: "pc01", JournalID: "j1", Events: entries})
	h.commit([]item{{kind: kindBatch, topic: wire.TopicEvents("sz01", "pc01"), payload: b}})

	if err := h.db.View(context.Background(), func(tx Tx) error {
		for seq := uint64(1); seq <= 3; seq++ {
			doc, err := tx.Entry(EntryKey{"sz01", "pc01", "j1", seq})
			if err != nil {
				return err
			}
			if !bytes.HasSuffix(doc, []byte(`"received_at":"`+want+`"}`)) {
				t.Errorf("entry %d stored as %s, want received_at %s", seq, doc, want)
			}
		}
		var j journalRec
		if _, err := getDoc(tx.Journal("sz01", "pc01", "j1"))("journal", &j); err != nil {
			return err
		}
		if j.FirstSeen != want || j.LastSeen != want || j.AckedSeq != 3 {
			t.Errorf("journal = %+v, want first and last seen %s, acked 3", j, want)
		}
		for _, id := range []string{"O-1", "O-2"} {
			rec, known, err := loadOrder(tx, id)
			if err != nil || !known {
				t.Fatalf("order %s: %v, known %v", id, err, known)
			}
			if rec.CreatedAt != want || rec.UpdatedAt != want {
				t.Errorf("order %s created %q updated %q, want both %s", id, rec.CreatedAt, rec.UpdatedAt, want)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
