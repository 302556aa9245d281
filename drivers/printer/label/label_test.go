package label

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var waybills = []string{"SF1385628716739", "73610555582883", "YT8962646785389", "JDVA11408814483",
	"1207119765021", "EA123456785CN", "DPK202252612836", "AB-12", "12"}

func zbarimg(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("zbarimg")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("zbarimg is required under CI: %v", err)
		}
		t.Skip("zbarimg not installed (Debian zbar-tools)")
	}
	return p
}

func TestPNGDecodesWithZbar(t *testing.T) {
	zb := zbarimg(t)
	dir := t.TempDir()
	for _, size := range []Size{Size76x130, Size100x180} {
		for _, dpi := range []int{203, 300} {
			for _, wb := range waybills {
				l := Label{Waybill: wb, Carrier: "顺丰 SF Express", OrderID: "TB20261125-0001",
					RecipientName: "张三丰", RecipientPhone: "13812345678", SKUSummary: "SKU-1 x2"}
				img, err := PNG(l, size, dpi)
				if err != nil {
					t.Fatal(err)
				}
				f := filepath.Join(dir, "l.png")
				if err := os.WriteFile(f, img, 0o644); err != nil {
					t.Fatal(err)
				}
				out, err := exec.Command(zb, "--raw", "-q", f).Output()
				if err != nil {
					t.Fatalf("%v %d dpi %q: zbarimg: %v (%q)", size, dpi, wb, err, out)
				}
				if got := strings.TrimRight(string(out), "\n"); got != wb {
					t.Fatalf("%v %d dpi: zbarimg read %q, want exactly %q", size, dpi, got, wb)
				}
			}
		}
	}
}

func TestCode128(t *testing.T) {
	for _, c := range []struct {
		in    string
		start int
		n     int // symbols incl. start, check, stop
	}{
		{"12", startC, 4}, // start C, 12, check, stop
		{"1234", startC, 5},
		{"AB", startB, 5},
		{"SF1385628716739", startB, 2 + 1 + 1 + 7 + 2}, // S F, code C, 13 digits → odd: 1 in B first
		{"73610555582883", startC, 1 + 7 + 2},
	} {
		codes, err := Code128(c.in)
		if err != nil {
			t.Fatal(err)
		}
		if codes[0] != c.start || codes[len(codes)-1] != stopSym || len(codes) != c.n {
			t.Errorf("%q: %v (want start %d, %d symbols)", c.in, codes, c.start, c.n)
		}
		sum := codes[0]
		for k := 1; k < len(codes)-2; k++ {
			sum += k * codes[k]
		}
		if codes[len(codes)-2] != sum%103 {
			t.Errorf("%q: check %d, want %d", c.in, codes[len(codes)-2], sum%103)
		}
	}
	for _, p := range code128Patterns {
		s := 0
		for _, r := range p {
			s += int(r - '0')
		}
		if (len(p) == 6 && s != 11) || (len(p) == 7 && s != 13) {
			t.Errorf("pattern %s sums to %d", p, s)
		}
	}
	for _, bad := range []string{"", "顺丰", "A\tB"} {
		if _, err := Code128(bad); !errors.Is(err, ErrWaybill) {
			t.Errorf("Code128(%q) = %v", bad, err)
		}
	}
}

func TestRender(t *testing.T) {
	l := Label{Waybill: "SF1385628716739", Carrier: "顺丰", OrderID: "O-1", RecipientName: "张三", RecipientPhone: "13812345678", SKUSummary: `A "x" ^B~`}
	z, err := Render(l, Size76x130, 203, LangZPL)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"^XA", "^CI28", "^BCN,", "^FD" + l.Waybill + "^FS", "顺丰", "138****5678", "TO 张三 ", "_5EB_7E", "^XZ"} {
		if !bytes.Contains(z, []byte(want)) {
			t.Errorf("ZPL lacks %q:\n%s", want, z)
		}
	}
	if bytes.Contains(z, []byte("13812345678")) || bytes.Contains(z, []byte("张*")) {
		t.Error("ZPL carries the unmasked phone or a masked name (carrier labels print the name whole)")
	}
	ts, err := Render(l, Size100x180, 300, LangTSPL)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"SIZE 100 mm,180 mm", `"128"`, `"` + l.Waybill + `"`, "\xcb\xb3\xb7\xe1" /* 顺丰 in GBK */, `\["]x\["]`, "PRINT 1,1"} {
		if !bytes.Contains(ts, []byte(want)) {
			t.Errorf("TSPL lacks %q:\n%q", want, ts)
		}
	}
	if _, err := Render(l, Size{50, 50}, 203, LangZPL); !errors.Is(err, ErrSize) {
		t.Error(err)
	}
	if _, err := Render(l, Size76x130, 600, LangZPL); !errors.Is(err, ErrDPI) {
		t.Error(err)
	}
	if _, err := Render(l, Size76x130, 203, "epl"); !errors.Is(err, ErrLang) {
		t.Error(err)
	}
	if _, err := PNG(Label{Waybill: strings.Repeat("X", 200)}, Size76x130, 203); !errors.Is(err, ErrWaybill) {
		t.Errorf("overlong waybill: %v", err)
	}
}
