package central_test

import (
	"fmt"
	"testing"
	"time"

	"wedge/order"
	"wedge/sync/hub/central"
)

// benchOrders is n picked-up orders over 30 days and 10 sites, one handover each.
func benchOrders(n int) []central.Order {
	base := at("2026-11-01T00:00:00Z")
	out := make([]central.Order, n)
	for i := range out {
		paid := base.Add(time.Duration(i) * 30 * 24 * time.Hour / time.Duration(n))
		site := fmt.Sprintf("S%02d", i%10)
		out[i] = central.Order{ID: fmt.Sprintf("O-%06d", i), Site: site, Channel: "tmall", Carrier: "sf", State: order.PickedUp, PaidAt: paid,
			UpdatedAt: paid, CreatedAt: paid,
			History: []central.Entry{step(site, "pc1", uint64(i), "waybill_printed", "picked_up", paid.Add(time.Duration(i%300)*time.Minute).Format(time.RFC3339))}}
	}
	return out
}

// BenchmarkKPI: the pickup KPI of 50 000 orders, by site and by shift (the shift key goes through
// order/kpi per order).
func BenchmarkKPI(b *testing.B) {
	m, _ := central.New(nil)
	orders := benchOrders(50000)
	now := at("2026-12-05T00:00:00Z")
	for _, by := range []string{central.BySite, central.ByShift} {
		b.Run(by, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := m.KPI(orders, by, "", "", "", now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
