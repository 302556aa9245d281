package oversight

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"wedge/agent/config"
	"wedge/agent/console"
	"wedge/agent/journal"
	"wedge/agent/station"
	"wedge/internal/clock"
	"wedge/order"
	"wedge/sync/wire"
)

// DeviceConsole is the Device field of manual confirmations made in the console.
const DeviceConsole = "console"

// consoleSource is what the console reads and asks of the agent (console.Source): the board, order
// search, manual confirmations, breaker resets and journaled popup acknowledgements.
type consoleSource struct {
	store   *journal.Store
	clk     clock.Clock
	board   *board
	kpi     *KPI
	breaker *Breaker
	events  *Events
	// confirm performs a manual confirmation (Options.Confirm); nil: station.Confirm on the store,
	// and the result goes to events.
	confirm func(ctx context.Context, req station.ManualRequest) station.Result
	// settings are the reported settings with their source (nil: none).
	settings func() []config.Effective
	// exq is the exception queue (intercepted orders), see exceptions.go.
	exq *station.ExceptionQueue
}

var (
	_ console.Source     = (*consoleSource)(nil)
	_ console.AlertAcker = (*consoleSource)(nil)
)

func (s *consoleSource) Snapshot() console.Snapshot {
	now := s.clk.Now()
	snap := s.board.snapshot(now, s.breaker.State(), s.kpi.board(now))
	if s.settings != nil {
		snap.Settings = s.settings()
	}
	return snap
}

func (s *consoleSource) Search(ctx context.Context, code string) (console.OrderView, error) {
	o, ok, err := s.store.FindOrder(code)
	if err != nil {
		return console.OrderView{}, err
	}
	if !ok {
		// An order that was refused (e.g. it broke the data contract) is not stored, but its
		// refusal is journaled under its id: show that history.
		if id := strings.TrimSpace(code); id == "" {
			return console.OrderView{}, fmt.Errorf("%w: %q", console.ErrNotFound, code)
		} else if h, err := s.store.History(id); err == nil && len(h) > 0 {
			return console.OrderView{Order: order.Order{ID: h[0].OrderID}, History: h}, nil
		}
		return console.OrderView{}, fmt.Errorf("%w: %q", console.ErrNotFound, code)
	}
	h, err := s.store.History(o.ID)
	if err != nil {
		return console.OrderView{}, err
	}
	v := console.OrderView{Order: o, History: h}
	if a, ok := order.Next(o.State); ok {
		v.Next = a
	}
	return v, nil
}

func (s *consoleSource) Confirm(ctx context.Context, req console.ConfirmRequest) (console.ConfirmResult, error) {
	mr := station.ManualRequest{Code: req.OrderID, Operator: req.Operator, Note: req.Note, Device: DeviceConsole}
	if req.Note != "" && req.By != "" {
		mr.Note = req.Note + " (confirmed by " + req.By + ")"
	}
	var r station.Result
	if s.confirm != nil {
		r = s.confirm(ctx, mr)
	} else {
		r = station.Confirm(ctx, s.store, mr, s.clk)
	}
	if errors.Is(r.Err, station.ErrNotFound) {
		return console.ConfirmResult{}, fmt.Errorf("%w: %q", console.ErrNotFound, req.OrderID)
	}
	if r.Err != nil {
		return console.ConfirmResult{}, r.Err
	}
	if s.confirm == nil {
		s.events.OnResult(r)
	}
	return console.ConfirmResult{OK: r.Good(), From: r.Outcome.From, To: r.Outcome.To, Message: r.Message}, nil
}

func (s *consoleSource) ResetBreaker(ctx context.Context, by, reason string) error {
	_, err := s.breaker.Reset(ctx, by, reason)
	return err
}

// AckAlert journals an acknowledged popup as a note.
func (s *consoleSource) AckAlert(ctx context.Context, a console.Alert) error {
	now := s.clk.Now()
	return s.store.Do(ctx, func(tx *journal.Tx) error {
		tx.Append(wire.Entry{Kind: wire.KindNote, Trigger: wire.TriggerManual, Operator: a.AckedBy, At: wire.Time(now),
			Reason: "alert_acked", Code: a.ID, Detail: "popup acknowledged: " + a.Kind + ": " + a.Title.ZH + " / " + a.Title.EN})
		return nil
	})
}
