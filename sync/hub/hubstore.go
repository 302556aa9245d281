package hub

import (
	"context"
	"time"

	"wedge/sync/apitoken"
)

// Store is where a hub keeps its state: the agents' entries, its order records, the downlink log,
// commands, evidence and counters. The hub's owner goroutine runs each group of queued work in one
// Update (group commit) and publishes acks and downlink only after Update returned nil, so the
// store's commit is the durability point of everything the hub says. The bbolt file of a data
// directory (OpenBolt) is one Store; sync/hub/pgstore is another, which several hub replicas can
// share. docs/HUB-STORE.md has the contract and the exactly-once argument.
//
// Documents (doc) are the hub's own JSON records; a store keeps them byte for byte and never looks
// inside. A nil doc with a nil error means "not stored".
type Store interface {
	// Update runs fn in one read-write transaction and commits it. fn's error, a panic or a failed
	// commit roll every write of fn back; the error is returned.
	Update(ctx context.Context, fn func(Tx) error) error
	// View runs fn in a read-only transaction that sees one committed state.
	View(ctx context.Context, fn func(Tx) error) error
	// Tokens is the API token store kept in the same database.
	Tokens() (apitoken.Store, error)
	// Close releases the store.
	Close() error
}

// EntryKey names one journal entry: (site, agent, journal id, seq).
type EntryKey struct {
	Site, Agent, Journal string
	Seq                  uint64
}

// Tx is one transaction of a Store, valid only inside the function given to Update or View. Writes
// in a View fail.
//
// Concurrency (stores shared by several hubs): Journal and Order, called in an Update, lock their
// row until the end of the transaction, also when it does not exist yet, so two replicas that move
// the same journal or order run one after the other and the second sees the first's commit.
// NextHSeq and NextCommandSeq are counters advanced inside the transaction: no gaps, no duplicates.
type Tx interface {
	// Entry is a stored (verified) entry. PutEntry stores one unless one is stored at k already
	// (then it keeps the stored one and reports false). Entries calls fn for the stored entries of
	// one journal with seq > after, in seq order, until fn returns false or an error.
	Entry(k EntryKey) ([]byte, error)
	PutEntry(k EntryKey, doc []byte) (bool, error)
	Entries(site, agent, journal string, after uint64, fn func(seq uint64, doc []byte) (bool, error)) error

	// Pending entries wait for their predecessor (same keys and walk as Entry).
	Pending(k EntryKey) ([]byte, error)
	PutPending(k EntryKey, doc []byte) error
	DeletePending(k EntryKey) error
	Pendings(site, agent, journal string, after uint64, fn func(seq uint64, doc []byte) (bool, error)) error

	// Journal is one journal's record (acked and max seq); see the locking note above.
	Journal(site, agent, journal string) ([]byte, error)
	PutJournal(site, agent, journal string, doc []byte) error

	// Order is the hub's record of one order; see the locking note above.
	Order(id string) ([]byte, error)
	PutOrder(id string, doc []byte) error
	// AddHistory indexes entry k under its order; History calls fn for the order's entries by at
	// (the entry's sortable time), then site, agent, seq and journal.
	AddHistory(orderID, at string, k EntryKey) error
	History(orderID string, fn func(k EntryKey) error) error

	// Agent is what the hub knows of one agent; Agents calls fn for every agent.
	Agent(site, agent string) ([]byte, error)
	PutAgent(site, agent string, doc []byte) error
	Agents(fn func(doc []byte) error) error

	// NextHSeq allocates the site's next downlink hseq (1, 2, …); PutDownlink stores the message
	// published with it; Downlink calls fn for the site's messages with hseq > after, in order,
	// until fn returns false or an error.
	NextHSeq(site string) (uint64, error)
	PutDownlink(site string, hseq uint64, doc []byte) error
	Downlink(site string, after uint64, fn func(hseq uint64, doc []byte) (bool, error)) error

	// NextCommandSeq allocates the next command number of the store (1, 2, …); PutCommand stores a
	// command under it; Commands calls fn for one agent's commands, oldest first.
	NextCommandSeq() (uint64, error)
	PutCommand(site, agent string, n uint64, doc []byte) error
	Commands(site, agent string, fn func(doc []byte) error) error

	// AddUnverified keeps evidence (an entry never applied) under its key and an arrival number;
	// Unverified calls fn for one agent's evidence by journal, seq and arrival until fn returns
	// false or an error.
	AddUnverified(k EntryKey, doc []byte) error
	Unverified(site, agent string, fn func(doc []byte) (bool, error)) error

	// Meta is a small named document.
	Meta(key string) ([]byte, error)
	PutMeta(key string, doc []byte) error
	DeleteMeta(key string) error

	// AddCounters adds each delta to its named counter (a missing one starts at 0). The counters
	// stay locked until the transaction ends, so concurrent transactions add up and a rollback
	// adds nothing. Counters calls fn for every counter, by name. (The hub's Stats.)
	AddCounters(delta map[string]int64) error
	Counters(fn func(name string, n int64) error) error

	// Prefetch says what the group is about to use for one batch of a journal, before it does
	// (hubstore_prefetch.go): a store may read it ahead in fewer round trips. It changes nothing
	// the other methods do or return; bbolt ignores it.
	Prefetch(p Prefetch) error

	OutboxTx
	TrackingTx
	// CentralTx indexes what the central queries need (the section below).
	CentralTx
	MeasuresTx // the central measures' reads and counters (hubstore_measures.go)
	EWaybillTx
	LockTx // the periodic rules' locks (hubstore_lock.go)
	// DownlinkEndTx: where a site's downlink ends, to bound a catch-up (hubstore_downlinkend.go).
	DownlinkEndTx
}

// ---- Outbox: notifications the hub sends to people (see outbox.go) ----

// Outbox states. A row is pending until it is sent (a 2xx recorded), failed (after the last try or
// a refusal), or cancelled (its reason went away before it was sent).
const (
	OutboxPending   = "pending"
	OutboxSent      = "sent"
	OutboxFailed    = "failed"
	OutboxCancelled = "cancelled"
)

// OutboxKey names one notification: at most one per (site, order, rule), whichever replica or PC
// caused it. Order is an order id, or another subject of the rule (an agent for breaker notices).
type OutboxKey struct{ Site, Order, Rule string }

// OutboxRow is one notification as a store keeps it. The store reads State, Due and LeaseUntil
// (to claim) and never looks inside Doc, the hub's own JSON. Times are kept to the microsecond.
type OutboxRow struct {
	OutboxKey
	State      string
	Due        time.Time // not to be tried before
	Attempts   int
	LeaseOwner string    // the dispatcher that claimed it
	LeaseUntil time.Time // the claim runs out (zero: not claimed)
	Doc        []byte
}

// OutboxTx is the outbox part of a Tx.
//
// Concurrency (shared stores): Outbox called in an Update locks the row until the transaction
// ends; ClaimOutbox skips rows another transaction holds (PostgreSQL: FOR UPDATE SKIP LOCKED), so
// two replicas claiming at once get different rows, and a claimed row is claimable again only when
// its lease has run out.
type OutboxTx interface {
	// AddOutbox stores r unless a row with its key exists: then it reports false and changes nothing.
	AddOutbox(r OutboxRow) (bool, error)
	// Outbox reads one row (nil, nil: none).
	Outbox(k OutboxKey) (*OutboxRow, error)
	// PutOutbox replaces the stored row with r's key.
	PutOutbox(r OutboxRow) error
	// ClaimOutbox leases up to limit pending rows with Due and LeaseUntil not after now to owner until
	// now+lease, earliest due first, and returns them as leased.
	ClaimOutbox(owner string, now time.Time, lease time.Duration, limit int) ([]OutboxRow, error)
	// Outboxes calls fn for the rows of one state and site ("" = any), by site, order and rule,
	// until fn returns false or an error.
	Outboxes(state, site string, fn func(OutboxRow) (bool, error)) error
}

// ---- Tracking: carriers' events, by waybill (see tracking.go) ----

// TrackingTx is the tracking part of a Tx.
type TrackingTx interface {
	// AddTracking stores a carrier event under (waybill, id) unless one is stored there (then
	// false, nothing changes). Ids sort by the event's time (tracking.go makes them).
	AddTracking(waybill, id string, doc []byte) (bool, error)
	// Tracking calls fn for a waybill's events by id until fn returns false or an error.
	Tracking(waybill string, fn func(doc []byte) (bool, error)) error
	// PutWaybill indexes an order under a waybill it printed or was assigned; WaybillOrder reads
	// the index ("" = no order known).
	PutWaybill(waybill, orderID string) error
	WaybillOrder(waybill string) (string, error)
}

// EWaybillTx keeps the orders waiting for an e-waybill number from a provider (waybills.go), one
// document per order id. EWaybill, called in an Update, locks a stored request until the end of
// the transaction, so two replicas never both claim it (a request is created under the order's
// own lock, see Order). EWaybills calls fn for every request by order id until fn returns false or
// an error; fn must not use the transaction.
type EWaybillTx interface {
	EWaybill(orderID string) ([]byte, error)
	PutEWaybill(orderID string, doc []byte) error
	DeleteEWaybill(orderID string) error
	EWaybills(fn func(orderID string, doc []byte) (bool, error)) error
}

// ---- Central queries: the order trace and the cross-site lists (central.go) ----
//
// The head office's console looks orders up by any key and lists orders across sites. What those
// queries need is indexed by the store, written by the hub in the transaction that stores the
// order or the entry (boltstore_trace.go, pgstore/trace.go).

// OrderIndex is the central row of one order: its lookup keys and its place in the lists.
type OrderIndex struct {
	OrderID string `json:"order_id"`
	Site    string `json:"site"`
	// Agent is the agent whose entry last touched the order ("" when none did since the index
	// was built: only the hub's API, or a row rebuilt for an older store).
	Agent string `json:"agent,omitempty"`
	State string `json:"state"`
	// Since (wire time) is when the order first entered the backlog (暂停进入 or 待分仓), kept
	// while it stays in either; "" in any other state.
	Since          string `json:"since,omitempty"`
	ChannelOrderNo string `json:"channel_order_no,omitempty"`
	// Waybill is the bound waybill, AssignedWaybill the one the order system assigned: both are
	// trace keys.
	Waybill         string `json:"waybill,omitempty"`
	AssignedWaybill string `json:"assigned_waybill,omitempty"`
	Fingerprint     string `json:"fingerprint,omitempty"`
}

// Hold says that an agent holds an order behind its open breaker (it journaled the order into
// 暂停进入 and has not released it yet), since At (wire time).
type Hold struct {
	OrderID, Site, Agent, At string
}

// Rejection is the central row of one reject entry (a refused scan or intake): At is the entry's
// sortable time, OrderID may be "" (an unknown code).
type Rejection struct {
	At      string
	Key     EntryKey
	OrderID string
	Reason  string
}

// ListFilter selects the rows of a list; empty fields select all. Since and Until (wire times)
// bound the row's time: Since ≤ at < Until. With HasAfter, a walk starts after the row at AfterAt
// with the key AfterID (orders: the order id), AfterID and AfterKey's Site and Agent (holds), or
// AfterKey (rejections).
type ListFilter struct {
	Site, Agent, Reason string
	Since, Until        string
	AfterAt             string
	AfterID             string
	AfterKey            EntryKey
	HasAfter            bool
}

// CentralTx are the central queries' operations of a Tx.
type CentralTx interface {
	// IndexOrder writes the order's central row (replacing the previous one and its keys);
	// OrderIndexOf reads it (nil when none).
	IndexOrder(ix OrderIndex) error
	OrderIndexOf(orderID string) (*OrderIndex, error)
	// TraceOrders returns up to limit order ids whose key of kind (TraceChannelOrderNo,
	// TraceWaybill, TraceFingerprint) is key, sorted.
	TraceOrders(kind, key string, limit int) ([]string, error)
	// OrdersInState calls fn for the orders in state by (Since, order id), filtered by site and
	// agent, Since in [f.Since, f.Until), after the cursor, until fn returns false.
	OrdersInState(state string, f ListFilter, fn func(OrderIndex) (bool, error)) error

	// PutHold records a hold (keeping the first At of a repeated hold); DeleteHold ends it;
	// Holds walks them by (At, order id, site, agent) with the filter's site, agent and times.
	PutHold(h Hold) error
	DeleteHold(orderID, site, agent string) error
	Holds(f ListFilter, fn func(Hold) (bool, error)) error

	// AddRejection indexes a reject entry; Rejections walks them by (At, key) with the filter's
	// site, agent, reason and times.
	AddRejection(r Rejection) error
	Rejections(f ListFilter, fn func(Rejection) (bool, error)) error

	// AddOrderEvidence keeps a copy of an unverified entry (evidence) under its order, so the
	// trace can show it; OrderEvidence returns them in arrival order.
	AddOrderEvidence(orderID string, doc []byte) error
	OrderEvidence(orderID string) ([][]byte, error)

	// OrderIDs and EntryKeys page through every order and every stored entry (key order), for
	// building the central index of a store written before it existed.
	OrderIDs(after string, limit int) ([]string, error)
	EntryKeys(after EntryKey, limit int) ([]EntryKey, error)
}

// Trace lookup kinds.
const (
	TraceOrderID        = "order_id"
	TraceChannelOrderNo = "channel_order_no"
	TraceWaybill        = "waybill"
	TraceFingerprint    = "fingerprint"
)
