package agent_test

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"wedge/agent"
	"wedge/agent/station"
	"wedge/drivers/discovery"
	"wedge/drivers/scanner/hidscan"
	"wedge/drivers/scanner/hidscan/hidscantest"
)

// splitReads groups HID POS layout A reports into reads: a read ends with the report whose
// continuation bit (byte 63, bit 0) is clear.
func splitReads(reps []hidscantest.Report) [][][]byte {
	var out [][][]byte
	var cur [][]byte
	for _, r := range reps {
		cur = append(cur, r.Data)
		if len(r.Data) < 64 || r.Data[63]&1 == 0 {
			out = append(out, cur)
			cur = nil
		}
	}
	return out
}

// BenchmarkHIDReportToOutcome: from the first report of a read entering the fake HID
// device to the station's committed outcome (decode, station, journal fsync), replaying
// hidscan's recorded UTF-8 QR trace (a one-report waybill and a three-report Chinese QR, both
// rejected and journaled) plus a badge, on the real clock and a real journal. One op is 300 reads.
func BenchmarkHIDReportToOutcome(b *testing.B) {
	recorded, err := hidscantest.ReadTrace(filepath.Join("..", "drivers", "scanner", "hidscan", "testdata", "pos_a_qr_utf8.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	reads := append(splitReads(recorded), hidscantest.POSA("]C0", 'j', []byte("OP-bench\r")))
	dev := hidscantest.NewDevice()
	results := make(chan station.Result, 16)
	a, _ := startHIDAgentB(b, agent.Deps{
		HIDEnumerate: func(vid, pid uint16) []hidscan.DeviceInfo { return []hidscan.DeviceInfo{voyager} },
		HIDOpen:      func(hidscan.DeviceInfo) (hidscan.Device, error) { return dev, nil },
		OnResult:     func(r station.Result) { results <- r },
	})
	_ = a
	// Each iteration replays 300 reads, so that `make bench` (-benchtime 1x) still gets a p99.
	const perOp = 300
	lat := make([]time.Duration, 0, perOp*b.N)
	b.ResetTimer()
	for i := 0; i < perOp*b.N; i++ {
		rd := reads[i%len(reads)]
		t0 := time.Now()
		dev.Push(rd...)
		r := <-results
		lat = append(lat, time.Since(t0))
		if r.Err != nil {
			b.Fatal(r.Err)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkSystemEnumerate: one real enumeration as the discovery watcher does every 500 ms
// (karalabe/hid via libusb plus go.bug.st/serial's port list) on this machine.
func BenchmarkSystemEnumerate(b *testing.B) {
	for i := 0; i < b.N; i++ {
		discovery.Scan(nil)
	}
}

func startHIDAgentB(b *testing.B, deps agent.Deps) (*agent.Agent, *recorder) {
	return startAgentTB(b, nil, hidDevice, deps)
}

func startHIDAgentDevices(b *testing.B, devices string, deps agent.Deps) (*agent.Agent, *recorder) {
	return startAgentTB(b, nil, devices, deps)
}
