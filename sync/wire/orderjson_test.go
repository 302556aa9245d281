package wire

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// OrderMsg.AppendJSON must write exactly what encoding/json writes, for every field: each field
// is set on its own (found by reflection, so a field added to OrderMsg and not to AppendJSON
// fails here), to plain and to odd strings.
func TestOrderMsgAppendJSONMatchesEncodingJSON(t *testing.T) {
	odd := []string{"", "a", "<b>", "a&b", "q\"uote", "back\\slash", "tab\t", "\x00", "中文", "\u2028", "bad\xffutf8", "😀"}
	cases := []OrderMsg{{}, {Type: TypeOrder, HSeq: 1 << 63, OrderID: "o1", SKUs: []string{"a", "<b>"}, Version: 3}}
	typ := reflect.TypeOf(OrderMsg{})
	for i := range typ.NumField() {
		for _, s := range odd {
			var m OrderMsg
			v := reflect.ValueOf(&m).Elem().Field(i)
			switch v.Kind() {
			case reflect.String:
				v.SetString(s)
			case reflect.Uint64:
				v.SetUint(uint64(len(s)) * 1234567)
			case reflect.Slice:
				v.Set(reflect.ValueOf([]string{s, s + "x"}))
			default:
				t.Fatalf("field %s of kind %s: extend AppendJSON and this test", typ.Field(i).Name, v.Kind())
			}
			cases = append(cases, m)
		}
	}
	for i, m := range cases {
		want, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.AppendJSON([]byte("x")); got[0] != 'x' || !bytes.Equal(got[1:], want) {
			t.Fatalf("case %d: AppendJSON\n got %s\nwant %s", i, got[1:], want)
		}
	}
}

func FuzzOrderMsgAppendJSON(f *testing.F) {
	f.Add("order", uint64(1), "o<1>", "\u2028", "sku&", "张三")
	f.Fuzz(func(t *testing.T, typ string, hseq uint64, id, recipient, sku, name string) {
		m := OrderMsg{Type: typ, HSeq: hseq, OrderID: id, Recipient: recipient, SKUs: []string{sku}, RecipientName: name, Version: hseq / 3}
		want, _ := json.Marshal(m)
		if got := m.AppendJSON(nil); !bytes.Equal(got, want) {
			t.Fatalf("got %s want %s", got, want)
		}
	})
}
