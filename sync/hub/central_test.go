package hub_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"wedge/internal/clock"
	"wedge/internal/testbroker"
	"wedge/internal/testpg"
	"wedge/sync/hub"
	"wedge/sync/hub/pgstore"
	"wedge/sync/wire"
)

// traceOf GETs /v1/trace?q=… and decodes the answer.
func traceOf(t *testing.T, h *hub.Hub, q string) hub.TraceAnswer {
	t.Helper()
	var ans hub.TraceAnswer
	getJSON(t, h, "/v1/trace?q="+url.QueryEscape(q), http.StatusOK, &ans)
	return ans
}

// The trace finds an order by each of its keys, with every entry the hub holds in time order:
// who, where, when, from → to, and whether its chain checked out (evidence shows as not).
func TestTraceByEveryKey(t *testing.T) {
	e := newEnv(t)
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	entries := chain("j1", spine("O-T1")...)
	edited := entries[2]
	edited.Operator = "李四" // changed after sealing: evidence
	a.send("j1", entries[0], entries[1], edited)
	a.waitAck(1)
	m := orderMsg("T1")
	ordered, _ := wire.ParseTime(m.OrderedAt)
	fp := wire.Fingerprint(m.Channel, m.ChannelOrderNo, m.BuyerID, ordered, m.SKUs)
	for _, c := range []struct{ q, kind string }{
		{"O-T1", hub.TraceOrderID},
		{m.ChannelOrderNo, hub.TraceChannelOrderNo},
		{"SF1234567890123", hub.TraceWaybill},
		{fp, hub.TraceFingerprint},
	} {
		ans := traceOf(t, e.hub, c.q)
		if ans.Query != c.q || ans.Kind != c.kind || len(ans.Orders) != 1 {
			t.Fatalf("trace %q = %+v, want one order by %s", c.q, ans, c.kind)
		}
		o := ans.Orders[0]
		if o.OrderID != "O-T1" || o.Site != "sz01" || o.State != "waybill_printed" || o.Waybill != "SF1234567890123" ||
			o.Channel != "tmall" || o.ChannelOrderNo != m.ChannelOrderNo || o.Carrier != "sf" || len(o.Entries) != 3 {
			t.Fatalf("trace %q: order = %+v", c.q, o)
		}
		print, ev := o.Entries[1], o.Entries[2]
		if !o.Entries[0].ChainOK || o.Entries[0].Action != wire.KindIntake || o.Entries[0].To != "pending_allocation" {
			t.Errorf("intake entry = %+v", o.Entries[0])
		}
		if !print.ChainOK || print.Agent != "pack01" || print.Journal != "j1" || print.Seq != 2 || print.Station != "print-1" ||
			print.From != "pending_allocation" || print.To != "waybill_printed" || print.Actor != wire.TriggerPrint || print.At != entries[1].At {
			t.Errorf("print entry = %+v", print)
		}
		if ev.ChainOK || ev.Seq != 3 || ev.Actor != "李四" || !strings.Contains(ev.Note, "unverified evidence") || !strings.Contains(ev.Note, "hash does not match") {
			t.Errorf("evidence entry = %+v", ev)
		}
	}
	// The real third entry comes: it is verified, the evidence stays beside it.
	a.send("j1", entries[2])
	a.waitAck(2)
	o := traceOf(t, e.hub, "O-T1").Orders[0]
	if o.State != "picked_up" || len(o.Entries) != 4 || !o.Entries[2].ChainOK && !o.Entries[3].ChainOK {
		t.Fatalf("after the real entry: %+v", o)
	}
}

// Bad and unknown keys get clear JSON errors; the trace needs a token.
func TestTraceErrors(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		path string
		want int
		says string
	}{
		{"/v1/trace?q=NOPE-404", http.StatusNotFound, "no order found"},
		{"/v1/trace", http.StatusBadRequest, "missing q"},
		{"/v1/trace?q=%20%20", http.StatusBadRequest, "missing q"},
		{"/v1/trace?q=" + strings.Repeat("9", hub.MaxTraceQuery+1), http.StatusBadRequest, "invalid q"},
		{"/v1/trace?q=O-1&kind=phone", http.StatusBadRequest, "invalid kind"},
		{"/v1/lists/everything", http.StatusNotFound, "no list"},
		{"/v1/lists/rejected?limit=0", http.StatusBadRequest, "invalid limit"},
		{"/v1/lists/rejected?since=yesterday", http.StatusBadRequest, "invalid since"},
		{"/v1/lists/rejected?after=!!!", http.StatusBadRequest, "invalid after"},
	} {
		var body map[string]string
		getJSON(t, e.hub, c.path, c.want, &body)
		if !strings.Contains(body["error"], c.says) || body["zh"] == "" || body["en"] == "" {
			t.Errorf("GET %s = %v, want an error saying %q", c.path, body, c.says)
		}
	}
	if code, _ := do(t, e.hub, http.MethodGet, "/v1/trace?q=O-1", "", nil); code != http.StatusUnauthorized {
		t.Fatalf("trace without a token: %d", code)
	}
}

// listOf GETs a list page.
func listOf(t *testing.T, h *hub.Hub, path string) hub.ListAnswer {
	t.Helper()
	var ans hub.ListAnswer
	getJSON(t, h, path, http.StatusOK, &ans)
	return ans
}

func rowIDs(rows []hub.ListRow) string {
	var ids []string
	for _, r := range rows {
		ids = append(ids, r.OrderID)
	}
	return strings.Join(ids, ",")
}

// The cross-site lists: orders over 30 minutes in the backlog (counted from entering 暂停进入),
// orders an agent holds behind its breaker (until it releases them), and refused scans, with
// filters and paging.
func TestCentralLists(t *testing.T) {
	e := newEnv(t)
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	b := newAgent(t, e.broker.URL(), "gz02", "pack02")
	at := func(min int) string { return wire.Time(t0.Add(time.Duration(min) * time.Minute)) }
	a.send("j1", chain("j1",
		wire.Entry{Kind: wire.KindIntake, OrderID: "O-H1", To: "held", Trigger: wire.TriggerHub, Order: orderMsg("H1"), At: at(0)},
		wire.Entry{Kind: wire.KindIntake, OrderID: "O-H2", To: "held", Trigger: wire.TriggerHub, Order: orderMsg("H2"), At: at(1)},
		wire.Entry{Kind: wire.KindStep, OrderID: "O-H2", From: "held", To: "pending_allocation", Trigger: wire.TriggerSystem, At: at(20)},
		wire.Entry{Kind: wire.KindIntake, OrderID: "O-P1", To: "pending_allocation", Trigger: wire.TriggerHub, Order: orderMsg("P1"), At: at(10)},
		wire.Entry{Kind: wire.KindReject, OrderID: "O-P1", From: "pending_allocation", To: "pending_allocation", Reason: "waybill_mismatch",
			Station: "handover-1", Code: "SF999", Trigger: wire.TriggerScan, At: at(12)},
		wire.Entry{Kind: wire.KindReject, Reason: "unknown_code", Station: "print-1", Code: "13812345678", Trigger: wire.TriggerScan, At: at(13)},
	)...)
	b.send("k1", chain("k1",
		wire.Entry{Kind: wire.KindIntake, OrderID: "O-P2", To: "pending_allocation", Trigger: wire.TriggerHub, Order: orderMsg("P2"), At: at(25)},
		wire.Entry{Kind: wire.KindReject, OrderID: "O-X", Reason: "unknown_order", Code: "O-X", Trigger: wire.TriggerScan, At: at(14)},
	)...)
	a.waitAck(1)
	b.waitAck(1)

	e.clk.Set(t0.Add(45 * time.Minute))
	over := listOf(t, e.hub, "/v1/lists/overdue")
	if rowIDs(over.Rows) != "O-H2,O-P1" { // O-H2 counts from 暂停进入 at 0:01; O-P2 waited 20 min
		t.Fatalf("overdue = %+v", over.Rows)
	}
	if r := over.Rows[0]; r.Site != "sz01" || r.Agent != "pack01" || r.At != at(1) || r.State != "pending_allocation" || r.Reason != "overdue" || r.WaitedMinutes != 44 || r.ReasonZH == "" {
		t.Fatalf("overdue row = %+v", r)
	}
	if got := rowIDs(listOf(t, e.hub, "/v1/lists/overdue?site=gz02").Rows); got != "" {
		t.Fatalf("overdue at gz02 = %q", got)
	}
	held := listOf(t, e.hub, "/v1/lists/held")
	if rowIDs(held.Rows) != "O-H1" || held.Rows[0].Reason != "held" || held.Rows[0].Agent != "pack01" || held.Rows[0].State != "held" || held.Rows[0].At != at(0) {
		t.Fatalf("held = %+v", held.Rows)
	}

	rej := listOf(t, e.hub, "/v1/lists/rejected")
	if len(rej.Rows) != 3 || rej.Rows[0].Reason != "waybill_mismatch" || rej.Rows[1].Reason != "unknown_code" || rej.Rows[2].Agent != "pack02" {
		t.Fatalf("rejected = %+v", rej.Rows)
	}
	if r := rej.Rows[1]; r.OrderID != "" || r.Station != "print-1" || r.Code != "138****5678" || r.ReasonEN == "" || r.Seq != 6 || r.Journal != "j1" {
		t.Fatalf("rejected row = %+v (the code is masked)", r)
	}
	for q, want := range map[string]string{
		"reason=unknown_order":                          "O-X",
		"site=sz01&reason=waybill_mismatch":             "O-P1",
		"agent=pack02":                                  "O-X",
		"since=" + at(13) + "&until=" + at(14):          "",
		"since=" + url.QueryEscape(at(12)) + "&limit=1": "O-P1",
	} {
		if got := rowIDs(listOf(t, e.hub, "/v1/lists/rejected?"+q).Rows); got != want {
			t.Errorf("rejected?%s = %q, want %q", q, got, want)
		}
	}
	// Paging: one row a page, each page's next leads to the following one, the last has none.
	var seen []string
	next := ""
	for range 4 {
		p := listOf(t, e.hub, "/v1/lists/rejected?limit=1&after="+next)
		for _, r := range p.Rows {
			seen = append(seen, r.Reason)
		}
		if next = p.Next; next == "" {
			break
		}
	}
	if strings.Join(seen, ",") != "waybill_mismatch,unknown_code,unknown_order" || next != "" {
		t.Fatalf("paged = %v, next %q", seen, next)
	}
	raw, _ := json.Marshal(rej)
	if strings.Contains(string(raw), "13812345678") {
		t.Fatalf("a phone number shows unmasked: %s", raw)
	}
}

// Orders the order system POSTs are indexed too: one sent without an id is found by its
// fingerprint (its id), an assigned waybill finds its order, and an order only an agent's
// rejection names is traced with an empty state.
func TestTracePostedOrders(t *testing.T) {
	e := newEnv(t)
	noID := wire.OrderMsg{Type: wire.TypeOrder, Channel: "tmall", ChannelOrderNo: "4012345678901234", BuyerID: "b-1001",
		OrderedAt: "2026-01-22T08:00:00Z", SKUs: []string{"SKU-1"}, Payment: "full"}
	withID := wire.OrderMsg{Type: wire.TypeOrder, OrderID: "ERP-7", Channel: "jd", ChannelOrderNo: "JD000000000001", BuyerID: "b-2",
		OrderedAt: "2026-01-22T08:00:00Z", SKUs: []string{"SKU-9"}, Payment: "deposit"}
	var r struct {
		OrderIDs []string `json:"order_ids"`
	}
	postJSON(t, e.hub, "/v1/orders", map[string]any{"site": "sz01", "orders": []wire.OrderMsg{noID, withID,
		{Type: wire.TypeWaybill, OrderID: "ERP-7", Carrier: "jd", Waybill: "JD0012345678901"}}}, http.StatusOK, &r)
	fp := noID.ID()
	if ans := traceOf(t, e.hub, fp); ans.Kind != hub.TraceFingerprint || ans.Orders[0].OrderID != fp || ans.Orders[0].State != "pending_allocation" {
		t.Fatalf("by the fingerprint id: %+v", ans)
	}
	ordered, _ := wire.ParseTime(withID.OrderedAt)
	for q, kind := range map[string]string{
		"JD0012345678901": hub.TraceWaybill,
		wire.Fingerprint("jd", "JD000000000001", "b-2", ordered, []string{"SKU-9"}): hub.TraceFingerprint,
		"JD000000000001": hub.TraceChannelOrderNo,
	} {
		if ans := traceOf(t, e.hub, q); ans.Kind != kind || len(ans.Orders) != 1 || ans.Orders[0].OrderID != "ERP-7" ||
			ans.Orders[0].State != "awaiting_balance" || len(ans.Orders[0].Entries) != 0 {
			t.Fatalf("trace %q = %+v, want ERP-7 by %s", q, ans, kind)
		}
	}
	a := newAgent(t, e.broker.URL(), "gz02", "pack01")
	a.send("j1", chain("j1", wire.Entry{Kind: wire.KindReject, OrderID: "O-SHORT", Reason: "contract_violation", Trigger: wire.TriggerHub,
		Detail: `payload: {"recipient_phone":"13812345678"}`})...)
	a.waitAck(1)
	ans := traceOf(t, e.hub, "O-SHORT")
	if ans.Kind != hub.TraceOrderID || ans.Orders[0].State != "" || ans.Orders[0].Site != "gz02" || len(ans.Orders[0].Entries) != 1 ||
		ans.Orders[0].Entries[0].Reason != "contract_violation" || ans.Orders[0].Entries[0].ReasonZH == "" {
		t.Fatalf("rejection-only order = %+v", ans)
	}
	if d := ans.Orders[0].Entries[0].Detail; strings.Contains(d, "13812345678") || !strings.Contains(d, "138****5678") {
		t.Fatalf("detail not masked: %q", d)
	}
}

// A PostgreSQL store migrated from before the central index (its hub_cx tables empty, no marker)
// is indexed by the hub on start: the trace and the lists come back as they were.
func TestCentralIndexBuiltOnStartForAnOlderPostgresStore(t *testing.T) {
	srv := testpg.Start(t)
	dsn := srv.NewDatabase(t)
	if _, _, err := pgstore.Migrate(context.Background(), dsn); err != nil {
		t.Fatal(err)
	}
	open := func(o *hub.Options) {
		s, err := pgstore.Open(context.Background(), dsn, nil)
		if err != nil {
			t.Fatal(err)
		}
		o.Store = s
	}
	b := testbroker.Start(t, nil)
	clk := clock.NewFake(t0)
	h := startHub(t, b.URL(), t.TempDir(), "wedge-hub-old", clk, nil, open)
	a := newAgent(t, b.URL(), "sz01", "pack01")
	a.send("j1", chain("j1",
		wire.Entry{Kind: wire.KindIntake, OrderID: "O-H1", To: "held", Trigger: wire.TriggerHub, Order: orderMsg("H1")},
		wire.Entry{Kind: wire.KindIntake, OrderID: "O-P1", To: "pending_allocation", Trigger: wire.TriggerHub, Order: orderMsg("P1")},
		wire.Entry{Kind: wire.KindReject, OrderID: "O-P1", Reason: "wrong_state", From: "pending_allocation", To: "pending_allocation"},
	)...)
	a.waitAck(1)
	clk.Set(t0.Add(time.Hour))
	snapshot := func(h *hub.Hub) string {
		var parts []string
		for _, p := range []string{"/v1/lists/held", "/v1/lists/overdue", "/v1/lists/rejected"} {
			raw, _ := json.Marshal(listOf(t, h, p).Rows)
			parts = append(parts, string(raw))
		}
		tr := traceOf(t, h, "4012345678P1")
		return strings.Join(parts, "\n") + "\n" + tr.Kind + " " + tr.Orders[0].OrderID
	}
	want := snapshot(h)
	if err := h.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `TRUNCATE hub_cx_orders, hub_cx_holds, hub_cx_rejects, hub_cx_evidence;
		DELETE FROM hub_meta WHERE key = 'central_index'`); err != nil {
		t.Fatal(err)
	}
	h = startHub(t, b.URL(), t.TempDir(), "wedge-hub-new", clk, nil, open)
	// The rebuilt rows know no agent until an entry touches the order again.
	want = strings.ReplaceAll(want, `"agent":"pack01","at":"`+wire.Time(t0.Add(time.Second)), `"agent":"","at":"`+wire.Time(t0.Add(time.Second)))
	var got string
	waitFor(t, "the index rebuilt", func() bool {
		code, _ := do(t, h, http.MethodGet, "/v1/trace?q=4012345678P1", tokenFor(t, h), nil)
		if code != http.StatusOK {
			return false
		}
		got = snapshot(h)
		return got == want
	})
}
