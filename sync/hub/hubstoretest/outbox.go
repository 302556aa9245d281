package hubstoretest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"wedge/sync/hub"
)

// runOutbox checks the outbox: one row per key, locked reads, claims by due time with leases that
// run out, states, listing, and (on a shareable store) concurrent claims that never hand one row to
// two claimers.
func runOutbox(t *testing.T, f Factory, open func(*testing.T) hub.Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 123456000, time.UTC)
	row := func(site, order string, due time.Time) hub.OutboxRow {
		return hub.OutboxRow{OutboxKey: hub.OutboxKey{Site: site, Order: order, Rule: "reminder"}, State: hub.OutboxPending,
			Due: due, Doc: []byte(`{"o":"` + order + `"}`)}
	}
	must := func(t *testing.T, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	claim := func(t *testing.T, s hub.Store, owner string, now time.Time, limit int) (got []hub.OutboxRow) {
		t.Helper()
		must(t, s.Update(ctx, func(tx hub.Tx) (err error) {
			got, err = tx.ClaimOutbox(owner, now, time.Minute, limit)
			return err
		}))
		return got
	}

	t.Run("OutboxOnePerKeyClaimLeaseStates", func(t *testing.T) {
		s := open(t)
		must(t, s.Update(ctx, func(tx hub.Tx) error {
			for _, r := range []hub.OutboxRow{row("sz01", "O-2", t0.Add(2*time.Minute)), row("sz01", "O-1", t0), row("gz01", "O-3", t0.Add(time.Hour))} {
				if ok, err := tx.AddOutbox(r); err != nil || !ok {
					return fmt.Errorf("AddOutbox %v = %v, %v", r.OutboxKey, ok, err)
				}
			}
			dup := row("sz01", "O-1", t0.Add(-time.Hour))
			dup.Doc = []byte("second")
			if ok, err := tx.AddOutbox(dup); err != nil || ok {
				return fmt.Errorf("second AddOutbox = %v, %v; want false", ok, err)
			}
			return nil
		}))
		must(t, s.View(ctx, func(tx hub.Tx) error {
			r, err := tx.Outbox(hub.OutboxKey{Site: "sz01", Order: "O-1", Rule: "reminder"})
			if err != nil || r == nil || string(r.Doc) != `{"o":"O-1"}` || !r.Due.Equal(t0) || r.State != hub.OutboxPending {
				t.Errorf("Outbox(O-1) = %+v, %v; want the first stored", r, err)
			}
			if r, err := tx.Outbox(hub.OutboxKey{Site: "sz01", Order: "nope", Rule: "reminder"}); r != nil || err != nil {
				t.Errorf("missing row = %+v, %v", r, err)
			}
			return nil
		}))
		// At t0+3m two rows are due; the earliest first, one per claim with limit 1.
		now := t0.Add(3 * time.Minute)
		if got := claim(t, s, "r1", now, 1); len(got) != 1 || got[0].Order != "O-1" || got[0].LeaseOwner != "r1" || !got[0].LeaseUntil.Equal(now.Add(time.Minute)) {
			t.Fatalf("first claim = %+v; want O-1 leased to r1 until now+1m", got)
		}
		if got := claim(t, s, "r2", now, 10); len(got) != 1 || got[0].Order != "O-2" {
			t.Fatalf("second claim = %+v; want only O-2 (O-1 is leased, O-3 not due)", got)
		}
		if got := claim(t, s, "r2", now.Add(30*time.Second), 10); len(got) != 0 {
			t.Fatalf("claim while leased = %+v; want none", got)
		}
		// The lease runs out: claimable again.
		if got := claim(t, s, "r3", now.Add(time.Minute), 10); len(got) != 2 {
			t.Fatalf("claim after the leases ran out = %+v; want O-1 and O-2", got)
		}
		// Sent and cancelled rows are never claimed again; a retried row waits for its new due.
		must(t, s.Update(ctx, func(tx hub.Tx) error {
			for order, st := range map[string]string{"O-1": hub.OutboxSent, "O-3": hub.OutboxCancelled} {
				r, err := tx.Outbox(hub.OutboxKey{Site: map[string]string{"O-1": "sz01", "O-3": "gz01"}[order], Order: order, Rule: "reminder"})
				if err != nil || r == nil {
					return fmt.Errorf("Outbox(%s) = %v, %v", order, r, err)
				}
				r.State, r.LeaseOwner, r.LeaseUntil = st, "", time.Time{}
				if err := tx.PutOutbox(*r); err != nil {
					return err
				}
			}
			r, err := tx.Outbox(hub.OutboxKey{Site: "sz01", Order: "O-2", Rule: "reminder"})
			if err != nil {
				return err
			}
			r.Attempts, r.Due, r.LeaseOwner, r.LeaseUntil = 1, t0.Add(10*time.Minute), "", time.Time{}
			return tx.PutOutbox(*r)
		}))
		if got := claim(t, s, "r1", t0.Add(9*time.Minute), 10); len(got) != 0 {
			t.Fatalf("claim before the retry is due = %+v; want none", got)
		}
		if got := claim(t, s, "r1", t0.Add(2*time.Hour), 10); len(got) != 1 || got[0].Order != "O-2" || got[0].Attempts != 1 {
			t.Fatalf("claim after everything is due = %+v; want only O-2 (O-1 sent, O-3 cancelled)", got)
		}
		var listed []string
		must(t, s.View(ctx, func(tx hub.Tx) error {
			return tx.Outboxes("", "sz01", func(r hub.OutboxRow) (bool, error) {
				listed = append(listed, r.Order+"="+r.State)
				return true, nil
			})
		}))
		if fmt.Sprint(listed) != "[O-1=sent O-2=pending]" {
			t.Errorf("Outboxes(site sz01) = %v", listed)
		}
		listed = nil
		must(t, s.View(ctx, func(tx hub.Tx) error {
			return tx.Outboxes(hub.OutboxCancelled, "", func(r hub.OutboxRow) (bool, error) {
				listed = append(listed, r.Site+"/"+r.Order)
				return true, nil
			})
		}))
		if fmt.Sprint(listed) != "[gz01/O-3]" {
			t.Errorf("Outboxes(cancelled) = %v", listed)
		}
		if err := s.View(ctx, func(tx hub.Tx) error { _, err := tx.ClaimOutbox("r", t0, time.Minute, 1); return err }); err == nil {
			t.Error("ClaimOutbox in a View succeeded")
		}
	})

	t.Run("OutboxConcurrentClaims", func(t *testing.T) {
		s := open(t)
		s2 := s
		if f.Reopen != nil {
			s2 = f.Reopen(t, s)
			t.Cleanup(func() { _ = s2.Close() })
		}
		const rows = 60
		must(t, s.Update(ctx, func(tx hub.Tx) error {
			for i := range rows {
				if _, err := tx.AddOutbox(row("sz01", fmt.Sprintf("O-%03d", i), t0)); err != nil {
					return err
				}
			}
			return nil
		}))
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for w, st := range []hub.Store{s, s2, s, s2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					var got []hub.OutboxRow
					err := st.Update(ctx, func(tx hub.Tx) (err error) {
						got, err = tx.ClaimOutbox(fmt.Sprintf("w%d", w), t0, time.Hour, 3)
						return err
					})
					if err != nil {
						t.Errorf("claim: %v", err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, r := range got {
						seen[r.Order]++
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(seen) != rows {
			t.Errorf("%d rows claimed, want %d", len(seen), rows)
		}
		for o, n := range seen {
			if n != 1 {
				t.Errorf("%s claimed %d times", o, n)
			}
		}
	})

	t.Run("TrackingIdempotentByWaybill", func(t *testing.T) {
		s := open(t)
		must(t, s.Update(ctx, func(tx hub.Tx) error {
			for _, c := range []struct {
				wb, id, doc string
				want        bool
			}{{"SF1", "2026-03-01T10:00|b", "first scan", true}, {"SF1", "2026-03-01T09:00|a", "accepted", true},
				{"SF1", "2026-03-01T10:00|b", "again", false}, {"SF10", "x", "other waybill", true}} {
				if ok, err := tx.AddTracking(c.wb, c.id, []byte(c.doc)); err != nil || ok != c.want {
					return fmt.Errorf("AddTracking(%s, %s) = %v, %v; want %v", c.wb, c.id, ok, err, c.want)
				}
			}
			if err := tx.PutWaybill("SF1", "O-1"); err != nil {
				return err
			}
			return tx.PutWaybill("SF1", "O-2") // reprinted under another order: the last one wins
		}))
		must(t, s.View(ctx, func(tx hub.Tx) error {
			var got []string
			if err := tx.Tracking("SF1", func(d []byte) (bool, error) { got = append(got, string(d)); return true, nil }); err != nil {
				return err
			}
			if fmt.Sprint(got) != "[accepted first scan]" {
				t.Errorf("Tracking(SF1) = %q; want by id, first stored kept", got)
			}
			if o, err := tx.WaybillOrder("SF1"); err != nil || o != "O-2" {
				t.Errorf("WaybillOrder(SF1) = %q, %v", o, err)
			}
			if o, err := tx.WaybillOrder("SF404"); err != nil || o != "" {
				t.Errorf("WaybillOrder(unknown) = %q, %v", o, err)
			}
			return nil
		}))
	})
}
