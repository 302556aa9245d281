package jobscan

import (
	"bytes"
	"reflect"
	"regexp"
	"testing"

	"wedge/drivers/printer/label"
)

const zplTwo = "^XA^FO10,10^A0N,30,30^FDhello^FS^FO10,60^BY3^BCN,100,Y,N,N^FDSF1385628716739^FS" +
	"^FO10,200^BQN,2,5^FDQA,https://example.com/not-a-waybill^FS^XZ\r\n" +
	"^xa^fo10,10^b3n,n,100,y,n^fh^fdYT8962646785389^fs^XZ\r\n"

func TestZPLTwoLabelsSplitAnywhere(t *testing.T) {
	want := []string{"SF1385628716739", "YT8962646785389"}
	for cut := 0; cut <= len(zplTwo); cut++ {
		for cut2 := cut; cut2 <= len(zplTwo); cut2 += 7 {
			s := New(nil)
			s.Write([]byte(zplTwo[:cut]))
			s.Write([]byte(zplTwo[cut:cut2]))
			s.Write([]byte(zplTwo[cut2:]))
			s.Flush()
			if got := s.Waybills(); !reflect.DeepEqual(got, want) || s.Labels() != 2 {
				t.Fatalf("cut %d/%d: %v, %d labels; want %v, 2", cut, cut2, got, s.Labels(), want)
			}
		}
	}
}

func TestZPLEscapesAndInvocations(t *testing.T) {
	for job, want := range map[string][]string{
		"^XA^BCN,80^FH^FDAB_2DCD^FS^XZ":                                         {"AB-CD"},
		`^XA^BCN,80^FH\^FDAB\2DCD^FS^XZ`:                                        {"AB-CD"},
		"^XA^BCN,80^FD>;73610555582883^FS^XZ":                                   {"73610555582883"},
		"^XA^BCN,80^FD>:JD>5123456^FS^XZ":                                       {"JD123456"},
		"^XA^BCN,80^FDA><B^FS^XZ":                                               {"A>B"},
		"^XA^BQN^FDQA,XYZ^FS^BCN^FDONE^FS^XZ":                                   {"ONE"},
		"^XA^FDNOTABARCODE^FS^XZ":                                               nil,
		"^XA^BCN^FD" + string(bytes.Repeat([]byte("9"), MaxField+1)) + "^FS^XZ": nil,
		"^XA^BCN^FDDUP^FS^BCN^FDDUP^FS^XZ":                                      {"DUP"},
	} {
		if got := Scan([]byte(job), nil); !reflect.DeepEqual(got, want) {
			t.Errorf("%q: %v, want %v", job, got, want)
		}
	}
}

func TestTSPL(t *testing.T) {
	job := "SIZE 76 mm,130 mm\r\nCLS\r\nTEXT 10,10,\"TSS24.BF2\",0,1,1,\"x\"\r\n" +
		"BARCODE 40,40,\"128\",120,1,0,2,2,\"JT5261988016578\"\r\n" +
		"QRCODE 10,10,L,4,A,0,\"NOPE\"\r\nbarcode 10,10,\"EAN13\",50,1,0,2,2,\"4006381333931\"\r\n" +
		"PRINT 1,1\r\nCLS\r\nBARCODE 40,40,\"128M\",120,1,0,2,2,\"A\\[\"]B\"\r\nPRINT 1\r\n" +
		"BARCODE 40,40,\"128\",120,1,0,2,2,\"NO-NEWLINE\""
	for cut := 0; cut <= len(job); cut++ {
		s := New(nil)
		s.Write([]byte(job[:cut]))
		s.Write([]byte(job[cut:]))
		s.Flush()
		if got, want := s.Waybills(), []string{"JT5261988016578", `A"B`, "NO-NEWLINE"}; !reflect.DeepEqual(got, want) || s.Labels() != 2 {
			t.Fatalf("cut %d: %v (%d labels), want %v", cut, got, s.Labels(), want)
		}
	}
}

func TestFilter(t *testing.T) {
	f := regexp.MustCompile(`^(SF\d{13}|YT\d{13})$`)
	job := zplTwo + "^XA^BCN^FDINTERNAL-123^FS^XZ"
	if got := Scan([]byte(job), &Options{Filter: f}); !reflect.DeepEqual(got, []string{"SF1385628716739", "YT8962646785389"}) {
		t.Fatalf("filtered: %v", got)
	}
}

func TestRenderedLabelsScanBack(t *testing.T) {
	l := label.Label{Waybill: "SF1385628716739", Carrier: "顺丰", OrderID: "O-1", SKUSummary: "a_b^c"}
	for _, lang := range []string{label.LangZPL, label.LangTSPL} {
		job, err := label.Render(l, label.Size76x130, 203, lang)
		if err != nil {
			t.Fatal(err)
		}
		if got := Scan(job, nil); !reflect.DeepEqual(got, []string{l.Waybill}) {
			t.Errorf("%s: scanned %v from\n%s", lang, got, job)
		}
	}
}

func FuzzJobScanner(f *testing.F) {
	f.Add([]byte(zplTwo), 5)
	f.Add([]byte("BARCODE 1,2,\"128\",3,1,0,2,2,\"X\"\r\nPRINT 1\r\n"), 11)
	f.Add([]byte("^XA^BC^FH_^FD_4_1^FS^XZ"), 3)
	f.Fuzz(func(t *testing.T, job []byte, cut int) {
		whole := Scan(job, nil)
		if cut < 0 {
			cut = -cut
		}
		if len(job) > 0 {
			cut %= len(job) + 1
		} else {
			cut = 0
		}
		s := New(nil)
		s.Write(job[:cut])
		s.Write(job[cut:])
		s.Flush()
		if got := s.Waybills(); !reflect.DeepEqual(got, whole) {
			t.Fatalf("split at %d: %q, whole: %q", cut, got, whole)
		}
		if len(s.field) > MaxField || len(s.line) > MaxLine || len(whole) > MaxWaybills {
			t.Fatal("unbounded buffers")
		}
		for _, w := range whole {
			if len(w) > MaxLine {
				t.Fatalf("waybill of %d bytes", len(w))
			}
		}
	})
}

func BenchmarkJobScanner(b *testing.B) {
	job := bytes.Repeat([]byte(zplTwo), 100)
	b.SetBytes(int64(len(job)))
	b.ReportAllocs()
	for b.Loop() {
		s := New(nil)
		s.Write(job)
		s.Flush()
	}
}
