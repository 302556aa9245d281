package hub

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	bolt "go.etcd.io/bbolt"

	"wedge/sync/wire"
)

// Page sizes of GET /v1/journals/{site}/{agent}/{journal_id}/entries.
const (
	DefaultEntriesLimit = 500
	MaxEntriesLimit     = 5000
)

// JournalEntries is the answer of GET /v1/journals/{site}/{agent}/{journal_id}/entries: the hub's
// copy of an agent's journal, one page at a time. An agent whose journal file is damaged rebuilds
// it from this (wedge journal recover).
type JournalEntries struct {
	Site      string `json:"site"`
	Agent     string `json:"agent"`
	JournalID string `json:"journal_id"`
	// AckedSeq is the highest seq up to which the hub holds every entry (what it acknowledged).
	AckedSeq uint64 `json:"acked_seq"`
	// MaxSeq is the highest seq the hub holds (beyond AckedSeq after a gap).
	MaxSeq uint64 `json:"max_seq"`
	// Entries are the stored entries with seq > after, in seq order, as the agent sealed them:
	// the verified ones and those beyond a gap that wait for their predecessor (never an entry
	// kept as unverified evidence).
	Entries []wire.Entry `json:"entries"`
	// More says that entries after the last one of this page are stored: ask again with
	// after = the last seq of this page.
	More bool `json:"more"`
}

// entryCursor walks the entry keys of one journal in a bucket keyed like entries.
type entryCursor struct {
	c      *bolt.Cursor
	prefix []byte
	k, v   []byte // nil k: done
}

func newEntryCursor(b *bolt.Bucket, prefix, start []byte) *entryCursor {
	e := &entryCursor{c: b.Cursor(), prefix: prefix}
	e.k, e.v = e.c.Seek(start)
	e.skip()
	return e
}

func (e *entryCursor) next() { e.k, e.v = e.c.Next(); e.skip() }

// skip stops at the end of the journal and steps over keys that are not entry keys (journal ids
// hold no NUL), so nothing is misread.
func (e *entryCursor) skip() {
	for e.k != nil {
		if !bytes.HasPrefix(e.k, e.prefix) {
			e.k = nil
			return
		}
		if len(e.k) == len(e.prefix)+8 {
			return
		}
		e.k, e.v = e.c.Next()
	}
}

// getJournalEntries serves GET /v1/journals/{site}/{agent}/{journal_id}/entries?after=N&limit=M.
func (h *Hub) getJournalEntries(w http.ResponseWriter, r *http.Request) {
	site, agent, jid := r.PathValue("site"), r.PathValue("agent"), r.PathValue("journal_id")
	if !wire.ValidName(site) || !wire.ValidName(agent) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("仓库或代理名无效 / invalid site %q or agent %q", site, agent))
		return
	}
	if !validJournalID(jid) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("日志编号无效 / invalid journal id %q", jid))
		return
	}
	after, limit := uint64(0), DefaultEntriesLimit
	if v := r.URL.Query().Get("after"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("after 无效 / invalid after %q (a seq, 0 for the start)", v))
			return
		}
		after = n
	}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxEntriesLimit {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit 无效 / invalid limit %q (1–%d)", v, MaxEntriesLimit))
			return
		}
		limit = n
	}
	resp := JournalEntries{Site: site, Agent: agent, JournalID: jid, Entries: []wire.Entry{}}
	found := false
	err := h.db.View(func(tx *bolt.Tx) error {
		var j journalRec
		ok, err := getJSON(tx.Bucket(bktJournals), journalKey(site, agent, jid), &j)
		if err != nil || !ok {
			return err
		}
		found = true
		resp.AckedSeq, resp.MaxSeq = j.AckedSeq, j.MaxSeq
		if after == ^uint64(0) {
			return nil
		}
		// The verified entries and those beyond a gap that wait for their predecessor (verify.go),
		// merged in seq order.
		prefix := append(journalKey(site, agent, jid), 0)
		start := entryKey(site, agent, jid, after+1)
		stored, waiting := newEntryCursor(tx.Bucket(bktEntries), prefix, start), newEntryCursor(tx.Bucket(bktPending), prefix, start)
		for {
			c := stored
			if stored.k == nil || waiting.k != nil && bytes.Compare(waiting.k, stored.k) < 0 {
				c = waiting
			}
			if c.k == nil {
				return nil
			}
			if len(resp.Entries) == limit {
				resp.More = true
				return nil
			}
			var se storedEntry
			if err := json.Unmarshal(c.v, &se); err != nil {
				return fmt.Errorf("%w: entry %q: %v", ErrStore, c.k, err)
			}
			resp.Entries = append(resp.Entries, se.Entry)
			c.next()
		}
	})
	if err != nil {
		writeError(w, http.StatusInternalServerError, "读取失败 / store read failed: "+err.Error())
		return
	}
	if !found {
		writeError(w, http.StatusNotFound, fmt.Sprintf("中心没有此日志 / the hub holds no journal %s of %s/%s", jid, site, agent))
		return
	}
	writeJSON(w, http.StatusOK, resp)
}
