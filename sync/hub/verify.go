package hub

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"wedge/internal/logging"
	"wedge/sync/hub/central"
	"wedge/sync/wire"
)

// Verified ingest. An entry is applied (stored in entries, indexed, merged into the order) only when
//
//   - its batch is signed by a key registered for the agent the topic names (or, without an agent
//     key registry, the batch is unsigned or signed by anyone), and
//   - its hash matches its content and its prev_hash is the hash of the journal's stored entry at
//     seq-1 ("" for seq 1).
//
// An entry whose previous entry is not stored yet (a gap: batches lost or reordered) waits in the
// pending bucket and is applied when its predecessor is, if it links. Everything else is kept as
// evidence in the unverified bucket with the reason, counted in Stats.Unverified, logged at Error,
// and never applied; the ack covers only the contiguous verified prefix, so the agent keeps sending
// its real entries until they are stored. The first stored entry of a seq wins a true conflict.

// Evidence limits: unverified entries kept in all, and per batch; beyond them they are counted in
// Stats.EvidenceDropped. maxPendingAhead bounds how far beyond the acked seq an entry may wait for
// its predecessor (the uplink keeps its window within it: wire.MaxPendingAhead).
const (
	maxEvidence     = 200000
	maxPendingAhead = wire.MaxPendingAhead
)

// unverifiedEntry is an entry kept as evidence, as GET /v1/agents/{site}/{agent}/unverified lists it.
type unverifiedEntry struct {
	wire.Entry
	Site       string `json:"site"`
	Agent      string `json:"agent"`
	ReceivedAt string `json:"received_at"`
	Unverified bool   `json:"unverified"` // always true: this entry was never applied
	Reason     string `json:"reason"`
	// KeyID is the id of the key that signed its batch ("" when unsigned).
	KeyID string `json:"key_id,omitempty"`
}

// maxUnverifiedList bounds one GET of an agent's evidence.
const maxUnverifiedList = 1000

// getUnverified lists the evidence kept for one agent (every journal), by journal and seq, at most
// maxUnverifiedList records.
func (h *Hub) getUnverified(w http.ResponseWriter, r *http.Request) {
	site, agent := r.PathValue("site"), r.PathValue("agent")
	out := []unverifiedEntry{}
	err := h.db.View(r.Context(), func(tx Tx) error {
		return tx.Unverified(site, agent, func(v []byte) (bool, error) {
			if len(out) >= maxUnverifiedList {
				return false, nil
			}
			var u unverifiedEntry
			if err := json.Unmarshal(v, &u); err != nil {
				return false, fmt.Errorf("%w: unverified entry of %s/%s: %v", ErrStore, site, agent, err)
			}
			out = append(out, u)
			return true, nil
		})
	})
	if err != nil {
		writeError(w, http.StatusInternalServerError, "读取失败 / store read failed: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// batchTrust is what the signature of one batch established.
type batchTrust struct {
	ok     bool   // the batch may be applied (chain permitting)
	kid    string // the signing key's id, "" when unsigned
	reason string // why not ok
}

// checkBatch verifies a batch's signature against its agent's registered keys and returns the body.
// Without a registry the signature frame, if any, is only stripped.
func (g *group) checkBatch(topic, site, agent string, payload []byte) ([]byte, batchTrust) {
	h := g.h
	if h.agentKeys == nil {
		body, kid, err := wire.NewVerifier().Verify(topic, payload)
		if errors.Is(err, wire.ErrUnsigned) {
			return body, batchTrust{ok: true}
		}
		if i := bytes.IndexByte(payload, '\n'); i >= 0 {
			return payload[i+1:], batchTrust{ok: true, kid: kid}
		}
		return payload, batchTrust{ok: true}
	}
	if h.agentKeys.due(time.Now(), false) {
		_ = h.reloadKeys() // the minute's reload: a key IT removed stops being believed
	}
	verify := func() ([]byte, string, error) {
		v := h.agentKeys.verifier(site, agent)
		if v == nil {
			if !wire.IsSigned(payload) {
				return nil, "", wire.ErrUnsigned
			}
			_, kid, _ := wire.NewVerifier().Verify(topic, payload)
			return nil, kid, errNoAgentKey
		}
		return v.Verify(topic, payload)
	}
	body, kid, err := verify()
	if err != nil && !errors.Is(err, wire.ErrUnsigned) && h.agentKeys.due(time.Now(), true) {
		// Signed, but not by a key we hold for this agent: IT may have just registered it.
		_ = h.reloadKeys()
		body, kid, err = verify()
	}
	switch {
	case err == nil:
		return body, batchTrust{ok: true, kid: kid}
	case errors.Is(err, wire.ErrUnsigned):
		return payload, batchTrust{reason: "batch not signed (agent keys are required)"}
	}
	if i := bytes.IndexByte(payload, '\n'); i >= 0 {
		body = payload[i+1:]
	}
	return body, batchTrust{kid: kid, reason: "batch not signed by a key registered for " + site + "/" + agent + ": " + err.Error()}
}

// errNoAgentKey is the reason for a signed batch from an agent without a registered key.
var errNoAgentKey = errors.New("no key registered for this agent")

// refuseBatch keeps the entries of a batch whose signature failed as evidence; nothing is applied,
// acked or counted as the agent's activity.
func (g *group) refuseBatch(site, agent string, b wire.Batch, bt batchTrust) error {
	g.stats.SignatureRefused++
	g.anomaly(site, central.KindSignature, g.now)
	var first uint64
	if len(b.Events) > 0 {
		first = b.Events[0].Seq
	}
	g.h.log.Error("上传批次签名无效，条目仅作为证据保存，未应用 / batch refused: entries kept as unverified evidence, not applied",
		logging.KeySite, site, logging.KeyAgent, agent, keyJournal, b.JournalID, "entries", len(b.Events), "first_seq", first,
		"key_id", bt.kid, "reason", bt.reason)
	for i, e := range b.Events {
		if i >= wire.MaxBatchEntries {
			g.stats.EvidenceDropped += uint64(len(b.Events) - i)
			break
		}
		if err := g.evidence(site, agent, b.JournalID, e, bt.kid, bt.reason); err != nil {
			return err
		}
	}
	return nil
}

// evidence stores e as unverified, keyed by its journal and seq and an arrival number.
func (g *group) evidence(site, agent, jid string, e wire.Entry, kid, reason string) error {
	if g.stats.Unverified >= maxEvidence {
		g.stats.EvidenceDropped++
		g.anomaly(site, central.KindEvidenceDropped, g.now)
		return nil
	}
	g.stats.Unverified++
	doc := mustJSON(unverifiedEntry{Entry: e, Site: site, Agent: agent, ReceivedAt: g.at(), Unverified: true, Reason: reason, KeyID: kid})
	if err := g.tx.AddUnverified(EntryKey{site, agent, jid, e.Seq}, doc); err != nil {
		return err
	}
	return g.indexEvidence(e, doc)
}

// linkVerdict is how an entry relates to what is stored of its journal.
type linkVerdict int

const (
	linked  linkVerdict = iota // applies
	pending                    // its predecessor is not stored yet
	broken                     // evidence
)

// link checks e's own hash and its link to the stored previous entry. A store that cannot be read
// (a lost database connection) is an error for the transaction, not a verdict on the entry: the
// group fails, nothing is acked and the agent resends. Only a stored document that does not decode
// makes e evidence.
func (g *group) link(site, agent string, e wire.Entry) (linkVerdict, string, error) {
	if e.ComputeHash() != e.Hash {
		return broken, "hash does not match the entry's content (edited)", nil
	}
	if e.Seq == 1 {
		if e.PrevHash != "" {
			return broken, "first entry of the journal has a prev_hash", nil
		}
		return linked, "", nil
	}
	prevHash, ok, err, decodeErr := g.storedHash(EntryKey{site, agent, e.JournalID, e.Seq - 1})
	if err != nil {
		return broken, "", err
	}
	switch {
	case decodeErr != nil:
		return broken, "the stored previous entry cannot be decoded: " + fmt.Errorf("%w: decode previous entry: %v", ErrStore, decodeErr).Error(), nil
	case !ok:
		return pending, "", nil
	case prevHash != e.PrevHash:
		return broken, "prev_hash does not match the stored previous entry (removed, reordered or edited)", nil
	}
	return linked, "", nil
}

// ingest takes one keyable entry of a batch whose signature is good.
func (g *group) ingest(site, agent string, j *journalRec, e wire.Entry, kid string) error {
	old, err := g.tx.Entry(EntryKey{site, agent, e.JournalID, e.Seq})
	if err != nil {
		return err
	}
	if old != nil {
		g.stats.DuplicatesDropped++
		if h, err := entryHash(old); err == nil && h != e.Hash {
			g.stats.Conflicts++
			g.anomaly(site, central.KindEntryConflict, g.now)
			return g.unverified(site, agent, e, kid, "conflicts with the entry already stored for this seq (the first stored is kept)", "stored_hash", h)
		}
		return nil
	}
	verdict, reason, err := g.link(site, agent, e)
	if err != nil {
		return err
	}
	switch verdict {
	case broken:
		g.stats.ChainBreaks++
		g.anomaly(site, central.KindChainBreak, g.now)
		return g.unverified(site, agent, e, kid, reason)
	case pending:
		return g.hold(site, agent, j, e, kid)
	}
	return g.store(site, agent, j, e)
}

// unverified keeps e as evidence and logs it at Error.
func (g *group) unverified(site, agent string, e wire.Entry, kid, reason string, more ...any) error {
	args := append([]any{logging.KeySite, site, logging.KeyAgent, agent, keyJournal, e.JournalID, logging.KeySeq, e.Seq,
		"hash", e.Hash, "reason", reason}, more...)
	g.h.log.Error("条目未通过校验，仅作为证据保存，未应用 / entry kept as unverified evidence, not applied", args...)
	return g.evidence(site, agent, e.JournalID, e, kid, reason)
}

// hold keeps e until its predecessor is stored.
func (g *group) hold(site, agent string, j *journalRec, e wire.Entry, kid string) error {
	if e.Seq > j.AckedSeq+maxPendingAhead {
		g.anomaly(site, central.KindTooFarAhead, g.now)
		return g.unverified(site, agent, e, kid, "too far beyond the journal's stored entries to wait for its predecessor")
	}
	key := EntryKey{site, agent, e.JournalID, e.Seq}
	raw, err := g.tx.Pending(key)
	if err != nil {
		return err
	}
	var old storedEntry
	if ok, _ := getDoc(raw, nil)("pending entry", &old); ok {
		if old.Hash == e.Hash {
			g.stats.DuplicatesDropped++
			return nil
		}
		g.anomaly(site, central.KindEntryConflict, g.now)
		return g.unverified(site, agent, e, kid, "conflicts with the entry already waiting for its predecessor at this seq", "waiting_hash", old.Hash)
	}
	g.h.log.Debug("entry waits for its predecessor", logging.KeySite, site, logging.KeyAgent, agent, keyJournal, e.JournalID, logging.KeySeq, e.Seq)
	j.MaxSeq = max(j.MaxSeq, e.Seq)
	return g.tx.PutPending(key, storedEntryDoc(&e, site, agent, g.at()))
}

// store applies a linked entry, then every waiting successor that links to it.
func (g *group) store(site, agent string, j *journalRec, e wire.Entry) error {
	for {
		key := EntryKey{site, agent, e.JournalID, e.Seq}
		stored, err := g.tx.PutEntry(key, storedEntryDoc(&e, site, agent, g.at()))
		if err != nil {
			return err
		}
		if !stored {
			// Another hub sharing the store committed this seq after we looked: it applied it, and
			// the first stored is kept.
			g.stats.DuplicatesDropped++
			raw, err := g.tx.Entry(key)
			if err != nil {
				return err
			}
			var se storedEntry
			if ok, _ := getDoc(raw, nil)("entry", &se); ok && se.Hash != e.Hash {
				g.stats.Conflicts++
				g.anomaly(site, central.KindEntryConflict, g.now)
				return g.unverified(site, agent, e, "", "conflicts with the entry already stored for this seq (the first stored is kept)", "stored_hash", se.Hash)
			}
			return nil
		}
		g.rememberHash(key, e.Hash)
		g.stats.EventsIngested++
		g.entryAnomaly(site, e)
		j.MaxSeq = max(j.MaxSeq, e.Seq)
		if err := g.applyEntry(site, agent, e, key); err != nil {
			return err
		}
		if err := g.indexEntry(site, agent, e, key); err != nil {
			return err
		}
		// A copy of this entry may have been waiting (it came beyond a gap before): drop it, and
		// keep a different one as evidence.
		raw, err := g.tx.Pending(key)
		if err != nil {
			return err
		}
		var waiting storedEntry
		if ok, _ := getDoc(raw, nil)("pending entry", &waiting); ok {
			if err := g.tx.DeletePending(key); err != nil {
				return err
			}
			if waiting.Hash != e.Hash {
				g.stats.Conflicts++
				g.anomaly(site, central.KindEntryConflict, g.now)
				if err := g.unverified(site, agent, waiting.Entry, "", "another entry was stored for this seq (it links to the previous one)"); err != nil {
					return err
				}
			}
		}
		nextKey := EntryKey{site, agent, e.JournalID, e.Seq + 1}
		var next storedEntry
		if ok, err := getDoc(g.tx.Pending(nextKey))("pending entry", &next); err != nil || !ok {
			return err
		}
		if err := g.tx.DeletePending(nextKey); err != nil {
			return err
		}
		if next.PrevHash != e.Hash {
			g.stats.ChainBreaks++
			g.anomaly(site, central.KindChainBreak, g.now)
			return g.unverified(site, agent, next.Entry, "", "prev_hash does not match the stored previous entry (removed, reordered or edited)")
		}
		e = next.Entry
	}
}
