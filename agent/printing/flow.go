package printing

import (
	"context"
	"fmt"
	"strings"

	"wedge/agent/journal"
	"wedge/agent/printing/printjob"
	"wedge/agent/printing/scanback"
	"wedge/agent/station"
	"wedge/drivers/scanner"
	"wedge/order"
	"wedge/order/waybill"
	"wedge/sync/wire"
)

// Handle processes one read at the print station (see the package doc) and returns its result
// after the journal commit. operator is the signed-in operator ("" if none).
func (s *Station) Handle(ctx context.Context, r scanner.Read, operator string) station.Result {
	now := s.clk.Now().UTC()
	code := strings.TrimSpace(r.Text)
	src := order.Source{Station: s.cfg.Station, Device: r.Device, Operator: operator, Trigger: wire.TriggerScan, Code: order.Excerpt(code, order.MaxExcerpt), At: now}
	res := station.Result{Station: s.cfg.Station, Device: r.Device, Code: code, Operator: operator, At: now}

	if strings.EqualFold(code, s.cfg.ReprintCode) {
		return s.armReprint(ctx, res, src)
	}
	armed := s.reprints.take(now, s.cfg.PairWindow)
	o, found, err := s.store.FindOrder(code)
	switch {
	case err != nil:
		return station.Failed(res, err)
	case armed && !found:
		return station.Commit(ctx, s.store, res, func(*journal.Tx) station.Decision {
			return station.Refuse(order.Order{}, order.ReasonUnknownOrder, "", "reprint: no order with this code", src)
		})
	case armed:
		return s.reprint(ctx, res, src, o.ID, ReprintRequest{Code: code, Operator: operator, Device: r.Device})
	case !found:
		return s.book.Scan(ctx, res, src)
	}
	if wb := waybill.Normalize(code); wb != "" && wb == waybill.Normalize(o.Waybill) && code != o.ID {
		// The printed label's barcode of an order already printed: an idempotent repeat.
		return station.Commit(ctx, s.store, res, func(tx *journal.Tx) station.Decision {
			cur, ok := tx.Order(o.ID)
			if !ok {
				return station.Refuse(order.Order{}, order.ReasonUnknownOrder, wb, "order vanished", src)
			}
			return station.Decide(cur, order.Request{Action: order.ActPrint, Waybill: wb, At: now}, src)
		})
	}
	return s.print(ctx, res, src, o)
}

// print prints the label of order o (found by its code) if it is due, and journals the outcome.
func (s *Station) print(ctx context.Context, res station.Result, src order.Source, o order.Order) station.Result {
	wb := waybill.Normalize(o.AssignedWaybill)
	if o.State != order.PendingAllocation || wb == "" {
		return s.notDue(ctx, res, src, o)
	}
	// Refuse before printing what the flow would refuse after (e.g. a waybill invalid for the carrier).
	if pre := station.Decide(o, order.Request{Action: order.ActPrint, Waybill: wb, At: src.At}, src); pre.Outcome.Result != order.Accepted {
		return station.Commit(ctx, s.store, res, func(*journal.Tx) station.Decision { return pre })
	}
	if l, ok := s.book.Waiting(wb); ok && l.OrderID == o.ID {
		if !l.Fault {
			return s.awaiting(ctx, res, src, o, wb, l)
		}
		// After a fault whose job could not be cancelled, the operator saw no label and scans
		// the order again (as the fault message says): print again. Should the old label still
		// come out after all, it is a second copy of the same waybill: the residual risk of a
		// printer with no cancel command (TSPL, UNCERTAIN), which the message asks to check first.
		s.book.Settle(wb, l)
	}
	r := s.dev.send(ctx, o, wb)
	jctx, cancel := detached(ctx)
	defer cancel()
	switch {
	case r.Err == nil:
		return s.printed(jctx, res, onPrinter(src, r), o, wb, r.Job)
	case r.NoStatus():
		return s.sent(jctx, res, onPrinter(src, r), o, wb, r.Job)
	}
	return s.failed(jctx, res, onPrinter(src, r), o, wb, r, "")
}

// onPrinter is src with the printer as its device: a printer's answer is the printer's entry.
func onPrinter(src order.Source, r printjob.Result) order.Source {
	src.Device = r.Printer
	return src
}

// notDue journals the scan of an order whose label is not due: printed already (a repeat, nothing
// printed again), or a state or a missing waybill the flow refuses.
func (s *Station) notDue(ctx context.Context, res station.Result, src order.Source, o order.Order) station.Result {
	return station.Commit(ctx, s.store, res, func(tx *journal.Tx) station.Decision {
		cur, ok := tx.Order(o.ID)
		if !ok {
			cur = o
		}
		d := station.Decide(cur, order.Request{Action: order.ActPrint, At: src.At}, src)
		if d.Outcome.Result == order.AlreadyDone {
			d.Entry.Detail = "already printed: repeat scan, nothing sent to the printer"
			m := order.NoticeAlreadyPrinted.Message(order.NoticeArgs{Waybill: cur.Waybill, Command: s.cfg.ReprintCode})
			d.Message = &m
		}
		return d
	})
}

// awaiting journals a repeat scan of order o whose label l (waybill wb) waits for its scan-back:
// nothing is sent again.
func (s *Station) awaiting(ctx context.Context, res station.Result, src order.Source, o order.Order, wb string, l scanback.Label) station.Result {
	msg := order.NoticeAwaitingScanBack.Message(order.NoticeArgs{Waybill: wb, Command: s.cfg.ReprintCode})
	return station.Commit(ctx, s.store, res, func(*journal.Tx) station.Decision {
		d := station.Note(o, wb, "repeat scan while the label waits for its scan-back: nothing sent again", msg, src)
		d.Outcome.Result = order.AlreadyDone
		d.Entry.Job = l.Job
		return d
	})
}

// printed journals the print step of order o, whose label wb the printer confirmed as job.
func (s *Station) printed(ctx context.Context, res station.Result, src order.Source, o order.Order, wb, job string) station.Result {
	src.Trigger = wire.TriggerPrint
	res.Device = src.Device
	return station.Commit(ctx, s.store, res, func(tx *journal.Tx) station.Decision {
		cur, ok := tx.Order(o.ID)
		if !ok {
			return station.Refuse(o, order.ReasonUnknownOrder, wb, "order vanished", src)
		}
		d := station.Decide(cur, order.Request{Action: order.ActPrint, Waybill: wb, Operator: src.Operator, At: s.clk.Now().UTC()}, src)
		d.Entry.Job = job
		if d.Outcome.Result == order.Accepted {
			d.Entry.Detail = "label confirmed by the printer's status"
		} else {
			d.Entry.Detail = fmt.Sprintf("label printed (job %s) but the order changed meanwhile: %s", job, d.Entry.Detail)
		}
		return d
	})
}

// sent journals label wb of order o, sent as job to a printer without status; it waits for its
// scan-back.
func (s *Station) sent(ctx context.Context, res station.Result, src order.Source, o order.Order, wb, job string) station.Result {
	l := scanback.Label{OrderID: o.ID, Job: job, At: s.clk.Now()}
	s.book.Await(wb, l)
	msg := order.NoticeLabelSent.Message(order.NoticeArgs{Waybill: wb, Seconds: int(s.cfg.PairWindow.Seconds())})
	res = station.Commit(ctx, s.store, res, func(*journal.Tx) station.Decision {
		d := station.Note(o, wb, "label sent; this printer has no status query: waiting for the scan-back of the printed label", msg, src)
		d.Entry.Job = job
		return d
	})
	if res.Err != nil {
		s.book.Settle(wb, l)
	}
	return res
}

// failed journals the printer_fault rejection of order o's label wb, whose job ended as r; what
// prefixes the detail. While the order waits, a label that may still come out waits for its
// scan-back.
func (s *Station) failed(ctx context.Context, res station.Result, src order.Source, o order.Order, wb string, r printjob.Result, what string) station.Result {
	res.Device = src.Device
	if r.MayPrint() && o.State == order.PendingAllocation {
		s.book.Await(wb, scanback.Label{OrderID: o.ID, Job: r.Job, At: s.clk.Now(), Fault: true})
	}
	return station.Commit(ctx, s.store, res, func(*journal.Tx) station.Decision { return r.Reject(o, wb, what, s.cfg.PairWindow, src) })
}
