package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"wedge/sync/wire"
)

// fillStruct sets every field of the struct v points to a non-zero value that differs per field
// (n counts the fields filled), failing on a field type it does not know: a field added to a
// stored record with a new type must be added here and to the binary encoding.
func fillStruct(t *testing.T, v reflect.Value, n *int) {
	t.Helper()
	base := time.Date(2026, 1, 22, 8, 0, 0, 123456789, time.UTC)
	for i := range v.NumField() {
		f, sf := v.Field(i), v.Type().Field(i)
		if sf.Type == reflect.TypeFor[versionList]() {
			continue // filled by the caller
		}
		if !sf.IsExported() {
			t.Fatalf("%s.%s: unexported field this test cannot fill", v.Type(), sf.Name)
		}
		*n++
		switch {
		case f.Kind() == reflect.String:
			f.SetString("x-" + sf.Name + "-" + strings.Repeat("é", *n%3))
		case f.Kind() == reflect.Int:
			f.SetInt(int64(*n))
		case f.Kind() == reflect.Uint64:
			f.SetUint(uint64(1000 * *n))
		case f.Kind() == reflect.Bool:
			f.SetBool(true)
		case f.Type() == reflect.TypeFor[time.Time]():
			at := base.Add(time.Duration(*n) * time.Hour)
			if *n%2 == 0 { // half of them with an offset, as a record written on a PC in +08:00 may hold
				at = at.In(time.FixedZone("", 8*3600))
			}
			f.Set(reflect.ValueOf(at))
		case f.Type() == reflect.TypeFor[[]string]():
			f.Set(reflect.ValueOf([]string{"a-" + sf.Name, "", "c-" + sf.Name}))
		case f.Kind() == reflect.Struct:
			fillStruct(t, f, n)
		default:
			t.Fatalf("%s.%s has a type (%s) this test cannot fill: extend the test and the binary record", v.Type(), sf.Name, f.Type())
		}
	}
}

// filledStored is a stored order record with every field set.
func filledStored(t *testing.T) storedOrder {
	var s storedOrder
	n := 0
	fillStruct(t, reflect.ValueOf(&s).Elem(), &n)
	s.V = orderVersion
	s.Versions.raw = []byte(`[{"type":"order","order_id":"O-1","version":1},{"type":"order","order_id":"O-1","version":2}]`)
	return s
}

// Every field of the stored order record survives the binary encoding.
func TestBinaryOrderRecordEveryField(t *testing.T) {
	s := filledStored(t)
	raw := appendOrderBinary(nil, s)
	if raw[0] != recTag {
		t.Fatalf("record starts with %#x", raw[0])
	}
	back, err := decodeOrderBinary(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, s) {
		t.Errorf("binary round trip\n got %+v\nwant %+v", back, s)
	}
	// Each field on its own is in the bytes: a field written but not read back (or the reverse)
	// shows as a difference above; one forgotten on both sides shows here.
	rec := s.rec()
	got, err := decodeOrder([]byte("k"), encodeOrder(rec))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, rec) {
		t.Errorf("orderRec round trip\n got %+v\nwant %+v", got, rec)
	}
}

// A record read from JSON and the same record written in binary and read back are the same record.
func TestBinaryOrderRecordMatchesJSON(t *testing.T) {
	filled := filledStored(t)
	filled.V = orderJSONVersion
	filledJSON, err := json.Marshal(filled)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"legacy (no version)": legacyOrderRecord,
		"every field":         string(filledJSON),
		"version 1":           strings.Replace(legacyOrderRecord, `{"site"`, `{"v":1,"site"`, 1),
		"null versions":       `{"v":2,"site":"s","order":{"order_id":"O-2","state":"received"},"versions":null}`,
		"empty versions":      `{"v":2,"site":"s","order":{"order_id":"O-2","state":"received"},"versions":[]}`,
		"offset times":        `{"v":2,"site":"s","order":{"order_id":"O-3","state":"received","ordered_at":"2026-01-22T16:00:00.5+08:00","paid_at":"2026-01-22T01:00:00-05:30"}}`,
		"minimal":             `{"order":{"order_id":"O-4"}}`,
	}
	for name, js := range cases {
		t.Run(name, func(t *testing.T) {
			fromJSON, err := decodeOrder([]byte("k"), []byte(js))
			if err != nil {
				t.Fatal(err)
			}
			bin := encodeOrder(fromJSON)
			fromBin, err := decodeOrder([]byte("k"), bin)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(fromBin, fromJSON) {
				t.Errorf("\nJSON   %+v\nbinary %+v", fromJSON, fromBin)
			}
			if again := encodeOrder(fromBin); !bytes.Equal(again, bin) {
				t.Errorf("written again differs:\n%x\n%x", bin, again)
			}
		})
	}
}

// Versions decoded (after a POST) are written as their JSON and read back undecoded.
func TestBinaryOrderRecordDecodedVersions(t *testing.T) {
	rec, err := decodeOrder([]byte("k"), []byte(legacyOrderRecord))
	if err != nil {
		t.Fatal(err)
	}
	m := wire.OrderMsg{Type: wire.TypeOrder, OrderID: rec.Order.ID, Version: 3, SKUs: []string{"SKU-A"}, Recipient: "张**"}
	if err := rec.addVersion(m); err != nil {
		t.Fatal(err)
	}
	back, err := decodeOrder([]byte("k"), encodeOrder(rec))
	if err != nil {
		t.Fatal(err)
	}
	if back.Versions != nil || len(back.versionsRaw) == 0 {
		t.Fatalf("versions read back decoded or empty: %+v", back)
	}
	if err := back.withVersions(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Versions, rec.Versions) {
		t.Errorf("versions\n got %+v\nwant %+v", back.Versions, rec.Versions)
	}
}

// Every record of the committed hub stores of all fixture sets (JSON, written by earlier hubs)
// reads the same after this hub writes it in binary, and so does every central index row.
func TestFixtureRecordsInBinary(t *testing.T) {
	for _, set := range []string{"v1", "v2", "v3"} {
		t.Run(set, func(t *testing.T) {
			path := filepath.Join("..", "..", "testdata", "fixtures", set, "hub", "hub.db")
			db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			orders, rows := 0, 0
			err = db.View(func(tx *bolt.Tx) error {
				if err := tx.Bucket(bktOrders).ForEach(func(k, raw []byte) error {
					orders++
					if isBinaryRecord(raw) {
						t.Errorf("order %s: a fixture record in binary", k)
					}
					rec, err := decodeOrder(k, raw)
					if err != nil {
						return err
					}
					back, err := decodeOrder(k, encodeOrder(rec))
					if err != nil {
						return err
					}
					if !reflect.DeepEqual(back, rec) {
						t.Errorf("order %s:\nJSON   %+v\nbinary %+v", k, rec, back)
					}
					return nil
				}); err != nil {
					return err
				}
				if b := tx.Bucket(bktCxOrders); b != nil {
					return b.ForEach(func(k, raw []byte) error {
						rows++
						ix, err := DecodeOrderIndex(raw)
						if err != nil {
							return err
						}
						back, err := DecodeOrderIndex(EncodeOrderIndex(ix))
						if err != nil || back != ix {
							t.Errorf("index row %s: %+v, binary %+v (%v)", k, ix, back, err)
						}
						return nil
					})
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if orders == 0 {
				t.Fatal("no order records in the fixture")
			}
			t.Logf("%d order records, %d index rows", orders, rows)
		})
	}
}

// A binary record cut short anywhere, with bytes after it, or with a field out of range is an
// error wrapping ErrStore, never a panic or a half-read record.
func TestBinaryOrderRecordDamaged(t *testing.T) {
	raw := encodeOrder(filledStored(t).rec())
	for n := 1; n < len(raw); n++ {
		if _, err := decodeOrder([]byte("k"), raw[:n]); !errors.Is(err, ErrStore) {
			t.Fatalf("cut to %d of %d bytes: err = %v", n, len(raw), err)
		}
	}
	if _, err := decodeOrder([]byte("k"), append(bytes.Clone(raw), 0)); !errors.Is(err, ErrStore) || !strings.Contains(err.Error(), "after the last field") {
		t.Errorf("a byte after the record: err = %v", err)
	}
	newer := append([]byte{recTag}, raw[2:]...)
	newer = append([]byte{recTag, orderVersion + 1}, newer[1:]...)
	if _, err := decodeOrder([]byte("k"), newer); !errors.Is(err, ErrStore) || !strings.Contains(err.Error(), "a newer hub wrote it") {
		t.Errorf("newer layout: err = %v", err)
	}
	// One record with only the fields this test breaks: the last field is ResolvedAt, a time.
	plain := encodeOrder(orderRec{})
	for name, tail := range map[string][]byte{
		"time kind 3":            {3, 0, 0},
		"nanoseconds ≥ 1e9":      {1, 0, 0x80, 0x94, 0xeb, 0xdc, 0x03},
		"zero offset in kind 2":  {2, 0, 0, 0},
		"varint overflow":        {1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0},
		"length beyond the end":  nil, // built below
		"bool byte 2":            nil,
		"SKU count beyond bytes": nil,
	} {
		var bad []byte
		switch name {
		case "length beyond the end":
			bad = append(bytes.Clone(plain[:2]), 0x7f) // the site's length, nothing after
		case "bool byte 2":
			bad = corruptBool(t, encodeOrder(orderRec{Order: filledStored(t).rec().Order}))
		case "SKU count beyond bytes":
			bad = append(bytes.Clone(plain[:2]), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0x03)
		default:
			bad = append(bytes.Clone(plain[:len(plain)-1]), tail...)
		}
		if _, err := decodeOrder([]byte("k"), bad); !errors.Is(err, ErrStore) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	for _, garbage := range [][]byte{{recTag}, {recTag, 0x80}, []byte("not json"), nil, {}} {
		if _, err := decodeOrder([]byte("k"), garbage); !errors.Is(err, ErrStore) {
			t.Errorf("%q: err = %v", garbage, err)
		}
	}
}

// corruptBool returns rec (a record whose LabelOutdated is true, its only byte 1 that is a bool
// and not part of a length or string) with that byte set to 2, found by re-encoding the record
// with LabelOutdated false and comparing.
func corruptBool(t *testing.T, rec []byte) []byte {
	t.Helper()
	r, err := decodeOrder([]byte("k"), rec)
	if err != nil {
		t.Fatal(err)
	}
	r.Order.LabelOutdated = false
	other := encodeOrder(r)
	for i := range rec {
		if rec[i] != other[i] {
			out := bytes.Clone(rec)
			out[i] = 2
			return out
		}
	}
	t.Fatal("LabelOutdated not in the record")
	return nil
}

// Every field of the central index row survives the binary encoding, and a JSON row (written
// before) reads the same as its binary form.
func TestBinaryOrderIndex(t *testing.T) {
	var ix OrderIndex
	n := 0
	fillStruct(t, reflect.ValueOf(&ix).Elem(), &n)
	raw := EncodeOrderIndex(ix)
	back, err := DecodeOrderIndex(raw)
	if err != nil || back != ix {
		t.Fatalf("round trip %+v, %v; want %+v", back, err, ix)
	}
	js, _ := json.Marshal(ix)
	fromJSON, err := DecodeOrderIndex(js)
	if err != nil || fromJSON != ix {
		t.Fatalf("JSON row %+v, %v", fromJSON, err)
	}
	if d, err := decodeIndex(js); err != nil || *d != ix {
		t.Fatalf("bolt decodeIndex of JSON: %+v %v", d, err)
	}
	for i := 1; i < len(raw); i++ {
		if _, err := DecodeOrderIndex(raw[:i]); !errors.Is(err, ErrStore) {
			t.Fatalf("cut to %d: err = %v", i, err)
		}
	}
	bad := [][]byte{append(bytes.Clone(raw), 'x'), {recTag, indexBinVersion + 1}, {recTag}, []byte(`{"order_id":`), nil}
	for _, b := range bad {
		if _, err := DecodeOrderIndex(b); !errors.Is(err, ErrStore) {
			t.Errorf("%q: err = %v", b, err)
		}
	}
	if _, err := DecodeOrderIndex(bad[1]); err == nil || !strings.Contains(err.Error(), "newer hub") {
		t.Errorf("newer layout: %v", err)
	}
}

// A cx_orders row a hub of the previous release wrote (JSON) is read when the order moves: its
// state and lookup keys are replaced (not left behind) and the row is written back in binary.
func TestJSONIndexRowReplaced(t *testing.T) {
	st, err := OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	bs := st.(*boltStore)
	old := OrderIndex{OrderID: "O-1", Site: "sz01", Agent: "a1", State: "pending_allocation", Since: "2026-01-22T08:00:00.000Z",
		ChannelOrderNo: "C-1", Waybill: "W-1"}
	if err := bs.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bktCxOrders).Put([]byte("O-1"), mustJSON(old)); err != nil {
			return err
		}
		for _, k := range indexKeys(old) {
			if err := tx.Bucket(bktCxKeys).Put(k, nil); err != nil {
				return err
			}
		}
		return tx.Bucket(bktCxState).Put(join(old.State, old.Since, old.OrderID), nil)
	}); err != nil {
		t.Fatal(err)
	}
	moved := OrderIndex{OrderID: "O-1", Site: "sz01", Agent: "a2", State: "waybill_printed", ChannelOrderNo: "C-1", Waybill: "W-2"}
	ctx := context.Background()
	if err := st.Update(ctx, func(tx Tx) error { return tx.IndexOrder(moved) }); err != nil {
		t.Fatal(err)
	}
	_ = st.View(ctx, func(tx Tx) error {
		if got, err := tx.OrderIndexOf("O-1"); err != nil || *got != moved {
			t.Errorf("row %+v, %v", got, err)
		}
		for kind, want := range map[string]int{"W-1": 0, "W-2": 1, "C-1": 1} {
			k := TraceWaybill
			if strings.HasPrefix(kind, "C") {
				k = TraceChannelOrderNo
			}
			if ids, _ := tx.TraceOrders(k, kind, 10); len(ids) != want {
				t.Errorf("trace %s: %v, want %d", kind, ids, want)
			}
		}
		n := 0
		_ = tx.OrdersInState("pending_allocation", ListFilter{}, func(OrderIndex) (bool, error) { n++; return true, nil })
		if n != 0 {
			t.Errorf("the old state key is left: %d rows", n)
		}
		return nil
	})
	_ = bs.db.View(func(tx *bolt.Tx) error {
		if raw := tx.Bucket(bktCxOrders).Get([]byte("O-1")); !isBinaryRecord(raw) {
			t.Errorf("row not written in binary: %q", raw)
		}
		return nil
	})
}

// The decoders never panic, and what they read is written and read again as the same record.
func FuzzDecodeOrderRecord(f *testing.F) {
	f.Add([]byte(legacyOrderRecord))
	f.Add(encodeOrder(orderRec{}))
	s := storedOrder{Site: "s", Order: orderFields{ID: "O", SKUs: []string{"a"}, OrderedAt: time.Date(2026, 1, 1, 0, 0, 0, 1, time.FixedZone("", 3600)), LabelOutdated: true}}
	f.Add(appendOrderBinary(nil, s))
	f.Add(EncodeOrderIndex(OrderIndex{OrderID: "O", State: "held"}))
	f.Add([]byte(`{"order_id":"O","state":"held"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if rec, err := decodeOrder([]byte("k"), raw); err != nil {
			if !errors.Is(err, ErrStore) {
				t.Fatalf("error not ErrStore: %v", err)
			}
		} else {
			bin := encodeOrder(rec)
			back, err := decodeOrder([]byte("k"), bin)
			if err != nil {
				t.Fatalf("re-read: %v", err)
			}
			if again := encodeOrder(back); !bytes.Equal(again, bin) {
				t.Fatalf("not stable:\n%x\n%x", bin, again)
			}
		}
		if ix, err := DecodeOrderIndex(raw); err != nil {
			if !errors.Is(err, ErrStore) {
				t.Fatalf("index error not ErrStore: %v", err)
			}
		} else if back, err := DecodeOrderIndex(EncodeOrderIndex(ix)); err != nil || back != ix {
			t.Fatalf("index %+v → %+v, %v", ix, back, err)
		}
	})
}
