package hub

import (
	"bytes"
	"testing"

	"wedge/sync/wire"
)

// storedEntryDoc must write the very bytes the hub stored before it was written by hand.
func TestStoredEntryDocMatchesJSON(t *testing.T) {
	e := wire.Entry{JournalID: "J-1", Seq: 3, Kind: wire.KindStep, OrderID: "o<1>", To: "waybill_printed", Detail: "打印机 \u2028",
		At: "2026-12-06T06:00:00.000Z", PrevHash: "aa", Hash: "bb"}
	intake := e
	intake.Kind, intake.Order = wire.KindIntake, &wire.OrderMsg{Type: wire.TypeOrder, OrderID: "o1", SKUs: []string{"x&y"}}
	for _, c := range []struct {
		e               wire.Entry
		site, agent, at string
	}{
		{e, "sz01", "pc01", "2026-12-06T06:00:01.000Z"},
		{intake, "sz01", "pc01", ""},
		{wire.Entry{}, "s", "a", "2026-12-06T06:00:01.000Z"},
		{e, "bad site", "a\"b", "<now>"},
	} {
		want := mustJSON(storedEntry{Entry: c.e, Site: c.site, Agent: c.agent, ReceivedAt: c.at})
		if got := storedEntryDoc(&c.e, c.site, c.agent, c.at); !bytes.Equal(got, want) {
			t.Fatalf("storedEntryDoc\n got %s\nwant %s", got, want)
		}
	}
}

// publishDocs publishes the same payloads as publishChunks for the same messages.
func TestPublishDocsMatchesChunks(t *testing.T) {
	for _, n := range []int{1, 2, maxReplayChunk, maxReplayChunk + 1, 2*maxReplayChunk + 3} {
		var msgs []wire.OrderMsg
		var docs [][]byte
		for i := range n {
			m := wire.OrderMsg{Type: wire.TypeState, OrderID: "o<" + string(rune('a'+i%26)) + ">", State: "waybill_printed", HSeq: uint64(i + 1)}
			msgs = append(msgs, m)
			docs = append(docs, mustJSON(m))
		}
		var want, got [][]byte
		(&Hub{publishFn: func(_ string, p []byte) { want = append(want, p) }}).publishChunks("t", msgs, false)
		(&Hub{publishFn: func(_ string, p []byte) { got = append(got, p) }}).publishDocs("t", docs)
		if len(got) != len(want) {
			t.Fatalf("%d messages: %d payloads, want %d", n, len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("%d messages, payload %d:\n got %s\nwant %s", n, i, got[i], want[i])
			}
		}
	}
}
