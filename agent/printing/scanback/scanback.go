// Package scanback confirms printed labels by the scan of their barcode at the print station. A
// label sent to a printer without a status query, or whose failed job may still come out, waits in
// a Book; its scan-back within the pair window moves the order to 已打单 (trigger scan, the job that
// was sent), a later one is refused with pairing_expired.
package scanback

import (
	"context"
	"fmt"
	"sync"
	"time"

	"wedge/agent/journal"
	"wedge/agent/station"
	"wedge/order"
	"wedge/order/waybill"
)

// Label is a label waiting for its scan-back.
type Label struct {
	OrderID string
	Job     string    // the printer's job id
	At      time.Time // when it was sent
	// Fault: the job failed with a printer fault that could not be cancelled; its label may come
	// out late. Its scan-back is accepted like any other, and a rescan of the order code prints
	// again (the operator saw no label).
	Fault bool
}

// Config is a print station's scan-back rules.
type Config struct {
	Window  time.Duration // the scan-back window from the label's sending (required)
	Printer string        // the printer's name, for the journal
	Command string        // the reprint command barcode, for the operator's messages
}

// forget is how long a label never scanned back is kept.
const forget = 24 * time.Hour

// Book is a print station's labels waiting for their scan-back, by normalized waybill. Its methods
// are safe for concurrent use.
type Book struct {
	store *journal.Store
	cfg   Config

	mu      sync.Mutex
	waiting map[string]Label
}

// New returns an empty book whose scan-backs are journaled in store.
func New(store *journal.Store, cfg Config) *Book {
	return &Book{store: store, cfg: cfg, waiting: map[string]Label{}}
}

// Await records label l of waybill wb as waiting for its scan-back, replacing an earlier one. Labels
// never scanned back are forgotten after a day.
func (b *Book) Await(wb string, l Label) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, v := range b.waiting {
		if l.At.Sub(v.At) > forget {
			delete(b.waiting, k)
		}
	}
	b.waiting[waybill.Normalize(wb)] = l
}

// Waiting is the label of waybill wb waiting for its scan-back, if any.
func (b *Book) Waiting(wb string) (Label, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	l, ok := b.waiting[waybill.Normalize(wb)]
	return l, ok
}

// Settle stops waiting for label l of waybill wb, unless another label replaced it meanwhile.
func (b *Book) Settle(wb string, l Label) {
	b.mu.Lock()
	defer b.mu.Unlock()
	wb = waybill.Normalize(wb)
	if cur, ok := b.waiting[wb]; ok && cur == l {
		delete(b.waiting, wb)
	}
}

// Len is the number of labels waiting.
func (b *Book) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.waiting)
}

// Scan takes res.Code, a code that is no order's, at the print station: the barcode of a label
// waiting for its scan-back, or a rejection (unknown_waybill, unknown_code). It journals the
// outcome and returns res answered after the commit. src is the scan.
func (b *Book) Scan(ctx context.Context, res station.Result, src order.Source) station.Result {
	wb := waybill.Normalize(res.Code)
	l, ok := b.Waiting(wb)
	if !ok {
		return station.Commit(ctx, b.store, res, func(*journal.Tx) station.Decision {
			if _, ok := waybill.Detect(wb); ok {
				return station.Refuse(order.Order{}, order.ReasonUnknownWaybill, wb,
					"no order is bound to this waybill and no label waits for its scan-back here; scan the order code to print", src)
			}
			return station.Refuse(order.Order{}, order.ReasonUnknownCode, "", "neither an order, a waybill waiting for its scan-back, a badge nor the reprint command", src)
		})
	}
	res = station.Commit(ctx, b.store, res, func(tx *journal.Tx) station.Decision {
		o, ok := tx.Order(l.OrderID)
		if !ok {
			return station.Refuse(order.Order{ID: l.OrderID}, order.ReasonUnknownOrder, wb, "order vanished", src)
		}
		d := b.decide(o, l, wb, src)
		d.Entry.Job = l.Job
		return d
	})
	if res.Err == nil && res.Outcome.Reason != order.ReasonPairingExpired {
		// Settled (printed, or the order moved on): the label no longer waits. An expired one
		// keeps waiting, so that the order is not printed again without the reprint command.
		b.Settle(wb, l)
	}
	return res
}

// decide is the scan-back src of label l, waybill wb, for order o: printed within the window, or
// refused after it while the order still waits.
func (b *Book) decide(o order.Order, l Label, wb string, src order.Source) station.Decision {
	if age := src.At.Sub(l.At); age > b.cfg.Window && o.State == order.PendingAllocation {
		d := station.Refuse(o, order.ReasonPairingExpired, wb,
			fmt.Sprintf("scan-back of job %s came %s after the label was sent (window %s)", l.Job, age.Round(time.Second), b.cfg.Window), src)
		m := order.NoticeScanBackExpired.Message(order.NoticeArgs{Command: b.cfg.Command})
		d.Message = &m
		return d
	}
	d := station.Decide(o, order.Request{Action: order.ActPrint, Waybill: wb, Operator: src.Operator, At: src.At}, src)
	if d.Outcome.Result == order.Accepted {
		d.Entry.Detail = "label confirmed by scan-back (printer " + b.cfg.Printer + " has no status query)"
		if l.Fault {
			d.Entry.Detail = "label of job " + l.Job + " came out after the printer fault and was confirmed by scan-back; nothing printed again"
		}
	}
	return d
}
