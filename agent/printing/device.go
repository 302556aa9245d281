package printing

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"wedge/agent/journal"
	"wedge/agent/printing/labels"
	"wedge/agent/printing/printjob"
	"wedge/drivers/printer"
	"wedge/internal/clock"
	"wedge/internal/logging"
	"wedge/order"
	"wedge/sync/wire"
)

// cancelTimeout bounds the cancel of a failed job (the printer is in a fault: it may not answer).
const cancelTimeout = 5 * time.Second

// device is a station's printer I/O and fault state: it renders, sends and confirms labels, cancels
// a failed job still in the printer, and keeps the printer's faults (raised by a failed job,
// cleared by the next confirmed one) for the status, the console and the journal.
type device struct {
	station string
	p       Printer
	stock   labels.Stock
	confirm printer.ConfirmOptions
	store   *journal.Store // journals the end of a fault
	clk     clock.Clock
	log     *slog.Logger
	onEvent func(Event)

	mu         sync.Mutex
	faults     []printer.Fault
	faultSince time.Time
	jobs       uint64
	lastJob    string
}

// send renders the label of order o carrying waybill wb, prints it and waits for the printer's
// confirmation (see answered).
func (d *device) send(ctx context.Context, o order.Order, wb string) printjob.Result {
	b, err := d.stock.Render(o, wb, d.p.Language())
	if err != nil {
		return printjob.Result{Printer: d.p.String(), Err: err}
	}
	job, err := d.p.Print(ctx, b)
	var st printer.Status
	if err == nil {
		d.count(job)
		st, err = printer.Confirm(ctx, d.p, job, &d.confirm)
	}
	return d.answered(ctx, o.ID, job, st, err)
}

// forwarded takes the printer's answer to a job the station's proxy forwarded, like send's own.
func (d *device) forwarded(job string, st printer.Status, err error) printjob.Result {
	if job != "" {
		d.count(job)
	}
	return d.answered(context.Background(), "", job, st, err)
}

func (d *device) count(job string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.jobs++
	d.lastJob = job
}

// answered keeps the fault state after the printer answered job (for orderID, if known) and
// cancels the job in the printer when it failed with a fault.
func (d *device) answered(ctx context.Context, orderID, job string, st printer.Status, err error) printjob.Result {
	d.observe(orderID, job, st, err)
	return d.cancelHeld(ctx, printjob.Result{Job: job, Printer: d.p.String(), Status: st, Err: err})
}

// cancelHeld makes sure a job that failed with a printer fault does not come out unseen after the
// fault is cleared (a duplicate of the rescan's label): a printer.Canceller drops every job it
// holds (ZPL ~JA). A printer that cannot (TSPL: no confirmed cancel command) or did not confirm it
// leaves the job possibly printing later; the operator is told to check and scan the label back.
func (d *device) cancelHeld(ctx context.Context, r printjob.Result) printjob.Result {
	if r.Job == "" || !printjob.IsFault(r.Err) {
		return r
	}
	c, ok := d.p.(printer.Canceller)
	if !ok {
		r.Why = "this printer cannot cancel jobs"
		return r
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelTimeout)
	defer cancel()
	if err := c.Cancel(cctx); err != nil {
		r.Why = err.Error()
		d.log.Warn("failed job may still print: not cancelled", "job", r.Job, logging.Err(err))
		return r
	}
	r.Cancelled = true
	d.log.Info("failed job and every other job in the printer cancelled", "job", r.Job)
	return r
}

// observe keeps the fault state after a job: a fault raises it, a confirmed job clears it. Both
// are passed to onEvent; the end of a fault is journaled (its start is the printer_fault rejection).
func (d *device) observe(orderID, job string, st printer.Status, err error) {
	now := d.clk.Now().UTC()
	name := d.p.String()
	var ev *Event
	var was []printer.Fault
	var since time.Time
	d.mu.Lock()
	switch {
	case err == nil:
		if len(d.faults) > 0 {
			was, since = d.faults, d.faultSince
			ev = &Event{Cleared: true, Message: order.NoticePrinterRecovered.Message(order.NoticeArgs{Printer: name})}
		}
		d.faults, d.faultSince = nil, time.Time{}
	case printjob.IsFault(err):
		faults := printjob.Faults(st, err)
		if len(d.faults) == 0 {
			d.faultSince = now
		}
		d.faults = faults
		ev = &Event{Faults: slices.Clone(faults), Message: printjob.FaultMessage(name, faults)}
	}
	d.mu.Unlock()
	if ev == nil {
		return
	}
	ev.Station, ev.Printer, ev.OrderID, ev.Job, ev.At = d.station, name, orderID, job, now
	if ev.Cleared {
		d.log.Info("printer fault cleared", "job", job, "faults", printjob.Names(was).EN)
	} else {
		d.log.Warn("printer fault", logging.KeyOrder, orderID, "job", job, "faults", printjob.Names(ev.Faults).EN, logging.Err(err))
	}
	if d.onEvent != nil {
		d.onEvent(*ev)
	}
	if ev.Cleared {
		d.journalCleared(was, since, job, now)
	}
}

// journalCleared leaves a trace of a fault's end: a note about the printer, no order.
func (d *device) journalCleared(was []printer.Fault, since time.Time, job string, now time.Time) {
	names := printjob.Names(was)
	e := order.Source{Station: d.station, Device: d.p.String(), Trigger: wire.TriggerPrint, At: now}.Entry()
	e.Kind, e.Job = wire.KindNote, job
	e.Detail = fmt.Sprintf("printer fault cleared: %s / %s (since %s); job confirmed", names.ZH, names.EN, wire.Time(since))
	ctx, cancel := context.WithTimeout(context.Background(), journalTimeout)
	defer cancel()
	if err := d.store.Do(ctx, func(tx *journal.Tx) error { tx.Commit(order.Decision{Entry: e}); return nil }); err != nil {
		d.log.Error("printer fault cleared: not journaled", "job", job, logging.Err(err))
	}
}

// status is the printer's part of the station's status.
func (d *device) status() PrinterStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	name := d.p.String()
	st := PrinterStatus{Station: d.station, Printer: name, Language: d.p.Language(),
		OK: len(d.faults) == 0, Faults: slices.Clone(d.faults), Jobs: d.jobs, LastJob: d.lastJob}
	if len(d.faults) > 0 {
		m := printjob.FaultMessage(name, d.faults)
		st.Message = &m
		st.FaultSince = wire.Time(d.faultSince)
	}
	return st
}
