package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// fillAll sets every field of the struct v points to, recursively, to a distinct non-zero value,
// and fails on a field type it does not know: a field added to Entry or OrderMsg later must be
// filled here, and then it must be decoded by hand or the fast-path tests below fail.
func fillAll(t testing.TB, v reflect.Value, n *int) {
	t.Helper()
	for i := 0; i < v.NumField(); i++ {
		f, name := v.Field(i), v.Type().Field(i).Name
		*n++
		switch f.Kind() {
		case reflect.String:
			f.SetString(fmt.Sprintf("%s-%d 中文", strings.ToLower(name), *n))
		case reflect.Uint64:
			f.SetUint(uint64(*n) * 1000003)
		case reflect.Slice:
			if f.Type().Elem().Kind() != reflect.String {
				t.Fatalf("field %s: slice of %s not handled by the test", name, f.Type().Elem())
			}
			f.Set(reflect.ValueOf([]string{fmt.Sprintf("sku-%d", *n), "第二"}))
		case reflect.Pointer:
			p := reflect.New(f.Type().Elem())
			fillAll(t, p.Elem(), n)
			f.Set(p)
		default:
			t.Fatalf("field %s: kind %s not handled by the test", name, f.Kind())
		}
	}
}

// sameAsEncodingJSON fails unless DecodeBatch yields exactly json.Unmarshal's result and error.
func sameAsEncodingJSON(t testing.TB, body []byte) {
	t.Helper()
	var want Batch
	werr := json.Unmarshal(body, &want)
	got, gerr := DecodeBatch(body)
	if (werr == nil) != (gerr == nil) || werr != nil && werr.Error() != gerr.Error() {
		t.Fatalf("%q: error %v, encoding/json %v", body, gerr, werr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\n got %#v\nwant %#v", body, got, want)
	}
	var wm OrderMsg
	werr = json.Unmarshal(body, &wm)
	gm, gerr := DecodeOrderMsg(body)
	if (werr == nil) != (gerr == nil) || werr != nil && werr.Error() != gerr.Error() {
		t.Fatalf("%q: order message error %v, encoding/json %v", body, gerr, werr)
	}
	if !reflect.DeepEqual(gm, wm) {
		t.Fatalf("%q: order message\n got %#v\nwant %#v", body, gm, wm)
	}
	// The agent's intake reads an element's hseq from DecodeOrderMsg when it succeeds, in place of
	// decoding the hseq alone: the two must agree.
	var h struct {
		HSeq uint64 `json:"hseq"`
	}
	if gerr == nil && (json.Unmarshal(body, &h) != nil || h.HSeq != gm.HSeq) {
		t.Fatalf("%q: hseq %d, decoded alone %d", body, gm.HSeq, h.HSeq)
	}
}

// fast fails unless body takes the hand-written path (and yields encoding/json's result).
func fast(t testing.TB, body []byte) {
	t.Helper()
	if _, ok := decodeBatchFast(body); !ok {
		t.Fatalf("%s: not decoded by the fast path", body)
	}
	sameAsEncodingJSON(t, body)
}

func TestDecodeBatchEveryField(t *testing.T) {
	var e Entry
	n := 0
	fillAll(t, reflect.ValueOf(&e).Elem(), &n)
	b := Batch{Site: "s1", Agent: "pc-1", JournalID: "J-1", Events: []Entry{e, {JournalID: "J-1", Seq: 2}, e}}
	body, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	fast(t, body)
	got, _ := DecodeBatch(body)
	if !reflect.DeepEqual(got, b) {
		t.Fatalf("round trip\n got %#v\nwant %#v", got, b)
	}
	// Batch's own fields are the four decoded by hand; a fifth must be added there (and here).
	if n := reflect.TypeOf(Batch{}).NumField(); n != 4 {
		t.Fatalf("Batch has %d fields: decode the new one in decoder.batch", n)
	}
}

// uplinkBatch is a batch shaped like the uplink's: sealed entries of the usual kinds, an intake
// carrying its order, Chinese free text, written by Batch.AppendJSON as the uplink does.
func uplinkBatch(n int) []byte {
	b := Batch{Site: "site-1", Agent: "pc-01", JournalID: "J-20261206-abcdef", Events: []Entry{}}
	prev := ""
	for i := range n {
		e := Entry{JournalID: b.JournalID, Seq: uint64(i + 1), Kind: KindStep, OrderID: fmt.Sprintf("FP%022X", i),
			From: "pending_allocation", To: "waybill_printed", Waybill: fmt.Sprintf("SF%010d", i), Carrier: "sf",
			Station: "print-1", Device: "scan-p01", Operator: "OP-7", Trigger: TriggerPrint, Job: fmt.Sprintf("job-%d", i),
			LabelVersion: 1, At: "2026-12-06T06:00:00.123Z"}
		switch i % 4 {
		case 1:
			e.Kind, e.Trigger, e.From, e.To, e.Job, e.LabelVersion = KindIntake, TriggerHub, "", "pending_allocation", "", 0
			e.Order = &OrderMsg{Type: TypeOrder, HSeq: uint64(i), OrderID: e.OrderID, Channel: "tmall", ChannelOrderNo: "T123",
				BuyerID: "b-9", OrderedAt: "2026-12-06T05:00:00.000Z", PaidAt: "2026-12-06T05:01:00.000Z",
				SKUs: []string{"SKU-1", "SKU-2"}, Payment: "full", RecipientName: "张三", RecipientPhone: "138****0000",
				RecipientAddress: "浙江省杭州市西湖区 1 号", Version: 3}
		case 2:
			e.Kind, e.Reason, e.Detail, e.Code = KindReject, "wrong_state", "订单已揽收，不能再打印", "SF123"
		}
		e.Seal(prev)
		prev = e.Hash
		b.Events = append(b.Events, e)
	}
	return b.AppendJSON(nil)
}

func TestDecodeBatchUplinkShape(t *testing.T) {
	for _, n := range []int{0, 1, 7, MaxBatchEntries} {
		body := uplinkBatch(n)
		fast(t, body)
		b, _ := DecodeBatch(body)
		for i := range b.Events { // the chain still links: every byte of every entry came back
			var prev *Entry
			if i > 0 {
				prev = &b.Events[i-1]
			}
			if err := VerifyLink(prev, b.Events[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// Each of these is decoded exactly as encoding/json decodes it; fast says which the hand-written
// path must take (the others must fall back, or fail like encoding/json).
func TestDecodeBatchEdgeCases(t *testing.T) {
	cases := []struct {
		body string
		fast bool
	}{
		{`{}`, true},
		{` {"site":"a" , "agent" : "b",` + "\n\t\r" + `"journal_id":"j","events":[ ] } `, true},
		{`{"events":[{}]}`, true},
		{`{"events":[{"seq":0},{"seq":18446744073709551615}]}`, true},
		{`{"events":[{"seq":18446744073709551616}]}`, false}, // overflow: encoding/json's error
		{`{"events":[{"seq":99999999999999999999}]}`, false},
		{`{"events":[{"seq":-1}]}`, false},
		{`{"events":[{"seq":1.0}]}`, false},
		{`{"events":[{"seq":1e3}]}`, false},
		{`{"events":[{"seq":01}]}`, false},
		{`{"events":[{"seq":"1"}]}`, false},
		{`{"events":[{"seq":null}]}`, false},
		{`{"events":[{"kind":null}]}`, false},
		{`{"events":[{"kind":1}]}`, false},
		{`{"events":[{"kind":true}]}`, false},
		{`{"events":[{"order":null}]}`, false},
		{`{"events":[{"order":{}}]}`, true},
		{`{"events":[{"order":{"skus":[]}}]}`, true},
		{`{"events":[{"order":{"skus":null}}]}`, false},
		{`{"events":[{"order":{"skus":["a",1]}}]}`, false},
		{`{"events":[{"order":{"type":"order","type":"x"}}]}`, false},
		{`{"events":null}`, false},
		{`{"events":{}}`, false},
		{`{"events":[null]}`, false},
		{`{"events":[1]}`, false},
		{`{"site":null}`, false},
		{`{"site":"a","site":"b"}`, false}, // last wins in encoding/json
		{`{"Site":"a"}`, false},            // case-insensitive key
		{`{"SITE":"a","site":"b"}`, false}, // both match
		{`{"events":[{"SEQ":3}]}`, false},  // case-insensitive key
		{`{"events":[{"ſeq":3}]}`, false},  // folds to seq (long s)
		{`{"events":[{"unknown":3,"seq":1}]}`, false},
		{`{"extra":[1,{"a":null}],"site":"a"}`, false},
		{`{"site":"a\u0062"}`, false},
		{`{"site":"a\"b"}`, false},
		{`{"si\u0074e":"a"}`, false},
		{"{\"site\":\"bad\xffutf8\"}", false}, // encoding/json makes it U+FFFD
		{"{\"site\":\"\xe4\xb8\"}", false},
		{"{\"site\":\"\xed\xa0\x80\"}", false}, // a surrogate in UTF-8
		{"{\"site\":\"\xef\xbf\xbd 中文 😀\"}", true},
		{"{\"site\":\"tab\there\"}", false}, // a control character: invalid JSON
		{"{\"site\":\"del\x7f\"}", true},
		{`{"site":"a"}x`, false},
		{`{"site":"a"}{}`, false},
		{`{"site":"a",}`, false},
		{`{"site":"a"`, false},
		{`{"site":"a`, false},
		{`{"events":[{},]}`, false},
		{`{"events":[`, false},
		{`null`, false},
		{` null `, false},
		{`[]`, false},
		{`"x"`, false},
		{`1`, false},
		{``, false},
		{` `, false},
		{`{"site":"a"}` + "\n", true},
		{"\ufeff{}", false},
	}
	for _, c := range cases {
		if _, ok := decodeBatchFast([]byte(c.body)); ok != c.fast {
			t.Errorf("%q: fast path %v, want %v", c.body, ok, c.fast)
		}
		sameAsEncodingJSON(t, []byte(c.body))
	}
}

// Batch.AppendJSON writes exactly json.Marshal's bytes.
func TestBatchAppendJSONMatchesEncodingJSON(t *testing.T) {
	var e Entry
	n := 0
	fillAll(t, reflect.ValueOf(&e).Elem(), &n)
	for _, b := range []Batch{
		{},
		{Site: "s", Agent: "a", JournalID: "j", Events: []Entry{}},
		{Site: "<s>", Agent: "a&b", JournalID: "j\u2028\"", Events: []Entry{e, {}, e}},
		{Site: "bad\xff", Events: []Entry{{Detail: "\x00\t"}}},
	} {
		want, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		if got := b.AppendJSON([]byte("x")); !bytes.Equal(got[1:], want) || got[0] != 'x' {
			t.Fatalf("\n got %s\nwant %s", got[1:], want)
		}
	}
	var real Batch
	if err := json.Unmarshal(uplinkBatch(9), &real); err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(real)
	if got := real.AppendJSON(nil); !bytes.Equal(got, want) {
		t.Fatalf("\n got %s\nwant %s", got, want)
	}
}

// DecodeOrderMsg is what ParseDownlink decodes each element with: the same on its own shapes.
func TestDecodeOrderMsg(t *testing.T) {
	var m OrderMsg
	n := 0
	fillAll(t, reflect.ValueOf(&m).Elem(), &n)
	raw, _ := json.Marshal(m)
	d := decoder{b: raw}
	var got OrderMsg
	if !d.order(&got) || d.i != len(raw) {
		t.Fatalf("%s: not decoded by the fast path", raw)
	}
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("\n got %#v\nwant %#v", got, m)
	}
	for _, s := range []string{`{"type":"order"}`, `{"type":"order","hseq":1}x`, `{"Type":"order"}`, `{"hseq":-1}`, `[]`, `null`} {
		sameAsEncodingJSON(t, []byte(s))
	}
}

// DecodeBatch and DecodeOrderMsg never differ from encoding/json, in results or in errors, and
// never panic.
func FuzzDecodeBatch(f *testing.F) {
	f.Add(uplinkBatch(5))
	f.Add([]byte(`{"site":"a","agent":"b","journal_id":"j","events":[{"seq":1,"kind":"step","order":{"skus":["x"],"hseq":2}}]}`))
	f.Add([]byte(`{"events":[{"Seq":1,"seq":2}]}`))
	f.Add([]byte(`{"site":"a\u00e9","events":null}`))
	f.Add([]byte(`{"type":"order","hseq":3,"skus":[],"version":18446744073709551615}`))
	f.Add([]byte("{\"site\":\"\xff\"}"))
	f.Fuzz(func(t *testing.T, body []byte) {
		sameAsEncodingJSON(t, body)
	})
}

// fullBatch is the largest uplinkBatch within MaxBatchBytes (the uplink's bound), and its entries.
func fullBatch() (body []byte, n int) {
	for n = 1; n < MaxBatchEntries && len(uplinkBatch(n+1)) <= MaxBatchBytes; n++ {
	}
	return uplinkBatch(n), n
}

func BenchmarkDecodeBatch(b *testing.B) {
	body, n := fullBatch()
	b.Run("DecodeBatch", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeBatch(body); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/entry")
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			var bt Batch
			if err := json.Unmarshal(body, &bt); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/entry")
	})
}

// sink keeps the benchmarks' results on the heap, as the uplink's batches are.
var sink []byte

func BenchmarkEncodeBatch(b *testing.B) {
	body, n := fullBatch()
	var bt Batch
	if err := json.Unmarshal(body, &bt); err != nil {
		b.Fatal(err)
	}
	b.Run("AppendJSON", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf = bt.AppendJSON(buf[:0]) // as the uplink does: a reused buffer, the payload copied out
			sink = bytes.Clone(buf)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/entry")
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(bt); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/entry")
	})
}

func BenchmarkDecodeOrderMsg(b *testing.B) {
	raw, _ := json.Marshal(OrderMsg{Type: TypeOrder, HSeq: 12345, OrderID: "FP0123456789ABCDEF01234567", Channel: "tmall",
		ChannelOrderNo: "T1234567890", BuyerID: "b-9", OrderedAt: "2026-12-06T05:00:00.000Z", PaidAt: "2026-12-06T05:01:00.000Z",
		SKUs: []string{"SKU-1", "SKU-2"}, Payment: "full", RecipientName: "张三", RecipientPhone: "13800000000",
		RecipientAddress: "浙江省杭州市西湖区 1 号", Version: 3})
	b.Run("DecodeOrderMsg", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeOrderMsg(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m OrderMsg
			if err := json.Unmarshal(raw, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
