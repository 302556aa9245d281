package hub

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"wedge/sync/wire"
)

// keyJournal is the log field of a journal id.
const keyJournal = "journal"

// Buckets of hub.db.
//
//	entries   site 0 agent 0 journal 0 seq(8, big endian)        → storedEntry JSON
//	journals  site 0 agent 0 journal                             → journalRec JSON
//	orders    order id                                           → storedOrder, binary (records_binary.go; JSON before)
//	history   order id 0 at 0 site 0 agent 0 seq(8) 0 journal    → entries key
//	downlink  site (sub-bucket, its sequence is the hseq) / hseq(8) → wire.OrderMsg JSON
//	agents    site 0 agent                                       → agentRec JSON
//	commands  site 0 agent 0 n(8, the bucket's sequence)        → CommandRecord JSON
//	pending   site 0 agent 0 journal 0 seq(8)                    → storedEntry JSON waiting for seq-1
//	unverified site 0 agent 0 journal 0 seq(8) 0 n(8)            → unverifiedEntry JSON (evidence)
//	meta      "stats"                                            → Stats JSON (before counters; converted once)
//	counters  name                                               → int64(8), Stats as counters (see statePrefix)
var (
	bktEntries  = []byte("entries")
	bktJournals = []byte("journals")
	bktOrders   = []byte("orders")
	bktHistory  = []byte("history")
	bktDownlink = []byte("downlink")
	bktAgents   = []byte("agents")
	bktCommands = []byte("commands")
	bktPending  = []byte("pending")
	// bktUnverified holds entries kept as evidence and never applied (verify.go).
	bktUnverified = []byte("unverified")
	bktMeta       = []byte("meta")
	keyStats      = []byte("stats")
	bktCounters   = []byte("counters")
)

// Stats are the hub's counters, kept in the store so they survive restarts.
type Stats struct {
	EventsIngested    uint64 `json:"events_ingested"`
	DuplicatesDropped uint64 `json:"duplicates_dropped"`
	// Conflicts counts duplicates whose content differs from the stored entry (the first is kept,
	// the other is unverified evidence).
	Conflicts uint64 `json:"conflicts"`
	// ChainBreaks counts entries whose hash or link to the previous stored entry does not match
	// (kept as unverified evidence, not applied).
	ChainBreaks uint64 `json:"chain_breaks"`
	// Unverified counts entries kept as evidence and never applied: in a batch not signed by its
	// agent's registered key, breaking the chain, or conflicting with a stored entry.
	Unverified uint64 `json:"unverified"`
	// SignatureRefused counts batches refused for their signature (their entries are Unverified).
	SignatureRefused uint64 `json:"signature_refused"`
	// EvidenceDropped counts unverified entries not kept because the evidence store is full.
	EvidenceDropped uint64 `json:"evidence_dropped"`
	// MalformedDropped counts unreadable payloads and batches without a usable journal id.
	MalformedDropped uint64 `json:"malformed_dropped"`
	// MismatchedDropped counts batches whose site/agent differ from their topic.
	MismatchedDropped uint64 `json:"mismatched_dropped"`
	// InvalidEntries counts entries skipped because they cannot be keyed (seq 0, other journal id).
	InvalidEntries uint64 `json:"invalid_entries"`
	// OverloadDropped counts messages dropped because the owner's queue was full (never acked).
	OverloadDropped   uint64 `json:"overload_dropped"`
	DownlinkPublished uint64 `json:"downlink_published"`
	// CatchupPages counts catch-up answer pages published; CatchupsDeferred the requests that came
	// too early for their agent's pace and were answered later; CatchupsMerged the requests that
	// came while one was already waiting and were folded into it (no page of their own).
	CatchupPages     uint64 `json:"catchup_pages"`
	CatchupsDeferred uint64 `json:"catchups_deferred"`
	CatchupsMerged   uint64 `json:"catchups_merged"`
	// Commits counts bbolt transactions: events_ingested / commits is the group-commit factor.
	Commits        uint64            `json:"commits"`
	OrdersPerState map[string]uint64 `json:"orders_per_state"`
}

func (s Stats) clone() Stats {
	m := make(map[string]uint64, len(s.OrdersPerState))
	for k, v := range s.OrdersPerState {
		m[k] = v
	}
	s.OrdersPerState = m
	return s
}

// storedEntry is an entry as the hub keeps it, and as GET /v1/orders/{id} shows it.
type storedEntry struct {
	wire.Entry
	Site       string `json:"site"`
	Agent      string `json:"agent"`
	ReceivedAt string `json:"received_at"`
	ChainError string `json:"chain_error,omitempty"`
}

type journalRec struct {
	Site      string `json:"site"`
	Agent     string `json:"agent"`
	JournalID string `json:"journal_id"`
	AckedSeq  uint64 `json:"acked_seq"` // highest contiguous seq stored
	MaxSeq    uint64 `json:"max_seq"`
	FirstSeen string `json:"first_seen"`
	LastSeen  string `json:"last_seen"`
}

type agentRec struct {
	Site      string `json:"site"`
	Agent     string `json:"agent"`
	JournalID string `json:"journal_id"`
	AckedSeq  uint64 `json:"acked_seq"`
	LastSeen  string `json:"last_seen"`
	Online    bool   `json:"online"`
	Version   string `json:"version,omitempty"`
	Breaker   bool   `json:"breaker_open,omitempty"`
	Unsynced  uint64 `json:"unsynced,omitempty"`
	// SettingsHash and SettingsOverrides are the agent's as its status last said (wire.Status).
	// SettingsDiffer is set in GET /v1/agents (not stored) when the agents of the site do not all
	// publish the same hash.
	SettingsHash      string `json:"settings_hash,omitempty"`
	SettingsOverrides string `json:"settings_overrides,omitempty"`
	SettingsDiffer    bool   `json:"settings_differ,omitempty"`
	// BreakerNoticed is the breaker state of the agent's last online status, which the breaker
	// notifications compare against (an offline status says nothing about the breaker).
	BreakerNoticed bool `json:"breaker_noticed,omitempty"`
}

// Stats live in the store as named counters (Tx.AddCounters), one per field, named as in JSON, and
// one per state, "orders_per_state/<state>". Each commit adds what it counted, so several replicas
// on one store add up (a PostgreSQL UPDATE … SET n = n + delta) instead of overwriting each other.
const statePrefix = "orders_per_state/"

// counter is one scalar field of Stats by its counter name.
type counter struct {
	name string
	p    *uint64
}

func (s *Stats) counters() []counter {
	return []counter{
		{"events_ingested", &s.EventsIngested}, {"duplicates_dropped", &s.DuplicatesDropped},
		{"conflicts", &s.Conflicts}, {"chain_breaks", &s.ChainBreaks}, {"unverified", &s.Unverified},
		{"signature_refused", &s.SignatureRefused}, {"evidence_dropped", &s.EvidenceDropped},
		{"malformed_dropped", &s.MalformedDropped}, {"mismatched_dropped", &s.MismatchedDropped},
		{"invalid_entries", &s.InvalidEntries}, {"overload_dropped", &s.OverloadDropped},
		{"downlink_published", &s.DownlinkPublished}, {"catchup_pages", &s.CatchupPages},
		{"catchups_deferred", &s.CatchupsDeferred}, {"catchups_merged", &s.CatchupsMerged},
		{"commits", &s.Commits},
	}
}

// delta is what s counted since base, as counter deltas (zero ones left out). A state count can
// go down; the uint64 difference read as int64 is then negative, which is what it is.
func (s Stats) delta(base Stats) map[string]int64 {
	d := map[string]int64{}
	bc := base.counters()
	for i, c := range s.counters() {
		if v := int64(*c.p - *bc[i].p); v != 0 {
			d[c.name] = v
		}
	}
	for k, v := range s.OrdersPerState {
		if dv := int64(v - base.OrdersPerState[k]); dv != 0 {
			d[statePrefix+k] = dv
		}
	}
	return d
}

// add adds the counter deltas d to s.
func (s *Stats) add(d map[string]int64) {
	if s.OrdersPerState == nil {
		s.OrdersPerState = map[string]uint64{}
	}
	for _, c := range s.counters() {
		*c.p += uint64(d[c.name])
	}
	for k, v := range d {
		if st, ok := strings.CutPrefix(k, statePrefix); ok {
			s.OrdersPerState[st] += uint64(v)
		}
	}
}

// countOutside counts f's change (outside an owner transaction: catch-up pacing, queue drops) at
// once in the replica's view and adds it to the store's counters with the next commit.
func (h *Hub) countOutside(f func(*Stats)) {
	h.statsMu.Lock()
	defer h.statsMu.Unlock()
	var s Stats
	f(&s)
	d := s.delta(Stats{})
	h.stats.add(d)
	h.keepUnsavedLocked(d)
}

// keepUnsaved gives deltas a failed commit took back to the next one.
func (h *Hub) keepUnsaved(d map[string]int64) {
	h.statsMu.Lock()
	defer h.statsMu.Unlock()
	h.keepUnsavedLocked(d)
}

func (h *Hub) keepUnsavedLocked(d map[string]int64) {
	if h.unsaved == nil {
		h.unsaved = map[string]int64{}
	}
	for k, v := range d {
		h.unsaved[k] += v
	}
}

// loadStats reads the counters as of tx.
func loadStats(tx Tx, st *Stats) error {
	*st = Stats{OrdersPerState: map[string]uint64{}}
	d := map[string]int64{}
	if err := tx.Counters(func(name string, n int64) error { d[name] = n; return nil }); err != nil {
		return err
	}
	st.add(d)
	return nil
}

// legacyStats reads the Stats document that hubs before the counters saved in meta "stats" (the
// last commit's copy), for the one-time conversion into counters; nil when there is none.
func legacyStats(tx Tx) (map[string]int64, error) {
	var st Stats
	ok, err := getDoc(tx.Meta(string(keyStats)))(string(keyStats), &st)
	if err != nil || !ok {
		return nil, err
	}
	return st.delta(Stats{}), nil
}

// initStore prepares a bbolt file and reads its counters (tests open bbolt files themselves).
func initStore(db *bolt.DB, st *Stats) error {
	s, err := newBoltStore(db)
	if err != nil {
		return err
	}
	return s.View(context.Background(), func(tx Tx) error { return loadStats(tx, st) })
}

func be64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

func u64(n uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	return b[:]
}

// join joins parts with NUL bytes; extra is spare capacity for what the caller appends.
func join(parts ...string) []byte { return joinCap(0, parts...) }

func joinCap(extra int, parts ...string) []byte {
	n := extra + len(parts)
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, 0, n) // one allocation per key: keys are built for every read and write
	for i, p := range parts {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, p...)
	}
	return b
}

func journalKey(site, agent, jid string) []byte { return join(site, agent, jid) }

func entryKey(site, agent, jid string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append(joinCap(8, site, agent, jid), 0), seq)
}

func historyKey(orderID, at, site, agent string, seq uint64, jid string) []byte {
	k := append(joinCap(8+1+len(jid), orderID, at, site, agent), 0)
	k = binary.BigEndian.AppendUint64(k, seq)
	return append(append(k, 0), jid...)
}

func historyPrefix(orderID string) []byte { return append([]byte(orderID), 0) }

// validJournalID accepts what agents make (random hex) and anything name-like up to 128 characters.
func validJournalID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.' || r == ':') {
			return false
		}
	}
	return true
}

// validOrderID keeps keys bounded and free of the separator: 1–128 printable characters.
func validOrderID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// getDoc decodes a document read from the store into v: getDoc(tx.Order(id))("order "+id, &rec).
// found is false (and v untouched) when nothing is stored.
func getDoc(raw []byte, err error) func(what string, v any) (bool, error) {
	return func(what string, v any) (bool, error) {
		if err != nil {
			return false, err
		}
		if raw == nil {
			return false, nil
		}
		if err := json.Unmarshal(raw, v); err != nil {
			return true, fmt.Errorf("%w: decode %s: %v", ErrStore, what, err)
		}
		return true, nil
	}
}

func mustJSON(v any) []byte {
	raw, err := json.Marshal(v)
	if err != nil {
		panic(err) // the hub's own records always marshal
	}
	return raw
}

// entryTime is the entry's own time, or fallback when it has none or an unreadable one.
func entryTime(e wire.Entry, fallback time.Time) time.Time {
	t, err := wire.ParseTime(e.At)
	if err != nil || t.IsZero() {
		return fallback
	}
	return t
}

// sortableAt is the entry's time in the fixed-width wire format, so history keys sort by time;
// unreadable times sort first.
func sortableAt(e wire.Entry) string {
	t, err := wire.ParseTime(e.At)
	if err != nil || t.IsZero() {
		return ""
	}
	return wire.Time(t)
}

// excerpt is the start of a payload for a log field (the handler quotes it as needed).
func excerpt(b []byte) string {
	const n = 120
	s := strings.ToValidUTF8(string(b), "?")
	if len(s) > n {
		cut := n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
