package journal_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"wedge/agent/journal"
	"wedge/internal/clock"
	"wedge/order"
	"wedge/sync/wire"
)

// A station moves an order and journals the step in one Do: the outcome may be reported to the
// operator only after Do returned nil (the commit is on disk).
func ExampleStore_Do() {
	dir, _ := os.MkdirTemp("", "wedge-example")
	defer os.RemoveAll(dir)
	clk := clock.NewFake(time.Date(2026, 11, 11, 8, 0, 0, 0, time.UTC))
	s, err := journal.Open(filepath.Join(dir, "wedge.db"), &journal.Options{Site: "sz01", Agent: "pack02", Clock: clk})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	ctx := context.Background()
	s.Do(ctx, func(tx *journal.Tx) error {
		tx.PutOrder(order.Order{ID: "O1", ChannelOrderNo: "TB-1001", State: order.PendingAllocation})
		tx.Append(wire.Entry{Kind: wire.KindIntake, OrderID: "O1", Trigger: wire.TriggerHub})
		return nil
	})
	var step wire.Entry
	err = s.Do(ctx, func(tx *journal.Tx) error {
		o, ok := tx.OrderByChannelNo("TB-1001")
		if !ok {
			return fmt.Errorf("unknown order")
		}
		out := order.Apply(o, order.Request{Action: order.ActPrint, Waybill: "SF1234567890123", At: clk.Now()})
		step = tx.Append(wire.Entry{Kind: wire.KindStep, OrderID: o.ID, From: string(out.From), To: string(out.To),
			Waybill: out.Waybill, Station: "print-1", Trigger: wire.TriggerScan})
		tx.PutOrder(out.Order)
		return nil
	})
	fmt.Println(err, step.Seq, step.From, "→", step.To)
	o, _, _ := s.FindOrder("SF1234567890123")
	fmt.Println(o.ID, o.State, s.Counts()[order.WaybillPrinted])
	// Output:
	// <nil> 2 pending_allocation → waybill_printed
	// O1 waybill_printed 1
}
