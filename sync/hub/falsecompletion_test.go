package hub_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"wedge/internal/clock"
	"wedge/internal/testbroker"
	"wedge/sync/apitoken"
	"wedge/sync/hub"
	"wedge/sync/hub/central"
	"wedge/sync/wire"
)

type listResp struct {
	Kind string        `json:"kind"`
	Rows []hub.ListRow `json:"rows"`
	Next string        `json:"next"`
}

// 伪完成 under a fake clock: an order handed over without a carrier first scan is listed under
// GET /v1/lists/false_completion for its site once 12 h have passed (with the waybill, carrier,
// handover time, PC, station and device), notified to the supervisors and counted under
// logistics_gap; a first_scan POSTed to /v1/tracking takes it off the list. An order of a
// carrier_first_scan-style handover (the handed_over note) is listed and notified the same way.
func TestFalseCompletionListed(t *testing.T) {
	clk := clock.NewFake(t0)
	rcv := newReceiver(t, clk)
	b := testbroker.Start(t, nil)
	logs := &logSink{}
	var store func(*testing.T) hub.Store
	if envStore != nil {
		store = envStore
	}
	h := rulesHub(t, b, clk, rcv, logs, "wedge-hub-fc", store, hub.SiteRules{FalseCompletion: &hub.FalseCompletionRule{Channel: "hook"}})
	a := newAgent(t, b.URL(), "sz01", "pack01")
	at := func(d time.Duration) string { return wire.Time(t0.Add(d)) }
	wb1, wb2 := "SF1000000000001", "SF2000000000002"
	a.send("jp", chain("jp",
		wire.Entry{Kind: wire.KindIntake, OrderID: "O-1", To: "pending_allocation", Order: orderMsg("1"), At: at(0)},
		wire.Entry{Kind: wire.KindStep, OrderID: "O-1", From: "pending_allocation", To: "waybill_printed", Waybill: wb1, Carrier: "sf", At: at(time.Minute)},
		wire.Entry{Kind: wire.KindStep, OrderID: "O-1", From: "waybill_printed", To: "picked_up", Waybill: wb1, Trigger: wire.TriggerScan,
			Station: "handover-1", Device: "scanner-7", Operator: "张三", At: at(2 * time.Minute)},
		wire.Entry{Kind: wire.KindIntake, OrderID: "O-2", To: "pending_allocation", Order: orderMsg("2"), At: at(0)},
		wire.Entry{Kind: wire.KindStep, OrderID: "O-2", From: "pending_allocation", To: "waybill_printed", Waybill: wb2, Carrier: "sf", At: at(time.Minute)},
		wire.Entry{Kind: wire.KindNote, OrderID: "O-2", Reason: "handed_over", Waybill: wb2, Trigger: wire.TriggerScan, Station: "handover-2", At: at(3 * time.Minute)},
	)...)
	a.waitAck(1)
	list := func(query string) []hub.ListRow {
		var r listResp
		getJSON(t, h, "/v1/lists/false_completion"+query, http.StatusOK, &r)
		return r.Rows
	}
	// 12 h minus a minute after the handovers: not listed yet.
	clk.Advance(12*time.Hour + time.Minute)
	if rows := list("?site=sz01"); len(rows) != 0 {
		t.Fatalf("listed before 12 h: %+v", rows)
	}
	// 12 h and a minute after O-1's handover: listed, notified and counted.
	advanceUntil(t, clk, time.Minute, "O-1 and O-2 listed", func() bool { return len(list("?site=sz01")) == 2 })
	r := list("?site=sz01")[0]
	if r.OrderID != "O-1" || r.Site != "sz01" || r.Agent != "pack01" || r.At != at(2*time.Minute) || r.Waybill != wb1 || r.Carrier != "sf" ||
		r.Station != "handover-1" || r.Device != "scanner-7" || r.Operator != "张三" || r.State != "picked_up" || r.Reason != "false_completion" ||
		!strings.Contains(r.ReasonZH, "伪完成") || !strings.Contains(r.ReasonEN, "false completion") || r.Due != at(12*time.Hour+2*time.Minute) {
		t.Errorf("row = %+v", r)
	}
	if r2 := list("?site=sz01")[1]; r2.OrderID != "O-2" || r2.State != "waybill_printed" || r2.Station != "handover-2" {
		t.Errorf("O-2 (handed_over note) = %+v", r2)
	}
	if rows := list("?site=gz01"); len(rows) != 0 {
		t.Errorf("another site lists %+v", rows)
	}
	if rows := list("?site=sz01&limit=1"); len(rows) != 1 {
		t.Errorf("limit 1: %+v", rows)
	} else {
		var page listResp
		getJSON(t, h, "/v1/lists/false_completion?site=sz01&limit=1", http.StatusOK, &page)
		var next listResp
		getJSON(t, h, "/v1/lists/false_completion?site=sz01&limit=1&after="+page.Next, http.StatusOK, &next)
		if page.Next == "" || len(next.Rows) != 1 || next.Rows[0].OrderID != "O-2" || next.Next != "" {
			t.Errorf("paging: %+v then %+v", page, next)
		}
	}
	advanceUntil(t, clk, time.Minute, "O-1's and O-2's 伪完成 notices sent", func() bool {
		n := 0
		for _, s := range notifications(t, h, "?state=sent") {
			if (s.Subject == "O-1" || s.Subject == "O-2") && s.Kind == hub.NoticeFalseCompletion {
				n++
			}
		}
		return n == 2
	})
	advanceUntil(t, clk, time.Minute, "both counted as anomalies", func() bool {
		var rep central.AnomalyReport
		getJSON(t, h, "/v1/anomalies?site=sz01", http.StatusOK, &rep)
		return rep.Total[central.CauseLogisticsGap] == 2
	})
	// The courier's first scan of O-1 arrives: it leaves the list; the count stays (it happened).
	tok := newToken(t, h, "carrier", apitoken.TrackingWrite)
	body := `{"carrier":"sf","waybill":"` + wb1 + `","event":"first_scan","at":"` + wire.Time(clk.Now()) + `"}`
	if code, b := do(t, h, http.MethodPost, "/v1/tracking", tok, []byte(body)); code != http.StatusOK && code != http.StatusAccepted {
		t.Fatalf("POST /v1/tracking = %d %s", code, b)
	}
	if rows := list("?site=sz01"); len(rows) != 1 || rows[0].OrderID != "O-2" {
		t.Fatalf("after O-1's first scan: %+v; want O-2 only", rows)
	}
	ticks(t, clk, 2, logs)
	var rep central.AnomalyReport
	getJSON(t, h, "/v1/anomalies?site=sz01", http.StatusOK, &rep)
	if rep.Total[central.CauseLogisticsGap] != 2 {
		t.Errorf("logistics_gap = %d after more ticks; want each 伪完成 counted once", rep.Total[central.CauseLogisticsGap])
	}
	for _, q := range []string{"?reason=overdue", "?since=" + at(time.Hour)} {
		if rows := list(q); len(rows) != 0 {
			t.Errorf("%s: %+v; want none", q, rows)
		}
	}
}
