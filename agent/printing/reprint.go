package printing

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"wedge/agent/journal"
	"wedge/agent/printing/printjob"
	"wedge/agent/printing/scanback"
	"wedge/agent/station"
	"wedge/order"
	"wedge/order/waybill"
	"wedge/sync/wire"
)

// ReprintRequest is an explicit reprint of an order's label.
type ReprintRequest struct {
	Code     string // order id, channel order no or waybill
	Operator string
	Note     string // why (optional)
	Device   string // who asked: "" = station.DeviceAPI
}

// Reprint prints the label of an order that was already printed (or whose label waits for its
// scan-back) again, and journals it as a reprint entry (trigger manual) after the printer confirmed
// it; a fault is journaled as a rejection printer_fault. The order's state does not change. An
// unknown code returns a Result with ErrNotFound and journals nothing.
func (s *Station) Reprint(ctx context.Context, req ReprintRequest) station.Result {
	now := s.clk.Now().UTC()
	if req.Device == "" {
		req.Device = station.DeviceAPI
	}
	code := strings.TrimSpace(req.Code)
	res := station.Result{Station: s.cfg.Station, Device: req.Device, Code: code, Operator: strings.TrimSpace(req.Operator), At: now}
	o, ok, err := s.store.FindOrder(code)
	if err != nil {
		return station.Failed(res, err)
	}
	if !ok {
		return notFound(res, code)
	}
	src := order.Source{Station: s.cfg.Station, Device: req.Device, Operator: res.Operator, Trigger: wire.TriggerManual, Code: order.Excerpt(code, order.MaxExcerpt), At: now}
	return s.reprint(ctx, res, src, o.ID, req)
}

// notFound is res for a code no order has: ErrNotFound, nothing journaled.
func notFound(res station.Result, code string) station.Result {
	res = station.Failed(res, fmt.Errorf("%w: %q", ErrNotFound, code))
	res.Outcome.Reason = order.ReasonUnknownOrder
	res.Message = order.ReasonUnknownOrder.Message("")
	return res
}

// reprint prints the label of order orderID again, if it was printed or waits for its scan-back.
func (s *Station) reprint(ctx context.Context, res station.Result, src order.Source, orderID string, req ReprintRequest) station.Result {
	o, ok, err := s.store.Order(orderID)
	if err != nil || !ok {
		return station.Failed(res, fmt.Errorf("%w: %q (%v)", ErrNotFound, orderID, err))
	}
	wb, waiting, ok := reprintable(o, s.book)
	if !ok {
		return station.Commit(ctx, s.store, res, func(*journal.Tx) station.Decision {
			r := order.ReasonWrongState
			if o.State == order.Cancelled {
				r = order.ReasonCancelled
			}
			return station.Refuse(o, r, "", "reprint: only a printed order's label is reprinted; scan the order code to print it", src)
		})
	}
	r := s.dev.send(ctx, o, wb)
	src = onPrinter(src, r)
	res.Device = src.Device
	jctx, cancel := detached(ctx)
	defer cancel()
	if r.Failed() {
		return s.failed(jctx, res, src, o, wb, r, "reprint: ")
	}
	if waiting && o.State == order.PendingAllocation {
		s.book.Await(wb, scanback.Label{OrderID: o.ID, Job: r.Job, At: s.clk.Now()})
	}
	return station.Commit(jctx, s.store, res, func(*journal.Tx) station.Decision { return reprinted(o, wb, r, req.Note, src) })
}

// reprintable is the waybill whose label of order o is reprinted: the printed one, or the assigned
// one while its label waits for its scan-back in book (waiting). ok is false for an order without
// a label.
func reprintable(o order.Order, book *scanback.Book) (wb string, waiting, ok bool) {
	assigned := waybill.Normalize(o.AssignedWaybill)
	_, waiting = book.Waiting(assigned)
	if o.State == order.PendingAllocation && waiting {
		return assigned, true, true
	}
	wb = waybill.Normalize(o.Waybill)
	return wb, waiting, (o.State == order.WaybillPrinted || o.State == order.PickedUp) && wb != ""
}

// reprinted is the reprint entry of order o's label wb, sent as r, with the operator's note. The
// order does not change.
func reprinted(o order.Order, wb string, r printjob.Result, note string, src order.Source) station.Decision {
	detail, n := "label reprinted, confirmed by the printer's status", order.NoticeReprinted
	if r.NoStatus() {
		detail, n = "label sent again; this printer has no status query: check that it came out", order.NoticeReprintSent
	}
	if note = strings.TrimSpace(note); note != "" {
		detail += "; note: " + note
	}
	d := station.Note(o, wb, detail, n.Message(order.NoticeArgs{Waybill: wb}), src)
	d.Entry.Kind, d.Entry.Job = wire.KindReprint, r.Job
	return d
}

// armReprint journals the reprint command and arms it for the pair window.
func (s *Station) armReprint(ctx context.Context, res station.Result, src order.Source) station.Result {
	msg := order.NoticeReprintArmed.Message(order.NoticeArgs{Seconds: int(s.cfg.PairWindow.Seconds())})
	res = station.Commit(ctx, s.store, res, func(*journal.Tx) station.Decision {
		return station.Note(order.Order{}, "", "reprint command scanned: the next order code within the pair window reprints its label", msg, src)
	})
	if res.Err == nil {
		s.reprints.arm(src.At)
	}
	return res
}

// latch is the reprint command, armed until the next order code or the end of its window.
type latch struct {
	mu sync.Mutex
	at time.Time // zero: not armed
}

func (l *latch) arm(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.at = now
}

// take disarms the latch and reports whether it was armed within window before now.
func (l *latch) take(now time.Time, window time.Duration) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	at := l.at
	l.at = time.Time{}
	return !at.IsZero() && now.Sub(at) <= window
}
