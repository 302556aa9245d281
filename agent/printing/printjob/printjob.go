// Package printjob says what became of one print job: confirmed by the printer's status, sent to a
// printer that cannot confirm, or failed; for a failed job, the printer's faults behind it, whether
// its label may still come out (the printer could not cancel it), and how the journal and the
// operator are told.
package printjob

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"wedge/agent/station"
	"wedge/drivers/printer"
	"wedge/drivers/printer/label"
	"wedge/order"
)

// Result is what became of one print job.
type Result struct {
	Job     string         // the printer's job id; "" when the job never reached the printer
	Printer string         // the printer's name
	Status  printer.Status // the printer's last status seen for the job
	Err     error          // nil: the printer's status confirmed the job
	// Of a failed job that reached the printer: the printer confirmed that it dropped every job it
	// held (ZPL ~JA); when it did not, Why says why not.
	Cancelled bool
	Why       string
}

// NoStatus reports whether the job was sent to a printer without a status query: its label is
// confirmed by its scan-back.
func (r Result) NoStatus() bool { return errors.Is(r.Err, printer.ErrNoStatus) }

// Failed reports whether the job failed (neither confirmed nor left to a scan-back).
func (r Result) Failed() bool { return r.Err != nil && !r.NoStatus() }

// MayPrint reports whether a failed job's label may still come out: it reached the printer, which
// did not cancel it.
func (r Result) MayPrint() bool { return r.Job != "" && !r.Cancelled }

// IsFault reports whether err is a printer fault, not a caller's context ending, a printer without
// status, a waybill no label can carry or a closed printer.
func IsFault(err error) bool {
	return err != nil && !errors.Is(err, printer.ErrNoStatus) && !errors.Is(err, context.Canceled) &&
		!errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, label.ErrWaybill) && !errors.Is(err, printer.ErrClosed)
}

// Faults names the faults behind a failed job with status st.
func Faults(st printer.Status, err error) []printer.Fault {
	var fe *printer.FaultError
	switch {
	case errors.As(err, &fe) && len(fe.Faults) > 0:
		return slices.Clone(fe.Faults)
	case len(st.Faults) > 0:
		return slices.Clone(st.Faults)
	case errors.Is(err, printer.ErrConfirmTimeout), errors.Is(err, printer.ErrBadReply),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// not confirmed either way (for a context: the agent stopped waiting)
		return []printer.Fault{printer.FaultUnknown}
	}
	return []printer.Fault{printer.FaultNoAnswer} // the job could not be sent: unreachable
}

// Names are the faults' names, Chinese and English.
func Names(faults []printer.Fault) order.Message {
	zh := make([]string, 0, len(faults))
	en := make([]string, 0, len(faults))
	for _, f := range faults {
		zh, en = append(zh, f.Zh()), append(en, f.En())
	}
	return order.Message{ZH: strings.Join(zh, "、"), EN: strings.Join(en, ", ")}
}

// FaultMessage tells the operator that printer name has faults and no label came out.
func FaultMessage(name string, faults []printer.Fault) order.Message {
	return order.NoticePrinterFault.Message(order.NoticeArgs{Printer: name, Faults: Names(faults)})
}

// Message tells the operator what to do about the failed job of label wb, by what became of it in
// the printer: nothing can come out, or it may (check, and scan it back within window).
func (r Result) Message(wb string, window time.Duration) order.Message {
	a := order.NoticeArgs{Printer: r.Printer, Faults: Names(Faults(r.Status, r.Err)), Waybill: wb, Seconds: int(window.Seconds())}
	switch {
	case r.Cancelled:
		return order.NoticePrinterFaultClear.Message(a)
	case r.MayPrint():
		return order.NoticePrinterFaultCheck.Message(a)
	}
	return order.NoticePrinterFault.Message(a)
}

// Reject is the rejection of order o whose label, waybill wb, failed as r: printer_fault, with the
// faults and what became of the job in the detail and Message for the operator; waybill_invalid
// when no label can carry wb. what prefixes the detail; window is the scan-back window of a label
// that may still come out. The entry names the job.
func (r Result) Reject(o order.Order, wb, what string, window time.Duration, src order.Source) station.Decision {
	if errors.Is(r.Err, label.ErrWaybill) {
		d := station.Refuse(o, order.ReasonWaybillInvalid, wb, what+r.Err.Error(), src)
		d.Entry.Job = r.Job
		return d
	}
	names := Names(Faults(r.Status, r.Err))
	detail := fmt.Sprintf("%s%s / %s (%v)", what, names.ZH, names.EN, r.Err)
	switch {
	case r.Cancelled:
		detail += "; every job in the printer cancelled (~JA): this label will not come out"
	case r.MayPrint():
		detail += fmt.Sprintf("; the job could not be cancelled (%s): its label may come out once the fault is cleared, and its scan-back within %s confirms it", r.Why, window)
	}
	d := station.Refuse(o, order.ReasonPrinterFault, wb, detail, src)
	d.Entry.Job = r.Job
	m := r.Message(wb, window)
	d.Message = &m
	return d
}
