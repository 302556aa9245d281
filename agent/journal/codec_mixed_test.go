package journal

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"wedge/order"
	"wedge/sync/wire"
)

// writeSome records a few orders and entries of every shape: intake with the order's data,
// steps binding waybills, notes with text encoding/json escapes or replaces.
func writeSome(t *testing.T, s *Store, ids []string, tag string) {
	t.Helper()
	for i, id := range ids {
		err := s.Do(context.Background(), func(tx *Tx) error {
			o, ok := tx.Order(id)
			if !ok {
				msg := wire.OrderMsg{Type: wire.TypeOrder, OrderID: id, Channel: "tmall", ChannelOrderNo: "TM" + id, SKUs: []string{"SKU<1>", "\xff"},
					Recipient: "张** 138****5678 深圳市", Payment: order.PaymentFull}
				o = order.Order{ID: id, Channel: "tmall", ChannelOrderNo: "TM" + id, SKUs: msg.SKUs, Payment: msg.Payment,
					Recipient: msg.Recipient, AssignedWaybill: "SF" + id, State: order.PendingAllocation,
					StateSince: s.clk.Now(), ReceivedAt: s.clk.Now()}
				tx.PutOrder(o)
				tx.Append(wire.Entry{Kind: wire.KindIntake, OrderID: id, To: string(o.State), Trigger: wire.TriggerHub, Order: &msg})
				return nil
			}
			o.State, o.StateSince, o.PrintedAt, o.Waybill = order.WaybillPrinted, s.clk.Now(), s.clk.Now(), "SF"+id
			tx.PutOrder(o)
			tx.Append(wire.Entry{Kind: wire.KindStep, OrderID: id, From: string(order.PendingAllocation), To: string(o.State),
				Waybill: o.Waybill, Station: "print-1", Trigger: wire.TriggerPrint})
			tx.Append(wire.Entry{Kind: wire.KindNote, OrderID: id, Detail: tag + " <&> \u2028 \xfe " + nasty[i%len(nasty)], Trigger: wire.TriggerSystem})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// makeOld rewrites every record of a closed journal as JSON and its format as 1: the file an
// older wedge wrote (it stored json.Marshal of the order and of the entry).
func makeOld(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bEntries, bOrders} {
			b := tx.Bucket(name)
			kv := map[string][]byte{}
			b.ForEach(func(k, v []byte) error {
				var js []byte
				var err error
				if bytes.Equal(name, bEntries) {
					e, derr := decodeEntryRecord(v)
					if derr != nil {
						return derr
					}
					js, err = json.Marshal(e)
				} else {
					o, derr := decodeOrderRecord(v)
					if derr != nil {
						return derr
					}
					js, err = json.Marshal(o)
				}
				kv[string(k)] = js
				return err
			})
			for k, v := range kv {
				if err := b.Put([]byte(k), v); err != nil {
					return err
				}
			}
		}
		return tx.Bucket(bMeta).Put([]byte(kFormat), []byte(formatV1))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// encodings counts the JSON and binary records of a bucket.
func encodings(t *testing.T, path string, bucket []byte) (jsonN, binN int) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(_, v []byte) error {
			if isJSONRecord(v) {
				jsonN++
			} else if len(v) > 0 && v[0] == recBinary {
				binN++
			}
			return nil
		})
	})
	return jsonN, binN
}

// mixedJournal is a closed journal whose first records an older wedge wrote (JSON, format 1) and
// whose later ones this one did (binary), orders A1–A3 rewritten by both.
func mixedJournal(t *testing.T) string {
	t.Helper()
	s, path := newStore(t)
	writeSome(t, s, []string{"A1", "A2", "A3"}, "old")
	s.Close()
	makeOld(t, path)
	if j, b := encodings(t, path, bEntries); j != 3 || b != 0 {
		t.Fatalf("old journal: %d JSON and %d binary entries", j, b)
	}
	s = open(t, path, nil)
	writeSome(t, s, []string{"A1", "A2", "A3", "B1", "B2"}, "new")
	writeSome(t, s, []string{"B1"}, "new")
	s.Close()
	return path
}

func TestMixedJournal(t *testing.T) {
	path := mixedJournal(t)
	if j, b := encodings(t, path, bEntries); j != 3 || b != 10 {
		t.Errorf("entries: %d JSON, %d binary; want 3 and 10", j, b)
	}
	if j, b := encodings(t, path, bOrders); j != 0 || b != 5 {
		t.Errorf("orders: %d JSON, %d binary; want every order rewritten as binary", j, b)
	}
	rep := mustVerify(t, path)
	if !rep.OK || rep.Entries != 13 {
		t.Fatalf("verify: %s", rep)
	}

	s := open(t, path, nil)
	var raw []byte
	s.view(func(tx *bolt.Tx) error {
		raw = bytes.Clone(tx.Bucket(bMeta).Get([]byte(kFormat)))
		return nil
	})
	if string(raw) != formatV2 {
		t.Errorf("format %q after this wedge opened the journal, want %s", raw, formatV2)
	}
	all, err := s.Entries(0, 100, 0)
	if err != nil || len(all) != 13 {
		t.Fatalf("entries: %d, %v", len(all), err)
	}
	var prev *wire.Entry
	size := 0
	for i := range all {
		if err := wire.VerifyLink(prev, all[i]); err != nil { // encoding/json's hash, as the hub checks it
			t.Fatalf("entry %d: %v", all[i].Seq, err)
		}
		if !utf8Entry(all[i]) {
			t.Errorf("entry %d holds invalid UTF-8", all[i].Seq)
		}
		b, _ := json.Marshal(all[i])
		size += len(b)
		prev = &all[i]
	}
	if all[0].Order == nil || all[9].Order == nil || all[0].Order.SKUs[1] != "\uFFFD" {
		t.Errorf("intake entries lost their order: %+v %+v", all[0].Order, all[9].Order)
	}
	// The uplink's byte limit counts each entry's JSON, whatever the encoding on disk.
	first := 0
	for _, e := range all[:5] {
		b, _ := json.Marshal(e)
		first += len(b)
	}
	if w, err := s.Entries(0, 100, first); err != nil || len(w) != 5 {
		t.Errorf("a window of %d bytes of JSON: %d entries, want 5 (%v)", first, len(w), err)
	}
	h, err := s.History("A1")
	if err != nil || len(h) != 3 || h[0].Kind != wire.KindIntake || h[2].Kind != wire.KindNote || !strings.HasPrefix(h[2].Detail, "new") {
		t.Errorf("history of A1 across both encodings: %+v %v", h, err)
	}
	o, ok, err := s.Order("A1")
	if err != nil || !ok || o.State != order.WaybillPrinted || o.Waybill != "SFA1" || o.SKUs[1] != "\uFFFD" || o.StateSince.IsZero() {
		t.Errorf("order A1: %+v %v %v", o, ok, err)
	}
	if o, ok, _ := s.FindOrder("SFA2"); !ok || o.ID != "A2" {
		t.Errorf("by waybill: %+v %v", o, ok)
	}
	if o, ok, _ := s.FindOrder("TMB2"); !ok || o.ID != "B2" {
		t.Errorf("by channel no: %+v %v", o, ok)
	}
	s.Close()

	// Export writes JSON lines, the same bytes as json.Marshal of each entry, either encoding.
	var out bytes.Buffer
	if n, err := Export(path, Since{}, &out); err != nil || n != 13 {
		t.Fatalf("export: %d %v", n, err)
	}
	sc := bufio.NewScanner(&out)
	for i := 0; sc.Scan(); i++ {
		want, _ := json.Marshal(all[i])
		if !bytes.Equal(sc.Bytes(), want) {
			t.Errorf("export line %d:\n got %s\nwant %s", i+1, sc.Bytes(), want)
		}
	}

	// Salvage reads both; Rebuild from them makes the same orders.
	sal, err := Salvage(path, 0)
	if err != nil || len(sal.Damage) != 0 || !reflect.DeepEqual(sal.Entries, all) {
		t.Fatalf("salvage: %d entries, damage %q, %v", len(sal.Entries), sal.Damage, err)
	}
	re := filepath.Join(t.TempDir(), "rebuilt.db")
	entries := func(yield func(wire.Entry, error) bool) {
		for _, e := range sal.Entries {
			if !yield(e, nil) {
				return
			}
		}
	}
	if last, err := Rebuild(re, testOpts(), Restore{JournalID: sal.JournalID, Entries: entries}); err != nil || last != 13 {
		t.Fatalf("rebuild: %d %v", last, err)
	}
	if rep := mustVerify(t, re); !rep.OK {
		t.Errorf("rebuilt: %s", rep)
	}
	r := open(t, re, nil)
	if o, ok, err := r.Order("A1"); err != nil || !ok || o.State != order.WaybillPrinted || o.Waybill != "SFA1" {
		t.Errorf("rebuilt order A1: %+v %v %v", o, ok, err)
	}
}

func utf8Entry(e wire.Entry) bool {
	n := e
	normEntry(&n)
	return reflect.DeepEqual(n, e)
}

// TestTamperedBinaryRecord: an edited binary entry breaks the chain where it was edited; one
// resealed by a forger breaks the next link.
func TestTamperedBinaryRecord(t *testing.T) {
	for _, c := range []struct {
		name     string
		tamper   func(entries *bolt.Bucket) error
		firstBad uint64
		problem  string
	}{
		{"edited text", func(entries *bolt.Bucket) error {
			v := entries.Get(be64(13))
			if v[0] != recBinary || !bytes.Contains(v, []byte("new")) {
				t.Fatalf("entry 13 is not a binary note: %q", v)
			}
			return entries.Put(be64(13), bytes.Replace(v, []byte("new"), []byte("NEW"), 1))
		}, 13, "edited"},
		{"edited and resealed", func(entries *bolt.Bucket) error {
			e, err := decodeEntryRecord(entries.Get(be64(8)))
			if err != nil {
				return err
			}
			e.Waybill = "SF0000000000"
			e.Seal(e.PrevHash)
			return entries.Put(be64(8), appendEntryRecord(nil, &e))
		}, 9, "prev_hash"},
		{"JSON entry replaced by a binary one of another seq", func(entries *bolt.Bucket) error {
			return entries.Put(be64(2), bytes.Clone(entries.Get(be64(12))))
		}, 2, "reordered"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := mixedJournal(t)
			raw(t, path, func(entries, _ *bolt.Bucket) error { return c.tamper(entries) })
			rep, err := Verify(path)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK || rep.FirstBad != c.firstBad || !strings.Contains(rep.Problem, c.problem) {
				t.Errorf("report %+v: want first bad %d mentioning %q", rep, c.firstBad, c.problem)
			}
		})
	}
}

// TestDamagedBinaryRecord: a binary entry or order cut short is a clear error everywhere it is
// read — Verify, the uplink's Entries, History, Export, the order reads — never a panic.
func TestDamagedBinaryRecord(t *testing.T) {
	path := mixedJournal(t)
	raw(t, path, func(entries, _ *bolt.Bucket) error {
		v := entries.Get(be64(10))
		return entries.Put(be64(10), bytes.Clone(v[:len(v)-5]))
	})
	rep, err := Verify(path)
	if err != nil || rep.OK || rep.FirstBad != 10 || !strings.Contains(rep.Problem, "does not decode") {
		t.Errorf("verify: %+v %v", rep, err)
	}
	if _, err := Export(path, Since{}, &bytes.Buffer{}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "entry 10") {
		t.Errorf("export: %v", err)
	}
	s := open(t, path, nil)
	if _, err := s.Entries(0, 100, 0); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "entry 10") {
		t.Errorf("entries: %v", err)
	}
	if w, err := s.Entries(9, 100, 0); !errors.Is(err, ErrDamaged) || w != nil {
		t.Errorf("entries after 9: %d %v", len(w), err)
	}
	if _, err := s.History("B1"); !errors.Is(err, ErrDamaged) {
		t.Errorf("history: %v", err)
	}
	s.Close()

	// A damaged order record.
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bOrders)
		v := b.Get([]byte("B2"))
		return b.Put([]byte("B2"), append(bytes.Clone(v), 7))
	})
	db.Close()
	rep, err = Verify(path)
	if !errors.Is(err, ErrDamaged) || !strings.Contains(strings.Join(rep.Damage, "\n"), `"B2"`) {
		t.Errorf("verify of a damaged order: %v %q", err, rep.Damage)
	}
	s = open(t, path, nil)
	if _, _, err := s.Order("B2"); !errors.Is(err, ErrDamaged) {
		t.Errorf("order: %v", err)
	}
	err = s.Do(context.Background(), func(tx *Tx) error {
		tx.PutOrder(order.Order{ID: "B2", State: order.Cancelled})
		return nil
	})
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("writing over a damaged order: %v", err)
	}
}
