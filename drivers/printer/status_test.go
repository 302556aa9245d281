package printer_test

import (
	"errors"
	"reflect"
	"testing"

	"wedge/drivers/printer"
	"wedge/drivers/printer/tspl"
	"wedge/drivers/printer/zpl"
)

func TestFromTSPLBytes(t *testing.T) {
	F := func(f ...printer.Fault) []printer.Fault { return f }
	for _, c := range []struct {
		b        byte
		faults   []printer.Fault
		printing bool
	}{
		{0x00, nil, false},
		{0x01, F(printer.FaultHeadOpen), false},
		{0x02, F(printer.FaultJam), false},
		{0x04, F(printer.FaultPaperOut), false},
		{0x05, F(printer.FaultHeadOpen, printer.FaultPaperOut), false},
		{0x0C, F(printer.FaultPaperOut, printer.FaultRibbonOut), false},
		{0x10, F(printer.FaultPaused), false},
		{0x20, nil, true},
		{0x40, F(printer.FaultCoverOpen), false},
		{0x80, F(printer.FaultOverTemperature), false},
	} {
		s := tspl.Status(c.b)
		st := printer.FromTSPL(&s, nil)
		if !reflect.DeepEqual(st.Faults, c.faults) || st.Printing != c.printing || st.Ready != (c.b == 0) || st.Done() != (c.b == 0) {
			t.Errorf("0x%02x: %+v, want faults %v printing %v", c.b, st, c.faults, c.printing)
		}
	}
	e := tspl.Extended{Message: tspl.MsgError, Error2: tspl.ErrPaperEmpty | 0x10}
	if st := printer.FromTSPL(nil, &e); !st.Has(printer.FaultPaperOut) || !st.Has(printer.FaultUnknown) {
		t.Errorf("<ESC>!S paper empty + unknown bit: %+v", st)
	}
	if st := printer.FromTSPL(nil, &tspl.Extended{Message: tspl.MsgPrinting}); !st.Printing || len(st.Faults) != 0 {
		t.Errorf("<ESC>!S printing: %+v", st)
	}
	if st := printer.FromTSPL(nil, &tspl.Extended{Message: 'Z'}); !st.Has(printer.FaultUnknown) {
		t.Errorf("unknown message byte must be a fault: %+v", st)
	}
}

func TestFromZPL(t *testing.T) {
	hs := zpl.HostStatus{PaperOut: true, HeadUp: true, FormatsInBuffer: 1, LabelsRemaining: 2}
	st := printer.FromZPL(&hs, nil)
	if !st.Has(printer.FaultPaperOut) || !st.Has(printer.FaultHeadOpen) || !st.Printing || st.Ready || st.LabelsRemaining != 2 || st.FormatsInBuffer != 1 {
		t.Fatalf("%+v", st)
	}
	ew := zpl.ErrorsWarnings{AnyError: true, Errors: zpl.ErrPaperFeed | 0x00100000, AnyWarning: true, Warnings: zpl.WarnPaperNearEnd}
	st = printer.FromZPL(nil, &ew)
	if !st.Has(printer.FaultJam) || !st.Has(printer.FaultUnknown) || st.Ready {
		t.Fatalf("%+v", st)
	}
	// A warning alone is not a fault.
	st = printer.FromZPL(&zpl.HostStatus{}, &zpl.ErrorsWarnings{AnyWarning: true, Warnings: zpl.WarnPaperNearEnd})
	if !st.Ready || !st.Done() {
		t.Fatalf("warning only: %+v", st)
	}
}

func TestFaultText(t *testing.T) {
	for _, f := range printer.Faults {
		if f.Zh() == "" || f.En() == "" || (f != printer.FaultUnknown && f.Zh() == printer.FaultUnknown.Zh()) {
			t.Errorf("fault %s has no own text", f)
		}
	}
	err := error(&printer.FaultError{Printer: "p1", Faults: []printer.Fault{printer.FaultPaperOut, printer.FaultNoAnswer}})
	if !errors.Is(err, printer.ErrFault) || !errors.Is(err, printer.ErrNoAnswer) || errors.Is(err, printer.ErrClosed) {
		t.Fatal("FaultError matching")
	}
	if got := err.Error(); got != "打印机 p1 故障: 缺纸、打印机无响应 / printer p1 fault: paper out, printer does not answer" {
		t.Fatalf("text %q", got)
	}
}
