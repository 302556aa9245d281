// Package station turns scanner reads into flow requests at a warehouse station and journals every
// one of them.
//
// A print station without a printer works in pairing mode: the operator scans the order's code
// (its order_id or channel_order_no), then, within the pairing window, the waybill label's barcode;
// the order moves 待分仓 → 已打单 with that waybill bound. A handover station takes the waybill
// barcode when the courier takes the parcel: 已打单 → 已揽收. At any station a scan matching the
// operator pattern signs that operator in; later entries carry the operator id.
//
// A print station with a printer (Options.Printing, implemented by agent/printing) does not pair:
// every read except an operator badge is handed to Printing on the station's goroutine, which
// prints the order's label and journals the outcome itself.
//
// Every scan leaves a trace: its decision (order.Decide, with its journal entry) is made and
// committed (journal Tx.Commit, through Commit) inside one journal Store.Do, so it commits in one
// bbolt transaction, and Handle returns the Result only after that commit. Reads of one station
// are processed serially by the station's own goroutine (the pairing state is per station);
// different stations run in parallel.
package station

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"wedge/agent/journal"
	"wedge/agent/pickup"
	"wedge/drivers/scanner"
	"wedge/internal/clock"
	"wedge/internal/logging"
	"wedge/order"
	"wedge/order/waybill"
	"wedge/sync/wire"
)

// Sentinel errors. Match them with errors.Is.
var (
	// ErrClosed means the station was closed before the read was processed.
	ErrClosed = errors.New("station: closed")
	// ErrNotFound means a manual confirmation named no known order.
	ErrNotFound = errors.New("station: order not found")
)

// Roles.
const (
	RolePrint    = "print"
	RoleHandover = "handover"
)

// Defaults.
const (
	DefaultPairWindow      = 30 * time.Second
	DefaultOperatorPattern = `^OP-[A-Za-z0-9]{2,32}$`
	// DeviceAPI is the device name of software scans and manual confirmations made through the API.
	DeviceAPI = "api"
)

var defaultOperatorRE = regexp.MustCompile(DefaultOperatorPattern)

// Config describes one station.
type Config struct {
	Name            string
	Role            string         // print | handover
	OperatorPattern *regexp.Regexp // nil: DefaultOperatorPattern
	PairWindow      time.Duration  // 0: DefaultPairWindow
}

// Options are the station's dependencies. The zero value is valid.
type Options struct {
	Clock  clock.Clock  // nil: the real clock
	Logger *slog.Logger // nil: silent
	// OnResult is called with every result after its commit, from the station's goroutine, before
	// Handle returns it. It must not block (hand the result to a buffered channel or drop it).
	OnResult func(Result)
	// Printing, for a print station with a printer, takes every read except operator badges (see
	// Printing). Nil: pairing mode.
	Printing Printing
}

// Printing handles the reads of a print station that has a printer (agent/printing implements
// it). Handle is called on the station's goroutine with the signed-in operator and returns the
// Result only after its journal entry committed, like Station.Handle.
type Printing interface {
	Handle(ctx context.Context, r scanner.Read, operator string) Result
}

// Result is the single answer to a read or a confirmation.
type Result struct {
	Outcome order.Outcome
	Kind    string        // the journal entry's kind (wire.KindStep, KindReject, KindOperator, KindNote)
	Message order.Message // what the operator reads (Chinese, English)
	Entry   wire.Entry    // the committed journal entry (zero if Err is set)
	Err     error         // the read was not processed or not committed: nothing was acknowledged

	Station  string
	Device   string
	Code     string
	Operator string
	At       time.Time
}

// Good reports whether the operator gets a "good" signal: the entry committed and the outcome was
// accepted or an idempotent repeat.
func (r Result) Good() bool { return r.Err == nil && r.Outcome.Result.Good() }

// Station is one print or handover station with its own goroutine.
type Station struct {
	cfg      Config
	store    *journal.Store
	clk      clock.Clock
	log      *slog.Logger
	on       func(Result)
	printing Printing

	reqs chan request
	stop chan struct{}
	done chan struct{}
	once sync.Once

	mu       sync.Mutex
	operator string // signed-in operator (read by Operator from other goroutines)

	// pairing state, owned by the station goroutine
	pairOrder string
	pairAt    time.Time
}

type request struct {
	ctx   context.Context
	read  scanner.Read
	reply chan Result
}

// New starts a station. Close stops it.
func New(cfg Config, store *journal.Store, opts Options) *Station {
	if cfg.OperatorPattern == nil {
		cfg.OperatorPattern = defaultOperatorRE
	}
	if cfg.PairWindow <= 0 {
		cfg.PairWindow = DefaultPairWindow
	}
	s := &Station{
		cfg: cfg, store: store, clk: clock.Or(opts.Clock), on: opts.OnResult, printing: opts.Printing,
		log:  logging.Or(opts.Logger).With(logging.KeyStation, cfg.Name),
		reqs: make(chan request), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go s.run()
	return s
}

// Name is the station's name.
func (s *Station) Name() string { return s.cfg.Name }

// Role is print or handover.
func (s *Station) Role() string { return s.cfg.Role }

// Operator is the signed-in operator, or "".
func (s *Station) Operator() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.operator
}

// Close stops the station's goroutine and waits for it. Reads waiting in Handle get ErrClosed.
func (s *Station) Close() error {
	s.once.Do(func() { close(s.stop) })
	<-s.done
	return nil
}

// Handle processes one read and returns its result after the journal commit. It blocks while the
// station processes earlier reads; if ctx ends first, the Result carries ctx's error and nothing
// was acknowledged.
func (s *Station) Handle(ctx context.Context, r scanner.Read) Result {
	req := request{ctx: ctx, read: r, reply: make(chan Result, 1)}
	fail := func(err error) Result {
		return Result{Err: err, Station: s.cfg.Name, Device: r.Device, Code: r.Text, Outcome: order.Outcome{Result: order.Rejected}}
	}
	select {
	case s.reqs <- req:
	case <-ctx.Done():
		return fail(ctx.Err())
	case <-s.stop:
		return fail(ErrClosed)
	}
	select {
	case res := <-req.reply:
		return res
	case <-ctx.Done():
		// The station may still commit it; the caller was not told "good".
		return fail(ctx.Err())
	}
}

func (s *Station) run() {
	defer close(s.done)
	for {
		select {
		case <-s.stop:
			return
		case req := <-s.reqs:
			res := s.process(req.ctx, req.read)
			if s.on != nil {
				s.on(res) // before the reply, so that whoever sees the result can also see it recorded
			}
			req.reply <- res
			LogResult(s.log, res)
		}
	}
}

// LogResult logs a read's result: an error when it was not committed (the operator must scan
// again), else at debug level (the agent logs every outcome itself).
func LogResult(log *slog.Logger, res Result) {
	if res.Err != nil {
		log.Error("read not committed", logging.KeyDevice, res.Device, "code", res.Code, logging.Err(res.Err))
		return
	}
	if logging.Enabled(log, slog.LevelDebug) {
		log.Debug("read", logging.KeyDevice, res.Device, "code", res.Code, logging.KeyOrder, res.Outcome.Order.ID,
			"result", res.Outcome.Result.String(), "kind", res.Kind, "reason", string(res.Outcome.Reason), "msg", res.Message.String())
	}
}

// decision is what process decided inside the transaction: the change, and what becomes of the
// station's own state once it committed.
type decision struct {
	Decision
	pair   string // order id to pair with (print station, order scanned)
	unpair bool
	signIn string // operator to sign in
}

func (s *Station) process(ctx context.Context, r scanner.Read) Result {
	now := s.clk.Now().UTC()
	code := strings.TrimSpace(r.Text)
	device := r.Device
	operator := s.Operator()
	if s.printing != nil && s.cfg.Role == RolePrint && code != "" && !s.cfg.OperatorPattern.MatchString(code) {
		return s.printing.Handle(ctx, r, operator)
	}
	src := order.Source{Station: s.cfg.Name, Device: device, Operator: operator, Trigger: wire.TriggerScan, Code: order.Excerpt(code, order.MaxExcerpt), At: now}

	var d decision
	res := Commit(ctx, s.store, Result{Station: s.cfg.Name, Device: device, Code: code, Operator: operator, At: now},
		func(tx *journal.Tx) Decision {
			d = s.decide(tx, code, now, src)
			return d.Decision
		})
	if res.Err != nil {
		return res
	}
	// Committed: now the in-memory station state may follow.
	if d.signIn != "" {
		s.mu.Lock()
		s.operator = d.signIn
		s.mu.Unlock()
		res.Operator = d.signIn
	}
	if d.pair != "" {
		s.pairOrder, s.pairAt = d.pair, now
	}
	if d.unpair {
		s.pairOrder, s.pairAt = "", time.Time{}
	}
	return res
}

// decide runs inside the transaction and returns the decision with its (unsealed) entry.
func (s *Station) decide(tx *journal.Tx, code string, now time.Time, src order.Source) decision {
	if code == "" {
		return refuse(order.Order{}, order.ReasonUnknownCode, "", "empty read", src)
	}
	if s.cfg.OperatorPattern.MatchString(code) {
		// A badge changes no order: an operator entry, no order decision.
		e := src.Entry()
		e.Kind, e.Operator = wire.KindOperator, code
		msg := order.NoticeOperatorSignedIn.Message(order.NoticeArgs{Operator: code})
		return decision{Decision: Decision{Decision: order.Decision{Outcome: order.Outcome{Result: order.Accepted}, Entry: e}, Message: &msg}, signIn: code}
	}
	if s.cfg.Role == RoleHandover {
		return s.handover(tx, code, now, src)
	}
	return s.print(tx, code, now, src)
}

func lookupOrder(tx *journal.Tx, code string) (order.Order, bool) {
	if o, ok := tx.Order(code); ok {
		return o, true
	}
	return tx.OrderByChannelNo(code)
}

func (s *Station) print(tx *journal.Tx, code string, now time.Time, src order.Source) decision {
	if o, ok := lookupOrder(tx, code); ok {
		// The first half of a pair. Refuse at once what cannot be printed.
		switch {
		case o.State == order.PendingAllocation && !o.Intercepted():
			msg := order.NoticePairOrderScanned.Message(order.NoticeArgs{Order: o.ID, Seconds: int(s.cfg.PairWindow.Seconds())})
			n := Note(o, "", "order scanned at the print station; waiting for the waybill label (pairing)", msg, src)
			return decision{Decision: n, pair: o.ID}
		case o.LabelOutdated && !o.Intercepted():
			// The recipient or address changed after print: the operator prints the label again
			// with the new data and scans it, which pairs like a first print.
			msg := order.NoticeLabelOutdatedPair.Message(order.NoticeArgs{Order: o.ID, Waybill: o.Waybill, Seconds: int(s.cfg.PairWindow.Seconds())})
			n := Note(o, o.Waybill, fmt.Sprintf("outdated label (version %d, order version %d): waiting for the new label's barcode (pairing)", o.LabelVersion, o.Version), msg, src)
			n.Outcome.Result = order.AlreadyDone
			return decision{Decision: n, pair: o.ID}
		default:
			d := decide(o, order.Request{Action: order.ActPrint, At: now}, src)
			d.unpair = true // the next waybill must not bind to an order scanned before this one
			return d
		}
	}
	if s.pairOrder == "" || now.Sub(s.pairAt) > s.cfg.PairWindow {
		return s.unpaired(tx, code, now, src)
	}
	o, ok := tx.Order(s.pairOrder)
	if !ok { // cannot happen: orders are never deleted
		d := refuse(order.Order{ID: s.pairOrder}, order.ReasonUnknownOrder, code, "paired order vanished", src)
		d.unpair = true
		return d
	}
	if bound, ok := tx.OrderByWaybill(code); ok && bound.ID != o.ID {
		return refuse(o, order.ReasonWaybillMismatch, code, fmt.Sprintf("waybill %s is bound to order %s", waybill.Normalize(code), bound.ID), src)
	}
	if wb := waybill.Normalize(code); o.LabelOutdated && !o.Intercepted() && wb == o.Waybill {
		// The new label of an order whose label was outdated: printed from the order's data now.
		d := Decision{Decision: order.Reprinted(o, wb, o.Version, "new label scanned at the print station (pairing)", src)}
		m := order.NoticeLabelUpdated.Message(order.NoticeArgs{Waybill: wb})
		d.Message = &m
		return decision{Decision: d, unpair: true}
	}
	d := decide(o, order.Request{Action: order.ActPrint, Waybill: code, Operator: src.Operator, At: now}, src)
	if d.Outcome.Result.Good() {
		d.unpair = true
	}
	return d
}

// unpaired decides a code that is no order's at a print station with no order scanned within the
// pairing window: a repeat of a printed label, or a rejection.
func (s *Station) unpaired(tx *journal.Tx, code string, now time.Time, src order.Source) decision {
	expired := s.pairOrder != ""
	if bound, ok := tx.OrderByWaybill(code); ok && !expired {
		// A repeat scan of a label that is already bound: idempotent when printed.
		if d := decide(bound, order.Request{Action: order.ActPrint, Waybill: code, At: now}, src); d.Outcome.Result == order.AlreadyDone {
			return d
		}
	}
	if _, ok := waybill.Detect(code); !ok {
		if _, ok := tx.OrderByWaybill(code); !ok {
			return refuse(order.Order{}, order.ReasonUnknownCode, code, "neither an order, a waybill nor a badge", src)
		}
	}
	if expired {
		d := refuse(order.Order{ID: s.pairOrder}, order.ReasonPairingExpired, code,
			fmt.Sprintf("order %s was scanned %s ago (window %s)", s.pairOrder, now.Sub(s.pairAt).Round(time.Second), s.cfg.PairWindow), src)
		d.unpair = true
		return d
	}
	return refuse(order.Order{}, order.ReasonNoOrderScanned, code, "waybill scanned with no order scanned before", src)
}

func (s *Station) handover(tx *journal.Tx, code string, now time.Time, src order.Source) decision {
	wb := waybill.Normalize(code)
	if o, ok := tx.OrderByWaybill(wb); ok {
		return decide(o, order.Request{Action: order.ActPickup, Waybill: wb, Operator: src.Operator, Pickup: pickup.Policy(tx), At: now}, src)
	}
	if o, ok := lookupOrder(tx, code); ok {
		d := decide(o, order.Request{Action: order.ActPickup, Waybill: code, Operator: src.Operator, Pickup: pickup.Policy(tx), At: now}, src)
		if d.Outcome.Result == order.Rejected {
			d.Entry.Detail = "order code scanned at handover; scan the waybill label instead. " + d.Entry.Detail
		}
		return d
	}
	if _, ok := waybill.Detect(wb); ok {
		return refuse(order.Order{}, order.ReasonUnknownWaybill, wb, "no order is bound to this waybill", src)
	}
	return refuse(order.Order{}, order.ReasonUnknownCode, code, "neither a waybill nor a badge", src)
}

func decide(o order.Order, req order.Request, src order.Source) decision {
	return decision{Decision: Decide(o, req, src)}
}

func refuse(o order.Order, r order.Reason, wb, detail string, src order.Source) decision {
	return decision{Decision: Refuse(o, r, wb, detail, src)}
}

// ManualRequest is an explicit human confirmation of an order's next step (agent API, console).
type ManualRequest struct {
	Code     string // order id, channel order no or waybill
	Operator string
	Note     string
	Waybill  string // optional: the waybill for a manual print; default the assigned one
	Station  string // optional: where it was confirmed
	Device   string // default DeviceAPI
}

// Confirm performs the next step of an order as a manual confirmation (trigger manual, with
// operator and note); order.Next decides the action. It journals the step or the rejection in one
// transaction and returns after the commit. An unknown code returns a Result with ErrNotFound and
// journals nothing.
func Confirm(ctx context.Context, store *journal.Store, req ManualRequest, clk clock.Clock) Result {
	m := manual{code: req.Code, operator: req.Operator, station: req.Station, device: req.Device}
	return m.run(ctx, store, clk, func(o order.Order, src order.Source, now time.Time, pol order.PickupPolicy) Decision {
		var d Decision
		if act, ok := order.Next(o.State); ok {
			d = Decide(o, order.Request{Action: act, Manual: true, Operator: req.Operator, Note: req.Note, Waybill: req.Waybill,
				Pickup: pol, At: now}, src)
		} else {
			d = Refuse(o, order.ReasonWrongState, "", "no next step from "+string(o.State), src)
		}
		if d.Outcome.Detail == "" {
			d.Entry.Detail = order.Excerpt(req.Note, order.MaxExcerpt)
		} else {
			// A refusal's cause, or what the confirmation overrode (an outdated label), stays in the trace.
			d.Entry.Detail = order.Excerpt(d.Outcome.Detail+"; note: "+req.Note, order.MaxExcerpt)
		}
		return d
	})
}

// manual is a recorded human decision about the order a code names (a confirmation, an intercept's
// resolution): it finds the order, lets decide build the decision with the manual source, and
// commits it in one transaction. An unknown code returns a Result with ErrNotFound and journals
// nothing.
type manual struct {
	code, operator, station, device string
}

// decide gets the site's pickup policy in force in the same transaction.
func (m manual) run(ctx context.Context, store *journal.Store, clk clock.Clock, decide func(o order.Order, src order.Source, now time.Time, pol order.PickupPolicy) Decision) Result {
	now := clock.Or(clk).Now().UTC()
	if m.device == "" {
		m.device = DeviceAPI
	}
	res := Result{Station: m.station, Device: m.device, Code: m.code, Operator: m.operator, At: now}
	var d Decision
	found := true
	err := store.Do(ctx, func(tx *journal.Tx) error {
		o, ok := lookupOrder(tx, m.code)
		if !ok {
			o, ok = tx.OrderByWaybill(waybill.Normalize(m.code))
		}
		if !ok {
			found = false
			return nil
		}
		src := order.Source{Station: m.station, Device: m.device, Operator: strings.TrimSpace(m.operator), Trigger: wire.TriggerManual,
			Code: order.Excerpt(m.code, order.MaxExcerpt), At: now}
		d = decide(o, src, now, pickup.Policy(tx))
		d.Decision = tx.Commit(d.Decision)
		return nil
	})
	switch {
	case err != nil:
		return Failed(res, err)
	case !found:
		res.Err = fmt.Errorf("%w: %q", ErrNotFound, m.code)
		res.Outcome = order.Outcome{Result: order.Rejected, Reason: order.ReasonUnknownOrder}
		res.Message = order.ReasonUnknownOrder.Message("")
		return res
	}
	return d.fill(res)
}
