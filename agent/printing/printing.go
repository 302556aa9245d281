// Package printing is the agent side of waybill printers: the print station flow with a printer,
// explicit reprints, printer faults for the status API and the console. Its sub-packages hold the
// rest: labels (what a label carries, rendered), printjob (what became of a job), scanback (labels
// confirmed by the scan of their barcode) and proxyjobs (jobs other software prints through the
// station's proxy).
//
// Print station flow (Station.Handle, called by agent/station on the station's goroutine for every
// read except operator badges):
//
//   - order code (order id or channel order no) of an order in 待分仓 with a waybill assigned by
//     the hub → the label is rendered in the printer's language (size and dpi from the config and
//     the profile), sent, and confirmed by the printer's status (printer.Confirm); only then, in
//     one journal Do, order.Decide(print, assigned waybill) → a step entry with trigger print, device
//     = the printer's name and job = the printer's job id.
//   - no waybill yet → rejection no_waybill, journaled; nothing is sent.
//   - a printer fault (paper out, head open, no answer, a lost job, a confirmation timeout) → a
//     rejection printer_fault whose detail lists the faults (Chinese / English); the order stays
//     待分仓, the fault shows in Status (the agent status API) and is passed to Options.OnEvent
//     (the console's popup). It is cleared by the next confirmed job.
//   - after a printer fault the failed job may still sit in the printer and come out once the
//     fault is cleared, unseen, next to the rescan's label. A printer.Canceller (ZPL: ~JA) drops
//     every job it holds and the message says no label came out. A printer that cannot (TSPL: no
//     confirmed cancel command, UNCERTAIN) or did not confirm it: the message (zh/en) asks to check
//     whether the label came out and, if so, to scan its waybill (scan-back, accepted for that
//     order within the pair window from the fault, trigger scan, nothing printed again),
//     otherwise to scan the order again, which prints again.
//   - a repeat scan of an order already printed never prints again: AlreadyDone, a note entry,
//     nothing is sent. A reprint is explicit: the reprint command barcode (Config.ReprintCode,
//     default "REPRINT") followed within the pair window by the order code, or Reprint (the API).
//     A confirmed reprint is journaled as a reprint entry.
//
// Printers without a status query (their profile lists none) confirm by scan-back: the label is
// sent and a note is journaled; the order stays 待分仓 until the operator scans the printed label's
// waybill at the same station within the pair window, which moves it to 已打单 with trigger scan
// (the device is the scanner, the job the one that was sent). A scan after the window is rejected
// with pairing_expired; scanning the order code again while a label waits for its scan-back does
// not print again (use the reprint command).
//
// Every result is returned (Handle, Reprint) or reported (Options.OnResult, for the proxy) only
// after its journal entry committed.
package printing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"wedge/agent/journal"
	"wedge/agent/printing/labels"
	"wedge/agent/printing/proxyjobs"
	"wedge/agent/printing/scanback"
	"wedge/agent/station"
	"wedge/drivers/printer"
	"wedge/drivers/printer/label"
	"wedge/internal/clock"
	"wedge/internal/logging"
	"wedge/order"
)

// Sentinel errors. Match them with errors.Is.
var (
	// ErrConfig means a Config is incomplete or invalid.
	ErrConfig = errors.New("printing: invalid configuration")
	// ErrNotFound means no order has that code.
	ErrNotFound = errors.New("printing: order not found")
	// ErrNoWaybill means the order has no waybill yet (neither assigned nor bound).
	ErrNoWaybill = labels.ErrNoWaybill
	// ErrNoPrinter means no printer station fits the request.
	ErrNoPrinter = errors.New("printing: no printer station for this request")
	// ErrProxy means the station's proxy could not start or is already running.
	ErrProxy = errors.New("printing: proxy")
)

// Defaults.
const (
	DefaultReprintCode = "REPRINT"
	DefaultPairWindow  = 30 * time.Second
	DefaultDPI         = labels.DefaultDPI
	// journalTimeout bounds the journal commit that records a job whose caller's context ended
	// (the label may have come out: the trace must not be lost with the context).
	journalTimeout = 10 * time.Second
)

// Printer is what a station prints on: a printer that tells its language. *printer.Device fits.
type Printer interface {
	printer.Printer
	Language() string // zpl | tspl
}

// Config is one print station with a printer.
type Config struct {
	Station     string        // the station's name (required)
	Printer     Printer       // required; not closed by Close (its opener closes it)
	Size        label.Size    // label stock; zero: 76×130 mm
	DPI         int           // the printer's resolution (profile); 0: 203
	ReprintCode string        // reprint command barcode; "": DefaultReprintCode
	PairWindow  time.Duration // scan-back and reprint-command window; 0: DefaultPairWindow
	// Confirm tunes printer.Confirm; nil: its defaults with Options.Clock.
	Confirm *printer.ConfirmOptions
}

// Options are a station's dependencies. The zero value is valid.
type Options struct {
	Clock  clock.Clock  // nil: the real clock
	Logger *slog.Logger // nil: silent
	// OnEvent receives printer faults and their clearing (for the console). It must not block.
	OnEvent func(Event)
	// OnResult receives the results of proxied jobs (one per waybill, after commit), which have
	// no caller to return them to. It must not block.
	OnResult func(station.Result)
}

// Event is a printer fault raised or cleared.
type Event struct {
	Station string          `json:"station"`
	Printer string          `json:"printer"`
	Faults  []printer.Fault `json:"faults,omitempty"` // empty when Cleared
	Cleared bool            `json:"cleared,omitempty"`
	Message order.Message   `json:"message"`
	OrderID string          `json:"order_id,omitempty"` // the order whose label failed, if any
	Job     string          `json:"job,omitempty"`
	At      time.Time       `json:"at"`
}

// PrinterStatus is one printer in the agent status.
type PrinterStatus struct {
	Station     string          `json:"station"`
	Printer     string          `json:"printer"`
	Language    string          `json:"language"`
	OK          bool            `json:"ok"` // no fault since the last confirmed job
	Faults      []printer.Fault `json:"faults,omitempty"`
	Message     *order.Message  `json:"message,omitempty"` // the fault for the operator
	FaultSince  string          `json:"fault_since,omitempty"`
	Jobs        uint64          `json:"jobs"`               // jobs sent by this agent (station and proxy)
	LastJob     string          `json:"last_job,omitempty"` // the printer's id of the last job sent
	Proxy       string          `json:"proxy,omitempty"`    // the proxy's listening address
	WaitingScan int             `json:"waiting_scan_back"`  // labels sent, waiting for their scan-back
}

// Station is a print station's printer side: the station flow and reprints over its printer
// (device), whose labels without a confirmation wait in a scan-back book. Its methods are safe for
// concurrent use.
type Station struct {
	cfg      Config
	store    *journal.Store
	clk      clock.Clock
	opts     Options
	dev      *device
	book     *scanback.Book
	reprints latch

	mu sync.Mutex
	px *proxyjobs.Proxy
}

// New returns the printer side of a print station.
func New(cfg Config, store *journal.Store, opts *Options) (*Station, error) {
	if opts == nil {
		opts = &Options{}
	}
	switch {
	case cfg.Station == "":
		return nil, fmt.Errorf("%w: empty station name", ErrConfig)
	case cfg.Printer == nil:
		return nil, fmt.Errorf("%w: station %s: no printer", ErrConfig, cfg.Station)
	case store == nil:
		return nil, fmt.Errorf("%w: station %s: no journal store", ErrConfig, cfg.Station)
	}
	stock := labels.Stock{Size: cfg.Size, DPI: cfg.DPI}.OrDefault()
	cfg.Size, cfg.DPI = stock.Size, stock.DPI
	if cfg.ReprintCode == "" {
		cfg.ReprintCode = DefaultReprintCode
	}
	if cfg.PairWindow <= 0 {
		cfg.PairWindow = DefaultPairWindow
	}
	// Fail now, not at the first scan, when the label cannot be made for this printer.
	if _, err := stock.Render(order.Order{}, "SF1234567890123", cfg.Printer.Language()); err != nil {
		return nil, fmt.Errorf("%w: station %s: %w", ErrConfig, cfg.Station, err)
	}
	clk := clock.Or(opts.Clock)
	var confirm printer.ConfirmOptions
	if cfg.Confirm != nil {
		confirm = *cfg.Confirm
	}
	if confirm.Clock == nil {
		confirm.Clock = clk
	}
	s := &Station{cfg: cfg, store: store, clk: clk, opts: *opts,
		dev: &device{station: cfg.Station, p: cfg.Printer, stock: stock, confirm: confirm, store: store, clk: clk, onEvent: opts.OnEvent,
			log: logging.Or(opts.Logger).With(logging.KeyStation, cfg.Station, logging.KeyDevice, cfg.Printer.String())},
		book: scanback.New(store, scanback.Config{Window: cfg.PairWindow, Printer: cfg.Printer.String(), Command: cfg.ReprintCode}),
	}
	return s, nil
}

// Name is the station's name.
func (s *Station) Name() string { return s.cfg.Station }

// Printer is the station's printer.
func (s *Station) Printer() Printer { return s.cfg.Printer }

// Status is the printer's state as this agent last saw it.
func (s *Station) Status() PrinterStatus {
	st := s.dev.status()
	st.WaitingScan = s.book.Len()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.px != nil {
		st.Proxy = s.px.Addr()
	}
	return st
}

// Close stops the station's proxy, if any, waiting for its jobs' confirmations until ctx ends. It
// does not close the printer.
func (s *Station) Close(ctx context.Context) error {
	s.mu.Lock()
	px := s.px
	s.mu.Unlock()
	if px == nil {
		return nil
	}
	return px.Stop(ctx)
}

// StartProxy starts the station's print proxy on listen (host:port): jobs that third-party
// software prints through it are forwarded byte for byte and journaled by proxyjobs. filter, if not
// nil, selects the barcodes that are waybill numbers. Close stops it.
func (s *Station) StartProxy(listen string, filter *regexp.Regexp) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.px != nil {
		return "", fmt.Errorf("%w: station %s: already running on %s", ErrProxy, s.cfg.Station, s.px.Addr())
	}
	px, err := proxyjobs.Start(s.store,
		proxyjobs.Config{Station: s.cfg.Station, Printer: s.cfg.Printer, Listen: listen, Filter: filter, Confirm: s.dev.confirm, Window: s.cfg.PairWindow},
		proxyjobs.Options{Clock: s.clk, Logger: s.opts.Logger, Done: s.dev.forwarded, Book: s.book, OnResult: s.opts.OnResult})
	if err != nil {
		return "", fmt.Errorf("%w: station %s: %w", ErrProxy, s.cfg.Station, err)
	}
	s.px = px
	return px.Addr(), nil
}

// detached is ctx without its cancellation, bounded by journalTimeout: a job was sent, so its
// outcome is journaled even when the caller stopped waiting.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), journalTimeout)
}
