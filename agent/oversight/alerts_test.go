package oversight_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"wedge/agent/console"
	"wedge/agent/oversight"
	"wedge/agent/printing"
	"wedge/order"
)

// A device that goes from up to down raises one unplugged popup; a printer fault event raises a
// printer fault popup, its clearing none; the popups are in what a connecting browser gets.
func TestDeviceAndPrinterPopups(t *testing.T) {
	var up atomic.Bool
	up.Store(true)
	r := newRig(t, oversight.Options{Devices: func() []console.Device {
		return []console.Device{{Name: "scan-p1", Kind: "scanner", Station: "print-1", Up: up.Load()},
			{Name: "never-seen", Kind: "scanner", Up: false}}
	}})
	r.ov.Check(context.Background())
	up.Store(false)
	r.ov.Check(context.Background())
	r.ov.Check(context.Background())
	r.ov.Events().PrinterEvent(printing.Event{Station: "print-1", Printer: "zebra-1", Message: order.Message{ZH: "缺纸", EN: "paper out"}, At: t0})
	r.ov.Events().PrinterEvent(printing.Event{Station: "print-1", Printer: "zebra-1", Cleared: true, At: t0})

	mux := http.NewServeMux()
	r.ov.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	res, err := http.Get(srv.URL + "/console/api/snapshot")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var full console.Full
	if err := json.NewDecoder(res.Body).Decode(&full); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, a := range full.Alerts {
		kinds = append(kinds, a.Kind+":"+a.Title.EN)
	}
	got := strings.Join(kinds, " | ")
	if len(full.Alerts) != 2 || !strings.Contains(got, "unplugged:Device unplugged: scan-p1") || !strings.Contains(got, "printer_fault:Printer fault: zebra-1 @ print-1") {
		t.Fatalf("alerts: %s", got)
	}
	if len(full.Board.Devices) != 2 || full.Board.Devices[0].Up {
		t.Fatalf("devices on the board: %+v", full.Board.Devices)
	}
}

// A plug/unplug event raises one popup even when the device poll sees the same change afterwards.
func TestDeviceEventNoDuplicate(t *testing.T) {
	var up atomic.Bool
	up.Store(true)
	r := newRig(t, oversight.Options{Devices: func() []console.Device {
		return []console.Device{{Name: "scan-h1", Kind: "scanner", Up: up.Load()}}
	}})
	r.ov.Check(context.Background())
	up.Store(false)
	r.ov.Events().DeviceEvent("scanner", "scan-h1", false)
	r.ov.Check(context.Background())
	mux := http.NewServeMux()
	r.ov.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	res, err := http.Get(srv.URL + "/console/api/snapshot")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var full console.Full
	if err := json.NewDecoder(res.Body).Decode(&full); err != nil {
		t.Fatal(err)
	}
	if len(full.Alerts) != 1 || full.Alerts[0].Kind != console.AlertUnplugged {
		t.Fatalf("alerts %+v", full.Alerts)
	}
}
