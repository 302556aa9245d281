// Package labels makes an order's shipping label: what is printed on it (the waybill's barcode, the
// carrier, the order id, the recipient as carriers print it (the name whole, the phone masked, the full
// address), a summary of the SKUs), rendered in a printer's language or as a PNG preview.
package labels

import (
	"errors"
	"fmt"
	"strings"

	"wedge/drivers/printer/label"
	"wedge/order"
	"wedge/order/waybill"
)

// ErrNoWaybill means the order has no waybill yet (neither assigned nor bound).
var ErrNoWaybill = errors.New("labels: order has no waybill yet")

// DefaultDPI is the resolution assumed when none is known (most thermal label printers).
const DefaultDPI = 203

// Stock is the label stock and the printer's resolution. The zero value is 76×130 mm at DefaultDPI.
type Stock struct {
	Size label.Size // zero: label.Size76x130
	DPI  int        // 0: DefaultDPI
}

// OrDefault is s with its zero fields set to the defaults.
func (s Stock) OrDefault() Stock {
	if s.Size == (label.Size{}) {
		s.Size = label.Size76x130
	}
	if s.DPI == 0 {
		s.DPI = DefaultDPI
	}
	return s
}

// Render renders the label of order o carrying waybill wb in the printer language lang (zpl, tspl).
func (s Stock) Render(o order.Order, wb, lang string) ([]byte, error) {
	s = s.OrDefault()
	return label.Render(For(o, wb), s.Size, s.DPI, lang)
}

// PNG renders order o's label as a PNG (Preview): the bound waybill, else the assigned one
// (ErrNoWaybill when there is neither).
func (s Stock) PNG(o order.Order) ([]byte, error) {
	wb := o.Waybill
	if wb == "" {
		wb = o.AssignedWaybill
	}
	if wb == "" {
		return nil, fmt.Errorf("%w: order %s", ErrNoWaybill, o.ID)
	}
	s = s.OrDefault()
	return label.PNG(Preview(o, wb), s.Size, s.DPI)
}

// Preview is the label of For as the PNG preview shows it: the recipient's name masked. The preview
// is served by the PC's API, where personal data stays masked; only the printed label carries
// the name whole, for the courier.
func Preview(o order.Order, wb string) label.Label {
	l := For(o, wb)
	l.RecipientName = order.MaskName(l.RecipientName)
	return l
}

// For is the label of order o carrying waybill wb: the carrier's name, the order id, the recipient
// (the name whole, the phone masked when rendered, and the full address) and a summary of the SKUs, when the
// hub provided them. The separate recipient fields win over the one-line recipient of older order
// systems, field by field.
func For(o order.Order, wb string) label.Label {
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
	if o.RecipientName != "" {
		l.RecipientName = o.RecipientName
	}
	if o.RecipientPhone != "" {
		l.RecipientPhone = o.RecipientPhone
	}
	l.RecipientAddress = o.RecipientAddress
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
	var seen []string
	n := map[string]int{}
	for _, s := range skus {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if n[s] == 0 {
			seen = append(seen, s)
		}
		n[s]++
	}
	parts := make([]string, 0, len(seen))
	for _, s := range seen {
		if n[s] > 1 {
			parts = append(parts, fmt.Sprintf("%s ×%d", s, n[s]))
		} else {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ", ")
}
