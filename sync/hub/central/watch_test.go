package central_test

import (
	"strings"
	"testing"

	"wedge/order"
	"wedge/sync/hub/central"
	"wedge/sync/wire"
)

func entry(site, agent string, seq uint64, kind, from, to, when string) central.Entry {
	e := step(site, agent, seq, from, to, when)
	e.Kind = kind
	return e
}

func TestConsistency(t *testing.T) {
	m := measures(t)
	old := at("2026-12-01T10:00:00Z")
	orders := []central.Order{
		{ID: "O1", Site: "S1", State: order.PickedUp, UpdatedAt: old, History: []central.Entry{
			entry("S1", "pc2", 3, wire.KindStep, "waybill_printed", "picked_up", "2026-12-01T09:00:00Z"),
			entry("S1", "pc1", 7, wire.KindMerge, "", "picked_up", "2026-12-01T09:01:00Z")}},
		// pc1's breaker is open: it holds what the hub has in 待分仓.
		{ID: "O2", Site: "S1", State: order.PendingAllocation, UpdatedAt: old, History: []central.Entry{
			entry("S1", "pc1", 8, wire.KindIntake, "", "held", "2026-12-01T09:00:00Z")}},
		// pc1 never merged the print pc2 did.
		{ID: "O3", Site: "S1", State: order.WaybillPrinted, UpdatedAt: old, History: []central.Entry{
			entry("S1", "pc1", 9, wire.KindIntake, "", "pending_allocation", "2026-12-01T08:00:00Z"),
			entry("S1", "pc2", 4, wire.KindStep, "pending_allocation", "waybill_printed", "2026-12-01T08:30:00Z"),
			{Site: "S1", Agent: "pc1", Seq: 10, Kind: wire.KindReject, Reason: "wrong_state", At: at("2026-12-01T08:40:00Z")}}},
		// Changed at the hub 5 minutes ago: the PCs' merges may be on their way.
		{ID: "O4", Site: "S1", State: order.WaybillPrinted, UpdatedAt: at("2026-12-01T13:55:00Z"), History: []central.Entry{
			entry("S1", "pc1", 11, wire.KindIntake, "", "pending_allocation", "2026-12-01T13:00:00Z")}},
		// No PC of its own site journaled it.
		{ID: "O5", Site: "S2", State: order.PendingAllocation, UpdatedAt: old, History: []central.Entry{
			entry("S1", "pc1", 12, wire.KindIntake, "", "waybill_printed", "2026-12-01T13:00:00Z")}},
	}
	c := m.Consistency(orders, "", now)
	if c.Compared != 3 || c.Agree != 2 || c.Settling != 1 || c.Level != "bad" || c.Goal != 0.9995 || c.Warn != 0.998 {
		t.Fatalf("consistency = %+v", c)
	}
	if len(c.Orders) != 1 || c.Orders[0].OrderID != "O3" || len(c.Orders[0].Agents) != 2 || c.Orders[0].Agents[0].State != "pending_allocation" {
		t.Errorf("disagreements = %+v", c.Orders)
	}
	if c := m.Consistency(orders, "S2", now); c.Compared != 0 || c.Ratio != 1 || c.Level != "none" {
		t.Errorf("S2 = %+v", c)
	}
}

func TestPresale(t *testing.T) {
	m := measures(t)
	dep := order.PaymentDeposit
	orders := []central.Order{
		{ID: "P1", Site: "S1", Payment: dep, State: order.AwaitingBalance},
		{ID: "P2", Site: "S1", Payment: dep, State: order.PendingAllocation, BalancePaidAt: at("2026-12-01T00:00:00Z"),
			History: []central.Entry{step("S1", "pc1", 1, "awaiting_balance", "pending_allocation", "2026-12-01T02:00:00Z")}},
		{ID: "P3", Site: "S1", Payment: dep, State: order.AwaitingBalance, BalancePaidAt: at("2026-11-28T00:00:00Z")},
		{ID: "P4", Site: "S2", Payment: dep, State: order.WaybillPrinted, History: []central.Entry{
			step("S2", "pc3", 1, "awaiting_balance", "held", "2026-12-01T01:00:00Z"),
			step("S2", "pc3", 2, "held", "pending_allocation", "2026-12-01T05:00:00Z"),
			step("S2", "pc3", 3, "pending_allocation", "waybill_printed", "2026-12-01T06:00:00Z")}},
		{ID: "P5", Site: "S1", Payment: order.PaymentFull, State: order.PendingAllocation},
		{ID: "P6", Site: "S1", Payment: dep, State: order.Cancelled},
	}
	p := m.Presale(orders, "", now)
	if p.Deposits != 5 || p.BalancePaid != 3 || p.Conversion != 0.6 || p.Reached != 2 || p.AvgHoursToPending != 3 || p.LimitHours != 48 {
		t.Fatalf("presale = %+v", p)
	}
	if len(p.AwaitingBalance) != 1 || p.AwaitingBalance[0].OrderID != "P1" {
		t.Errorf("awaiting = %+v", p.AwaitingBalance)
	}
	if len(p.Suspect) != 1 || p.Suspect[0].OrderID != "P3" || p.Suspect[0].Hours != 86 || p.Suspect[0].PendingAt != "" {
		t.Errorf("suspect = %+v", p.Suspect)
	}
	if s := m.Presale(orders, "S2", now); s.Deposits != 1 || s.AvgHoursToPending != 4 {
		t.Errorf("S2 = %+v", s)
	}
}

func TestNextReport(t *testing.T) {
	m := measures(t)
	for _, c := range []struct{ now, due, day string }{
		{"2026-12-01T01:59:00Z", "2026-12-01T02:00:00Z", "2026-11-30"}, // 09:59 Shanghai
		{"2026-12-01T02:00:00Z", "2026-12-02T02:00:00Z", "2026-12-01"}, // 10:00: the next one
		{"2026-12-01T20:00:00Z", "2026-12-02T02:00:00Z", "2026-12-01"}, // 04:00 on the 2nd
	} {
		due, day, err := m.NextReport(at(c.now), "10:00")
		if err != nil || !due.Equal(at(c.due)) || day != c.day {
			t.Errorf("NextReport(%s) = %s %s %v, want %s %s", c.now, due, day, err, c.due, c.day)
		}
	}
	if _, _, err := m.NextReport(now, "10h"); err == nil {
		t.Error("bad time accepted")
	}
}

func TestDailyReport(t *testing.T) {
	m := measures(t)
	orders := fixture()
	for i := range orders {
		orders[i].CreatedAt, orders[i].UpdatedAt = orders[i].PaidAt, orders[i].PaidAt
	}
	// G has been in 待分仓 since the day before: stuck.
	orders = append(orders, central.Order{ID: "G", Site: "S2", State: order.PendingAllocation, CreatedAt: at("2026-11-29T01:00:00Z"),
		UpdatedAt: at("2026-11-29T01:00:00Z")})
	counts := []central.AnomalyCount{{Hour: at("2026-12-01T03:00:00Z"), Site: "S1", Kind: "reject:no_waybill", N: 4}}
	r := m.Daily(central.ReportInput{Day: "2026-12-01", Orders: orders, Anomalies: counts, Now: at("2026-12-02T02:00:00Z")})
	csv := string(r.CSV())
	for _, want := range []string{
		"2026-12-01,S1,3,0,0,0,0,3,0,1,0,4,0,0,0,0,",
		"2026-12-01,S2,3,1,0,0,1,1,0,1,1,0,0,0,0,0,", // D is late by now; G is stuck
		"2026-12-01,total,6,1,0,0,1,4,0,2,1,4,0,0,0,0,",
	} {
		if !strings.Contains(csv, want) {
			t.Errorf("CSV lacks %q:\n%s", want, csv)
		}
	}
	if h := string(r.HTML()); !strings.Contains(h, "物流信息断层") || !strings.Contains(h, "待分仓") || strings.Index(h, "仓库") > strings.Index(h, "Site") {
		t.Errorf("HTML:\n%s", h)
	}
}
