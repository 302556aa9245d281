package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"wedge/sync/wire"
)

// TestIntakeLatencyAlert: the field notes' 23-minute payment → warehouse delay, seen from outside
// the real agent. Orders paid 23 minutes before the hub dispatches them reach the PC about 23
// minutes after payment: /metrics has them in the histogram's 23-minute bucket and raises
// wedge_intake_latency_alert, and the supervisor console shows the alert popup (Chinese first) and
// the 10-minute median. An order without paid_at and one paid "in the future" (the order system's
// clock ahead) are counted apart.
func TestIntakeLatencyAlert(t *testing.T) {
	needE2E(t)
	dir := t.TempDir()
	b := startBroker(t, dir)
	h := startHub(t, dir, b, freeAddr(t))
	a := startAgentYAML(t, dir, "pack01", b, busyAgent+"intake: {latency_alert: 10m}\nstations:\n  - {name: print-1, role: print}\n")

	orders := makeOrders("LAT", 6)
	paid := time.Now().Add(-23 * time.Minute)
	for i := range orders[:4] {
		orders[i].PaidAt = wire.Time(paid)
	}
	orders[4].PaidAt = ""
	orders[5].PaidAt = wire.Time(time.Now().Add(3 * time.Hour))
	h.dispatch(t, "sz01", orders)
	waitFor(t, 60*time.Second, "the orders reach the agent", func() bool {
		return a.orderState(t, orders[5].OrderID) == "pending_allocation" && a.orderState(t, orders[3].OrderID) == "pending_allocation"
	})

	var metrics string
	waitFor(t, 30*time.Second, "/metrics shows the late orders and the alert", func() bool {
		a.alive()
		resp, err := http.Get("http://" + a.addr + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		metrics = string(body)
		return strings.Contains(metrics, "wedge_intake_latency_alert 1")
	})
	for _, want := range []string{
		`wedge_intake_latency_seconds_bucket{le="900"} 0`,
		`wedge_intake_latency_seconds_bucket{le="1800"} 4`,
		`wedge_intake_latency_seconds_count 4`,
		`wedge_intake_latency_unmeasured_total{reason="no_paid_at"} 1`,
		`wedge_intake_latency_unmeasured_total{reason="paid_at_in_future"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	var full struct {
		Board struct {
			Intake struct {
				Median   time.Duration `json:"median"`
				Count    int           `json:"count"`
				NoPaidAt uint64        `json:"no_paid_at"`
				Future   uint64        `json:"future_paid_at"`
				Alert    bool          `json:"alert"`
			} `json:"intake"`
		} `json:"board"`
		Alerts []struct {
			Kind  string `json:"kind"`
			Title struct {
				ZH string `json:"zh"`
				EN string `json:"en"`
			} `json:"title"`
		} `json:"alerts"`
	}
	waitFor(t, 30*time.Second, "the console shows the alert", func() bool {
		code, err := getJSON("http://"+a.addr+"/console/api/snapshot", &full)
		return err == nil && code == 200 && full.Board.Intake.Alert
	})
	in := full.Board.Intake
	if in.Count != 4 || in.Median < 23*time.Minute || in.Median > 25*time.Minute || !in.Alert || in.NoPaidAt != 1 || in.Future != 1 {
		t.Errorf("console intake latency %+v", in)
	}
	var popup bool
	for _, al := range full.Alerts {
		popup = popup || al.Kind == "intake_latency" && strings.HasPrefix(al.Title.ZH, "订单到仓延迟过高") && strings.Contains(al.Title.EN, "Orders arrive late")
	}
	if !popup {
		t.Errorf("no intake latency popup: %+v", full.Alerts)
	}
	if e := a.setting(t, "intake.latency_alert"); e.Value != "10m0s" {
		t.Errorf("reported setting %+v", e)
	}
}
