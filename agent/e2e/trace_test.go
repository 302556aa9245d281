package e2e

import (
	"fmt"
	"net/url"
	"testing"

	"wedge/sync/wire"
)

// traceAnswer is GET /v1/trace's answer, decoded from the JSON contract (docs/PROTOCOL.md).
type traceAnswer struct {
	Kind   string `json:"kind"`
	Orders []struct {
		OrderID string `json:"order_id"`
		Site    string `json:"site"`
		State   string `json:"state"`
		Entries []struct {
			Agent   string `json:"agent"`
			Actor   string `json:"actor"`
			Station string `json:"station"`
			Action  string `json:"action"`
			From    string `json:"from"`
			To      string `json:"to"`
			ChainOK bool   `json:"chain_ok"`
		} `json:"entries"`
	} `json:"orders"`
}

// checkTrace asks the hub for o's trace by its waybill and by its channel order number: the real
// agents' entries, each with its chain checked, who scanned it where, print before pickup.
func (h *hubProc) checkTrace(t *testing.T, o wire.OrderMsg) {
	t.Helper()
	for kind, q := range map[string]string{"waybill": o.Waybill, "channel_order_no": o.ChannelOrderNo} {
		var ans traceAnswer
		if code, err := getJSONAuth(h.url("/v1/trace?q="+url.QueryEscape(q)), h.token, &ans); err != nil || code != 200 {
			t.Fatalf("GET /v1/trace?q=%s: %d %v", q, code, err)
		}
		if ans.Kind != kind || len(ans.Orders) != 1 || ans.Orders[0].OrderID != o.OrderID || ans.Orders[0].State != "picked_up" {
			t.Fatalf("trace %q = %+v, want %s by %s", q, ans, o.OrderID, kind)
		}
		var steps string
		for _, e := range ans.Orders[0].Entries {
			if !e.ChainOK {
				t.Errorf("trace of %s: entry %+v not chain_ok", o.OrderID, e)
			}
			if e.Action == wire.KindStep {
				steps += fmt.Sprintf("%s→%s@%s/%s/%s ", e.From, e.To, e.Agent, e.Station, e.Actor)
			}
		}
		if want := "pending_allocation→waybill_printed@pack01/print-1/OP-li4 waybill_printed→picked_up@dock01/dock-1/OP-wang5 "; steps != want {
			t.Errorf("trace of %s: steps %q, want %q", o.OrderID, steps, want)
		}
	}
}
