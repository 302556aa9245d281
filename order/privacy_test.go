package order_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"wedge/order"
	"wedge/sync/wire"
)

func TestMasks(t *testing.T) {
	for _, c := range [][2]string{
		{order.MaskName("张三丰"), "张**"}, {order.MaskName(" Li Si"), "L**"}, {order.MaskName(""), ""},
		{order.MaskPhone("13812345678"), "138****5678"}, {order.MaskPhone("+8613812345678"), "+86****5678"},
		{order.MaskPhone("5551234"), "***1234"}, {order.MaskPhone("123"), "****"}, {order.MaskPhone(""), ""},
		{order.MaskAddress("广东省深圳市南山区科技园科苑路8号"), "广东省深圳市南山区****"},
		{order.MaskAddress("上海市浦东新区张江路1号"), "上海市浦东新区****"},
		{order.MaskAddress("Room 5, 18 Harbour Road"), "Room 5****"},
		{order.MaskAddress("深圳市"), "深****"}, {order.MaskAddress(""), ""},
		{order.MaskRecipientLine("张三 13812345678 深圳市南山区科技园"), "张** 138****5678 深圳市南山区****"},
		{order.MaskRecipientLine("张**  138****5678 深圳市…"), "张** 138****5678 深圳市…"},
	} {
		if c[0] != c[1] {
			t.Errorf("got %q, want %q", c[0], c[1])
		}
	}
}

// What people read of an order or an entry's order message carries no whole phone, name or
// street, and masking a copy leaves the original whole (the label still needs it).
func TestMaskedOrderAndEntry(t *testing.T) {
	o := order.FromMsg(vMsg(1, vName, vPhone, vAddr))
	o.Recipient = "张三丰 13812345678 广东省深圳市南山区科技园科苑路8号"
	m := o.Masked()
	b, _ := json.Marshal(m)
	for _, secret := range []string{vPhone, vName, "科苑路"} {
		if strings.Contains(string(b), secret) {
			t.Errorf("masked order carries %q: %s", secret, b)
		}
	}
	if o.RecipientPhone != vPhone || o.RecipientAddress != vAddr {
		t.Fatal("masking changed the original")
	}
	msg := vMsg(1, vName, vPhone, vAddr)
	e := order.MaskEntry(wire.Entry{Kind: wire.KindIntake, Order: &msg})
	if e.Order.RecipientPhone != "138****5678" || msg.RecipientPhone != vPhone {
		t.Fatalf("masked entry %+v, original %+v", e.Order, msg)
	}
}

// An excerpt of a message that could not be read keeps no personal data: recipient fields and
// mobile numbers are masked before it goes into a reject entry.
func TestMaskTextAndMalformed(t *testing.T) {
	raw := `{"type":"order","order_id":"O1","recipient_name":"张三丰","recipient_phone":"13812345678","recipient_address":"广东省深圳市南山区科苑路8号","note":"call 13998765432",`
	got := order.MaskText(raw)
	for _, secret := range []string{"张三丰", "13812345678", "科苑路", "13998765432"} {
		if strings.Contains(got, secret) {
			t.Errorf("masked text carries %q: %s", secret, got)
		}
	}
	for _, want := range []string{`"recipient_phone":"138****5678"`, `"recipient_name":"张**"`, "139****5432", `"order_id":"O1"`} {
		if !strings.Contains(got, want) {
			t.Errorf("masked text lacks %q: %s", want, got)
		}
	}
	e := order.Malformed(t0, 3, errors.New("bad"), []byte(raw))
	if strings.Contains(e.Detail, "13812345678") || !strings.Contains(e.Detail, "138****5678") {
		t.Fatalf("reject detail %s", e.Detail)
	}
	if order.MaskText("waybill SF1385628716739 order 40123456789012") != "waybill SF1385628716739 order 40123456789012" {
		t.Fatal("a waybill or a long order number was masked as a phone")
	}
}
