package pgstore

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/pressly/goose/v3"

	"wedge/internal/testpg"
	"wedge/sync/hub"
)

// A database of the first schema holds one replica's saved copy of the stats in hub_meta; the
// migration to the counters turns it into counters (orders per state as their own rows) and
// removes it, so an upgrade keeps the totals.
func TestStatsCopyBecomesCounters(t *testing.T) {
	ctx := context.Background()
	dsn := testpg.Start(t).NewDatabase(t)
	if err := withProvider(ctx, dsn, func(p *goose.Provider) error { _, err := p.UpTo(ctx, 1); return err }); err != nil {
		t.Fatal(err)
	}
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	legacy := `{"events_ingested":40,"commits":7,"orders_per_state":{"picked":3,"shipped":2}}`
	if _, err := c.Exec(ctx, `INSERT INTO hub_meta (key, doc) VALUES ('stats', $1)`, []byte(legacy)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Migrate(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got strings.Builder
	err = s.View(ctx, func(tx hub.Tx) error {
		if d, err := tx.Meta("stats"); d != nil || err != nil {
			return fmt.Errorf("the saved copy is still there: %q, %v", d, err)
		}
		return tx.Counters(func(name string, n int64) error { fmt.Fprintf(&got, "%s=%d ", name, n); return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "commits=7 events_ingested=40 orders_per_state/picked=3 orders_per_state/shipped=2 "; got.String() != want {
		t.Fatalf("counters %q, want %q", got.String(), want)
	}
}
