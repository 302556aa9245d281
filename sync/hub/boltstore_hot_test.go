package hub

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"wedge/order"
)

// An order read without a copy of its stored bytes (orderRaw) stays as read when the same
// transaction then rewrites it and fills pages around it, and after later commits reused its pages
// (bbolt's map is of the file): the decode kept nothing of bbolt's memory.
func TestLoadedOrderOutlivesWrites(t *testing.T) {
	st, err := OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	at := time.Date(2026, 1, 22, 8, 0, 0, 0, time.UTC)
	want := orderRec{Site: "sz01", CreatedAt: "2026-01-22T08:00:00.000Z", UpdatedAt: "2026-01-22T08:00:00.000Z",
		Order: order.Order{ID: "O-1", Channel: "taobao", ChannelOrderNo: "C-1", BuyerID: "b1", SKUs: []string{"SKU-1", "SKU-2"},
			Recipient: "张三", Waybill: "W-1", State: order.WaybillPrinted, OrderedAt: at, ReceivedAt: at, StateSince: at}}
	fill := func(tx Tx, b byte, size int) error {
		for i := range 3000 {
			if err := tx.PutOrder(fmt.Sprintf("O-%05d", i), bytes.Repeat([]byte{b}, size)); err != nil {
				return err
			}
		}
		return nil
	}
	// Others first: a bucket small enough to live inline in its parent is copied by a writable
	// transaction, and the record would not be in the file's map at all.
	if err := st.Update(ctx, func(tx Tx) error {
		if err := fill(tx, '0', 400); err != nil {
			return err
		}
		return putOrder(tx, want)
	}); err != nil {
		t.Fatal(err)
	}
	var got orderRec
	if err := st.Update(ctx, func(tx Tx) error {
		if _, ok := tx.(rawOrderReader); !ok {
			t.Fatal("the bbolt transaction reads orders without a copy")
		}
		var known bool
		if got, known, err = loadOrder(tx, "O-1"); err != nil || !known {
			return fmt.Errorf("load: %v, known %v", err, known)
		}
		other := want
		other.Order.Recipient, other.Order.Waybill, other.Site = "李四李四李四", "W-2-XXXXXXXXXXXX", "zz99"
		if err := putOrder(tx, other); err != nil {
			return err
		}
		return fill(tx, '1', 500)
	}); err != nil {
		t.Fatal(err)
	}
	for round := range 3 { // later transactions reuse the pages the record was on
		if err := st.Update(ctx, func(tx Tx) error {
			if err := fill(tx, byte('a'+round), 401+round); err != nil {
				return err
			}
			return tx.PutOrder("O-1", bytes.Repeat([]byte{'x'}, 300))
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil { // unmaps the file: a string still in it would fault below
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the order read before the writes changed:\n got %+v\nwant %+v", got, want)
	}
}

// The downlink bucket of a site and the waybills bucket, looked up once per transaction, are
// the ones written: hseqs count on within and across transactions, sites apart.
func TestCachedBucketsPerTransaction(t *testing.T) {
	st, err := OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	for round := range 2 {
		if err := st.Update(ctx, func(tx Tx) error {
			for i := range 3 {
				for _, site := range []string{"sz01", "bj02"} {
					n, err := tx.NextHSeq(site)
					if err != nil {
						return err
					}
					if want := uint64(round*3 + i + 1); n != want {
						t.Errorf("%s: hseq %d, want %d", site, n, want)
					}
					if err := tx.PutDownlink(site, n, []byte(site)); err != nil {
						return err
					}
				}
				if err := tx.PutWaybill(fmt.Sprintf("W-%d-%d", round, i), "O-1"); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	_ = st.View(ctx, func(tx Tx) error {
		for _, site := range []string{"sz01", "bj02"} {
			var n uint64
			if err := tx.Downlink(site, 0, func(h uint64, doc []byte) (bool, error) {
				n++
				if h != n || string(doc) != site {
					t.Errorf("%s: hseq %d %q, want %d %q", site, h, doc, n, site)
				}
				return true, nil
			}); err != nil {
				t.Fatal(err)
			}
			if n != 6 {
				t.Errorf("%s: %d messages, want 6", site, n)
			}
		}
		for _, w := range []string{"W-0-0", "W-1-2"} {
			if id, err := tx.WaybillOrder(w); err != nil || id != "O-1" {
				t.Errorf("waybill %s: %q, %v", w, id, err)
			}
		}
		return nil
	})
}

// A cx_orders row that names another order (damaged) is replaced whole: its lookup and state
// keys go, the order's own are written.
func TestIndexRowOfAnotherOrderReplaced(t *testing.T) {
	st, err := OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	bs := st.(*boltStore)
	wrong := OrderIndex{OrderID: "O-9", Site: "sz01", State: "pending_allocation", Since: "2026-01-22T08:00:00.000Z", ChannelOrderNo: "C-1", Waybill: "W-1"}
	if err := bs.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bktCxOrders).Put([]byte("O-1"), EncodeOrderIndex(wrong)); err != nil {
			return err
		}
		for _, k := range indexKeys(wrong) {
			if err := tx.Bucket(bktCxKeys).Put(k, nil); err != nil {
				return err
			}
		}
		return tx.Bucket(bktCxState).Put(join(wrong.State, wrong.Since, wrong.OrderID), nil)
	}); err != nil {
		t.Fatal(err)
	}
	ix := OrderIndex{OrderID: "O-1", Site: "sz01", State: "pending_allocation", Since: "2026-01-22T08:00:00.000Z", ChannelOrderNo: "C-1", Waybill: "W-1"}
	ctx := context.Background()
	if err := st.Update(ctx, func(tx Tx) error { return tx.IndexOrder(ix) }); err != nil {
		t.Fatal(err)
	}
	_ = bs.db.View(func(tx *bolt.Tx) error {
		var keys, states []string
		_ = tx.Bucket(bktCxKeys).ForEach(func(k, _ []byte) error { keys = append(keys, string(k)); return nil })
		_ = tx.Bucket(bktCxState).ForEach(func(k, _ []byte) error { states = append(states, string(k)); return nil })
		wantKeys := []string{string(join(TraceChannelOrderNo, "C-1", "O-1")), string(join(TraceWaybill, "W-1", "O-1"))}
		slices.Sort(wantKeys)
		if !slices.Equal(keys, wantKeys) {
			t.Errorf("cx_keys %q, want %q", keys, wantKeys)
		}
		if want := []string{string(join(ix.State, ix.Since, "O-1"))}; !slices.Equal(states, want) {
			t.Errorf("cx_state %q, want %q", states, want)
		}
		return nil
	})
}
