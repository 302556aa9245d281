package labels_test

import (
	"errors"
	"strings"
	"testing"

	"wedge/agent/printing/labels"
	"wedge/order"
)

const wb1 = "SF1234567890123"

func TestLabelFor(t *testing.T) {
	l := labels.For(order.Order{ID: "O-9", Carrier: "sf", Recipient: "张** 138****5678 深圳市南山区", SKUs: []string{"A", "B", "A"}}, " sf1234567890123 ")
	if l.Waybill != wb1 || l.OrderID != "O-9" || l.RecipientName != "张**" || l.RecipientPhone != "138****5678" || l.SKUSummary != "A ×2, B" || !strings.Contains(l.Carrier, "SF") {
		t.Fatalf("%+v", l)
	}
}

// A PNG needs a waybill; the zero Stock renders at the defaults.
func TestPNG(t *testing.T) {
	if _, err := (labels.Stock{}).PNG(order.Order{ID: "O-1"}); !errors.Is(err, labels.ErrNoWaybill) {
		t.Fatalf("no waybill: %v", err)
	}
	png, err := (labels.Stock{}).PNG(order.Order{ID: "O-1", AssignedWaybill: wb1})
	if err != nil || !strings.HasPrefix(string(png), "\x89PNG") {
		t.Fatalf("png %d bytes: %v", len(png), err)
	}
}

// The separate recipient fields: the label gets the name (printed whole, as carrier labels do),
// the phone (the label masks it) and the full address; the one-line recipient fills what they
// leave out.
func TestLabelForRecipientFields(t *testing.T) {
	o := order.Order{ID: "O-9", Carrier: "sf", Recipient: "张** 138****5678 深圳市…", RecipientName: "李四", RecipientAddress: "广东省深圳市福田区华强北路1号"}
	l := labels.For(o, wb1)
	if l.RecipientName != "李四" || l.RecipientPhone != "138****5678" || l.RecipientAddress != "广东省深圳市福田区华强北路1号" {
		t.Fatalf("%+v", l)
	}
	z, err := (labels.Stock{}).Render(o, wb1, "zpl")
	if err != nil || !strings.Contains(string(z), "福田区华强北路") || !strings.Contains(string(z), "TO 李四 138****5678") || strings.Contains(string(z), "李**") {
		t.Fatalf("zpl %s: %v", z, err)
	}
}

// The PNG preview, served by the PC's API, masks the name the printed label carries whole.
func TestPreviewMasksName(t *testing.T) {
	o := order.Order{ID: "O-9", Carrier: "sf", RecipientName: "Li Si", RecipientPhone: "13812345678"}
	if l := labels.For(o, wb1); l.RecipientName != "Li Si" {
		t.Fatalf("printed label name %q", l.RecipientName)
	}
	if l := labels.Preview(o, wb1); l.RecipientName != order.MaskName("Li Si") || strings.Contains(l.RecipientName, "Si") {
		t.Fatalf("preview name %q", l.RecipientName)
	}
}
