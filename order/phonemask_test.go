package order_test

import (
	"strings"
	"testing"

	"wedge/order"
)

// A one-line recipient keeps its name and address and loses only the middle of its phone, in the
// formats order systems send; a line masked already and one without a phone stay as they are.
func TestMaskLinePhones(t *testing.T) {
	for in, want := range map[string]string{
		"王五 13957218465 广东省深圳市南山区科技园路1号":        "王五 139****8465 广东省深圳市南山区科技园路1号",
		"王五 +86 139-5721-8464 深圳市":              "王五 +86 139****8464 深圳市",
		"王五 +8613957218468 深圳市":                 "王五 +86****8468 深圳市",
		"王五13957218465深圳市":                      "王五139****8465深圳市",
		"Li Si (0755)8612-3456 Shenzhen 518000": "Li Si (07****3456 Shenzhen 518000",
		"张**  138****5678 深圳市…":                 "张**  138****5678 深圳市…",
		"张三 深圳市南山区 518057":                      "张三 深圳市南山区 518057",
		"":                                      "",
	} {
		got := order.MaskLinePhones(in)
		if got != want {
			t.Errorf("MaskLinePhones(%q) = %q, want %q", in, got, want)
		}
		for _, leak := range []string{"13957218465", "57218465", "5721-8464", "8613957218468", "8612-3456"} {
			if strings.Contains(got, leak) {
				t.Errorf("MaskLinePhones(%q) = %q still holds %q", in, got, leak)
			}
		}
	}
}

func TestLinePhone(t *testing.T) {
	for in, want := range map[string]string{
		"王五 13957218465 广东省深圳市南山区":   "13957218465",
		"王五 +86 139-5721-8464 深圳":    "13957218464",
		"王五 +8613957218468 深圳":       "13957218468",
		"收件人王五13957218466广东省":        "13957218466",
		"王五 0755-12345678 深圳 518000": "",
		"王五 深圳市南山区 1号楼":              "",
		"":                           "",
	} {
		if got := order.LinePhone(in); got != want {
			t.Errorf("LinePhone(%q) = %q, want %q", in, got, want)
		}
	}
}
