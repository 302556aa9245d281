package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"wedge/agent/latency"
	"wedge/order"
)

func TestSettersAndScrape(t *testing.T) {
	m := New()
	m.Scan("print-1", order.Accepted, "")
	m.Scan("print-1", order.Rejected, order.ReasonWaybillMismatch)
	m.Scan("print-1", order.Rejected, order.ReasonWaybillMismatch)
	m.Reject(order.ReasonContract)
	m.Step(order.PendingAllocation, order.WaybillPrinted, "print")
	m.SetCounts(map[order.State]int{order.PendingAllocation: 201, order.Held: 7})
	m.SetWait(90*time.Second, 5*time.Minute)
	m.SetBreaker(true)
	m.SetSync(12, 3*time.Second, true)
	m.SetDevice("scanner-a", "scanner", true)
	m.SetDevice("zebra", "printer", false)
	m.Overdue(2)
	m.IntakeLatency(latency.Measured, 23*time.Minute)
	m.IntakeLatency(latency.Measured, 20*time.Second)
	m.IntakeLatency(latency.NoPaidAt, 0)
	m.IntakeLatency(latency.Future, 0)
	m.IntakeLatency(latency.Future, 0)
	m.SetIntakeLatency(23*time.Minute, true)

	if got := testutil.ToFloat64(m.rejections.WithLabelValues("waybill_mismatch")); got != 2 {
		t.Fatalf("rejections = %v", got)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`wedge_scans_total{result="accepted",station="print-1"} 1`,
		`wedge_scans_total{result="rejected",station="print-1"} 2`,
		`wedge_rejections_total{reason="contract_violation"} 1`,
		`wedge_steps_total{from="pending_allocation",to="waybill_printed",trigger="print"} 1`,
		`wedge_orders{state="pending_allocation"} 201`,
		`wedge_orders{state="picked_up"} 0`,
		`wedge_held_orders 7`,
		`wedge_backlog_avg_wait_seconds 90`,
		`wedge_backlog_oldest_wait_seconds 300`,
		`wedge_breaker_open 1`,
		`wedge_unsynced_entries 12`,
		`wedge_sync_lag_seconds 3`,
		`wedge_broker_connected 1`,
		`wedge_device_up{device="scanner-a",kind="scanner"} 1`,
		`wedge_device_up{device="zebra",kind="printer"} 0`,
		`wedge_overdue_alerts_total 2`,
		`wedge_intake_latency_seconds_bucket{le="30"} 1`,
		`wedge_intake_latency_seconds_bucket{le="1380"} 2`,
		`wedge_intake_latency_seconds_count 2`,
		`wedge_intake_latency_unmeasured_total{reason="no_paid_at"} 1`,
		`wedge_intake_latency_unmeasured_total{reason="paid_at_in_future"} 2`,
		`wedge_intake_latency_median_seconds 1380`,
		`wedge_intake_latency_alert 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if strings.Contains(string(body), `wedge_intake_latency_seconds_bucket{le="1200"}`) {
		t.Error("the latency histogram has a bound that is not one of latency.Buckets")
	}
	m.RemoveDevice("zebra", "printer")
	m.SetBreaker(false)
	if testutil.ToFloat64(m.breaker) != 0 {
		t.Fatal("breaker gauge not reset")
	}
	if n := testutil.CollectAndCount(m.devicesUp); n != 1 {
		t.Fatalf("devices after remove = %d", n)
	}
	problems, err := testutil.GatherAndLint(m.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "wedge_") {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
}

func TestNilIsNoop(t *testing.T) {
	var m *Metrics
	m.Scan("x", order.Rejected, order.ReasonHeld)
	m.SetCounts(nil)
	m.SetSync(1, time.Second, false)
	m.SetDevice("a", "b", true)
	m.IntakeLatency(latency.Measured, time.Minute)
	m.SetIntakeLatency(time.Minute, false)
}
