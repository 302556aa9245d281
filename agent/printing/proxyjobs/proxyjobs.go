// Package proxyjobs journals the jobs that third-party software prints through a print station's
// proxy (drivers/printer/proxy forwards them byte for byte): once the printer answered a job, every
// waybill found in it advances the order it is bound or assigned to (trigger print, device the
// printer, job the printer's job id), or is journaled as a rejection. A job on a printer without
// status leaves its label to the scan-back.
package proxyjobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"wedge/agent/journal"
	"wedge/agent/printing/printjob"
	"wedge/agent/printing/scanback"
	"wedge/agent/station"
	"wedge/drivers/printer"
	"wedge/drivers/printer/proxy"
	"wedge/internal/clock"
	"wedge/internal/logging"
	"wedge/order"
	"wedge/order/waybill"
	"wedge/sync/wire"
)

// ErrConfig means a Config or Options is incomplete.
var ErrConfig = errors.New("proxyjobs: invalid configuration")

// journalTimeout bounds the commits of one job's waybills (the job printed: its trace must not be
// lost because nobody waits for it).
const journalTimeout = 10 * time.Second

// Config is one station's proxy.
type Config struct {
	Station string          // the station's name (required)
	Printer printer.Printer // the station's printer, which the jobs go to (required)
	Listen  string          // host:port to listen on
	Filter  *regexp.Regexp  // selects the barcodes that are waybill numbers; nil: every Code 128/39
	Confirm printer.ConfirmOptions
	Window  time.Duration // the station's scan-back window, for the operator's messages
}

// Options are the proxy's dependencies.
type Options struct {
	Clock  clock.Clock  // nil: the real clock
	Logger *slog.Logger // nil: silent
	// Done takes the printer's answer to every forwarded job before its waybills are journaled
	// (agent/printing counts the job, keeps the printer's fault state and cancels a failed job
	// still in the printer) and says what became of it. Required.
	Done func(job string, st printer.Status, err error) printjob.Result
	// Book keeps the labels of a printer without status until their scan-back. Required.
	Book *scanback.Book
	// OnResult receives every waybill's result after its commit. It must not block.
	OnResult func(station.Result)
}

// Proxy is a station's running print proxy.
type Proxy struct {
	store *journal.Store
	cfg   Config
	opts  Options
	clk   clock.Clock
	log   *slog.Logger
	px    *proxy.Proxy
}

// Start starts the station's proxy on cfg.Listen. Stop stops it.
func Start(store *journal.Store, cfg Config, opts Options) (*Proxy, error) {
	if store == nil || cfg.Station == "" || cfg.Printer == nil || opts.Done == nil || opts.Book == nil {
		return nil, fmt.Errorf("%w: store, station, printer, Done and Book are required", ErrConfig)
	}
	p := &Proxy{store: store, cfg: cfg, opts: opts, clk: clock.Or(opts.Clock),
		log: logging.Or(opts.Logger).With(logging.KeyStation, cfg.Station, logging.KeyDevice, cfg.Printer.String())}
	co := cfg.Confirm
	px, err := proxy.New(cfg.Listen, cfg.Printer, &proxy.Options{Name: cfg.Station + "-proxy", Clock: p.clk, Logger: p.log,
		Filter: cfg.Filter, Confirm: &co, OnConfirmed: p.confirmed})
	if err != nil {
		return nil, err
	}
	p.px = px
	return p, nil
}

// Addr is the listening address.
func (p *Proxy) Addr() string { return p.px.Addr() }

// Stop stops the proxy, forwarding and journaling the jobs it accepted until ctx ends.
func (p *Proxy) Stop(ctx context.Context) error { return p.px.Stop(ctx) }

// confirmed journals a forwarded job's waybills once the printer answered it.
func (p *Proxy) confirmed(j proxy.Job, st printer.Status, err error) {
	r := p.opts.Done(j.PrinterJobID, st, err)
	if len(j.Waybills) == 0 {
		p.log.Warn("proxy job without a waybill: nothing journaled", "job", j.ID, "bytes", j.Bytes, "remote", j.Remote)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), journalTimeout)
	defer cancel()
	for _, code := range j.Waybills {
		res := p.waybill(ctx, j, code, r)
		if p.opts.OnResult != nil {
			p.opts.OnResult(res)
		}
		if res.Err != nil {
			p.log.Error("proxy job's waybill not journaled", "job", j.ID, "waybill", code, logging.Err(res.Err))
			continue
		}
		p.log.Info("proxy job's waybill journaled", "job", j.ID, "waybill", code, logging.KeyOrder, res.Outcome.Order.ID,
			"result", res.Outcome.Result.String(), "msg", res.Message.String())
	}
}

// waybill journals one waybill of job j, which ended as r.
func (p *Proxy) waybill(ctx context.Context, j proxy.Job, code string, r printjob.Result) station.Result {
	now := p.clk.Now().UTC()
	wb := waybill.Normalize(code)
	dev := p.cfg.Printer.String()
	res := station.Result{Station: p.cfg.Station, Device: dev, Code: wb, At: now}
	src := order.Source{Station: p.cfg.Station, Device: dev, Trigger: wire.TriggerPrint, Code: order.Excerpt(wb, order.MaxExcerpt), At: now}
	what := fmt.Sprintf("proxy job %s from %s", j.ID, j.Remote)
	res = station.Commit(ctx, p.store, res, func(tx *journal.Tx) station.Decision {
		d := p.decide(tx, wb, what, r, src)
		d.Entry.Job = j.PrinterJobID
		return d
	})
	if res.Err == nil && r.NoStatus() && res.Kind == wire.KindNote && res.Outcome.Order.ID != "" {
		p.opts.Book.Await(wb, scanback.Label{OrderID: res.Outcome.Order.ID, Job: j.PrinterJobID, At: now})
	}
	return res
}

// decide is what waybill wb, found in the job what that ended as r, does to the order it is bound
// to (a label printed before), else the one it is assigned to: a print step once the printer
// confirmed the job, a reprint of a printed order, a wait for the scan-back without status, a
// printer_fault rejection; unknown_waybill when no order has it.
func (p *Proxy) decide(tx *journal.Tx, wb, what string, r printjob.Result, src order.Source) station.Decision {
	o, ok := tx.OrderByWaybill(wb)
	if !ok {
		o, ok = tx.OrderByAssignedWaybill(wb)
	}
	switch {
	case !ok && r.Failed():
		return station.Refuse(order.Order{}, order.ReasonUnknownWaybill, wb, fmt.Sprintf("%s: no order has this waybill; the job failed: %v", what, r.Err), src)
	case !ok:
		return station.Refuse(order.Order{}, order.ReasonUnknownWaybill, wb, what+": no order has this waybill; the job still printed", src)
	case r.NoStatus() && o.State == order.PendingAllocation:
		return station.Note(o, wb, what+": label sent; this printer has no status query: waiting for the scan-back at the station",
			order.NoticeProxyLabelSent.Message(order.NoticeArgs{Waybill: wb}), src)
	case r.Failed():
		return r.Reject(o, wb, what+": ", p.cfg.Window, src)
	}
	d := station.Decide(o, order.Request{Action: order.ActPrint, Waybill: wb, At: src.At}, src)
	switch d.Outcome.Result {
	case order.Accepted:
		d.Entry.Detail = what + ": label confirmed by the printer's status"
		if r.NoStatus() {
			d.Entry.Detail = what + ": sent"
		}
	case order.AlreadyDone:
		d.Entry.Kind = wire.KindReprint
		d.Entry.Detail = what + ": the label was printed again by other software"
		m := order.NoticeProxyReprinted.Message(order.NoticeArgs{Waybill: wb})
		d.Message = &m
	default:
		d.Entry.Detail = what + ": the job still printed; " + d.Entry.Detail
	}
	return d
}
