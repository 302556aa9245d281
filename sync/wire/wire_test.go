package wire

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func chain(n int) []Entry {
	var out []Entry
	prev := ""
	for i := 1; i <= n; i++ {
		e := Entry{JournalID: "j1", Seq: uint64(i), Kind: KindStep, OrderID: "O1", From: "pending_allocation",
			To: "waybill_printed", Waybill: "SF1385628716739", At: "2026-01-22T08:00:00.000Z"}
		e.Seal(prev)
		prev = e.Hash
		out = append(out, e)
	}
	return out
}

func TestChainVerifies(t *testing.T) {
	es := chain(5)
	for i := range es {
		var prev *Entry
		if i > 0 {
			prev = &es[i-1]
		}
		if err := VerifyLink(prev, es[i]); err != nil {
			t.Fatalf("entry %d: %v", i+1, err)
		}
	}
	if es[0].PrevHash != "" || len(es[0].Hash) != 64 {
		t.Fatalf("first entry prev %q hash %q", es[0].PrevHash, es[0].Hash)
	}
}

func TestChainDetectsTampering(t *testing.T) {
	es := chain(4)
	edited := es[2]
	edited.Operator = "OP-evil"
	if err := VerifyLink(&es[1], edited); !errors.Is(err, ErrChain) {
		t.Errorf("edited entry: %v", err)
	}
	if err := VerifyLink(&es[1], es[3]); !errors.Is(err, ErrChain) {
		t.Errorf("removed entry: %v", err)
	}
	swapped := es[3]
	swapped.Seq = 3
	if err := VerifyLink(&es[1], swapped); !errors.Is(err, ErrChain) {
		t.Errorf("reordered entry: %v", err)
	}
}

func TestHashSurvivesJSONRoundTrip(t *testing.T) {
	e := chain(1)[0]
	e.Order = &OrderMsg{Type: TypeOrder, Channel: "tmall", SKUs: []string{"SKU-1"}, Recipient: "张**"}
	e.Seal("")
	b, _ := json.Marshal(e)
	var back Entry
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.ComputeHash() != e.Hash {
		t.Fatal("hash changed after a JSON round trip: the hub could not verify entries")
	}
}

// The fingerprint is a contract (orders are found by it across hubs, agents and releases): these
// were computed by the first implementation, which hashed each part in turn.
func TestFingerprintGolden(t *testing.T) {
	at := time.Date(2026, 1, 22, 16, 0, 0, 123456789, time.FixedZone("CST", 8*3600))
	for _, c := range []struct{ got, want string }{
		{Fingerprint("tmall", "4012345678901234", "b-1001", at, []string{"SKU-2", "SKU-1"}), "FP21E3C3B900960044ADF74DD6"},
		{Fingerprint(" Tmall淘宝 ", " 40123 ", "买家 b-1001", at, []string{" SKU-2", "SKU-1 ", "SKU-3\x1e", "a", "b", "c", "d", "e", "f", "g"}),
			"FP813BB92A780042E1656E0542"},
		{Fingerprint("", "", "", time.Time{}, nil), "FPF948D5719DFD3F3F8AB3C942"},
	} {
		if c.got != c.want {
			t.Errorf("fingerprint %s, want %s", c.got, c.want)
		}
	}
}

func TestFingerprint(t *testing.T) {
	at := time.Date(2026, 1, 22, 16, 0, 0, 0, time.FixedZone("CST", 8*3600))
	a := Fingerprint("tmall", "4012345678901234", "b-1001", at, []string{"SKU-2", "SKU-1"})
	b := Fingerprint(" TMALL ", "4012345678901234", "b-1001", at.UTC(), []string{"SKU-1", " SKU-2"})
	if a != b {
		t.Fatalf("same order, different fingerprints: %s vs %s", a, b)
	}
	if !strings.HasPrefix(a, "FP") || len(a) != 26 {
		t.Fatalf("fingerprint %q: want FP + 24 hex", a)
	}
	for _, c := range []string{
		Fingerprint("jd", "4012345678901234", "b-1001", at, []string{"SKU-1", "SKU-2"}),
		Fingerprint("tmall", "4012345678901235", "b-1001", at, []string{"SKU-1", "SKU-2"}),
		Fingerprint("tmall", "4012345678901234", "b-1002", at, []string{"SKU-1", "SKU-2"}),
		Fingerprint("tmall", "4012345678901234", "b-1001", at.Add(time.Millisecond), []string{"SKU-1", "SKU-2"}),
		Fingerprint("tmall", "4012345678901234", "b-1001", at, []string{"SKU-1"}),
	} {
		if c == a {
			t.Errorf("a different order got the same fingerprint %s", a)
		}
	}
	m := OrderMsg{Type: TypeOrder, Channel: "tmall", ChannelOrderNo: "4012345678901234", BuyerID: "b-1001",
		OrderedAt: "2026-01-22T08:00:00Z", SKUs: []string{"SKU-1", "SKU-2"}}
	if m.ID() != a {
		t.Fatalf("OrderMsg.ID() = %s, want the fingerprint %s", m.ID(), a)
	}
}

func TestParseDownlink(t *testing.T) {
	msgs, bad, err := ParseDownlink([]byte(`{"type":"cancel","order_id":"O1","reason":"buyer"}`))
	if err != nil || len(bad) != 0 || len(msgs) != 1 || msgs[0].OrderID != "O1" {
		t.Fatalf("single object: %v %v %v", msgs, bad, err)
	}
	msgs, bad, err = ParseDownlink([]byte(`[{"type":"balance_paid","order_id":"O2"}, 7, {"type":"teleport"},
		{"type":"order","channel":"tmall"}, {"type":"state","order_id":"O3","state":"picked_up"}]`))
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || len(bad) != 3 {
		t.Fatalf("array: %d good %d bad (%v)", len(msgs), len(bad), bad)
	}
	if !errors.Is(bad[0], ErrMalformed) || !errors.Is(bad[1], ErrInvalid) || !errors.Is(bad[2], ErrInvalid) {
		t.Fatalf("error kinds: %v", bad)
	}
	for _, p := range []string{``, `{`, `[1,`, `"x"`, `null`} {
		msgs, bad, err := ParseDownlink([]byte(p))
		if err == nil && len(bad) == 0 {
			t.Errorf("payload %q parsed without error: %v", p, msgs)
		}
	}
}

func FuzzParseDownlink(f *testing.F) {
	f.Add([]byte(`[{"type":"order","channel":"tmall","channel_order_no":"1","buyer_id":"b","ordered_at":"2026-01-01T00:00:00Z"}]`))
	f.Add([]byte(`{"type":"state","order_id":"O","state":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		msgs, _, _ := ParseDownlink(b)
		for _, m := range msgs {
			if err := m.Validate(); err != nil {
				t.Fatalf("returned an invalid message: %v", err)
			}
			_ = m.ID()
		}
	})
}

func TestTopics(t *testing.T) {
	site, agent, leaf, ok := ParseAgentTopic(TopicEvents("sz01", "pack02"))
	if !ok || site != "sz01" || agent != "pack02" || leaf != "events" {
		t.Fatal(site, agent, leaf, ok)
	}
	for _, bad := range []string{"", "a/b", "wedge/v2/s/a/events", "wedge/v1/s/a/b/c"} {
		if _, _, _, ok := ParseAgentTopic(bad); ok {
			t.Errorf("ParseAgentTopic(%q) ok", bad)
		}
	}
	for _, n := range []string{"sz01", "pack-02", "A_b"} {
		if !ValidName(n) {
			t.Errorf("ValidName(%q) false", n)
		}
	}
	for _, n := range []string{"", "a/b", "a+", "#", "站点", strings.Repeat("a", 65)} {
		if ValidName(n) {
			t.Errorf("ValidName(%q) true", n)
		}
	}
}
