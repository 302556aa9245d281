package consoletest

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"wedge/agent/console"
	"wedge/order"
)

var _ console.ExceptionSource = (*Source)(nil)

// Exceptions lists the added orders with an open intercept (console.ExceptionOf), in order id
// order.
func (s *Source) Exceptions(context.Context) ([]console.Exception, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	var out []console.Exception
	for _, v := range s.orders {
		if seen[v.Order.ID] || !v.Order.Intercept.Open() {
			continue
		}
		seen[v.Order.ID] = true
		out = append(out, console.ExceptionOf(v.Order))
	}
	slices.SortFunc(out, func(a, b console.Exception) int { return strings.Compare(a.OrderID, b.OrderID) })
	return out, nil
}

// Resolve records req and applies order.Resolve to the stored order.
func (s *Source) Resolve(_ context.Context, req console.ResolveRequest) (console.ConfirmResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resolves = append(s.resolves, req)
	defer s.note("resolve " + req.OrderID + " " + req.Action)
	v, ok := s.orders[req.OrderID]
	if !ok {
		return console.ConfirmResult{}, fmt.Errorf("consoletest: %q: %w", req.OrderID, console.ErrNotFound)
	}
	d := order.Resolve(v.Order, order.Resolution{Action: req.Action, Operator: req.Operator, Note: req.Note}, order.Source{Operator: req.Operator})
	if d.Store {
		for k, w := range s.orders {
			if w.Order.ID == v.Order.ID {
				w.Order = d.Outcome.Order
				s.orders[k] = w
			}
		}
	}
	return console.ConfirmResult{OK: d.Outcome.Result.Good(), From: d.Outcome.From, To: d.Outcome.To, Message: d.Outcome.Message()}, nil
}

// Resolves returns the recorded resolutions.
func (s *Source) Resolves() []console.ResolveRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]console.ResolveRequest(nil), s.resolves...)
}
