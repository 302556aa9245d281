// Package consoletest provides a hand-written fake console.Source that records what the console
// asked of it, for tests of the console and of code that drives it.
package consoletest

import (
	"context"
	"fmt"
	"sync"

	"wedge/agent/console"
	"wedge/order"
)

// Reset is one recorded breaker reset.
type Reset struct{ By, Reason string }

// Source is a fake console.Source. Set Board and Orders before use (or through SetBoard); the
// recorded calls are read with Confirms, Resets and Acks. ResetErr, when set, is returned by
// ResetBreaker.
type Source struct {
	mu       sync.Mutex
	board    console.Snapshot
	orders   map[string]console.OrderView
	confirms []console.ConfirmRequest
	resets   []Reset
	acks     []console.Alert
	resolves []console.ResolveRequest
	ResetErr error
	// Calls receives a note of every state-changing call (buffered; never blocks the console).
	Calls chan string
}

var _ console.Source = (*Source)(nil)
var _ console.AlertAcker = (*Source)(nil)

// New returns a fake with the given board.
func New(board console.Snapshot) *Source {
	return &Source{board: board, orders: map[string]console.OrderView{}, Calls: make(chan string, 100)}
}

func (s *Source) note(v string) {
	select {
	case s.Calls <- v:
	default:
	}
}

// SetBoard replaces the board.
func (s *Source) SetBoard(b console.Snapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.board = b
}

// AddOrder makes an order findable by its id, channel order number and waybill.
func (s *Source) AddOrder(v console.OrderView) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range []string{v.Order.ID, v.Order.ChannelOrderNo, v.Order.Waybill} {
		if k != "" {
			s.orders[k] = v
		}
	}
}

// Snapshot returns the board.
func (s *Source) Snapshot() console.Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.board
}

// Search looks the code up.
func (s *Source) Search(_ context.Context, code string) (console.OrderView, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.orders[code]
	if !ok {
		return console.OrderView{}, fmt.Errorf("consoletest: %q: %w", code, console.ErrNotFound)
	}
	return v, nil
}

// Confirm records req and applies flow's next step to the stored order.
func (s *Source) Confirm(_ context.Context, req console.ConfirmRequest) (console.ConfirmResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.confirms = append(s.confirms, req)
	defer s.note("confirm " + req.OrderID)
	v, ok := s.orders[req.OrderID]
	if !ok {
		return console.ConfirmResult{}, fmt.Errorf("consoletest: %q: %w", req.OrderID, console.ErrNotFound)
	}
	act, ok := order.Next(v.Order.State)
	if !ok {
		m := order.ReasonWrongState.Message(v.Order.State)
		return console.ConfirmResult{OK: false, From: v.Order.State, To: v.Order.State, Message: m}, nil
	}
	out := order.Apply(v.Order, order.Request{Action: act, Manual: true, Operator: req.Operator, Note: req.Note})
	if out.Result == order.Accepted {
		v.Order = out.Order
		s.orders[req.OrderID] = v
	}
	return console.ConfirmResult{OK: out.Result.Good(), From: out.From, To: out.To, Message: out.Message()}, nil
}

// ResetBreaker records the reset.
func (s *Source) ResetBreaker(_ context.Context, by, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ResetErr != nil {
		return s.ResetErr
	}
	s.resets = append(s.resets, Reset{by, reason})
	s.board.Breaker.Open = false
	s.note("reset " + by + " " + reason)
	return nil
}

// AckAlert records an acknowledged popup.
func (s *Source) AckAlert(_ context.Context, a console.Alert) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acks = append(s.acks, a)
	s.note("ack " + a.ID)
	return nil
}

// Confirms returns the recorded confirmations.
func (s *Source) Confirms() []console.ConfirmRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]console.ConfirmRequest(nil), s.confirms...)
}

// Resets returns the recorded resets.
func (s *Source) Resets() []Reset {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Reset(nil), s.resets...)
}

// Acks returns the recorded acknowledgements.
func (s *Source) Acks() []console.Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]console.Alert(nil), s.acks...)
}
