package printing

import (
	"context"
	"fmt"
	"strings"

	"wedge/agent/journal"
	"wedge/agent/station"
	"wedge/drivers/printer/label"
	"wedge/order"
	"wedge/order/waybill"
	"wedge/sync/wire"
)

// LabelFor is the label of order o carrying waybill wb: the carrier's name, the order id, the
// masked recipient and a summary of the SKUs, when the hub provided them.
func LabelFor(o order.Order, wb string) label.Label {
	l := label.Label{Waybill: waybill.Normalize(wb), OrderID: o.ID, SKUSummary: skuSummary(o.SKUs)}
	c, ok := waybill.Lookup(o.Carrier)
	if !ok {
		c, ok = waybill.Detect(l.Waybill)
	}
	switch {
	case ok:
		l.Carrier = c.NameZH + " " + c.NameEN
	default:
		l.Carrier = o.Carrier
	}
	l.RecipientName, l.RecipientPhone = splitRecipient(o.Recipient)
	return l
}

// splitRecipient takes the name and the phone out of the hub's masked recipient line
// ("张**  138****5678 深圳市…"); the address is left off the label.
func splitRecipient(r string) (name, phone string) {
	f := strings.Fields(r)
	if len(f) == 0 {
		return "", ""
	}
	name = f[0]
	if len(f) > 1 && strings.ContainsAny(f[1], "0123456789") && strings.Trim(f[1], "0123456789*+- ") == "" {
		phone = f[1]
	}
	return name, phone
}

// skuSummary is "SKU-1 ×2, SKU-7" (counts for repeated SKUs, first-seen order).
func skuSummary(skus []string) string {
	var order []string
	n := map[string]int{}
	for _, s := range skus {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if n[s] == 0 {
			order = append(order, s)
		}
		n[s]++
	}
	parts := make([]string, 0, len(order))
	for _, s := range order {
		if n[s] > 1 {
			parts = append(parts, fmt.Sprintf("%s ×%d", s, n[s]))
		} else {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ", ")
}

// LabelPNG renders order o's label as a PNG: the bound waybill, else the assigned one
// (ErrNoWaybill when there is neither).
func LabelPNG(o order.Order, size label.Size, dpi int) ([]byte, error) {
	wb := o.Waybill
	if wb == "" {
		wb = o.AssignedWaybill
	}
	if wb == "" {
		return nil, fmt.Errorf("%w: order %s", ErrNoWaybill, o.ID)
	}
	if size == (label.Size{}) {
		size = label.Size76x130
	}
	if dpi == 0 {
		dpi = DefaultDPI
	}
	return label.PNG(LabelFor(o, wb), size, dpi)
}

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
	size, dpi := label.Size76x130, DefaultDPI
	if len(s.stations) > 0 {
		size, dpi = s.stations[0].cfg.Size, s.stations[0].cfg.DPI
	}
	return LabelPNG(o, size, dpi)
}

// Reprint reprints on the named station's printer; with stationName "" on the station where the
// order was printed, or the only printer. ErrNoPrinter (in the Result's Err) when none fits;
// ErrNotFound for an unknown code.
func (s *Set) Reprint(ctx context.Context, stationName string, req ReprintRequest) station.Result {
	fail := func(err error) station.Result {
		return failed(station.Result{Station: stationName, Device: req.Device, Code: req.Code, Operator: req.Operator}, err)
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
		res := fail(fmt.Errorf("%w: %q", ErrNotFound, req.Code))
		res.Outcome.Reason = order.ReasonUnknownOrder
		res.Message = order.ReasonUnknownOrder.Message("")
		return res
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
