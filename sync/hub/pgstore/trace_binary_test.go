package pgstore

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/jackc/pgx/v5"

	"wedge/sync/hub"
)

// hub_cx_orders docs are read in both encodings: the JSON rows a hub of the previous release wrote
// and the binary rows this one writes (hub.EncodeOrderIndex), by the row lookup and by the list walk.
func TestIndexDocsOfBothEncodings(t *testing.T) {
	ctx := context.Background()
	s, dsn := openMigrated(t)
	old := hub.OrderIndex{OrderID: "O-json", Site: "sz01", Agent: "a1", State: "held", Since: "2026-01-22T08:00:00.000Z", ChannelOrderNo: "C-1"}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	doc, _ := json.Marshal(old)
	if _, err := conn.Exec(ctx, `INSERT INTO hub_cx_orders (order_id, site, agent, state, since, channel_order_no, waybill, assigned_waybill, fingerprint, doc)
		VALUES ($1,$2,$3,$4,$5,$6,'','','',$7)`, old.OrderID, old.Site, old.Agent, old.State, old.Since, old.ChannelOrderNo, doc); err != nil {
		t.Fatal(err)
	}
	bin := hub.OrderIndex{OrderID: "O-bin", Site: "sz01", Agent: "a2", State: "held", Since: "2026-01-22T09:00:00.000Z", Waybill: "W-1"}
	if err := s.Update(ctx, func(tx hub.Tx) error { return tx.IndexOrder(bin) }); err != nil {
		t.Fatal(err)
	}
	var raw []byte
	if err := conn.QueryRow(ctx, `SELECT doc FROM hub_cx_orders WHERE order_id='O-bin'`).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if len(raw) == 0 || raw[0] != 0x02 {
		t.Errorf("IndexOrder stored %q, want a binary row", raw)
	}
	err = s.View(ctx, func(tx hub.Tx) error {
		for _, want := range []hub.OrderIndex{old, bin} {
			got, err := tx.OrderIndexOf(want.OrderID)
			if err != nil || got == nil || *got != want {
				t.Errorf("OrderIndexOf(%s) = %+v, %v", want.OrderID, got, err)
			}
		}
		var walked []hub.OrderIndex
		if err := tx.OrdersInState("held", hub.ListFilter{}, func(ix hub.OrderIndex) (bool, error) {
			walked = append(walked, ix)
			return true, nil
		}); err != nil {
			return err
		}
		if len(walked) != 2 || walked[0] != old || walked[1] != bin {
			t.Errorf("OrdersInState = %+v", walked)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
