package oversight_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"wedge/agent/console"
	"wedge/agent/latency"
	"wedge/agent/oversight"
	"wedge/sync/wire"
)

// orderPaid sends an order paid at paid (zero: without paid_at) through the rig's intake.
func (r *rig) orderPaid(id string, paid time.Time) {
	r.t.Helper()
	p := fmt.Sprintf(`{"type":"order","order_id":%q,"channel":"tmall","channel_order_no":"4%014d","buyer_id":"b","ordered_at":"2026-11-11T00:00:00Z","skus":["S1"],"payment":"full","carrier":"sf"`,
		id, r.next())
	if !paid.IsZero() {
		p += fmt.Sprintf(`,"paid_at":%q`, wire.Time(paid))
	}
	if err := r.in.Apply(context.Background(), []byte(p+"}")); err != nil {
		r.t.Fatal(err)
	}
}

// consoleFull is what a connecting browser gets: the board and the popups.
func consoleFull(t *testing.T, ov *oversight.Oversight) (console.Full, string) {
	t.Helper()
	mux := http.NewServeMux()
	ov.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	res, err := http.Get(srv.URL + "/console/api/snapshot")
	if err != nil {
		t.Fatal(err)
	}
	var full console.Full
	if err := json.NewDecoder(res.Body).Decode(&full); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	res, err = http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return full, string(b)
}

// The field notes' 23-minute payment → warehouse delay: orders paid 23 minutes before they reach
// the PC raise one intake latency popup (Chinese first), the board shows the 10-minute median and
// its distribution, and /metrics has the histogram. Orders without paid_at or paid "in the future"
// (the order system's clock ahead) are counted apart and do not move the median.
func TestIntakeLatencyAlert(t *testing.T) {
	r := newRig(t, oversight.Options{IntakeLatencyAlert: 10 * time.Minute})
	// On time first: 2 minutes, no alert.
	for i := range 3 {
		r.orderPaid(fmt.Sprintf("OK%d", i), r.clk.Now().Add(-2*time.Minute))
	}
	r.ov.Check(context.Background())
	if full, _ := consoleFull(t, r.ov); len(full.Alerts) != 0 || full.Board.Intake.Median != 2*time.Minute || full.Board.Intake.Alert {
		t.Fatalf("on time: alerts %+v, intake %+v", full.Alerts, full.Board.Intake)
	}
	// The push falls behind: 11 minutes later the on-time orders left the window, and every order
	// arrives 23 minutes after its payment; two arrive without paid_at or paid in the future.
	r.clk.Advance(11 * time.Minute)
	for i := range 5 {
		r.orderPaid(fmt.Sprintf("LATE%d", i), r.clk.Now().Add(-23*time.Minute))
		r.clk.Advance(30 * time.Second)
	}
	r.orderPaid("NOPAY", time.Time{})
	r.orderPaid("SKEW", r.clk.Now().Add(2*time.Hour))
	r.ov.Check(context.Background())
	r.ov.Check(context.Background()) // once
	full, metrics := consoleFull(t, r.ov)
	in := full.Board.Intake
	if in.Median != 23*time.Minute || in.Count != 5 || !in.Alert || in.NoPaidAt != 1 || in.Future != 1 || in.Limit != 10*time.Minute {
		t.Fatalf("board intake %+v", in)
	}
	if i := slices.Index(latency.Buckets, 23*time.Minute); in.Buckets[i] != 5 {
		t.Errorf("distribution %v", in.Buckets)
	}
	if len(full.Alerts) != 1 || full.Alerts[0].Kind != console.AlertIntakeLatency ||
		!strings.HasPrefix(full.Alerts[0].Title.ZH, "订单到仓延迟过高") || !strings.Contains(full.Alerts[0].Title.EN, "23m0s") {
		t.Fatalf("alerts %+v", full.Alerts)
	}
	for _, want := range []string{
		`wedge_intake_latency_seconds_bucket{le="120"} 3`,
		`wedge_intake_latency_seconds_bucket{le="1380"} 8`,
		`wedge_intake_latency_seconds_count 8`,
		`wedge_intake_latency_unmeasured_total{reason="no_paid_at"} 1`,
		`wedge_intake_latency_unmeasured_total{reason="paid_at_in_future"} 1`,
		`wedge_intake_latency_median_seconds 1380`,
		`wedge_intake_latency_alert 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
