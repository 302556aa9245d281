package hub

import (
	"encoding/json"

	"wedge/sync/wire"
)

// The ingest's hot path without reflection where the hub only passes bytes on: an entry is stored
// as the bytes encoding/json would write for it (wire.Entry.AppendJSON), the previous entry's hash
// comes from the group's own stores when it stored it, and a stored entry read back is decoded
// only for its hash.

// storedEntryDoc is mustJSON(storedEntry{Entry: e, Site: site, Agent: agent, ReceivedAt: at}),
// byte for byte, written by hand when site, agent and at need no escaping (valid names and wire
// times never do).
func storedEntryDoc(e *wire.Entry, site, agent, at string) []byte {
	if !wire.ValidName(site) || !wire.ValidName(agent) || !plainTime(at) {
		return mustJSON(storedEntry{Entry: *e, Site: site, Agent: agent, ReceivedAt: at})
	}
	b := e.AppendJSON(make([]byte, 0, entryDocSize(e)+len(site)+len(agent)+len(at)+40))
	b = append(b[:len(b)-1], `,"site":"`...) // drop the entry's closing brace
	b = append(b, site...)
	b = append(b, `","agent":"`...)
	b = append(b, agent...)
	b = append(b, `","received_at":"`...)
	b = append(b, at...)
	return append(b, `"}`...)
}

// entryDocSize is about the size of e's JSON: its strings and the field names around them, so
// the document is written in one allocation (a fixed 512 was regrown for most entries).
func entryDocSize(e *wire.Entry) int {
	n := 300 + len(e.JournalID) + len(e.Kind) + len(e.OrderID) + len(e.From) + len(e.To) + len(e.Waybill) + len(e.Carrier) +
		len(e.Station) + len(e.Device) + len(e.Operator) + len(e.Trigger) + len(e.Reason) + len(e.Detail) + len(e.Code) + len(e.Job) +
		len(e.Intercept) + len(e.At) + len(e.PrevHash) + len(e.Hash)
	if e.Order != nil {
		n += 512
	}
	return n
}

// plainTime reports whether s holds only the characters of a wire time (written verbatim).
func plainTime(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c == '-' || c == ':' || c == 'T' || c == 'Z' || c == '.' || c == '+') {
			return false
		}
	}
	return true
}

// entryHash is the hash field of a stored entry document (storedEntry), decoded alone.
func entryHash(raw []byte) (string, error) {
	var h struct {
		Hash string `json:"hash"`
	}
	err := json.Unmarshal(raw, &h)
	return h.Hash, err
}

// storedHash is the hash of the entry stored at k: the group's own when it stored it, else read
// from the store. found is false when nothing is stored at k; err is a store's read error or
// (wrapped in decodeErr) a stored document that does not decode.
func (g *group) storedHash(k EntryKey) (hash string, found bool, readErr, decodeErr error) {
	if h, ok := g.hashes[k]; ok {
		return h, true, nil, nil
	}
	raw, err := g.tx.Entry(k)
	if err != nil || raw == nil {
		return "", false, err, nil
	}
	h, err := entryHash(raw)
	return h, true, nil, err
}

// rememberHash notes the hash of the entry the group stored at k.
func (g *group) rememberHash(k EntryKey, hash string) {
	if g.hashes == nil {
		g.hashes = map[EntryKey]string{}
	}
	g.hashes[k] = hash
}

// keepDownDoc keeps the stored document of a downlink message of the group, which is exactly
// what the message is published as.
func (g *group) keepDownDoc(site string, doc []byte) {
	if g.downDocs == nil {
		g.downDocs = map[string][][]byte{}
	}
	g.downDocs[site] = append(g.downDocs[site], doc)
}

// publishDocs is publishChunks(topic, msgs, false) with the messages' documents already encoded:
// a single message as an object, more as arrays of up to maxReplayChunk, the same bytes
// json.Marshal writes for the messages.
func (h *Hub) publishDocs(topic string, docs [][]byte) {
	for len(docs) > 0 {
		n := min(len(docs), maxReplayChunk)
		if n == 1 {
			h.publish(topic, docs[0])
			return
		}
		size := 1
		for _, d := range docs[:n] {
			size += len(d) + 1
		}
		b := make([]byte, 0, size)
		for i, d := range docs[:n] {
			if i == 0 {
				b = append(b, '[')
			} else {
				b = append(b, ',')
			}
			b = append(b, d...)
		}
		h.publish(topic, append(b, ']'))
		docs = docs[n:]
	}
}
