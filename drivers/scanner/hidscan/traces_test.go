package hidscan_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"wedge/drivers/profile"
	"wedge/drivers/scanner/hidscan"
	"wedge/drivers/scanner/hidscan/hidscantest"
)

var update = flag.Bool("update", false, "rewrite the synthesised traces in testdata")

// Chinese QR payload used by the multi-report traces (a receiving note with a waybill number).
const qrText = "收件人：张三 电话13800138000 地址：浙江省杭州市余杭区文一西路969号 运单号SF1385628716739"

func gbk(t testing.TB, s string) []byte {
	b, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// trace is one replayable trace: its file, the hid profile section to decode it with, and the
// reads it must give (text, AIM).
type trace struct {
	file string
	hid  profile.HID
	make func(t testing.TB) [][]byte
	want []wantRead
}

type wantRead struct{ text, aim string }

var traces = []trace{
	{
		file: "pos_a_honeywell_capture.jsonl", // the python_hon_usbhid capture of the reference, §1.2
		hid:  profile.HID{Layout: hidscan.LayoutPOSA, ReportID: 2, ReportSize: 64},
		make: func(testing.TB) [][]byte {
			r := make([]byte, 64)
			copy(r, []byte{0x02, 0x09, 0x5D, 0x58, 0x30, 0x75, 0x6D, 0x3A, 0x20, 0x4E, 0x2F, 0x41, 0x0D, 0x0A})
			r[61] = 0x3F
			return [][]byte{r}
		},
		want: []wantRead{{"um: N/A", "]X0"}},
	},
	{
		file: "pos_a_qr_utf8.jsonl",
		hid:  profile.HID{Layout: hidscan.LayoutPOSA, ReportID: 2, Suffix: "cr", Charset: "utf-8"},
		make: func(testing.TB) [][]byte {
			return hidscantest.Concat(
				hidscantest.POSA("]C0", 'j', []byte("SF1385628716739\r")),
				hidscantest.POSA("]Q1", 's', []byte(qrText+"\r")))
		},
		want: []wantRead{{"SF1385628716739", "]C0"}, {qrText, "]Q1"}},
	},
	{
		file: "pos_a_qr_gbk.jsonl",
		hid:  profile.HID{Layout: hidscan.LayoutPOSA, ReportID: 2, Suffix: "cr", Charset: "gbk"},
		make: func(t testing.TB) [][]byte {
			return hidscantest.POSA("]Q1", 's', append(gbk(t, qrText), '\r'))
		},
		want: []wantRead{{qrText, "]Q1"}},
	},
	{
		file: "pos_b_newland_qr_utf8.jsonl",
		hid:  profile.HID{Layout: hidscan.LayoutPOSB, ReportID: 2, Suffix: "crlf"},
		make: func(testing.TB) [][]byte {
			return hidscantest.Concat(
				hidscantest.POSB(0x32, []byte("YT8962646785389\r\n")),
				hidscantest.POSB(0x31, []byte(qrText+"\r\n")))
		},
		want: []wantRead{{"YT8962646785389", ""}, {qrText, ""}},
	},
	{
		file: "pos_b_newland_qr_gbk.jsonl",
		hid:  profile.HID{Layout: hidscan.LayoutPOSB, ReportID: 2, Suffix: "cr", Charset: "gbk"},
		make: func(t testing.TB) [][]byte { return hidscantest.POSB(0x31, append(gbk(t, qrText), '\r')) },
		want: []wantRead{{qrText, ""}},
	},
	{
		file: "pos_auto_bracket_at_3.jsonl", // Zebra/Datalogic style: one extra byte before the AIM
		hid:  profile.HID{Layout: hidscan.LayoutPOSAuto, ReportID: 2, Suffix: "cr"},
		make: func(testing.TB) [][]byte {
			r := make([]byte, 64)
			r[0], r[1], r[2] = 0x02, 0x00, 16
			copy(r[3:], "]C0JT5261988016578\r")
			return [][]byte{r}
		},
		want: []wantRead{{"JT5261988016578", "]C0"}},
	},
	{
		file: "kbd_waybill_repeats.jsonl", // repeated characters, Shift, keypad Enter, Tab
		hid:  profile.HID{Layout: hidscan.LayoutKeyboard, IdleCutMS: 300},
		make: func(testing.TB) [][]byte {
			return hidscantest.Concat(
				hidscantest.Type("SF1100228716739\r"),
				hidscantest.Type("773277027280336"), [][]byte{hidscantest.Key(0, hidscantest.KPEnter), hidscantest.Release()},
				hidscantest.Type("JDX024407261700\t"))
		},
		want: []wantRead{{"SF1100228716739", ""}, {"773277027280336", ""}, {"JDX024407261700", ""}},
	},
	{
		file: "kbd_alt_unicode.jsonl", // 笔记本 = Alt+31508 Alt+35760 Alt+26412 (reference §2.4)
		hid:  profile.HID{Layout: hidscan.LayoutKeyboard, AltCodes: hidscan.AltUnicode, IdleCutMS: 300},
		make: func(testing.TB) [][]byte {
			return hidscantest.Concat(hidscantest.Alt("31508"), hidscantest.Alt("35760"), hidscantest.Alt("26412"), hidscantest.Type("\r"))
		},
		want: []wantRead{{"笔记本", ""}},
	},
	{
		file: "kbd_alt_gbk.jsonl", // 记 = GBK 0xBCC7 = Alt+48327, 汉 = 0xBABA = Alt+47802
		hid:  profile.HID{Layout: hidscan.LayoutKeyboard, AltCodes: hidscan.AltGBK, IdleCutMS: 300},
		make: func(testing.TB) [][]byte {
			return hidscantest.Concat(hidscantest.Type("A1"), hidscantest.Alt("48327"), hidscantest.Alt("47802"), hidscantest.Type("\r"))
		},
		want: []wantRead{{"A1记汉", ""}},
	},
	{
		file: "kbd_gs1_alt029.jsonl", // GS1: (01)09501101530003(10)ABC123 GS (21)X9, GS as Alt+029
		hid:  profile.HID{Layout: hidscan.LayoutKeyboard, IdleCutMS: 300},
		make: func(testing.TB) [][]byte {
			return hidscantest.Concat(hidscantest.Type("010950110153000310ABC123"), hidscantest.Alt("029"), hidscantest.Type("21X9\r"))
		},
		want: []wantRead{{"010950110153000310ABC123\x1d21X9", ""}},
	},
}

func TestGenerateTraces(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite testdata")
	}
	for _, tr := range traces {
		var buf bytes.Buffer
		buf.WriteString("# synthesised from the byte layouts of device-protocols.md (no hardware capture); hidscan traces_test.go\n")
		if err := hidscantest.WriteTrace(&buf, hidscantest.Spaced(0, 4*time.Millisecond, tr.make(t)...)); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("testdata", tr.file), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTracesDecode replays every trace file through the decoder its profile section selects.
func TestTracesDecode(t *testing.T) {
	for _, tr := range traces {
		t.Run(tr.file, func(t *testing.T) {
			reps, err := hidscantest.ReadTrace(filepath.Join("testdata", tr.file))
			if err != nil {
				t.Fatal(err)
			}
			// the checked-in file is what the builder makes (so the builders stay honest)
			built := tr.make(t)
			if len(built) != len(reps) {
				t.Fatalf("trace has %d reports, builder %d (rerun with -update?)", len(reps), len(built))
			}
			dc, err := hidscan.NewDecoder(tr.hid)
			if err != nil {
				t.Fatal(err)
			}
			t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
			var got []wantRead
			for i, r := range reps {
				if !bytes.Equal(r.Data, built[i]) {
					t.Fatalf("report %d differs from the builder", i)
				}
				reads, err := dc.Feed(nil, r.Data, t0.Add(r.At))
				if err != nil {
					t.Fatalf("report %d: %v", i, err)
				}
				for _, rd := range reads {
					got = append(got, wantRead{rd.Text, rd.AIM})
				}
			}
			if dc.Pending() {
				t.Errorf("decoder still pending after the trace")
			}
			if len(got) != len(tr.want) {
				t.Fatalf("reads = %q, want %q", got, tr.want)
			}
			for i := range got {
				if got[i] != tr.want[i] {
					t.Errorf("read %d = %q, want %q", i, got[i], tr.want[i])
				}
			}
		})
	}
}
