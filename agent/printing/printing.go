// Package printing is the agent side of waybill printers (issue 3): the print station flow with a
// printer, explicit reprints, the print proxy's jobs turned into order steps, printer faults for
// the status API and the console, and the label of an order (for the printer and as a PNG).
//
// Print station flow (Station.Handle, called by agent/station on the station's goroutine for every
// read except operator badges):
//
//   - order code (order id or channel order no) of an order in 待分仓 with a waybill assigned by
//     the hub → the label is rendered in the printer's language (size and dpi from the config and
//     the profile), sent, and confirmed by the printer's status (printer.Confirm); only then, in
//     one journal Do, order.Apply(print, assigned waybill) → a step entry with trigger print, device
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
// Proxy (Station.StartProxy): jobs that third-party software prints through the station's proxy
// are forwarded byte for byte by drivers/printer/proxy; once the printer confirmed a job, every
// waybill found in it advances the order it is assigned or bound to (trigger print, device the
// printer, job the printer's job id). A waybill no order has is journaled as a rejection
// unknown_waybill: the job still printed. A job through a printer without status waits for a
// scan-back like above.
//
// Every result is returned (Handle, Reprint) or reported (Options.OnResult, for the proxy) only
// after its journal entry committed.
package printing

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"wedge/agent/journal"
	"wedge/agent/station"
	"wedge/drivers/printer"
	"wedge/drivers/printer/label"
	"wedge/drivers/printer/proxy"
	"wedge/drivers/scanner"
	"wedge/internal/clock"
	"wedge/internal/logging"
	"wedge/order"
	"wedge/order/waybill"
	"wedge/sync/wire"
)

// Sentinel errors. Match them with errors.Is.
var (
	// ErrConfig means a Config is incomplete or invalid.
	ErrConfig = errors.New("printing: invalid configuration")
	// ErrNotFound means no order has that code.
	ErrNotFound = errors.New("printing: order not found")
	// ErrNoWaybill means the order has no waybill yet (neither assigned nor bound).
	ErrNoWaybill = errors.New("printing: order has no waybill yet")
	// ErrNoPrinter means no printer station fits the request.
	ErrNoPrinter = errors.New("printing: no printer station for this request")
	// ErrProxy means the station's proxy could not start or is already running.
	ErrProxy = errors.New("printing: proxy")
)

// Defaults.
const (
	DefaultReprintCode = "REPRINT"
	DefaultPairWindow  = 30 * time.Second
	DefaultDPI         = 203
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
	Clock clock.Clock          // nil: the real clock
	Logf  func(string, ...any) // nil: silent
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

// Station is a print station's printer side. Its methods are safe for concurrent use.
type Station struct {
	cfg     Config
	store   *journal.Store
	clk     clock.Clock
	logf    func(string, ...any)
	onEvent func(Event)
	onRes   func(station.Result)
	confirm printer.ConfirmOptions

	mu         sync.Mutex
	faults     []printer.Fault
	faultSince time.Time
	jobs       uint64
	lastJob    string
	pending    map[string]scanBack // normalized waybill → label waiting for its scan-back
	reprintAt  time.Time           // when the reprint command was scanned (zero: not armed)
	px         *proxy.Proxy
}

type scanBack struct {
	orderID string
	job     string
	at      time.Time
	// fault: the job failed with a printer fault that could not be cancelled (TSPL); its label
	// may come out late. Its scan-back is accepted like above, and a rescan of the order code
	// prints again (the operator saw no label).
	fault bool
}

// held is what became of a failed job still in the printer.
type held struct {
	sent      bool   // the job reached the transport (else nothing can come out)
	cancelled bool   // the printer confirmed it dropped its buffered jobs (ZPL ~JA)
	why       string // when sent and not cancelled: why not
}

// mayPrint reports whether the failed job's label may still come out.
func (h held) mayPrint() bool { return h.sent && !h.cancelled }

// cancelTimeout bounds the cancel of a failed job (the printer is in a fault: it may not answer).
const cancelTimeout = 5 * time.Second

// cancelHeld makes sure the failed job does not come out unseen after the fault is cleared (a
// duplicate of the rescan's label): a printer.Canceller drops every job it holds (ZPL ~JA). A
// printer that cannot (TSPL: no confirmed cancel command) or did not confirm it leaves the job
// possibly printing later; the operator is told to check and scan the label back.
func (s *Station) cancelHeld(ctx context.Context, job string, err error) held {
	if job == "" || !isFault(err) {
		return held{sent: job != ""}
	}
	h := held{sent: true}
	c, ok := s.cfg.Printer.(printer.Canceller)
	if !ok {
		h.why = "this printer cannot cancel jobs"
		return h
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelTimeout)
	defer cancel()
	if cerr := c.Cancel(cctx); cerr != nil {
		h.why = cerr.Error()
		s.logf("printing %s: job %s may still print: %v", s.cfg.Station, job, cerr)
		return h
	}
	h.cancelled = true
	s.logf("printing %s: job %s and every other job in the printer cancelled", s.cfg.Station, job)
	return h
}

// isFault reports whether err is a printer fault (what observe raises), not a caller's or
// config's error.
func isFault(err error) bool {
	return err != nil && !errors.Is(err, printer.ErrNoStatus) && !errors.Is(err, context.Canceled) &&
		!errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, label.ErrWaybill) && !errors.Is(err, printer.ErrClosed)
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
	if cfg.Size == (label.Size{}) {
		cfg.Size = label.Size76x130
	}
	if cfg.DPI == 0 {
		cfg.DPI = DefaultDPI
	}
	if cfg.ReprintCode == "" {
		cfg.ReprintCode = DefaultReprintCode
	}
	if cfg.PairWindow <= 0 {
		cfg.PairWindow = DefaultPairWindow
	}
	// Fail now, not at the first scan, when the label cannot be made for this printer.
	if _, err := label.Render(label.Label{Waybill: "SF1234567890123"}, cfg.Size, cfg.DPI, cfg.Printer.Language()); err != nil {
		return nil, fmt.Errorf("%w: station %s: %w", ErrConfig, cfg.Station, err)
	}
	s := &Station{cfg: cfg, store: store, clk: clock.Or(opts.Clock), logf: opts.Logf, onEvent: opts.OnEvent,
		onRes: opts.OnResult, pending: map[string]scanBack{}}
	if s.logf == nil {
		s.logf = func(string, ...any) {}
	}
	if cfg.Confirm != nil {
		s.confirm = *cfg.Confirm
	}
	if s.confirm.Clock == nil {
		s.confirm.Clock = s.clk
	}
	return s, nil
}

// Name is the station's name.
func (s *Station) Name() string { return s.cfg.Station }

// Printer is the station's printer.
func (s *Station) Printer() Printer { return s.cfg.Printer }

// Status is the printer's state as this agent last saw it.
func (s *Station) Status() PrinterStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := PrinterStatus{Station: s.cfg.Station, Printer: s.cfg.Printer.String(), Language: s.cfg.Printer.Language(),
		OK: len(s.faults) == 0, Faults: slices.Clone(s.faults), Jobs: s.jobs, LastJob: s.lastJob, WaitingScan: len(s.pending)}
	if len(s.faults) > 0 {
		m := faultMessage(st.Printer, s.faults)
		st.Message = &m
		st.FaultSince = wire.Time(s.faultSince)
	}
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

// Handle processes one read at the print station (see the package doc) and returns its result
// after the journal commit. operator is the signed-in operator ("" if none).
func (s *Station) Handle(ctx context.Context, r scanner.Read, operator string) station.Result {
	now := s.clk.Now().UTC()
	code := strings.TrimSpace(r.Text)
	base := wire.Entry{Station: s.cfg.Station, Device: r.Device, Operator: operator, Trigger: wire.TriggerScan, Code: station.Excerpt(code), At: wire.Time(now)}
	res := station.Result{Station: s.cfg.Station, Device: r.Device, Code: code, Operator: operator, At: now}

	if strings.EqualFold(code, s.cfg.ReprintCode) {
		return s.armReprint(ctx, res, base, now)
	}
	armed := s.takeReprint(now)
	o, found, err := s.store.FindOrder(code)
	if err != nil {
		return failed(res, err)
	}
	if armed {
		if !found {
			return s.commit(ctx, res, func(*journal.Tx) decision {
				return reject(base, order.Order{}, order.ReasonUnknownOrder, "", "reprint: no order with this code")
			})
		}
		req := ReprintRequest{Code: code, Operator: operator, Device: r.Device}
		return s.reprint(ctx, res, base, o.ID, req)
	}
	if !found {
		return s.scanBack(ctx, res, base, code, now)
	}
	if wb := waybill.Normalize(code); wb != "" && wb == waybill.Normalize(o.Waybill) && code != o.ID {
		// The printed label's barcode of an order already printed: an idempotent repeat.
		return s.commit(ctx, res, func(tx *journal.Tx) decision {
			cur, ok := tx.Order(o.ID)
			if !ok {
				return reject(base, order.Order{}, order.ReasonUnknownOrder, wb, "order vanished")
			}
			return fromOutcome(base, order.Apply(cur, order.Request{Action: order.ActPrint, Waybill: wb, At: now}))
		})
	}
	return s.print(ctx, res, base, o, now)
}

// armReprint journals the reprint command and arms it for the pair window.
func (s *Station) armReprint(ctx context.Context, res station.Result, base wire.Entry, now time.Time) station.Result {
	secs := int(s.cfg.PairWindow.Seconds())
	msg := order.Message{
		ZH: fmt.Sprintf("补打模式：请在%d秒内扫描要补打的订单号", secs),
		EN: fmt.Sprintf("Reprint: scan the order code within %ds", secs),
	}
	res = s.commit(ctx, res, func(*journal.Tx) decision {
		e := base
		e.Kind = wire.KindNote
		e.Detail = "reprint command scanned: the next order code within the pair window reprints its label"
		return decision{out: order.Outcome{Result: order.Accepted}, entry: e, msg: &msg}
	})
	if res.Err == nil {
		s.mu.Lock()
		s.reprintAt = now
		s.mu.Unlock()
	}
	return res
}

func (s *Station) takeReprint(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	at := s.reprintAt
	s.reprintAt = time.Time{}
	return !at.IsZero() && now.Sub(at) <= s.cfg.PairWindow
}

// scanBack handles a code that is no order: the printed label of a job waiting for its scan-back,
// or a rejection.
func (s *Station) scanBack(ctx context.Context, res station.Result, base wire.Entry, code string, now time.Time) station.Result {
	wb := waybill.Normalize(code)
	s.mu.Lock()
	sb, waiting := s.pending[wb]
	s.mu.Unlock()
	if !waiting {
		return s.commit(ctx, res, func(*journal.Tx) decision {
			if _, ok := waybill.Detect(wb); ok {
				return reject(base, order.Order{}, order.ReasonUnknownWaybill, wb,
					"no order is bound to this waybill and no label waits for its scan-back here; scan the order code to print")
			}
			return reject(base, order.Order{}, order.ReasonUnknownCode, "", "neither an order, a waybill waiting for its scan-back, a badge nor the reprint command")
		})
	}
	res = s.commit(ctx, res, func(tx *journal.Tx) decision {
		o, ok := tx.Order(sb.orderID)
		if !ok {
			return reject(base, order.Order{ID: sb.orderID}, order.ReasonUnknownOrder, wb, "order vanished")
		}
		if age := now.Sub(sb.at); age > s.cfg.PairWindow && o.State == order.PendingAllocation {
			d := reject(base, o, order.ReasonPairingExpired, wb,
				fmt.Sprintf("scan-back of job %s came %s after the label was sent (window %s)", sb.job, age.Round(time.Second), s.cfg.PairWindow))
			d.entry.Job = sb.job
			d.msg = &order.Message{
				ZH: fmt.Sprintf("确认超时：请扫描 %s 再扫订单号重新打印，然后扫描新打出的面单", s.cfg.ReprintCode),
				EN: fmt.Sprintf("Confirmation timed out: scan %s, then the order code to print again, then scan the new label", s.cfg.ReprintCode),
			}
			return d
		}
		d := fromOutcome(base, order.Apply(o, order.Request{Action: order.ActPrint, Waybill: wb, Operator: base.Operator, At: now}))
		d.entry.Job = sb.job
		if d.out.Result == order.Accepted {
			d.entry.Detail = "label confirmed by scan-back (printer " + s.cfg.Printer.String() + " has no status query)"
			if sb.fault {
				d.entry.Detail = "label of job " + sb.job + " came out after the printer fault and was confirmed by scan-back; nothing printed again"
			}
		}
		return d
	})
	if res.Err == nil && res.Outcome.Reason != order.ReasonPairingExpired {
		// Settled (printed, or the order moved on): the label no longer waits. An expired one
		// keeps waiting, so that the order is not printed again without the reprint command.
		s.mu.Lock()
		if cur, ok := s.pending[wb]; ok && cur == sb {
			delete(s.pending, wb)
		}
		s.mu.Unlock()
	}
	return res
}

// await records a label sent to a printer without status, waiting for its scan-back. Entries of
// labels never scanned back are dropped after a day.
func (s *Station) await(wb string, sb scanBack) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.pending {
		if sb.at.Sub(v.at) > 24*time.Hour {
			delete(s.pending, k)
		}
	}
	s.pending[wb] = sb
}

// print prints the label of order o (found by its code) if it is due, and journals the outcome.
func (s *Station) print(ctx context.Context, res station.Result, base wire.Entry, o order.Order, now time.Time) station.Result {
	wb := waybill.Normalize(o.AssignedWaybill)
	if o.State != order.PendingAllocation || wb == "" {
		return s.commit(ctx, res, func(tx *journal.Tx) decision {
			cur, ok := tx.Order(o.ID)
			if !ok {
				cur = o
			}
			d := fromOutcome(base, order.Apply(cur, order.Request{Action: order.ActPrint, At: now}))
			if d.out.Result == order.AlreadyDone {
				d.entry.Detail = "already printed: repeat scan, nothing sent to the printer"
				d.msg = &order.Message{
					ZH: fmt.Sprintf("已打过单（面单 %s），未重复打印；如需补打请先扫描 %s 再扫订单号", cur.Waybill, s.cfg.ReprintCode),
					EN: fmt.Sprintf("Already printed (waybill %s), nothing printed again; to reprint scan %s, then the order code", cur.Waybill, s.cfg.ReprintCode),
				}
			}
			return d
		})
	}
	// Refuse before printing what the flow would refuse after (e.g. a waybill invalid for the carrier).
	if pre := order.Apply(o, order.Request{Action: order.ActPrint, Waybill: wb, At: now}); pre.Result != order.Accepted {
		return s.commit(ctx, res, func(*journal.Tx) decision { return fromOutcome(base, pre) })
	}
	s.mu.Lock()
	sb, waiting := s.pending[wb]
	s.mu.Unlock()
	if waiting && sb.orderID == o.ID && sb.fault {
		// After a fault whose job could not be cancelled, the operator saw no label and scans
		// the order again (as the fault message says): print again. Should the old label still
		// come out after all, it is a second copy of the same waybill: the residual risk of a
		// printer with no cancel command (TSPL, UNCERTAIN), which the message asks to check first.
		s.mu.Lock()
		if cur, ok := s.pending[wb]; ok && cur == sb {
			delete(s.pending, wb)
		}
		s.mu.Unlock()
	} else if waiting && sb.orderID == o.ID {
		msg := order.Message{
			ZH: fmt.Sprintf("面单 %s 已发送到打印机：请扫描打出的面单确认；未打出请扫 %s 再扫订单号", wb, s.cfg.ReprintCode),
			EN: fmt.Sprintf("Label %s was sent: scan the printed label to confirm; if none came out scan %s, then the order code", wb, s.cfg.ReprintCode),
		}
		return s.commit(ctx, res, func(*journal.Tx) decision {
			e := base
			e.Kind, e.OrderID, e.From, e.To, e.Waybill, e.Job = wire.KindNote, o.ID, string(o.State), string(o.State), wb, sb.job
			e.Detail = "repeat scan while the label waits for its scan-back: nothing sent again"
			return decision{out: order.Outcome{Result: order.AlreadyDone, From: o.State, To: o.State, Order: o, Waybill: wb}, entry: e, msg: &msg}
		})
	}

	job, st, h, err := s.send(ctx, LabelFor(o, wb))
	printerBase := base
	printerBase.Device, printerBase.Job = s.cfg.Printer.String(), job
	jctx := detached(ctx)
	defer jctx.cancel()
	switch {
	case err == nil:
		printerBase.Trigger = wire.TriggerPrint
		res.Device = printerBase.Device
		return s.commit(jctx, res, func(tx *journal.Tx) decision {
			cur, ok := tx.Order(o.ID)
			if !ok {
				return reject(printerBase, o, order.ReasonUnknownOrder, wb, "order vanished")
			}
			d := fromOutcome(printerBase, order.Apply(cur, order.Request{Action: order.ActPrint, Waybill: wb, Operator: base.Operator, At: s.clk.Now().UTC()}))
			if d.out.Result == order.Accepted {
				d.entry.Detail = "label confirmed by the printer's status"
			} else {
				d.entry.Detail = fmt.Sprintf("label printed (job %s) but the order changed meanwhile: %s", job, d.entry.Detail)
			}
			return d
		})
	case errors.Is(err, printer.ErrNoStatus):
		s.await(wb, scanBack{orderID: o.ID, job: job, at: s.clk.Now()})
		secs := int(s.cfg.PairWindow.Seconds())
		msg := order.Message{
			ZH: fmt.Sprintf("面单已发送：请在%d秒内扫描打出的面单条码 %s 确认", secs, wb),
			EN: fmt.Sprintf("Label sent: scan the printed label's barcode %s within %ds to confirm", wb, secs),
		}
		res = s.commit(jctx, res, func(*journal.Tx) decision {
			e := printerBase
			e.Kind, e.OrderID, e.From, e.To, e.Waybill, e.Carrier = wire.KindNote, o.ID, string(o.State), string(o.State), wb, o.Carrier
			e.Detail = "label sent; this printer has no status query: waiting for the scan-back of the printed label"
			return decision{out: order.Outcome{Result: order.Accepted, From: o.State, To: o.State, Order: o, Waybill: wb}, entry: e, msg: &msg}
		})
		if res.Err != nil {
			s.mu.Lock()
			delete(s.pending, wb)
			s.mu.Unlock()
		}
		return res
	default:
		res.Device = printerBase.Device
		if h.mayPrint() {
			s.await(wb, scanBack{orderID: o.ID, job: job, at: s.clk.Now(), fault: true})
		}
		return s.commit(jctx, res, func(*journal.Tx) decision { return s.faultDecision(printerBase, o, wb, st, err, "", h) })
	}
}

// send renders and prints l, then confirms it. It keeps the fault state and raises events; a job
// that failed with a printer fault is cancelled in the printer where it can be (cancelHeld).
func (s *Station) send(ctx context.Context, l label.Label) (job string, st printer.Status, h held, err error) {
	b, err := label.Render(l, s.cfg.Size, s.cfg.DPI, s.cfg.Printer.Language())
	if err != nil {
		return "", st, h, err
	}
	job, err = s.cfg.Printer.Print(ctx, b)
	if err == nil {
		s.mu.Lock()
		s.jobs++
		s.lastJob = job
		s.mu.Unlock()
		st, err = printer.Confirm(ctx, s.cfg.Printer, job, &s.confirm)
	}
	s.observe(l.OrderID, job, st, err)
	h = s.cancelHeld(ctx, job, err)
	return job, st, h, err
}

// observe keeps the fault state after a job: a fault raises it, a confirmed job clears it.
func (s *Station) observe(orderID, job string, st printer.Status, err error) {
	now := s.clk.Now().UTC()
	var ev *Event
	var was []printer.Fault
	var since time.Time
	s.mu.Lock()
	switch {
	case err == nil:
		if len(s.faults) > 0 {
			was, since = s.faults, s.faultSince
			ev = &Event{Cleared: true, Message: order.Message{
				ZH: "打印机 " + s.cfg.Printer.String() + " 已恢复正常", EN: "Printer " + s.cfg.Printer.String() + " is back to normal"}}
		}
		s.faults, s.faultSince = nil, time.Time{}
	case errors.Is(err, printer.ErrNoStatus), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, label.ErrWaybill), errors.Is(err, printer.ErrClosed):
		// not a printer fault
	default:
		faults := faultsOf(st, err)
		if len(s.faults) == 0 {
			s.faultSince = now
		}
		s.faults = faults
		ev = &Event{Faults: slices.Clone(faults), Message: faultMessage(s.cfg.Printer.String(), faults)}
	}
	s.mu.Unlock()
	if ev != nil {
		ev.Station, ev.Printer, ev.OrderID, ev.Job, ev.At = s.cfg.Station, s.cfg.Printer.String(), orderID, job, now
		s.logf("printing %s: %s", s.cfg.Station, ev.Message)
		if s.onEvent != nil {
			s.onEvent(*ev)
		}
	}
	if ev != nil && ev.Cleared {
		// A trace of the fault's end (its start is the printer_fault rejection).
		zh := make([]string, 0, len(was))
		en := make([]string, 0, len(was))
		for _, f := range was {
			zh, en = append(zh, f.Zh()), append(en, f.En())
		}
		e := wire.Entry{Kind: wire.KindNote, Station: s.cfg.Station, Device: s.cfg.Printer.String(), Trigger: wire.TriggerPrint, Job: job,
			At: wire.Time(now), Detail: fmt.Sprintf("printer fault cleared: %s / %s (since %s); job confirmed",
				strings.Join(zh, "、"), strings.Join(en, ", "), wire.Time(since))}
		ctx, cancel := context.WithTimeout(context.Background(), journalTimeout)
		defer cancel()
		if err := s.store.Do(ctx, func(tx *journal.Tx) error { tx.Append(e); return nil }); err != nil {
			s.logf("printing %s: journal the cleared fault: %v", s.cfg.Station, err)
		}
	}
}

// faultsOf names the faults behind a failed job.
func faultsOf(st printer.Status, err error) []printer.Fault {
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

func faultMessage(name string, faults []printer.Fault) order.Message {
	zh := make([]string, 0, len(faults))
	en := make([]string, 0, len(faults))
	for _, f := range faults {
		zh, en = append(zh, f.Zh()), append(en, f.En())
	}
	return order.Message{
		ZH: fmt.Sprintf("打印机 %s 故障：%s，面单未打出：排除故障后重新扫描订单", name, strings.Join(zh, "、")),
		EN: fmt.Sprintf("Printer %s fault: %s, no label came out: clear the fault and scan the order again", name, strings.Join(en, ", ")),
	}
}

// heldMessage is the operator's message for a failed job, by what became of it in the printer.
func (s *Station) heldMessage(faults []printer.Fault, wb string, h held) order.Message {
	name := s.cfg.Printer.String()
	zh := make([]string, 0, len(faults))
	en := make([]string, 0, len(faults))
	for _, f := range faults {
		zh, en = append(zh, f.Zh()), append(en, f.En())
	}
	switch {
	case h.cancelled:
		return order.Message{
			ZH: fmt.Sprintf("打印机 %s 故障：%s，面单未打出（打印机中的任务已取消）：排除故障后重新扫描订单", name, strings.Join(zh, "、")),
			EN: fmt.Sprintf("Printer %s fault: %s, no label came out (the printer's queued jobs were cancelled): clear the fault and scan the order again", name, strings.Join(en, ", ")),
		}
	case h.mayPrint():
		secs := int(s.cfg.PairWindow.Seconds())
		return order.Message{
			ZH: fmt.Sprintf("打印机 %s 故障：%s。排除故障后查看面单 %s 是否打出：已打出请在%d秒内扫描该面单条码确认（不要重新打印）；未打出请重新扫描订单",
				name, strings.Join(zh, "、"), wb, secs),
			EN: fmt.Sprintf("Printer %s fault: %s. Once cleared, check whether label %s came out: if it did, scan its barcode within %ds to confirm (do not print again); if not, scan the order again",
				name, strings.Join(en, ", "), wb, secs),
		}
	}
	return faultMessage(name, faults)
}

// faultDecision is the rejection entry of a job that failed.
func (s *Station) faultDecision(base wire.Entry, o order.Order, wb string, st printer.Status, err error, what string, h held) decision {
	if errors.Is(err, label.ErrWaybill) {
		return reject(base, o, order.ReasonWaybillInvalid, wb, what+err.Error())
	}
	faults := faultsOf(st, err)
	zh := make([]string, 0, len(faults))
	en := make([]string, 0, len(faults))
	for _, f := range faults {
		zh, en = append(zh, f.Zh()), append(en, f.En())
	}
	detail := fmt.Sprintf("%s%s / %s (%v)", what, strings.Join(zh, "、"), strings.Join(en, ", "), err)
	switch {
	case h.cancelled:
		detail += "; every job in the printer cancelled (~JA): this label will not come out"
	case h.mayPrint():
		detail += fmt.Sprintf("; the job could not be cancelled (%s): its label may come out once the fault is cleared, and its scan-back within %s confirms it", h.why, s.cfg.PairWindow)
	}
	d := reject(base, o, order.ReasonPrinterFault, wb, detail)
	m := s.heldMessage(faults, wb, h)
	d.msg = &m
	return d
}

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
		return failed(res, err)
	}
	if !ok {
		res = failed(res, fmt.Errorf("%w: %q", ErrNotFound, code))
		res.Outcome.Reason = order.ReasonUnknownOrder
		res.Message = order.ReasonUnknownOrder.Message("")
		return res
	}
	base := wire.Entry{Station: s.cfg.Station, Device: req.Device, Operator: res.Operator, Trigger: wire.TriggerManual, Code: station.Excerpt(code), At: wire.Time(now)}
	return s.reprint(ctx, res, base, o.ID, req)
}

func (s *Station) reprint(ctx context.Context, res station.Result, base wire.Entry, orderID string, req ReprintRequest) station.Result {
	o, ok, err := s.store.Order(orderID)
	if err != nil || !ok {
		return failed(res, fmt.Errorf("%w: %q (%v)", ErrNotFound, orderID, err))
	}
	wb := waybill.Normalize(o.Waybill)
	s.mu.Lock()
	_, waiting := s.pending[waybill.Normalize(o.AssignedWaybill)]
	s.mu.Unlock()
	if o.State == order.PendingAllocation && waiting {
		wb = waybill.Normalize(o.AssignedWaybill)
	} else if (o.State != order.WaybillPrinted && o.State != order.PickedUp) || wb == "" {
		return s.commit(ctx, res, func(*journal.Tx) decision {
			r := order.ReasonWrongState
			if o.State == order.Cancelled {
				r = order.ReasonCancelled
			}
			return reject(base, o, r, "", "reprint: only a printed order's label is reprinted; scan the order code to print it")
		})
	}
	job, st, h, err := s.send(ctx, LabelFor(o, wb))
	pb := base
	pb.Device, pb.Job = s.cfg.Printer.String(), job
	res.Device = pb.Device
	jctx := detached(ctx)
	defer jctx.cancel()
	if err != nil && !errors.Is(err, printer.ErrNoStatus) {
		if h.mayPrint() && o.State == order.PendingAllocation {
			s.await(wb, scanBack{orderID: o.ID, job: job, at: s.clk.Now(), fault: true})
		}
		return s.commit(jctx, res, func(*journal.Tx) decision { return s.faultDecision(pb, o, wb, st, err, "reprint: ", h) })
	}
	if waiting && o.State == order.PendingAllocation {
		s.await(wb, scanBack{orderID: o.ID, job: job, at: s.clk.Now()})
	}
	return s.commit(jctx, res, func(*journal.Tx) decision {
		e := pb
		e.Kind, e.OrderID, e.From, e.To, e.Waybill, e.Carrier = wire.KindReprint, o.ID, string(o.State), string(o.State), wb, o.Carrier
		e.Detail = "label reprinted, confirmed by the printer's status"
		msg := order.Message{ZH: "已补打面单 " + wb, EN: "Label reprinted: " + wb}
		if errors.Is(err, printer.ErrNoStatus) {
			e.Detail = "label sent again; this printer has no status query: check that it came out"
			msg = order.Message{ZH: "补打面单已发送 " + wb + "：请确认已打出", EN: "Reprint sent: " + wb + ": check that it came out"}
		}
		if n := strings.TrimSpace(req.Note); n != "" {
			e.Detail += "; note: " + n
		}
		e.Detail = station.Excerpt(e.Detail)
		return decision{out: order.Outcome{Result: order.Accepted, From: o.State, To: o.State, Order: o, Waybill: wb}, entry: e, msg: &msg}
	})
}

// StartProxy starts the station's print proxy on listen (host:port). filter, if not nil, selects
// the barcodes that are waybill numbers. Close stops it.
func (s *Station) StartProxy(listen string, filter *regexp.Regexp) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.px != nil {
		return "", fmt.Errorf("%w: station %s: already running on %s", ErrProxy, s.cfg.Station, s.px.Addr())
	}
	co := s.confirm
	px, err := proxy.New(listen, s.cfg.Printer, &proxy.Options{Name: s.cfg.Station + "-proxy", Clock: s.clk, Logger: logging.FromLogf(s.logf),
		Filter: filter, Confirm: &co, OnConfirmed: s.proxyConfirmed})
	if err != nil {
		return "", fmt.Errorf("%w: station %s: %w", ErrProxy, s.cfg.Station, err)
	}
	s.px = px
	return px.Addr(), nil
}

// proxyConfirmed turns a proxied job's waybills into order steps (or rejections).
func (s *Station) proxyConfirmed(j proxy.Job, st printer.Status, err error) {
	if j.PrinterJobID != "" {
		s.mu.Lock()
		s.jobs++
		s.lastJob = j.PrinterJobID
		s.mu.Unlock()
	}
	s.observe("", j.PrinterJobID, st, err)
	h := s.cancelHeld(context.Background(), j.PrinterJobID, err)
	if len(j.Waybills) == 0 {
		s.logf("printing %s: proxy job %s (%d bytes from %s): no waybill found", s.cfg.Station, j.ID, j.Bytes, j.Remote)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), journalTimeout)
	defer cancel()
	for _, code := range j.Waybills {
		res := s.proxyWaybill(ctx, j, code, st, err, h)
		if s.onRes != nil {
			s.onRes(res)
		}
		if res.Err != nil {
			s.logf("printing %s: proxy job %s waybill %s: not committed: %v", s.cfg.Station, j.ID, code, res.Err)
		} else {
			s.logf("printing %s: proxy job %s waybill %s → %s %s", s.cfg.Station, j.ID, code, res.Outcome.Result, res.Message)
		}
	}
}

func (s *Station) proxyWaybill(ctx context.Context, j proxy.Job, code string, st printer.Status, err error, h held) station.Result {
	now := s.clk.Now().UTC()
	wb := waybill.Normalize(code)
	name := s.cfg.Printer.String()
	res := station.Result{Station: s.cfg.Station, Device: name, Code: wb, At: now}
	base := wire.Entry{Station: s.cfg.Station, Device: name, Trigger: wire.TriggerPrint, Code: station.Excerpt(wb), Job: j.PrinterJobID, At: wire.Time(now)}
	src := fmt.Sprintf("proxy job %s from %s", j.ID, j.Remote)
	noStatus := errors.Is(err, printer.ErrNoStatus)
	res = s.commit(ctx, res, func(tx *journal.Tx) decision {
		// The order the waybill is bound to (a label printed before), else the one it is assigned to.
		o, ok := tx.OrderByWaybill(wb)
		if !ok {
			o, ok = tx.OrderByAssignedWaybill(wb)
		}
		if !ok {
			detail := src + ": no order has this waybill; the job still printed"
			if err != nil && !noStatus {
				detail = fmt.Sprintf("%s: no order has this waybill; the job failed: %v", src, err)
			}
			return reject(base, order.Order{}, order.ReasonUnknownWaybill, wb, detail)
		}
		switch {
		case noStatus:
			if o.State != order.PendingAllocation {
				break
			}
			e := base
			e.Kind, e.OrderID, e.From, e.To, e.Waybill, e.Carrier = wire.KindNote, o.ID, string(o.State), string(o.State), wb, o.Carrier
			e.Detail = src + ": label sent; this printer has no status query: waiting for the scan-back at the station"
			msg := order.Message{ZH: "面单已由外部软件打印：请扫描面单条码 " + wb + " 确认", EN: "Label printed by other software: scan its barcode " + wb + " to confirm"}
			return decision{out: order.Outcome{Result: order.Accepted, From: o.State, To: o.State, Order: o, Waybill: wb}, entry: e, msg: &msg}
		case err != nil:
			return s.faultDecision(base, o, wb, st, err, src+": ", h)
		}
		out := order.Apply(o, order.Request{Action: order.ActPrint, Waybill: wb, At: now})
		d := fromOutcome(base, out)
		switch out.Result {
		case order.Accepted:
			d.entry.Detail = src + ": label confirmed by the printer's status"
			if noStatus {
				d.entry.Detail = src + ": sent"
			}
		case order.AlreadyDone:
			d.entry.Kind = wire.KindReprint
			d.entry.Detail = src + ": the label was printed again by other software"
			msg := order.Message{ZH: "外部软件补打了面单 " + wb, EN: "Label " + wb + " printed again by other software"}
			d.msg = &msg
		default:
			d.entry.Detail = src + ": the job still printed; " + d.entry.Detail
		}
		return d
	})
	if res.Err == nil && noStatus && res.Kind == wire.KindNote && res.Outcome.Order.ID != "" {
		s.await(wb, scanBack{orderID: res.Outcome.Order.ID, job: j.PrinterJobID, at: now})
	}
	return res
}

// decision is what a journal transaction decided.
type decision struct {
	out   order.Outcome
	entry wire.Entry
	msg   *order.Message // overrides out.Message()
}

// commit journals the decision made inside one Do and returns the result after the commit.
func (s *Station) commit(ctx context.Context, res station.Result, decide func(tx *journal.Tx) decision) station.Result {
	var d decision
	err := s.store.Do(ctx, func(tx *journal.Tx) error {
		d = decide(tx)
		d.entry = tx.Append(d.entry)
		if d.entry.Kind == wire.KindStep {
			tx.PutOrder(d.out.Order)
		}
		return nil
	})
	if err != nil {
		return failed(res, err)
	}
	res.Outcome, res.Kind, res.Entry = d.out, d.entry.Kind, d.entry
	res.Message = d.out.Message()
	if d.msg != nil {
		res.Message = *d.msg
	}
	return res
}

func failed(res station.Result, err error) station.Result {
	res.Err = err
	res.Outcome = order.Outcome{Result: order.Rejected}
	res.Message = order.Message{ZH: "系统错误，未记录：请重新扫描", EN: "System error, nothing recorded: scan again"}
	return res
}

func fromOutcome(base wire.Entry, out order.Outcome) decision {
	return decision{out: out, entry: station.OutcomeEntry(base, out)}
}

func reject(base wire.Entry, o order.Order, r order.Reason, wb, detail string) decision {
	out := order.Outcome{Result: order.Rejected, Reason: r, From: o.State, To: o.State, Order: o, Waybill: waybill.Normalize(wb), Detail: detail}
	return fromOutcome(base, out)
}

type cancelCtx struct {
	context.Context
	cancel context.CancelFunc
}

// detached is ctx without its cancellation, bounded by journalTimeout: a job was sent, so its
// outcome is journaled even when the caller stopped waiting.
func detached(ctx context.Context) cancelCtx {
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), journalTimeout)
	return cancelCtx{c, cancel}
}
