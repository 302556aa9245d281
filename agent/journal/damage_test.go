package journal

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"wedge/internal/clock"
	"wedge/order"
	"wedge/sync/wire"
)

// damageFixture writes a closed journal of a few hundred entries touching every bucket: orders
// arriving with their data (intake), every third one printed (a step binding a waybill), an ack
// and the agent's own meta state. It returns the file's path and bytes.
func damageFixture(t *testing.T, n int) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "wedge.db")
	clk := clock.NewFake(t0)
	s, err := Open(path, &Options{Site: "sz01", Agent: "pack02", Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range n {
		id := fmt.Sprintf("ORD-%05d", i)
		msg := wire.OrderMsg{Type: wire.TypeOrder, OrderID: id, Channel: "tmall", ChannelOrderNo: fmt.Sprintf("TM%08d", i),
			BuyerID: "b1", SKUs: []string{"SKU-1"}, Payment: order.PaymentFull, Recipient: "张** 138****5678 深圳市南山区",
			Carrier: "sf", OrderedAt: wire.Time(clk.Now())}
		err := s.Do(ctx, func(tx *Tx) error {
			now := clk.Now()
			o := order.Order{ID: id, Channel: msg.Channel, ChannelOrderNo: msg.ChannelOrderNo, BuyerID: msg.BuyerID, OrderedAt: now,
				SKUs: msg.SKUs, Payment: msg.Payment, Recipient: msg.Recipient, Carrier: msg.Carrier,
				State: order.PendingAllocation, StateSince: now, ReceivedAt: now, PendingSince: now, QueuedSince: now}
			tx.PutOrder(o)
			tx.Append(wire.Entry{Kind: wire.KindIntake, OrderID: id, To: string(o.State), Carrier: o.Carrier, Trigger: wire.TriggerHub, Order: &msg})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Second)
		if i%3 != 0 {
			continue
		}
		err = s.Do(ctx, func(tx *Tx) error {
			o, _ := tx.Order(id)
			o.State, o.StateSince, o.PrintedAt, o.Waybill = order.WaybillPrinted, clk.Now(), clk.Now(), fmt.Sprintf("SF%013d", i)
			tx.PutOrder(o)
			tx.Append(wire.Entry{Kind: wire.KindStep, OrderID: id, From: string(order.PendingAllocation), To: string(o.State),
				Waybill: o.Waybill, Carrier: o.Carrier, Station: "print-1", Device: "p1", Trigger: wire.TriggerPrint})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Ack(ctx, s.LastSeq()/2); err != nil {
		t.Fatal(err)
	}
	if err := s.Do(ctx, func(tx *Tx) error { tx.SetMeta("intake/hseq", be64(uint64(n))); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := Verify(path); err != nil || !rep.OK {
		t.Fatalf("the fixture does not verify: %s %v", rep, err)
	}
	return path, data
}

// layout is where a sound file keeps bytes that matter, found with bbolt itself (which pages are
// in use) and the page format: flipping any of these must make Verify report damage. It leaves
// out bytes whose change nothing can notice (free pages, the slack after a page's data, the
// sequence numbers of buckets) or may not notice (orders' free text, branch separator keys).
type layout struct {
	psize, hwm int
	must       []bool // per byte of the file
	pages      int    // pages in use
}

func fileLayout(t *testing.T, path string, data []byte) layout {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l := layout{psize: db.Info().PageSize, must: make([]bool, len(data))}
	mark := func(from, to int) {
		for i := from; i < to && i < len(data); i++ {
			l.must[i] = true
		}
	}
	u16 := func(off int) int { return int(binary.NativeEndian.Uint16(data[off:])) }
	u32 := func(off int) int { return int(binary.NativeEndian.Uint32(data[off:])) }
	err = db.View(func(tx *bolt.Tx) error {
		l.hwm = int(tx.Size()) / l.psize // bbolt's high water mark
		for id := 0; id < l.hwm; id++ {
			info, err := tx.Page(id)
			if err != nil || info == nil {
				return fmt.Errorf("page %d: %v", id, err)
			}
			if info.Type == "free" {
				continue
			}
			l.pages++
			base := id * l.psize
			count := u16(base + 10)
			switch info.Type {
			case "meta":
				mark(base, base+l.psize) // bbolt writes zeros after the meta: all of it is checked
			case "freelist":
				n := count
				if count == 0xFFFF {
					n = int(binary.NativeEndian.Uint64(data[base+16:])) + 1
				}
				mark(base, base+16+8*n)
			case "branch":
				mark(base, base+16+16*count)
			case "leaf":
				mark(base, base+16+16*count)
				// An entries leaf: 8-byte keys and entry records (JSON or binary); every byte of
				// them is chained.
				if count > 0 && u32(base+16+8) == 8 {
					last := base + 16 + 16*(count-1)
					first := base + 16 + u32(base+16+4)
					if bytes.HasPrefix(data[first+8:], []byte(`{"journal_id"`)) || data[first+8] == recBinary {
						mark(base, last+u32(last+4)+u32(last+8)+u32(last+12))
					}
				}
			}
			if info.OverflowCount > 0 {
				id += info.OverflowCount
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// tryDamaged checks one damaged copy of the journal: Verify and Open (in this process: a fault
// would kill the test) never panic, fail only with ErrDamaged, agree with each other, and Verify
// reports damage when must is set. A store that opens is used a little, to the same rules.
func tryDamaged(t *testing.T, dir, name string, data []byte, must bool) (opened bool) {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(path)
	rep, verr := Verify(path)
	switch {
	case verr != nil && !errors.Is(verr, ErrDamaged):
		t.Errorf("%s: Verify: %v, want nil or ErrDamaged", name, verr)
	case rep.OK && verr != nil:
		t.Errorf("%s: Verify says OK and fails: %v", name, verr)
	case must && rep.OK:
		t.Errorf("%s: Verify says OK about damage in used bytes", name)
	case !rep.OK && len(rep.Damage) == 0 && rep.FirstBad == 0:
		t.Errorf("%s: Verify says not OK without saying why: %+v", name, rep)
	}
	s, err := Open(path, &Options{Site: "sz01", Agent: "pack02", Clock: clock.NewFake(t0), NoSync: true})
	if err != nil {
		if !errors.Is(err, ErrDamaged) {
			t.Errorf("%s: Open: %v, want ErrDamaged", name, err)
		}
		if rep.OK {
			t.Errorf("%s: Verify says OK, Open says %v", name, err)
		}
		return false
	}
	defer s.Close()
	if !rep.OK && rep.FirstBad == 0 && must {
		t.Logf("%s: opens despite damage (found later by reads or verify): %s", name, rep.Damage[0])
	}
	check := func(what string, err error) {
		if err != nil && !errors.Is(err, ErrDamaged) {
			t.Errorf("%s: %s: %v, want nil or ErrDamaged", name, what, err)
		}
	}
	check("ForEachOrder", s.ForEachOrder("", func(order.Order) bool { return true }))
	_, err = s.Entries(0, 1<<20, 1<<30)
	check("Entries", err)
	_, err = s.History("ORD-00003")
	check("History", err)
	_, _, err = s.FindOrder("SF0000000000003")
	check("FindOrder", err)
	s.Counts()
	// A write may fail (ErrCommit, or ErrInvalid when the order it reads does not decode), but
	// the process survives it.
	_ = s.Do(context.Background(), func(tx *Tx) error {
		o, _ := tx.Order("ORD-00001")
		o.ID, o.State = "ORD-00001", order.Cancelled
		tx.PutOrder(o)
		tx.Append(wire.Entry{Kind: wire.KindStep, OrderID: o.ID, To: string(o.State), Trigger: wire.TriggerManual})
		return nil
	})
	return true
}

// TestDamagedJournalNeverPanics flips bytes all over a journal file — every page's header and
// first elements, the meta pages, the middle of pages, runs of 64 bytes — and checks each copy
// with tryDamaged.
func TestDamagedJournalNeverPanics(t *testing.T) {
	path, orig := damageFixture(t, 300)
	l := fileLayout(t, path, orig)
	if l.pages < 40 || len(orig)/l.psize < l.hwm {
		t.Fatalf("fixture too small to mean anything: %d pages in use of %d", l.pages, l.hwm)
	}
	dir := t.TempDir()
	type flip struct{ off, n int }
	var flips []flip
	for p := 0; p < l.hwm; p++ { // every page: a header byte, an element header byte, its middle
		base := p * l.psize
		flips = append(flips, flip{base + p%16, 1}, flip{base + 16 + (p*7)%48, 1}, flip{base + l.psize/2 + p, 1})
	}
	for i := 0; i < 40; i++ { // runs of 64 bytes, as a bad sector or a stray write does
		flips = append(flips, flip{(i*7919*13 + 4096) % (len(orig) - 64), 64})
	}
	strong, opened := 0, 0
	for _, f := range flips {
		data := bytes.Clone(orig)
		must := false
		for i := f.off; i < f.off+f.n; i++ {
			data[i] ^= 0xFF
			must = must || l.must[i]
		}
		if must {
			strong++
		}
		name := fmt.Sprintf("flip-%d-%d (page %d +%d).db", f.off, f.n, f.off/l.psize, f.off%l.psize)
		if tryDamaged(t, dir, name, data, must) {
			opened++
		}
	}
	// The test means something only if many flips hit bytes that must be noticed.
	if strong < len(flips)/3 {
		t.Errorf("only %d of %d flips hit bytes in use", strong, len(flips))
	}
	t.Logf("%d flips, %d in bytes that must be noticed, %d copies opened", len(flips), strong, opened)
}

// TestTruncatedJournalNeverFaults cuts the file at many lengths. bbolt maps the file and would
// fault (SIGBUS) reading a page past its end: Open's pre-check must refuse every length shorter
// than the pages in use, before bbolt maps it (not by recovering from the fault).
func TestTruncatedJournalNeverFaults(t *testing.T) {
	path, orig := damageFixture(t, 300)
	l := fileLayout(t, path, orig)
	used := l.hwm * l.psize
	lengths := []int{0, 1, 100, 4095, 4096, 4097, len(orig) / 2, used - 1, used, used + 1, len(orig) - 1, len(orig)}
	for p := 1; p*l.psize <= len(orig); p++ {
		lengths = append(lengths, p*l.psize, p*l.psize-512)
	}
	dir := t.TempDir()
	for _, n := range lengths {
		if n < 0 || n > len(orig) {
			continue
		}
		must := n < used || n%l.psize != 0
		name := fmt.Sprintf("trunc-%d.db", n)
		tryDamaged(t, dir, name, orig[:n], must)
		if !must {
			continue
		}
		// Refused by the pre-check, not by recovering from a fault inside bbolt.
		p := filepath.Join(dir, name)
		os.WriteFile(p, orig[:n], 0o600)
		_, err := Open(p, &Options{Site: "sz01", Agent: "pack02"})
		var d *damageError
		if !errors.As(err, &d) || d.panicked {
			t.Errorf("truncated to %d: Open: %v, want the pre-check's ErrDamaged", n, err)
		}
		os.Remove(p)
	}
}
