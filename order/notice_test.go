package order

import (
	"strings"
	"testing"
)

// Every notice has its own Chinese and English text, and fills the blanks its comment names.
func TestNoticeMessages(t *testing.T) {
	a := NoticeArgs{Order: "O-7", Waybill: "SF1234567890123", Operator: "OP-LI", Printer: "zebra-1", Command: "REPRINT", Seconds: 30,
		Faults: Message{ZH: "缺纸", EN: "paper out"}}
	want := map[Notice][]string{
		NoticeSystemError:       nil,
		NoticeOperatorSignedIn:  {"OP-LI"},
		NoticePairOrderScanned:  {"O-7", "30"},
		NoticeReprintArmed:      {"30"},
		NoticeAlreadyPrinted:    {"SF1234567890123", "REPRINT"},
		NoticeLabelSent:         {"SF1234567890123", "30"},
		NoticeAwaitingScanBack:  {"SF1234567890123", "REPRINT"},
		NoticeScanBackExpired:   {"REPRINT"},
		NoticeReprinted:         {"SF1234567890123"},
		NoticeReprintSent:       {"SF1234567890123"},
		NoticeProxyLabelSent:    {"SF1234567890123"},
		NoticeProxyReprinted:    {"SF1234567890123"},
		NoticePrinterFault:      {"zebra-1"},
		NoticePrinterFaultClear: {"zebra-1"},
		NoticePrinterFaultCheck: {"zebra-1", "SF1234567890123", "30"},
		NoticePrinterRecovered:  {"zebra-1"},
	}
	unknown := Notice("nope").Message(a)
	seen := map[Message]Notice{}
	for n, blanks := range want {
		m := n.Message(a)
		if m.ZH == "" || m.EN == "" || m == unknown {
			t.Fatalf("%s: %+v", n, m)
		}
		if other, dup := seen[m]; dup {
			t.Fatalf("%s and %s read the same: %+v", n, other, m)
		}
		seen[m] = n
		for _, b := range blanks {
			if !strings.Contains(m.ZH, b) || !strings.Contains(m.EN, b) {
				t.Fatalf("%s: %q missing in %+v", n, b, m)
			}
		}
		if strings.HasPrefix(string(n), "printer_fault") && (!strings.Contains(m.ZH, "缺纸") || !strings.Contains(m.EN, "paper out")) {
			t.Fatalf("%s: faults missing in %+v", n, m)
		}
	}
}
