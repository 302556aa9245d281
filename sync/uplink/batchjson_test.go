package uplink_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"wedge/internal/testbroker"
	"wedge/sync/uplink"
	"wedge/sync/wire"
)

// fixedSource is a journal of given entries that are never acked away (the test has no hub).
type fixedSource struct {
	es        []wire.Entry
	committed chan struct{}
}

func (s *fixedSource) JournalID() string { return jid }
func (s *fixedSource) Entries(after uint64, maxEntries, maxBytes int) ([]wire.Entry, error) {
	var out []wire.Entry
	size := 0
	for i := int(after); i < len(s.es) && len(out) < maxEntries; i++ {
		n := len(s.es[i].AppendJSON(nil))
		if len(out) > 0 && size+n > maxBytes {
			break
		}
		size += n
		out = append(out, s.es[i])
	}
	return out, nil
}
func (s *fixedSource) LastSeq() uint64                   { return uint64(len(s.es)) }
func (s *fixedSource) AckedSeq() uint64                  { return 0 }
func (s *fixedSource) Ack(context.Context, uint64) error { return nil }
func (s *fixedSource) Committed() <-chan struct{}        { return s.committed }

// The batches the uplink publishes, signed or not, are byte for byte what json.Marshal writes for
// them (the entries' strings include everything encoding/json escapes; several batches are in
// flight at once, from one reused encoding buffer), and the hub's DecodeBatch reads them back as
// json.Unmarshal does.
func TestPublishedBatchesAreEncodingJSONBytes(t *testing.T) {
	t.Run("unsigned", func(t *testing.T) { publishedBatches(t, false) })
	t.Run("signed", func(t *testing.T) { publishedBatches(t, true) })
}

func publishedBatches(t *testing.T, signed bool) {
	odd := []string{"<b>&\"q\"\\", "tab\tnl\n\x00\x7f", "bad\xffutf8", "\u2028\u2029", "中文 已打印 😀", ""}
	src := &fixedSource{committed: make(chan struct{}, 1)}
	prev := ""
	for i := range 600 { // more than one batch of MaxBatchEntries
		s := odd[i%len(odd)]
		e := wire.Entry{JournalID: jid, Seq: uint64(i + 1), Kind: wire.KindStep, OrderID: fmt.Sprintf("O%d", i), From: "a", To: "b",
			Station: "print-1", Trigger: wire.TriggerPrint, Detail: s, Reason: s, LabelVersion: uint64(i % 3), At: "2026-12-06T06:00:00.000Z"}
		if i%5 == 0 {
			e.Kind = wire.KindIntake
			e.Order = &wire.OrderMsg{Type: wire.TypeOrder, HSeq: uint64(i), OrderID: e.OrderID, SKUs: []string{"x", s}, RecipientName: s, Version: 2}
		}
		e.Seal(prev)
		prev = e.Hash
		src.es = append(src.es, e)
	}
	b := testbroker.Start(t, nil)
	var mu sync.Mutex
	var payloads [][]byte
	c := client(t, b.URL(), "observer", nil)
	subscribe(t, c, wire.TopicEvents(site, agent), func(m mqtt.Message) {
		mu.Lock()
		payloads = append(payloads, bytes.Clone(m.Payload()))
		mu.Unlock()
	})
	o := uplink.Options{URL: b.URL()}
	var verify func([]byte) []byte
	if signed {
		agentPub, agentKey, err := wire.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		hubPub, _ := genKey(t)
		o.HubKeys, o.SigningKey = []ed25519.PublicKey{hubPub}, agentKey
		verify = func(p []byte) []byte {
			body, _, err := wire.NewVerifier(agentPub).Verify(wire.TopicEvents(site, agent), p)
			if err != nil {
				t.Fatalf("batch signature: %v", err)
			}
			return body
		}
	}
	start(t, src, o)
	seen := map[uint64]bool{}
	checked := 0
	eventually(t, 30*time.Second, "every entry published", func() bool {
		mu.Lock()
		ps := payloads[checked:]
		checked = len(payloads)
		mu.Unlock()
		for _, p := range ps {
			if verify != nil {
				p = verify(p)
			}
			var got wire.Batch
			if err := json.Unmarshal(p, &got); err != nil {
				t.Fatalf("batch does not decode: %v", err)
			}
			want := wire.Batch{Site: site, Agent: agent, JournalID: jid}
			for _, e := range got.Events {
				want.Events = append(want.Events, src.es[e.Seq-1])
				seen[e.Seq] = true
			}
			if w, _ := json.Marshal(want); !bytes.Equal(p, w) {
				t.Fatalf("published batch differs from json.Marshal's\n got %.300s\nwant %.300s", p, w)
			}
			if d, err := wire.DecodeBatch(p); err != nil || !reflect.DeepEqual(d, got) {
				t.Fatalf("DecodeBatch differs from json.Unmarshal: %v", err)
			}
		}
		return len(seen) == len(src.es)
	})
}
