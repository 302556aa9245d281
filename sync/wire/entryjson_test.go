package wire

import (
	"bytes"
	"encoding/json"
	"testing"
)

// AppendJSON must write exactly what encoding/json writes: the hash covers those bytes.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	odd := []string{"", "a", "<b>", "a&b", "q\"uote", "back\\slash", "tab\t", "nl\n", "\x00", "\x7f", "中文 已打印",
		"\u2028", "\u2029", "bad\xffutf8", "\xe4\xb8", "emoji 😀", "PK-00001", "2026-12-06T06:00:00.000Z"}
	base := Entry{JournalID: "J-1", Seq: 7, Kind: KindStep, OrderID: "o1", From: "pending_allocation", To: "waybill_printed",
		Waybill: "SF1", Carrier: "sf", Station: "print-1", Device: "scan-p01", Operator: "OP-1", Trigger: TriggerScan,
		Code: "SF1", Job: "job-1", LabelVersion: 1, At: "2026-12-06T06:00:00.000Z", PrevHash: "ab", Hash: "cd"}
	cases := []Entry{{}, base, {Seq: 1 << 63, InterceptID: 3, Intercept: "requested"}}
	withOrder := base
	withOrder.Kind, withOrder.Order = KindIntake, &OrderMsg{Type: TypeOrder, OrderID: "o1", Recipient: "<张三>", SKUs: []string{"a&b"}}
	cases = append(cases, withOrder)
	for _, s := range odd {
		for f := range 19 {
			e := base
			p := [...]*string{&e.JournalID, &e.Kind, &e.OrderID, &e.From, &e.To, &e.Waybill, &e.Carrier, &e.Station, &e.Device,
				&e.Operator, &e.Trigger, &e.Reason, &e.Detail, &e.Code, &e.Job, &e.Intercept, &e.At, &e.PrevHash, &e.Hash}
			*p[f] = s
			cases = append(cases, e)
		}
	}
	for i, e := range cases {
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.AppendJSON([]byte("x")); !bytes.Equal(got[1:], want) || got[0] != 'x' {
			t.Fatalf("case %d: AppendJSON\n got %s\nwant %s", i, got[1:], want)
		}
		c := e
		c.Hash = ""
		want, _ = json.Marshal(c)
		if got := e.Canonical(); !bytes.Equal(got, want) {
			t.Fatalf("case %d: Canonical\n got %s\nwant %s", i, got, want)
		}
	}
}

func FuzzAppendJSON(f *testing.F) {
	f.Add("J", uint64(1), "step", "o", "<&>", "\u2028", "at")
	f.Fuzz(func(t *testing.T, jid string, seq uint64, kind, oid, detail, reason, at string) {
		e := Entry{JournalID: jid, Seq: seq, Kind: kind, OrderID: oid, Detail: detail, Reason: reason, At: at, LabelVersion: seq / 2}
		want, _ := json.Marshal(e)
		if got := e.AppendJSON(nil); !bytes.Equal(got, want) {
			t.Fatalf("got %s want %s", got, want)
		}
	})
}
