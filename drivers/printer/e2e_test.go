package printer_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"wedge/drivers/printer"
	"wedge/drivers/printer/emulator"
	"wedge/drivers/printer/jobscan"
	"wedge/drivers/printer/label"
)

// Every layout in every language prints on the matching emulator, is confirmed by status, and the
// job the printer received carries the waybill in a Code 128 field.
func TestRenderedLabelsPrintConfirmAndCarryTheWaybill(t *testing.T) {
	l := label.Label{Waybill: "YT8962646785389", Carrier: "圆通 YTO", OrderID: "PDD-77", RecipientName: "李四",
		RecipientPhone: "13912345678", SKUSummary: "杯子 x2"}
	for _, lang := range []string{printer.LangZPL, printer.LangTSPL} {
		eo := &emulator.Options{PrintTime: 5 * time.Millisecond}
		emu := emulator.NewZPL(eo)
		q := []string{printer.QueryZPLHS, printer.QueryZPLHQES}
		if lang == printer.LangTSPL {
			emu = emulator.NewTSPL(eo)
			q = []string{printer.QueryTSPLESCQ, printer.QueryTSPLESCS}
		}
		path, err := emu.ServePTY()
		if err != nil {
			t.Fatal(err)
		}
		p, err := printer.Open(printer.Config{Name: "p", Transport: "serial", Address: path, Profile: prof(lang, q...)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, size := range []label.Size{label.Size76x130, label.Size100x180} {
			for _, dpi := range []int{203, 300} {
				job, err := label.Render(l, size, dpi, lang)
				if err != nil {
					t.Fatal(err)
				}
				id, err := p.Print(context.Background(), job)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := printer.Confirm(context.Background(), p, id, &printer.ConfirmOptions{Interval: 2 * time.Millisecond, Settle: 20 * time.Millisecond}); err != nil {
					t.Fatalf("%s %v %d: %v", lang, size, dpi, err)
				}
				n++
				jobs := emu.Jobs()
				if len(jobs) != n {
					t.Fatalf("%s: emulator has %d formats, want %d", lang, len(jobs), n)
				}
				if got := jobscan.Scan(jobs[n-1], nil); !reflect.DeepEqual(got, []string{l.Waybill}) {
					t.Fatalf("%s %v %d: printer got barcodes %v", lang, size, dpi, got)
				}
			}
		}
		if emu.Printed() != 4 {
			t.Fatalf("%s: printed %d, want 4", lang, emu.Printed())
		}
		p.Close()
		emu.Close()
	}
}
