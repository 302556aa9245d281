package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"wedge/sync/apitoken"

	"wedge/agent/journal"
	"wedge/internal/testbroker"
	"wedge/order"
	"wedge/sync/hub"
	"wedge/sync/uplink"
	"wedge/sync/wire"
)

// writeOrders records n orders in the store the way the agent does: an intake entry carrying the
// order's data, and for every other order a print step binding a waybill.
func writeOrders(t *testing.T, s *journal.Store, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		id := fmt.Sprintf("ORD-%04d", i)
		at := time.Date(2026, 11, 11, 8, 0, i, 0, time.UTC)
		msg := wire.OrderMsg{Type: wire.TypeOrder, OrderID: id, Channel: "tmall", ChannelOrderNo: fmt.Sprintf("TM%06d", i),
			BuyerID: "b1", SKUs: []string{"SKU-1"}, Payment: order.PaymentFull, Carrier: "sf", OrderedAt: wire.Time(at)}
		err := s.Do(context.Background(), func(tx *journal.Tx) error {
			o := order.Order{ID: id, Channel: "tmall", ChannelOrderNo: msg.ChannelOrderNo, BuyerID: "b1", OrderedAt: at,
				SKUs: []string{"SKU-1"}, Payment: order.PaymentFull, Carrier: "sf",
				State: order.PendingAllocation, StateSince: at, PendingSince: at, QueuedSince: at, ReceivedAt: at}
			tx.PutOrder(o)
			tx.Append(wire.Entry{Kind: wire.KindIntake, OrderID: id, To: string(o.State), Carrier: "sf", Trigger: wire.TriggerHub, Order: &msg, At: wire.Time(at)})
			if i%2 == 0 {
				o.State, o.StateSince, o.PrintedAt, o.Waybill = order.WaybillPrinted, at, at, fmt.Sprintf("SF%013d", i)
				tx.PutOrder(o)
				tx.Append(wire.Entry{Kind: wire.KindStep, OrderID: id, From: string(order.PendingAllocation), To: string(o.State),
					Waybill: o.Waybill, Carrier: "sf", Station: "print-1", Trigger: wire.TriggerPrint, At: wire.Time(at)})
			}
			if i%5 == 0 {
				// A newer version with another address (a printed label becomes outdated) and an
				// intercept, decided by the order domain as intake decides them.
				upd := msg
				upd.Version, upd.RecipientAddress, upd.HSeq = 2, "广东省深圳市福田区华强北路1号", uint64(2*i+1)
				icp := wire.OrderMsg{Type: wire.TypeIntercept, OrderID: id, Reason: "买家要求 buyer asked", HSeq: uint64(2*i + 2)}
				for _, m := range []wire.OrderMsg{upd, icp} {
					if d := tx.Commit(order.DecideMsg(o, true, m, order.MsgEnv{At: at})); d.Store {
						o = d.Outcome.Order
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// snapshot is a journal as the store reads it back.
type snapshot struct {
	id      string
	entries []wire.Entry
	orders  map[string]order.Order
	acked   uint64
}

func snap(t *testing.T, path, site, agentName string) snapshot {
	t.Helper()
	s, err := journal.Open(path, &journal.Options{Site: site, Agent: agentName})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := snapshot{id: s.JournalID(), orders: map[string]order.Order{}, acked: s.AckedSeq()}
	if out.entries, err = s.Entries(0, 1<<20, 1<<30); err != nil {
		t.Fatal(err)
	}
	if err := s.ForEachOrder("", func(o order.Order) bool { out.orders[o.ID] = o; return true }); err != nil {
		t.Fatal(err)
	}
	return out
}

// flipAt flips 64 bytes of the file where entry seq is stored, as a bad sector would.
func flipAt(t *testing.T, path string, seq int) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The entry's key (8-byte big endian seq), then its record (binary: first byte 2).
	key := binary.BigEndian.AppendUint64(nil, uint64(seq))
	at := bytes.Index(data, append(key, 2)) // the key, then the binary record's tag (layout 0x02)
	if at < 0 {
		t.Fatalf("entry %d not found in %s", seq, path)
	}
	for i := at; i < at+64; i++ {
		data[i] ^= 0xFF
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return data
}

// TestRunDamagedJournal: `wedge run` on a damaged journal exits 65 (systemd's
// RestartPreventExitStatus) and says what to do; `wedge journal verify` says what is damaged.
func TestRunDamagedJournal(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "wedge.yaml")
	os.WriteFile(p, []byte("site: sz01\nagent: pack09\ndata_dir: data\nbroker: {url: \"tcp://127.0.0.1:1\", accept_unsigned: true}\napi: {listen: \"127.0.0.1:0\"}\nstations:\n  - {name: dock-1, role: handover}\n"), 0o644)
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o750)
	db := filepath.Join(data, "wedge.db")
	s, err := journal.Open(db, &journal.Options{Site: "sz01", Agent: "pack09"})
	if err != nil {
		t.Fatal(err)
	}
	writeOrders(t, s, 0, 200)
	s.Close()
	raw, _ := os.ReadFile(db)
	if exitDamagedJournal != 65 { // named in packaging/systemd/wedge.service
		t.Fatalf("exitDamagedJournal is %d, wedge.service expects 65", exitDamagedJournal)
	}
	for _, c := range []struct {
		name string
		bad  []byte
	}{
		{"truncated to half", raw[:len(raw)/2]},
		{"meta page flipped", func() []byte { b := bytes.Clone(raw); b[20] ^= 0xFF; return b }()},
		// The file opens, but an order the agent reads at start does not read back.
		{"an order garbled", func() []byte {
			b := bytes.Clone(raw)
			at := bytes.Index(b, []byte("\x02\x08ORD-0005")) // a binary record: tag (layout 0x02), id's length, id
			if at < 0 {
				t.Fatal("order ORD-0005 not found in the file")
			}
			for i := at + 12; i < at+20; i++ {
				b[i] ^= 0xFF
			}
			return b
		}()},
	} {
		t.Run(c.name, func(t *testing.T) {
			os.WriteFile(db, c.bad, 0o600)
			// The agent may get as far as starting its goroutines, which log concurrently.
			var out, errb syncBuf
			code := runCtx(context.Background(), []string{"run", "--config", p}, &out, &errb)
			errs := errb.String()
			if code != exitDamagedJournal {
				t.Fatalf("exit %d, want 65: %s", code, errs)
			}
			for _, want := range []string{"日志文件已损坏", "journal file is damaged", "wedge journal verify --data " + data, "wedge journal recover --data " + data, "backup"} {
				if !strings.Contains(errs, want) {
					t.Errorf("stderr lacks %q:\n%s", want, errs)
				}
			}
			code, vout, verrs := wedge(t, "journal", "verify", "--data", data)
			if code != exitFailure || !strings.Contains(vout, "BROKEN") || !strings.Contains(vout, "file damage") || !strings.Contains(vout, "wedge journal recover") {
				t.Errorf("verify: exit %d\n%s%s", code, vout, verrs)
			}
		})
	}
	if code, out, _ := wedge(t, "help"); code != exitOK || !strings.Contains(out, "65 ") || !strings.Contains(out, "journal recover") {
		t.Errorf("help does not list exit status 65 and journal recover:\n%s", out)
	}
}

// TestJournalRecover: an agent's journal whose first entries were synced to a real hub (through
// the real uplink and mosquitto) and whose later ones were not, is damaged on disk. `wedge
// journal recover` rebuilds it from the hub's copy plus the local entries that still chain, keeps
// the journal id, the orders and the acked seq, notes what it did, and keeps the damaged file.
func TestJournalRecover(t *testing.T) {
	b := testbroker.Start(t, nil)
	h, err := hub.New(context.Background(), hub.Options{BrokerURL: b.URL(), DataDir: t.TempDir(), Listen: "127.0.0.1:0", ClientID: "hub-recover-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop(context.Background())
	select {
	case <-h.Ready():
	case <-time.After(15 * time.Second):
		t.Fatal("hub did not subscribe")
	}
	hubURL := "http://" + h.Addr()
	tok, _, err := apitoken.Create(context.Background(), h.Tokens(), "recover", []apitoken.Scope{apitoken.Read}, time.Now())
	if err != nil {
		t.Fatal(err)
	}

	// journal builds an agent's journal: 40 orders synced to the hub and acked, 10 more not.
	journalFor := func(t *testing.T, agentName string) (dir, db string, want snapshot) {
		dir = t.TempDir()
		db = filepath.Join(dir, "wedge.db")
		s, err := journal.Open(db, &journal.Options{Site: "sz01", Agent: agentName})
		if err != nil {
			t.Fatal(err)
		}
		writeOrders(t, s, 0, 40)
		synced := s.LastSeq()
		up, err := uplink.New(context.Background(), s, uplink.Options{URL: b.URL(), Site: "sz01", Agent: agentName, AcceptUnsigned: true})
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for s.AckedSeq() < synced {
			if time.Now().After(deadline) {
				t.Fatalf("the hub acked %d of %d", s.AckedSeq(), synced)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err := up.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		writeOrders(t, s, 40, 10) // recorded while the hub was out of reach
		s.Close()
		return dir, db, snap(t, db, "sz01", agentName)
	}

	t.Run("everything back", func(t *testing.T) {
		dir, db, want := journalFor(t, "pack01")
		if want.acked == 0 || want.acked >= uint64(len(want.entries)) {
			t.Fatalf("fixture: acked %d of %d", want.acked, len(want.entries))
		}
		damaged := flipAt(t, db, 3) // inside what the hub holds
		if code, out, _ := wedge(t, "journal", "verify", "--data", dir); code != exitFailure || !strings.Contains(out, "BROKEN") {
			t.Fatalf("verify of the damaged journal: %d %s", code, out)
		}
		code, out, errs := wedge(t, "journal", "recover", "--data", dir, "--hub", hubURL, "--token", tok)
		if code != exitOK {
			t.Fatalf("recover: exit %d\n%s%s", code, out, errs)
		}
		if code, out, errs := wedge(t, "journal", "verify", "--data", dir); code != exitOK {
			t.Fatalf("verify after recover: %d %s %s", code, out, errs)
		}
		got := snap(t, db, "sz01", "pack01")
		n := len(want.entries)
		if got.id != want.id || got.acked != want.acked || len(got.entries) != n+1 {
			t.Fatalf("journal %s acked %d, %d entries; want %s acked %d, %d entries and the note", got.id, got.acked, len(got.entries), want.id, want.acked, n)
		}
		if !reflect.DeepEqual(got.entries[:n], want.entries) {
			t.Error("the recovered entries differ from the originals")
		}
		note := got.entries[n]
		wantNote := []string{"journal recovered", fmt.Sprintf("entries 1–%d from the hub", want.acked), fmt.Sprintf("entries %d–%d salvaged", want.acked+1, n), "wedge.db.damaged-"}
		for _, w := range wantNote {
			if note.Kind != wire.KindNote || !strings.Contains(note.Detail, w) {
				t.Errorf("note %s %q lacks %q", note.Kind, note.Detail, w)
			}
		}
		if !reflect.DeepEqual(got.orders, want.orders) {
			t.Errorf("orders differ after recover: %d orders, want %d", len(got.orders), len(want.orders))
		}
		if o := got.orders["ORD-0010"]; o.Version != 2 || !o.LabelOutdated || !o.Intercepted() || o.Intercept.Reason != "买家要求 buyer asked" {
			t.Errorf("the update and intercept of ORD-0010 were not replayed: %+v", o)
		}
		kept, _ := filepath.Glob(filepath.Join(dir, "wedge.db.damaged-*"))
		if len(kept) != 1 {
			t.Fatalf("damaged copies kept: %v", kept)
		}
		if b, _ := os.ReadFile(kept[0]); !bytes.Equal(b, damaged) {
			t.Error("the kept file is not the damaged journal")
		}
		if left, _ := filepath.Glob(filepath.Join(dir, "*.recovering")); len(left) > 0 {
			t.Errorf("left behind: %v", left)
		}
		// A journal that verifies is left alone.
		code, out, _ = wedge(t, "journal", "recover", "--data", dir, "--hub", hubURL, "--token", tok)
		if code != exitOK || !strings.Contains(out, "nothing done") {
			t.Errorf("second recover: %d %s", code, out)
		}
	})

	t.Run("local tail partly lost", func(t *testing.T) {
		dir, db, want := journalFor(t, "pack02")
		lost := int(want.acked) + 4 // a local entry the hub never had
		flipAt(t, db, lost)
		code, out, errs := wedge(t, "journal", "recover", "--data", dir, "--hub", hubURL, "--token", tok)
		if code != exitOK {
			t.Fatalf("recover: exit %d\n%s%s", code, out, errs)
		}
		got := snap(t, db, "sz01", "pack02")
		if len(got.entries) != lost || !reflect.DeepEqual(got.entries[:lost-1], want.entries[:lost-1]) {
			t.Fatalf("%d entries, want the %d before the damage and the note", len(got.entries), lost-1)
		}
		note := got.entries[lost-1].Detail
		if !strings.Contains(note, fmt.Sprintf("local entries %d–%d are lost", lost, len(want.entries))) {
			t.Errorf("note %q does not say what was lost", note)
		}
		if code, out, errs := wedge(t, "journal", "verify", "--data", dir); code != exitOK {
			t.Fatalf("verify after recover: %d %s %s", code, out, errs)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		dir, db, want := journalFor(t, "pack03")
		flipAt(t, db, 3)
		before, _ := os.ReadFile(db)
		for _, c := range []struct {
			args []string
			code int
			says string
		}{
			{[]string{"--data", dir}, exitUsage, "usage"},
			{[]string{"--data", dir, "--hub", "ftp://x"}, exitUsage, "http"},
			{[]string{"--data", dir, "--hub", hubURL, "--token", tok, "--journal-id", "0123456789abcdef"}, exitUsage, want.id},
			{[]string{"--data", dir, "--hub", hubURL, "--token", tok, "--agent", "pack04"}, exitUsage, "pack03"},
			{[]string{"--data", dir, "--hub", "http://127.0.0.1:1"}, exitFailure, "unreachable"},
		} {
			code, _, errs := wedge(t, append([]string{"journal", "recover"}, c.args...)...)
			if code != c.code || !strings.Contains(errs, c.says) {
				t.Errorf("%q: exit %d %s, want %d saying %q", c.args, code, errs, c.code, c.says)
			}
		}
		if after, _ := os.ReadFile(db); !bytes.Equal(after, before) {
			t.Error("a refused recover changed the journal file")
		}
		// With the file gone entirely, the flags name the journal; the hub has its first 40 orders.
		os.Remove(db)
		code, out, errs := wedge(t, "journal", "recover", "--data", dir, "--hub", hubURL, "--token", tok, "--site", "sz01", "--agent", "pack03")
		if code != exitUsage || !strings.Contains(errs, want.id) {
			t.Errorf("without a journal id: %d %s, want a hint naming %s", code, errs, want.id)
		}
		code, out, errs = wedge(t, "journal", "recover", "--data", dir, "--hub", hubURL, "--token", tok, "--site", "sz01", "--agent", "pack03", "--journal-id", want.id)
		if code != exitOK {
			t.Fatalf("recover of a lost file: %d %s %s", code, out, errs)
		}
		if got := snap(t, db, "sz01", "pack03"); got.id != want.id || len(got.entries) != int(want.acked)+1 {
			t.Errorf("recovered %s with %d entries, want %s with %d and the note", got.id, len(got.entries), want.id, want.acked)
		}
	})
}
