// Package printer is the contract between waybill label printers and the rest of wedge: the Printer
// interface, the Status a printer reports, typed faults with Chinese and English text, the sentinel
// errors, Confirm (poll status until a job really came out) and Open (a printer from its firmware
// profile and the station's config).
//
// Languages live in sibling packages: zpl (Zebra and clones: ~HS, ~HQES) and tspl (TSC, Gprinter,
// HPRT, Xprinter, Deli: <ESC>!?, <ESC>!S). Byte meanings follow docs/DEVICE-PROTOCOLS.md §5.
// Transports (raw TCP 9100, serial, the Linux usblp character device) live in transport. Emulators for
// tests and the demo are in emulator, the conformance suite every implementation passes is in
// printertest, label rendering (ZPL, TSPL, PNG) is in label, the job scanner is in jobscan and the
// print proxy is in proxy.
//
// The rule that matters most: a status query that gets no answer is a fault (FaultNoAnswer), never
// "healthy". Zebra printers stay silent while out of media or with the head open.
package printer

import (
	"context"
	"errors"
	"strings"
)

// Sentinel errors. Implementations wrap them with the printer name:
// fmt.Errorf("printer %q: %w", name, err).
var (
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("printer: closed")
	// ErrNoStatus means the printer's profile has no status query: the caller must confirm the
	// label by scan-back (the operator scans the printed label).
	ErrNoStatus = errors.New("printer: no status query for this model (confirm by scan-back)")
	// ErrNoAnswer means a status query got no answer within the timeout. It is a fault, never
	// "healthy": the Status returned alongside carries FaultNoAnswer.
	ErrNoAnswer = errors.New("printer: no answer to status query")
	// ErrFault is matched (errors.Is) by every *FaultError.
	ErrFault = errors.New("printer: fault")
	// ErrConfirmTimeout means Confirm gave up: the job did not finish within ConfirmOptions.Timeout
	// and no fault was reported. The label may or may not have come out.
	ErrConfirmTimeout = errors.New("printer: job not confirmed in time")
	// ErrBadReply means the printer answered something that does not parse as a status reply.
	ErrBadReply = errors.New("printer: malformed status reply")
	// ErrConfig means the printer's configuration or profile is invalid.
	ErrConfig = errors.New("printer: invalid configuration")
	// ErrJobLost is returned by Status (with FaultUnknown) when the connection that carried the
	// last job died before the printer was seen done with it: the job may never have arrived.
	// Confirm turns it into a fault; the operator reprints explicitly.
	ErrJobLost = errors.New("printer: connection lost before the job was confirmed (it may not have printed)")
	// ErrEmptyJob is returned by Print for a job with no bytes.
	ErrEmptyJob = errors.New("printer: empty job")
	// ErrNoCancel is returned by Cancel when the printer's language has no confirmed cancel
	// command (TSPL: UNCERTAIN, the reference names none): a buffered job may still print later.
	ErrNoCancel = errors.New("printer: no cancel command for this model")
	// ErrCancelUnconfirmed is returned by Cancel when the cancel command was sent but the
	// printer's status did not show an empty buffer afterwards (no answer, or a query that does not
	// tell buffer counts): a buffered job may still print later.
	ErrCancelUnconfirmed = errors.New("printer: cancel sent but not confirmed")
)

// Canceller is a printer that can drop every job it holds (buffered, or printing and unfinished),
// so that a job which failed (paper out) does not come out later, unseen, after the fault is
// cleared. *Device implements it; its Cancel works for ZPL (~JA) and returns ErrNoCancel for TSPL.
type Canceller interface {
	// Cancel drops every job the printer holds, jobs of other senders (the print proxy) included.
	// nil means the printer's status afterwards showed nothing buffered. ErrNoCancel: the model
	// cannot; ErrCancelUnconfirmed: sent, but not seen to work.
	Cancel(ctx context.Context) error
}

// Printer is a label printer. All methods are safe for concurrent use; Print and Status are
// serialised on the wire.
type Printer interface {
	// String names the printer (its configured name) for logs and journal entries.
	String() string
	// Print sends one job (already in the printer's language) and returns an id for it. A nil
	// error means the bytes were handed to the transport, not that the label came out: use Confirm.
	Print(ctx context.Context, job []byte) (jobID string, err error)
	// Status queries the printer. With no answer within the timeout it returns a Status whose Faults
	// hold FaultNoAnswer together with an error wrapping ErrNoAnswer; an unreachable printer also
	// gets FaultNoAnswer (with the transport error), a garbled reply FaultUnknown (with
	// ErrBadReply): a Status returned with an error never looks healthy. A printer whose profile
	// has no status query returns ErrNoStatus.
	Status(ctx context.Context) (Status, error)
	// Close releases the transport. It may be called more than once.
	Close() error
}

// Status is what a printer reported.
type Status struct {
	Ready           bool    `json:"ready"`             // no fault, nothing pending: a job sent now prints at once
	Faults          []Fault `json:"faults,omitempty"`  // empty when healthy
	Printing        bool    `json:"printing"`          // labels still being printed or formats waiting
	LabelsRemaining int     `json:"labels_remaining"`  // ZPL ~HS uuuuuuuu; -1 when the query does not tell
	FormatsInBuffer int     `json:"formats_in_buffer"` // ZPL ~HS eee; -1 when the query does not tell
	Raw             string  `json:"raw,omitempty"`     // the reply bytes, quoted, for the journal and debugging
}

// Done reports whether everything sent so far has been printed with no fault: no fault, not
// printing, and (where the query tells) no formats in the buffer and no labels remaining.
func (s Status) Done() bool {
	return len(s.Faults) == 0 && !s.Printing && s.FormatsInBuffer <= 0 && s.LabelsRemaining <= 0
}

// Has reports whether the status carries fault f.
func (s Status) Has(f Fault) bool {
	for _, x := range s.Faults {
		if x == f {
			return true
		}
	}
	return false
}

// Fault is a typed printer fault. Its string value is stable and goes into journal entries.
type Fault string

// The faults.
const (
	FaultPaperOut        Fault = "paper_out"
	FaultHeadOpen        Fault = "head_open"
	FaultRibbonOut       Fault = "ribbon_out"
	FaultPaused          Fault = "paused"
	FaultJam             Fault = "jam"
	FaultCoverOpen       Fault = "cover_open"
	FaultBufferFull      Fault = "buffer_full"
	FaultOverTemperature Fault = "over_temperature"
	FaultNoAnswer        Fault = "no_answer"
	FaultUnknown         Fault = "unknown"
)

// Faults lists every fault, in a stable order.
var Faults = []Fault{FaultPaperOut, FaultHeadOpen, FaultRibbonOut, FaultPaused, FaultJam,
	FaultCoverOpen, FaultBufferFull, FaultOverTemperature, FaultNoAnswer, FaultUnknown}

var faultText = map[Fault][2]string{
	FaultPaperOut:        {"缺纸", "paper out"},
	FaultHeadOpen:        {"打印头未合上", "print head open"},
	FaultRibbonOut:       {"碳带用完", "ribbon out"},
	FaultPaused:          {"打印机已暂停", "printer paused"},
	FaultJam:             {"卡纸", "paper jam"},
	FaultCoverOpen:       {"机盖打开", "cover open"},
	FaultBufferFull:      {"接收缓冲区已满", "receive buffer full"},
	FaultOverTemperature: {"温度过高", "over temperature"},
	FaultNoAnswer:        {"打印机无响应", "printer does not answer"},
	FaultUnknown:         {"打印机未知故障", "unknown printer fault"},
}

// Zh is the fault in Chinese.
func (f Fault) Zh() string {
	if t, ok := faultText[f]; ok {
		return t[0]
	}
	return faultText[FaultUnknown][0]
}

// En is the fault in English.
func (f Fault) En() string {
	if t, ok := faultText[f]; ok {
		return t[1]
	}
	return faultText[FaultUnknown][1]
}

// Text is the user-facing text, Chinese first: "缺纸 / paper out".
func (f Fault) Text() string { return f.Zh() + " / " + f.En() }

// FaultError is returned when a printer reports faults. It matches ErrFault with errors.Is, and
// ErrNoAnswer too when FaultNoAnswer is among the faults.
type FaultError struct {
	Printer string
	Faults  []Fault
	Status  Status
	Err     error // the cause when it was an error rather than a reported flag (e.g. ErrJobLost); may be nil
}

// Unwrap returns the cause, if any.
func (e *FaultError) Unwrap() error { return e.Err }

func (e *FaultError) Error() string {
	zh := make([]string, 0, len(e.Faults))
	en := make([]string, 0, len(e.Faults))
	for _, f := range e.Faults {
		zh = append(zh, f.Zh())
		en = append(en, f.En())
	}
	return "打印机 " + e.Printer + " 故障: " + strings.Join(zh, "、") + " / printer " + e.Printer +
		" fault: " + strings.Join(en, ", ")
}

// Is matches ErrFault, and ErrNoAnswer when the printer did not answer.
func (e *FaultError) Is(target error) bool {
	if target == ErrFault {
		return true
	}
	if target == ErrNoAnswer {
		for _, f := range e.Faults {
			if f == FaultNoAnswer {
				return true
			}
		}
	}
	return false
}
