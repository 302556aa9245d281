package printing

import (
	"context"
	"fmt"
	"strings"

	"wedge/agent/journal"
	"wedge/agent/printing/labels"
	"wedge/agent/station"
	"wedge/order"
	"wedge/sync/wire"
)

// Set is the agent's print stations with printers, for the API. The zero Set (no printers) is
// valid: labels still render, reprints fail with ErrNoPrinter.
type Set struct {
	store    *journal.Store
	stations []*Station
}

// NewSet groups the stations; store finds orders.
func NewSet(store *journal.Store, stations ...*Station) *Set {
	return &Set{store: store, stations: stations}
}

// Stations are the stations in the set.
func (s *Set) Stations() []*Station { return s.stations }

// Station returns the named station.
func (s *Set) Station(name string) (*Station, bool) {
	for _, x := range s.stations {
		if x.Name() == name {
			return x, true
		}
	}
	return nil, false
}

// Status is every printer's status.
func (s *Set) Status() []PrinterStatus {
	out := make([]PrinterStatus, 0, len(s.stations))
	for _, x := range s.stations {
		out = append(out, x.Status())
	}
	return out
}

// LabelPNG renders the label of the order with that code (order id, channel order no or waybill)
// at the first station's size and resolution (76×130 mm, 203 dpi without printers).
func (s *Set) LabelPNG(code string) ([]byte, error) {
	o, ok, err := s.store.FindOrder(code)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, code)
	}
	var stock labels.Stock
	if len(s.stations) > 0 {
		stock = s.stations[0].dev.stock
	}
	return stock.PNG(o)
}

// Reprint reprints on the named station's printer; with stationName "" on the station where the
// order was printed, or the only printer. ErrNoPrinter (in the Result's Err) when none fits;
// ErrNotFound for an unknown code.
func (s *Set) Reprint(ctx context.Context, stationName string, req ReprintRequest) station.Result {
	fail := func(err error) station.Result {
		return station.Failed(station.Result{Station: stationName, Device: req.Device, Code: req.Code, Operator: req.Operator}, err)
	}
	if stationName != "" {
		x, ok := s.Station(stationName)
		if !ok {
			return fail(fmt.Errorf("%w: station %q has no printer", ErrNoPrinter, stationName))
		}
		return x.Reprint(ctx, req)
	}
	o, ok, err := s.store.FindOrder(strings.TrimSpace(req.Code))
	if err != nil {
		return fail(err)
	}
	if !ok {
		return notFound(station.Result{Station: stationName, Device: req.Device, Code: req.Code, Operator: req.Operator}, req.Code)
	}
	if h, err := s.store.History(o.ID); err == nil {
		for i := len(h) - 1; i >= 0; i-- {
			e := h[i]
			if (e.Kind == wire.KindStep && e.To == string(order.WaybillPrinted)) || e.Kind == wire.KindReprint {
				if x, ok := s.Station(e.Station); ok {
					return x.Reprint(ctx, req)
				}
			}
		}
	}
	if len(s.stations) == 1 {
		return s.stations[0].Reprint(ctx, req)
	}
	return fail(fmt.Errorf("%w: name the station (%d printers, the order was not printed on one of them)", ErrNoPrinter, len(s.stations)))
}
