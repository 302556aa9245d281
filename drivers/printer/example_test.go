package printer_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"wedge/drivers/printer"
	"wedge/drivers/printer/emulator"
	"wedge/drivers/printer/jobscan"
	"wedge/drivers/printer/label"
)

// The print station flow on the driver side: render the label in the printer's language, send it,
// confirm by status, and only then is the order 已打单. A fault comes back as a *FaultError whose
// faults carry Chinese and English text; a model without a status query gives ErrNoStatus (confirm
// by scan-back).
func Example() {
	emu := emulator.NewZPL(&emulator.Options{PrintTime: 10 * time.Millisecond}) // the demo's printer
	defer emu.Close()
	addr, _ := emu.ListenTCP("127.0.0.1:0")

	p, err := printer.Open(printer.Config{Name: "pack-1", Transport: "tcp", Address: addr,
		Profile: prof(printer.LangZPL, printer.QueryZPLHS, printer.QueryZPLHQES)}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	ctx := context.Background()
	l := label.Label{Waybill: "SF1385628716739", Carrier: "顺丰 SF Express", OrderID: "TB-1",
		RecipientName: "张三", RecipientPhone: "13812345678"}
	job, _ := label.Render(l, label.Size76x130, 203, p.Language())

	id, _ := p.Print(ctx, job)
	_, err = printer.Confirm(ctx, p, id, &printer.ConfirmOptions{Interval: 5 * time.Millisecond})
	fmt.Println("confirmed:", err == nil, jobscan.Scan(emu.Jobs()[0], nil))

	emu.SetFault(printer.FaultPaperOut)
	id, _ = p.Print(ctx, job)
	_, err = printer.Confirm(ctx, p, id, &printer.ConfirmOptions{Interval: 5 * time.Millisecond})
	var fe *printer.FaultError
	if errors.As(err, &fe) {
		fmt.Println("fault:", fe.Faults[0].Text())
	}
	// Output:
	// confirmed: true [SF1385628716739]
	// fault: 缺纸 / paper out
}
