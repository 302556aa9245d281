package label

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"
)

const addr = "广东省深圳市南山区粤海街道科技园科苑路8号讯美科技广场3号楼12层1201室"

// The label prints the recipient as carrier e-waybill labels do: the name whole (the courier asks
// for the recipient by name), the phone masked, the full address wrapped over lines that fit the
// label, in ZPL and TSPL alike.
func TestAddressPrintedInFull(t *testing.T) {
	l := Label{Waybill: "SF1385628716739", Carrier: "顺丰", OrderID: "O-1", RecipientName: "张三", RecipientPhone: "13812345678", RecipientAddress: addr}
	for _, size := range []Size{Size76x130, Size100x180} {
		for _, dpi := range []int{203, 300} {
			z, err := Render(l, size, dpi, LangZPL)
			if err != nil {
				t.Fatal(err)
			}
			var got strings.Builder
			for _, m := range regexp.MustCompile(`\^FD(?:地址|    ) (?:ADDR|    ) ([^\^]*)\^FS`).FindAllSubmatch(z, -1) {
				got.Write(m[1])
			}
			if got.String() != addr {
				t.Fatalf("%v %d dpi: ZPL address lines %q, want the full address\n%s", size, dpi, got.String(), z)
			}
			if !bytes.Contains(z, []byte("TO 张三 138****5678")) || bytes.Contains(z, []byte("13812345678")) {
				t.Fatalf("ZPL recipient line:\n%s", z)
			}
			ts, err := Render(l, size, dpi, LangTSPL)
			if err != nil {
				t.Fatal(err)
			}
			gbk, _ := simplifiedchinese.GBK.NewEncoder().String("科苑路")
			if !bytes.Contains(ts, []byte(gbk)) && !bytes.Contains(ts, []byte(gbk[:4])) {
				t.Fatalf("TSPL lacks the address:\n%q", ts)
			}
			name, _ := simplifiedchinese.GBK.NewEncoder().String("TO 张三 138****5678")
			if !bytes.Contains(ts, []byte(name)) || bytes.Contains(ts, []byte("13812345678")) {
				t.Fatalf("TSPL recipient line:\n%q", ts)
			}
			if _, err := PNG(l, size, dpi); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestWrap(t *testing.T) {
	if got := wrap("ab广东cd", 4, 5); strings.Join(got, "|") != "ab广|东cd" {
		t.Fatalf("%q", got)
	}
	got := wrap(strings.Repeat("深", 30), 10, 2)
	if len(got) != 2 || !strings.HasSuffix(got[1], "…") || len([]rune(got[0])) != 5 {
		t.Fatalf("cut: %q", got)
	}
	if got := wrap("short", 10, 2); len(got) != 1 || got[0] != "short" {
		t.Fatalf("%q", got)
	}
}
