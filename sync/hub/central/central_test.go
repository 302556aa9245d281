package central_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"wedge/order"
	"wedge/sync/hub/central"
	"wedge/sync/wire"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func step(site, agent string, seq uint64, from, to, when string) central.Entry {
	return central.Entry{Site: site, Agent: agent, Journal: "j-" + agent, Seq: seq, Kind: wire.KindStep, From: from, To: to,
		Trigger: wire.TriggerScan, At: at(when), ReceivedAt: at(when)}
}

// fixture: paid on 2026-12-01 (Asia/Shanghai = UTC+8), now 14:00Z.
//
//	A S1 tmall sf  paid 01:00Z, handover pc1 03:00Z         → on time (2 h)
//	B S1 tmall zto paid 02:00Z, handover pc1 07:00Z         → late (5 h)
//	C S1 jd    sf  paid 01:30Z, printed pc1; handover pc2 04:00Z (2.5 h), synced at 10:00Z after an
//	               outage; pc1 merged the 已揽收 at 10:05Z  → on time: the scan's time counts
//	D S2 jd    sf  paid 11:00Z, not picked, deadline 15:00Z → open
//	E S2 jd    zto paid 12:00Z (20:00 local: night), handover pc3 13:00Z → on time
//	F S2 deposit, awaiting the balance                     → not counted
var now = at("2026-12-01T14:00:00Z")

func fixture() []central.Order {
	c := central.Order{ID: "C", Site: "S1", Channel: "jd", Carrier: "sf", State: order.PickedUp, PaidAt: at("2026-12-01T01:30:00Z"),
		History: []central.Entry{
			step("S1", "pc1", 5, "pending_allocation", "waybill_printed", "2026-12-01T02:00:00Z"),
			step("S1", "pc2", 9, "waybill_printed", "picked_up", "2026-12-01T04:00:00Z"),
			{Site: "S1", Agent: "pc1", Seq: 6, Kind: wire.KindMerge, To: "picked_up", Trigger: wire.TriggerHub,
				At: at("2026-12-01T10:05:00Z"), ReceivedAt: at("2026-12-01T10:06:00Z")},
		}}
	c.History[1].ReceivedAt = at("2026-12-01T10:00:00Z") // the handover reached the hub six hours late
	return []central.Order{
		{ID: "A", Site: "S1", Channel: "tmall", Carrier: "sf", State: order.PickedUp, PaidAt: at("2026-12-01T01:00:00Z"),
			History: []central.Entry{step("S1", "pc1", 1, "waybill_printed", "picked_up", "2026-12-01T03:00:00Z")}},
		{ID: "B", Site: "S1", Channel: "tmall", Carrier: "zto", State: order.PickedUp, PaidAt: at("2026-12-01T02:00:00Z"),
			History: []central.Entry{step("S1", "pc1", 2, "waybill_printed", "picked_up", "2026-12-01T07:00:00Z")}},
		c,
		{ID: "D", Site: "S2", Channel: "jd", Carrier: "sf", State: order.WaybillPrinted, PaidAt: at("2026-12-01T11:00:00Z")},
		{ID: "E", Site: "S2", Channel: "jd", Carrier: "zto", State: order.PickedUp, PaidAt: at("2026-12-01T12:00:00Z"),
			History: []central.Entry{step("S2", "pc3", 1, "waybill_printed", "picked_up", "2026-12-01T13:00:00Z")}},
		{ID: "F", Site: "S2", Payment: order.PaymentDeposit, State: order.AwaitingBalance, PaidAt: at("2026-12-01T03:00:00Z")},
	}
}

func measures(t *testing.T) *central.Measures {
	t.Helper()
	m, err := central.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestKPIByHand(t *testing.T) {
	m := measures(t)
	want := map[string][]central.Row{
		"site": {
			{Key: "S1", Orders: 3, PickedOnTime: 2, Late: 1, Rate: 2.0 / 3, Level: "bad"},
			{Key: "S2", Orders: 2, PickedOnTime: 1, Open: 1, Rate: 1, Level: "ok"},
		},
		"carrier": {
			{Key: "sf", Orders: 3, PickedOnTime: 2, Open: 1, Rate: 1, Level: "ok"},
			{Key: "zto", Orders: 2, PickedOnTime: 1, Late: 1, Rate: 0.5, Level: "bad"},
		},
		"shift": {
			{Key: "2026-12-01 day", Orders: 4, PickedOnTime: 2, Late: 1, Open: 1, Rate: 2.0 / 3, Level: "bad"},
			{Key: "2026-12-01 night", Orders: 1, PickedOnTime: 1, Rate: 1, Level: "ok"},
		},
		"day": {{Key: "2026-12-01", Orders: 5, PickedOnTime: 3, Late: 1, Open: 1, Rate: 0.75, Level: "bad"}},
	}
	for by, rows := range want {
		rep, err := m.KPI(fixture(), by, "", "2026-12-01", "2026-12-01", now)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Goal != 0.92 || rep.Warn != 0.85 || rep.By != by {
			t.Errorf("%s: header %+v", by, rep)
		}
		if len(rep.Rows) != len(rows) {
			t.Fatalf("%s: rows %+v", by, rep.Rows)
		}
		for i, r := range rows {
			if rep.Rows[i] != r {
				t.Errorf("%s row %d = %+v, want %+v", by, i, rep.Rows[i], r)
			}
		}
		if tot := rep.Total; tot.Orders != 5 || tot.PickedOnTime != 3 || tot.Late != 1 || tot.Open != 1 || tot.Rate != 0.75 {
			t.Errorf("%s total %+v", by, tot)
		}
	}
	if rep, _ := m.KPI(fixture(), "site", "", "2026-12-02", "2026-12-03", now); len(rep.Rows) != 0 || rep.Total.Orders != 0 {
		t.Errorf("another day counted: %+v", rep)
	}
	if _, err := m.KPI(nil, "weekday", "", "", "", now); err == nil {
		t.Error("unknown grouping accepted")
	}
}

func TestLateUsesTheHandoverScan(t *testing.T) {
	m := measures(t)
	late := m.Late(fixture(), "", "2026-12-01", "2026-12-01", now)
	if len(late) != 1 {
		t.Fatalf("late = %+v, want only B", late)
	}
	l := late[0]
	if l.OrderID != "B" || l.Agent != "pc1" || l.Hours != 5 || l.PickedAt != "2026-12-01T07:00:00.000Z" || l.PaidAt != "2026-12-01T02:00:00.000Z" {
		t.Errorf("late = %+v", l)
	}
	// C's pickup is pc2's scan at 04:00Z, not pc1's merge (10:05Z) nor the hub's receipt (10:00Z).
	p, ok := central.HandoverScan(fixture()[2])
	if !ok || p.Agent != "pc2" || !p.At.Equal(at("2026-12-01T04:00:00Z")) {
		t.Errorf("pickup of C = %+v %v", p, ok)
	}
	// Later, D passes its deadline unpicked: late, measured to now.
	late = m.Late(fixture(), "S2", "", "", at("2026-12-01T16:30:00Z"))
	if len(late) != 1 || late[0].OrderID != "D" || late[0].Hours != 5.5 || late[0].PickedAt != "" {
		t.Errorf("late at 16:30 = %+v", late)
	}
}

func TestSiteZones(t *testing.T) {
	// In UTC, A..C were paid on 2026-12-01 too, but E (12:00Z) is 2026-12-01 in UTC and in
	// Shanghai 2026-12-01 20:00; with S2 in UTC, E falls in the day shift.
	m, err := central.New(&central.Options{SiteZones: map[string]string{"S2": "UTC"}})
	if err != nil {
		t.Fatal(err)
	}
	rep, _ := m.KPI(fixture(), "shift", "S2", "", "", now)
	if len(rep.Rows) != 1 || rep.Rows[0].Key != "2026-12-01 day" || rep.Rows[0].Orders != 2 {
		t.Errorf("S2 in UTC: %+v", rep.Rows)
	}
	if _, err := central.New(&central.Options{SiteZones: map[string]string{"S": "Mars/Base"}}); err == nil {
		t.Error("bad zone accepted")
	}
}

// reasonsInSource reads every constant of type Reason declared in package order's source: the
// real list, so a reason added there without a cause fails here.
func reasonsInSource(t *testing.T) []order.Reason {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "order")
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("order sources: %v %v", files, err)
	}
	var out []order.Reason
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		af, err := parser.ParseFile(fset, f, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, s := range g.Specs {
				vs := s.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Reason" {
					continue
				}
				for _, v := range vs.Values {
					lit, ok := v.(*ast.BasicLit)
					if !ok {
						t.Fatalf("%s: a Reason constant that is not a string literal", f)
					}
					r, _ := strconv.Unquote(lit.Value)
					out = append(out, order.Reason(r))
				}
			}
		}
	}
	return out
}

func TestEveryReasonHasACause(t *testing.T) {
	reasons := reasonsInSource(t)
	if len(reasons) < 20 {
		t.Fatalf("found only %d reasons in order's source: the parser missed them", len(reasons))
	}
	for _, r := range reasons {
		if c, ok := central.CauseOf(central.RejectKind(r)); !ok || !known(c) {
			t.Errorf("rejection reason %q has no cause: add it to reasonCause", r)
		}
	}
	for _, k := range central.HubKinds() {
		if c, ok := central.CauseOf(k); !ok || !known(c) {
			t.Errorf("hub kind %q has no cause", k)
		}
	}
	if _, ok := central.CauseOf("reject:made_up"); ok {
		t.Error("an unknown reason has a cause")
	}
}

func known(c central.Cause) bool {
	for _, i := range central.Causes {
		if i.Cause == c {
			return true
		}
	}
	return false
}

func TestEntryKind(t *testing.T) {
	cases := []struct{ kind, trigger, reason, detail, want string }{
		{wire.KindReject, wire.TriggerScan, "wrong_state", "", "reject:wrong_state"},
		{wire.KindReject, wire.TriggerHub, "conflict", "channel_order_no X already belongs to order Y", central.KindDuplicateNo},
		{wire.KindReject, wire.TriggerHub, "conflict", "other data", "reject:conflict"},
		{wire.KindStep, wire.TriggerManual, "", "", central.KindManual},
		{wire.KindStep, wire.TriggerScan, "", "", ""},
		{wire.KindOverdue, wire.TriggerSystem, "", "", central.KindOverdue},
	}
	for _, c := range cases {
		if got := central.EntryKind(c.kind, c.trigger, c.reason, c.detail); got != c.want {
			t.Errorf("EntryKind(%+v) = %q", c, got)
		}
	}
}

func TestAnomalies(t *testing.T) {
	m := measures(t)
	counts := []central.AnomalyCount{
		{Hour: at("2026-12-01T15:00:00Z"), Site: "S1", Kind: "reject:wrong_state", N: 2},   // 23:00 local, 12-01
		{Hour: at("2026-12-01T16:00:00Z"), Site: "S1", Kind: "reject:not_printed", N: 1},   // 00:00 local, 12-02
		{Hour: at("2026-12-01T16:00:00Z"), Site: "S2", Kind: central.KindChainBreak, N: 3}, // 12-02
		{Hour: at("2026-12-01T16:00:00Z"), Site: "S2", Kind: "reject:brand_new", N: 1},     // unclassified, still counted
	}
	rep := m.Anomalies(counts, "", "2026-12-02", "2026-12-02")
	want := []central.CauseDay{{"2026-12-02", central.CauseManualUntraced, 3}, {"2026-12-02", central.CauseStateDesync, 1}, {"2026-12-02", central.Unclassified, 1}}
	if len(rep.Series) != len(want) {
		t.Fatalf("series %+v", rep.Series)
	}
	for i := range want {
		if rep.Series[i] != want[i] {
			t.Errorf("series[%d] = %+v, want %+v", i, rep.Series[i], want[i])
		}
	}
	if len(rep.Causes) != 5 || rep.Causes[0].ZH != "物流信息断层" {
		t.Errorf("causes %+v", rep.Causes)
	}
	if s := m.Anomalies(counts, "S1", "", ""); len(s.BySite) != 1 || s.BySite[0].Count != 3 || s.BySite[0].Cause != central.CauseStateDesync {
		t.Errorf("by site S1: %+v", s.BySite)
	}
}

// docs/ANOMALIES.md lists every reason and hub kind with the cause the table gives it.
func TestAnomaliesDocMatchesTheTable(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "ANOMALIES.md"))
	if err != nil {
		t.Fatal(err)
	}
	check := func(name, kind string) {
		c, _ := central.CauseOf(kind)
		if row := "| `" + name + "` | " + string(c) + " |"; !strings.Contains(string(doc), row) {
			t.Errorf("docs/ANOMALIES.md lacks the row %q", row)
		}
	}
	for _, r := range reasonsInSource(t) {
		check(string(r), central.RejectKind(r))
	}
	for _, k := range central.HubKinds() {
		check(k, k)
	}
}

// An order whose waybill has a carrier first scan is measured at the carrier's time, even when
// the warehouse's handover scan was earlier (B: handed over 07:00Z, first scanned 08:30Z); the
// others fall back to their handover scan, and the KPI says how many came from each.
func TestPickupUsesCarrierFirstScan(t *testing.T) {
	m := measures(t)
	orders := fixture()
	orders[1].FirstScanAt = at("2026-12-01T08:30:00Z")
	late := m.Late(orders, "", "2026-12-01", "2026-12-01", now)
	if len(late) != 1 {
		t.Fatalf("late = %+v, want only B", late)
	}
	if l := late[0]; l.OrderID != "B" || l.PickedAt != "2026-12-01T08:30:00.000Z" || l.Hours != 6.5 ||
		l.PickupSource != central.SourceCarrierFirstScan || l.Agent != "pc1" {
		t.Errorf("late B = %+v, want picked at the carrier's first scan 08:30Z by pc1's handover", l)
	}
	// A (paid 01:00Z, handed over 03:00Z, on time) is first scanned by the carrier after its deadline: late.
	orders[0].FirstScanAt = at("2026-12-01T06:00:00Z") // after its 4 h deadline
	rep, err := m.KPI(orders, "site", "", "", "", now)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Total.Late != 2 || rep.PickupSources != (central.PickupSources{CarrierFirstScan: 2, HandoverScan: 2}) {
		t.Errorf("total %+v, sources %+v; want A and B late at the carrier's time, two of each source", rep.Total, rep.PickupSources)
	}
	late = m.Late(orders, "S1", "", "", now)
	if len(late) != 2 || late[0].OrderID != "A" || late[0].PickupSource != central.SourceCarrierFirstScan {
		t.Errorf("late = %+v", late)
	}
	// Without a first scan: the handover scan, said so.
	if l := m.Late(fixture(), "", "", "", now); len(l) != 1 || l[0].PickupSource != central.SourceHandoverScan {
		t.Errorf("late without tracking = %+v, want handover_scan", l)
	}
	// A first scan of an order the hub has not seen handed over still picks it up.
	d := orders[3]
	d.FirstScanAt = at("2026-12-01T12:00:00Z")
	if p, ok := central.CarrierFirstScan(d); !ok || p.Source != central.SourceCarrierFirstScan || p.Site != "S2" {
		t.Errorf("pickup of D = %+v %v", p, ok)
	}
}
