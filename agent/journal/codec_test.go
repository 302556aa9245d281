package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"wedge/order"
	"wedge/sync/wire"
)

// Strings that encoding/json escapes or replaces, and plain ones.
var nasty = []string{"", "plain", `<a href="x">&amp;</a>`, "tab\tnl\ncr\rbs\bff\f\x01\x1f\x7f", `back\slash "q"`,
	"中文 順豐", "\u2028\u2029", "bad \xff\xfe utf8 \xe4\xb8", "\xed\xa0\x80 surrogate", "\uFFFD real", "emoji 📦"}

// fill sets every field of the struct v points to (recursing into structs, pointers and slices)
// from the seed: a field added to wire.Entry, wire.OrderMsg or order.Order later is set too, so
// the tests below fail until the codec knows it.
func fill(v reflect.Value, seed int) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(nasty[seed%len(nasty)])
	case reflect.Uint64, reflect.Uint, reflect.Uint32:
		v.SetUint(uint64(seed)*0x9E3779B97F4A7C15>>uint(seed%60) + 1)
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(seed) + 1)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1+seed%3, 1+seed%3)
		for i := range s.Len() {
			fill(s.Index(i), seed+i+1)
		}
		v.Set(s)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), seed)
		v.Set(p)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			zones := []*time.Location{time.UTC, time.Local, time.FixedZone("CST", 8*3600), time.FixedZone("", -(5*3600 + 30*60)),
				time.FixedZone("LMT", 8*3600+5*60+43)}
			t := time.Date(2026, 11, 11, 1, 2, 3, seed*1000+7, zones[seed%len(zones)])
			v.Set(reflect.ValueOf(t))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), seed*31+i)
			}
		}
	default:
		panic(fmt.Sprintf("fill: no rule for %s", v.Type()))
	}
}

func filledEntry(seed int) wire.Entry {
	var e wire.Entry
	fill(reflect.ValueOf(&e).Elem(), seed)
	return e
}

func filledOrder(seed int) order.Order {
	var o order.Order
	fill(reflect.ValueOf(&o).Elem(), seed)
	return o
}

// viaJSON is v as it reads back from encoding/json.
func viaJSON[T any](t *testing.T, v T) T {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEntryJSONIsEncodingJSON(t *testing.T) {
	for seed := range 200 {
		e := filledEntry(seed)
		if seed%4 == 0 {
			e = wire.Entry{Kind: wire.KindNote, Detail: nasty[seed%len(nasty)]} // sparse: omitempty
		}
		if seed%5 == 0 && e.Order != nil {
			e.Order.SKUs = []string{} // empty, not nil: omitted
		}
		want, _ := json.Marshal(e)
		if got := e.AppendJSON(nil); !bytes.Equal(got, want) {
			t.Fatalf("seed %d:\n got %s\nwant %s", seed, got, want)
		}
		if got := e.AppendCanonical(nil); !bytes.Equal(got, e.Canonical()) {
			t.Fatalf("seed %d canonical:\n got %s\nwant %s", seed, got, e.Canonical())
		}
	}
}

func TestEntryRecordRoundTrip(t *testing.T) {
	for seed := range 200 {
		e := filledEntry(seed)
		if seed%7 == 0 {
			e.Order = nil
		}
		normEntry(&e)
		want := viaJSON(t, e)
		if !reflect.DeepEqual(e, want) {
			t.Fatalf("seed %d: normEntry %+v, JSON reads back %+v", seed, e, want)
		}
		got, err := decodeEntryRecord(appendEntryRecord(nil, &e))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("seed %d: %v\n got %+v\nwant %+v", seed, err, got, want)
		}
	}
}

func TestOrderRecordRoundTrip(t *testing.T) {
	for seed := range 200 {
		o := filledOrder(seed)
		if seed%6 == 0 {
			o = order.Order{ID: "O1", State: order.PendingAllocation} // zero times, no lists
		}
		orig := o
		want := viaJSON(t, o)
		if err := normOrder(&o); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(o, want) {
			t.Fatalf("seed %d: normOrder\n got %+v\nwant %+v", seed, o, want)
		}
		got, err := decodeOrderRecord(appendOrderRecord(nil, &o))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("seed %d: %v\n got %+v\nwant %+v", seed, err, got, want)
		}
		if !reflect.DeepEqual(orig.SKUs, filledOrderSKUs(seed)) && seed%6 != 0 {
			t.Fatalf("seed %d: normOrder wrote into the caller's SKUs: %q", seed, orig.SKUs)
		}
	}
	// json.Marshal's refusal is kept: a time it cannot write is refused.
	o := order.Order{ID: "O1", State: order.PendingAllocation, StateSince: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	if err := normOrder(&o); err == nil {
		t.Error("year 10000 accepted")
	}
}

func filledOrderSKUs(seed int) []string { return filledOrder(seed).SKUs }

// TestBadRecords: records that are cut, padded or garbled fail with errRecord, never panic.
func TestBadRecords(t *testing.T) {
	e := filledEntry(3)
	normEntry(&e)
	rec := appendEntryRecord(nil, &e)
	o := filledOrder(3)
	if err := normOrder(&o); err != nil {
		t.Fatal(err)
	}
	orec := appendOrderRecord(nil, &o)
	for _, c := range [][]byte{rec[:len(rec)-1], append(bytes.Clone(rec), 0), rec[:1], {recBinary, 0xff}, {0x02}, {recBinary, 5, 'a', 0xff, 'b', 'c', 'd'}} {
		if _, err := decodeEntryRecord(c); !errors.Is(err, errRecord) {
			t.Errorf("entry record %x: %v", c, err)
		}
	}
	for _, c := range [][]byte{orec[:len(orec)-1], append(bytes.Clone(orec), 1), orec[:2], {recBinary}} {
		if _, err := decodeOrderRecord(c); !errors.Is(err, errRecord) {
			t.Errorf("order record %x: %v", c, err)
		}
	}
}

// FuzzDecodeRecord: any bytes decode to an error or to a record that encodes back to the same
// bytes (one encoding per value), never a panic.
func FuzzDecodeRecord(f *testing.F) {
	for seed := range 4 {
		e := filledEntry(seed)
		normEntry(&e)
		f.Add(appendEntryRecord(nil, &e))
		o := filledOrder(seed)
		if err := normOrder(&o); err != nil {
			f.Fatal(err)
		}
		f.Add(appendOrderRecord(nil, &o))
	}
	f.Add([]byte(`{"journal_id":"x","seq":1}`))
	f.Add([]byte{recBinary, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		if e, err := decodeEntryRecord(b); err == nil && !isJSONRecord(b) {
			if again := appendEntryRecord(nil, &e); !bytes.Equal(again, b) {
				t.Errorf("entry %x re-encodes as %x", b, again)
			}
			e.AppendJSON(nil)
		}
		if o, err := decodeOrderRecord(b); err == nil && !isJSONRecord(b) {
			if _, err := json.Marshal(o); err != nil {
				t.Errorf("order %x decodes to something JSON cannot write: %v", b, err)
			}
		}
	})
}

// FuzzEntryJSON: the hand-written JSON is encoding/json's for any text.
func FuzzEntryJSON(f *testing.F) {
	for _, s := range nasty {
		f.Add(s, s+"x", uint64(len(s)))
	}
	f.Fuzz(func(t *testing.T, a, b string, n uint64) {
		e := wire.Entry{JournalID: a, Seq: n, Kind: b, Detail: a + b, LabelVersion: n / 3, At: b,
			Order: &wire.OrderMsg{Type: a, SKUs: []string{b, a}, Recipient: b, HSeq: n}}
		want, _ := json.Marshal(e)
		if got := e.AppendJSON(nil); !bytes.Equal(got, want) {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
		normEntry(&e)
		if back := viaJSON(t, e); !reflect.DeepEqual(back, e) {
			t.Fatalf("normEntry %+v, JSON reads back %+v", e, back)
		}
	})
}
