package hub

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

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
	err := h.db.View(r.Context(), func(tx Tx) error {
		var j journalRec
		ok, err := getDoc(tx.Journal(site, agent, jid))(fmt.Sprintf("journal %q", journalKey(site, agent, jid)), &j)
		if err != nil || !ok {
			return err
		}
		found = true
		resp.AckedSeq, resp.MaxSeq = j.AckedSeq, j.MaxSeq
		if after == ^uint64(0) {
			return nil
		}
		// The verified entries and those beyond a gap that wait for their predecessor (verify.go),
		// merged in seq order: both are read up to limit+1 entries, then merged.
		type kept struct {
			seq uint64
			doc []byte
		}
		var stored, waiting []kept
		collect := func(into *[]kept) func(uint64, []byte) (bool, error) {
			return func(seq uint64, doc []byte) (bool, error) {
				*into = append(*into, kept{seq, doc})
				return len(*into) <= limit, nil
			}
		}
		if err := tx.Entries(site, agent, jid, after, collect(&stored)); err != nil {
			return err
		}
		if err := tx.Pendings(site, agent, jid, after, collect(&waiting)); err != nil {
			return err
		}
		for len(stored) > 0 || len(waiting) > 0 {
			var c kept
			if len(stored) == 0 || len(waiting) > 0 && waiting[0].seq < stored[0].seq {
				c, waiting = waiting[0], waiting[1:]
			} else {
				c, stored = stored[0], stored[1:]
			}
			if len(resp.Entries) == limit {
				resp.More = true
				return nil
			}
			var se storedEntry
			if err := json.Unmarshal(c.doc, &se); err != nil {
				return fmt.Errorf("%w: entry %d of %s/%s/%s: %v", ErrStore, c.seq, site, agent, jid, err)
			}
			resp.Entries = append(resp.Entries, se.Entry)
		}
		return nil
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
