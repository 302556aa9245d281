package hidscan_test

import (
	"path/filepath"
	"testing"
	"time"

	"wedge/drivers/profile"
	"wedge/drivers/scanner"
	"wedge/drivers/scanner/hidscan"
	h "wedge/drivers/scanner/hidscan/hidscantest"
)

// BenchmarkDecodePOSReport: cost of one 64-byte HID POS report (a multi-report UTF-8 Chinese QR).
func BenchmarkDecodePOSReport(b *testing.B) {
	reps := h.POSA("]Q1", 's', []byte(qrText+"\r"))
	d, _ := hidscan.NewPOSDecoder(hidscan.POSOptions{Layout: hidscan.LayoutPOSA, Suffix: "cr"})
	var out []scanner.Read
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out, _ = d.Feed(out[:0], reps[i%len(reps)], t0)
	}
	b.ReportMetric(float64(len(reps)), "reports/read")
}

// BenchmarkDecodeKeyboardReport: cost of one 8-byte boot keyboard report (a waybill number typed
// with press/release pairs and Enter).
func BenchmarkDecodeKeyboardReport(b *testing.B) {
	reps := h.Type("SF1385628716739\r")
	d, _ := hidscan.NewKeyboardDecoder(hidscan.KeyboardOptions{})
	var out []scanner.Read
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out, _ = d.Feed(out[:0], reps[i%len(reps)], t0)
	}
	b.ReportMetric(float64(len(reps)), "reports/read")
}

// BenchmarkReportToRead: from pushing a replayed trace (the UTF-8 QR trace file) into the fake
// device to Read returning it, through the driver's reader and owner goroutines.
func BenchmarkReportToRead(b *testing.B) {
	reps, err := h.ReadTrace(filepath.Join("testdata", "pos_a_qr_utf8.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	var data [][]byte
	for _, r := range reps {
		data = append(data, r.Data)
	}
	bus := &h.Bus{}
	dev := h.NewDevice()
	bus.Plug(honeywell, func() *h.Device { return dev })
	sc, err := hidscan.Open(hidscan.Config{Name: "bench", Match: hidscan.Match{VID: 0x0C2E, Interface: hidscan.AnyInterface},
		HID: profile.HID{Layout: hidscan.LayoutPOSA, Suffix: "cr"}}, &hidscan.Options{Enumerate: bus.Enumerate, Open: bus.Open})
	if err != nil {
		b.Fatal(err)
	}
	defer sc.Close()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		dev.Push(data...)
		for range 2 { // the trace holds two barcodes
			if _, err := sc.Read(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(2*b.N), "ns/read")
}
