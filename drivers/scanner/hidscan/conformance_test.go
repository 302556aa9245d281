package hidscan_test

import (
	"testing"
	"time"

	"wedge/drivers/profile"
	"wedge/drivers/scanner"
	"wedge/drivers/scanner/hidscan"
	h "wedge/drivers/scanner/hidscan/hidscantest"
	"wedge/drivers/scanner/scannertest"
)

// pair opens a hidscan Scanner over a fake bus with the real clock and returns it with an inject
// that turns "text\r" into the reports the layout sends.
func pair(hid profile.HID, fb *profile.Feedback, reports func([]byte) [][]byte) scannertest.NewPair {
	return func(t *testing.T) (scanner.Scanner, func([]byte) error) {
		bus := &h.Bus{}
		dev := h.NewDevice()
		bus.Plug(honeywell, func() *h.Device { return dev })
		sc, err := hidscan.Open(hidscan.Config{Name: "conf", Match: hidscan.Match{VID: honeywell.VendorID, PID: honeywell.ProductID, Interface: hidscan.AnyInterface}, HID: hid, Feedback: fb},
			&hidscan.Options{Enumerate: bus.Enumerate, Open: bus.Open, Rescan: 5 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for !sc.Health().Connected && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		return sc, func(b []byte) error {
			dev.Push(reports(b)...)
			return nil
		}
	}
}

func TestConformancePOSLayoutA(t *testing.T) {
	scannertest.Run(t, pair(profile.HID{Layout: hidscan.LayoutPOSA, Suffix: "cr", SetupReports: []string{"FE01"}},
		&profile.Feedback{Protocol: "honeywell_hid", Via: "output_report", ReportID: 0xFD},
		func(b []byte) [][]byte { return h.POSA("]C0", 'j', b) }))
}

func TestConformancePOSLayoutB(t *testing.T) {
	scannertest.Run(t, pair(profile.HID{Layout: hidscan.LayoutPOSB, Suffix: "cr"}, nil,
		func(b []byte) [][]byte { return h.POSB(0x32, b) }))
}

func TestConformanceKeyboard(t *testing.T) {
	scannertest.Run(t, pair(profile.HID{Layout: hidscan.LayoutKeyboard, IdleCutMS: 300}, nil,
		func(b []byte) [][]byte { return h.Type(string(b)) }))
}
