package oversight

import (
	"context"
	"errors"
	"fmt"

	"wedge/agent/console"
	"wedge/agent/station"
)

var _ console.ExceptionSource = (*consoleSource)(nil)

// Exceptions is the console's exception queue: the orders with an open intercept.
func (s *consoleSource) Exceptions(ctx context.Context) ([]console.Exception, error) {
	os, err := s.exq.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]console.Exception, 0, len(os))
	for _, o := range os {
		out = append(out, console.ExceptionOf(o))
	}
	return out, nil
}

// Resolve journals a supervisor's resolution of an intercepted order (station.Resolve) and shows
// it in the scan feed.
func (s *consoleSource) Resolve(ctx context.Context, req console.ResolveRequest) (console.ConfirmResult, error) {
	note := req.Note
	if note != "" && req.By != "" {
		note += " (resolved by " + req.By + ")"
	}
	r := station.Resolve(ctx, s.store, station.ResolveRequest{Code: req.OrderID, Action: req.Action, Operator: req.Operator, Note: note, Device: DeviceConsole}, s.clk)
	if errors.Is(r.Err, station.ErrNotFound) {
		return console.ConfirmResult{}, fmt.Errorf("%w: %q", console.ErrNotFound, req.OrderID)
	}
	if r.Err != nil {
		return console.ConfirmResult{}, r.Err
	}
	s.events.OnResult(r)
	return console.ConfirmResult{OK: r.Good(), From: r.Outcome.From, To: r.Outcome.To, Message: r.Message}, nil
}
