package oversight_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"wedge/agent/console"
	"wedge/agent/oversight"
	"wedge/order"
)

// A carrier exception relayed by the hub raises one 快递异常 popup (other carrier events none), and
// the console's search shows the order's latest carrier event with the carrier notes in its
// history; after a restart the journaled exception is not raised again.
func TestCarrierExceptionPopup(t *testing.T) {
	r := newRig(t, oversight.Options{})
	ctx := context.Background()
	apply := func(p string) {
		t.Helper()
		if err := r.in.ApplyAuthenticated(ctx, []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	apply(`{"type":"state","hseq":1,"order_id":"A1","state":"picked_up","waybill":"SF1234567890123","carrier":"sf"}`)
	apply(`{"type":"tracking","hseq":2,"order_id":"A1","carrier":"sf","waybill":"SF1234567890123","event":"in_transit","at":"2026-01-22T12:00:00Z"}`)
	apply(`{"type":"tracking","hseq":3,"order_id":"A1","carrier":"sf","waybill":"SF1234567890123","event":"exception","at":"2026-01-22T15:00:00Z"}`)
	r.ov.Check(ctx)

	snapshot := func() (console.Full, console.OrderView) {
		t.Helper()
		mux := http.NewServeMux()
		r.ov.Register(mux)
		srv := httptest.NewServer(mux)
		defer srv.Close()
		var full console.Full
		var v console.OrderView
		for path, dst := range map[string]any{"/console/api/snapshot": &full, "/console/api/search?code=A1": &v} {
			res, err := http.Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			err = json.NewDecoder(res.Body).Decode(dst)
			res.Body.Close()
			if err != nil || res.StatusCode != http.StatusOK {
				t.Fatalf("%s: %d %v", path, res.StatusCode, err)
			}
		}
		return full, v
	}
	full, v := snapshot()
	if len(full.Alerts) != 1 || full.Alerts[0].Kind != console.AlertCarrierException || !strings.HasPrefix(full.Alerts[0].Title.ZH, "快递异常") ||
		!strings.Contains(full.Alerts[0].Title.ZH, "A1") || !strings.Contains(full.Alerts[0].Detail, "SF1234567890123") {
		t.Fatalf("alerts %+v", full.Alerts)
	}
	if v.Order.Tracking.Event != "exception" || v.Order.State != order.PickedUp {
		t.Fatalf("search A1: %+v", v.Order)
	}
	notes := 0
	for _, e := range v.History {
		if _, ok := order.ParseCarrierNote(e); ok {
			notes++
		}
	}
	if notes != 2 {
		t.Fatalf("history %+v", v.History)
	}
	r.restart()
	r.ov.Check(ctx)
	if full, _ := snapshot(); len(full.Alerts) != 0 {
		t.Fatalf("after a restart: %+v", full.Alerts)
	}
}
