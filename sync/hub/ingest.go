package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"wedge/internal/logging"
	"wedge/order"
	"wedge/sync/hub/central"
	"wedge/sync/wire"
)

type kind int

const (
	kindBatch kind = iota
	kindStatus
	kindCatchup
	kindPost
	kindCommand
	kindCatchupDue // the catch-up pacer's timer: answer deferred requests (no transaction)
	kindEWaybill   // a provider's answer for an order waiting for its waybill (waybills.go)
)

// item is one unit of work for the owner.
type item struct {
	kind    kind
	topic   string
	payload []byte
	// ack sends the broker its PUBACK of an MQTT item (nil for others). The owner calls it once
	// the item's fate is sealed: after the commit and the publishes it led to, or after a failed
	// commit (the agent resends). Until then the message stays in flight in the replica's session,
	// so a replica killed before its commit gets it again from the broker when it returns.
	ack  func()
	post *postReq
	cmd  *cmdReq
	ewb  *waybillResult
}

// postReq is a validated POST /v1/orders: the owner stores and publishes msgs.
type postReq struct {
	site  string
	msgs  []wire.OrderMsg
	reply chan postResult // buffered 1
}

type postResult struct {
	hseqs    []uint64
	versions []uint64
	err      error
}

type publication struct {
	topic   string
	payload []byte
}

type catchup struct {
	site, agent string
	since       uint64
	// until is the last hseq to replay: the site's log end when a subscribed agent's request was
	// recorded; 0 means none (and where the log was empty, there is nothing to bound). catchup.go.
	until uint64
}

// group is the work of one bbolt transaction. Nothing in it is visible or published unless the
// transaction commits.
type group struct {
	h     *Hub
	tx    Tx
	now   time.Time
	stats Stats // the replica's counters as the group began, plus what the group counted
	// totals are the store's counters after the group's own were added (saveStats).
	totals Stats

	acks         []journalRec // touched journals, in first-touch order
	ackIdx       map[string]int
	downSites    []string // sites with new downlink messages, in first-touch order (their documents: downDocs)
	catchups     []catchup
	posts        []*postReq
	results      map[*postReq][]uint64
	versions     map[*postReq][]uint64 // the version each posted message got (0: not an order message)
	cmds         []*cmdReq
	cmdRecs      map[*cmdReq]CommandRecord
	pickupQueued map[string]bool // "site/agent" given a pickup_policy command in this group

	notified bool // a notification was queued: wake the dispatcher after the commit
	// states are the state messages the group's entries produced, per site, numbered and stored
	// only at the end of the transaction (numberStates).
	states       map[string][]wire.OrderMsg
	stateAt      map[[2]string]int     // (site, order id) → its queued state message in states[site]
	anomalies    map[anomalyKey]uint64 // counted in this transaction, stored by flushAnomalies
	wakeWaybills bool                  // new e-waybill requests: wake the waybiller after the commit
	recs         map[string]orderRec   // the order records this transaction read or wrote, latest by id (ingest_orders.go)
	hashes       map[EntryKey]string   // the hashes of the entries this transaction stored (ingest_fast.go)
	downDocs     map[string][][]byte   // the group's downlink messages per site, as stored and published (ingest_fast.go)
	nowWire      string                // wire.Time(now), formatted once by at()
}

// at is the group's hub time as a wire time: every record the transaction stamps gets this same
// string, so it is formatted once rather than per entry. now is set once, when the group begins.
func (g *group) at() string {
	if g.nowWire == "" {
		g.nowWire = wire.Time(g.now)
	}
	return g.nowWire
}

// saveStats adds what the group counted (its stats minus base) and what was counted outside the
// owner since the last commit to the store's counters, and reads the totals back: with replicas on
// one store they include the others' commits.
func (g *group) saveStats(base Stats, unsaved map[string]int64) error {
	d := g.stats.delta(base)
	for k, v := range unsaved {
		d[k] += v
	}
	if err := g.tx.AddCounters(d); err != nil {
		return err
	}
	return loadStats(g.tx, &g.totals)
}

// commit runs items in one transaction, then publishes what it produced and answers the POSTs.
func (h *Hub) commit(items []item) {
	retried := false // the items were committed one by one, and acked there
	defer func() {
		if !retried {
			ackItems(items)
		}
	}()
	due := false
	items = slices.DeleteFunc(items, func(it item) bool {
		if it.kind == kindCatchupDue {
			due = true
			return true
		}
		return false
	})
	if due {
		defer h.servePending() // after this group's own catch-ups: their pace is known by then
	}
	if len(items) == 0 {
		return
	}
	h.statsMu.Lock()
	base := h.stats.clone()
	unsaved := h.unsaved
	h.unsaved = nil
	h.statsMu.Unlock()
	g := &group{h: h, now: h.clk.Now().UTC(), stats: base.clone(), ackIdx: map[string]int{},
		results: map[*postReq][]uint64{}, versions: map[*postReq][]uint64{}, cmdRecs: map[*cmdReq]CommandRecord{}}
	h.scratch.lend(g)
	var cmds []*cmdReq // every command of the group, to answer even when the transaction fails
	for _, it := range items {
		switch it.kind {
		case kindPost:
			g.posts = append(g.posts, it.post)
		case kindCommand:
			cmds = append(cmds, it.cmd)
		}
	}
	began := time.Now() // real time, not h.clk: this is the store's latency
	err := h.db.Update(context.Background(), func(tx Tx) (err error) {
		defer func() {
			if r := recover(); r != nil { // a bug must not take the hub down; the tx rolls back
				err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
			}
		}()
		g.tx = tx
		for _, it := range items {
			var err error
			switch it.kind {
			case kindBatch:
				err = g.batch(it.topic, it.payload)
			case kindStatus:
				err = g.status(it.topic, it.payload)
			case kindCatchup:
				err = g.catchup(it.topic, it.payload)
			case kindPost:
				err = g.post(it.post)
			case kindCommand:
				err = g.command(it.cmd)
			case kindEWaybill:
				err = g.ewaybillDone(it.ewb)
			}
			if err != nil {
				return err
			}
		}
		if err := g.numberStates(); err != nil {
			return err
		}
		if err := g.flushAnomalies(); err != nil {
			return err
		}
		g.stats.Commits++
		return g.saveStats(base, unsaved)
	})
	h.metrics.observeCommit(time.Since(began))
	if err != nil {
		h.keepUnsaved(unsaved) // for the next commit
	}
	if err != nil && len(items) > 1 {
		// One bad item must not cost the others their commit: try each on its own.
		h.log.Warn("group commit failed; committing its items one by one", "items", len(items), logging.Err(err))
		retried = true
		for _, it := range items {
			h.commit([]item{it})
		}
		return
	}
	if err != nil {
		h.log.Error("commit failed, nothing acked (agents resend, a POST is answered with the error)", "topic", items[0].topic, logging.Err(err))
		for _, p := range g.posts {
			p.reply <- postResult{err: err}
		}
		for _, c := range cmds {
			c.reply <- cmdResult{err: err}
		}
		return
	}
	h.statsMu.Lock()
	h.stats = g.totals
	h.stats.add(h.unsaved) // counted meanwhile outside the owner
	h.statsMu.Unlock()

	// Downlink first: an agent sees the state changes a batch caused before the batch's ack.
	for _, site := range g.downSites {
		h.publishDocs(wire.TopicOrders(site), g.downDocs[site])
	}
	for _, j := range g.acks {
		b, _ := json.Marshal(wire.Ack{JournalID: j.JournalID, AckedSeq: j.AckedSeq})
		h.publish(wire.TopicAck(j.Site, j.Agent), b)
		h.metrics.ackPublished(j)
	}
	for _, p := range g.posts {
		p.reply <- postResult{hseqs: g.results[p], versions: g.versions[p]}
	}
	for _, c := range g.cmds { // the POST handler publishes: it waits for the PUBACK, the owner never does
		c.reply <- cmdResult{rec: g.cmdRecs[c]}
	}
	h.publishAuto(g)
	for _, c := range g.catchups {
		h.catchupRequested(c)
	}
	if g.notified && h.dispatch != nil {
		h.dispatch.kick()
	}
	if g.wakeWaybills && h.waybiller != nil {
		h.waybiller.kick()
	}
}

// ackItems sends the broker's PUBACKs of the MQTT items.
func ackItems(items []item) {
	for _, it := range items {
		if it.ack != nil {
			it.ack()
		}
	}
}

// publish sends QoS 1 without waiting for the PUBACK: the owner never stalls on the broker. Losing
// an ack is harmless (acks repeat with the next batch or resend); losing a downlink message is
// repaired by the agents' catch-up from the stored downlink log.
func (h *Hub) publish(topic string, payload []byte) {
	payload = h.sign(topic, payload)
	if h.publishFn != nil { // tests of the owner without a broker
		h.publishFn(topic, payload)
		return
	}
	tok := h.cli.Publish(topic, 1, false, payload)
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			h.log.Warn("publish failed", "topic", topic, logging.Err(err))
		}
	default:
	}
}

// publishChunks publishes msgs as arrays of up to maxReplayChunk (a single message as an object
// unless always is set).
func (h *Hub) publishChunks(topic string, msgs []wire.OrderMsg, always bool) {
	for len(msgs) > 0 {
		n := min(len(msgs), maxReplayChunk)
		var b []byte
		if n == 1 && !always {
			b, _ = json.Marshal(msgs[0])
		} else {
			b, _ = json.Marshal(msgs[:n])
		}
		h.publish(topic, b)
		msgs = msgs[n:]
	}
}

// batch ingests one events payload: verified entries are stored and applied (verify.go), the rest
// is kept as evidence, and the journal's contiguous verified prefix is acked.
func (g *group) batch(topic string, payload []byte) error {
	site, agent, _, ok := wire.ParseAgentTopic(topic)
	if !ok || !wire.ValidName(site) || !wire.ValidName(agent) {
		g.stats.MismatchedDropped++
		g.h.log.Error("batch on a topic with an invalid site or agent dropped", "topic", topic)
		return nil
	}
	body, trust := g.checkBatch(topic, site, agent, payload)
	b, err := wire.DecodeBatch(body) // json.Unmarshal's result and error, without reflection
	if err != nil {
		g.stats.MalformedDropped++
		g.anomaly(site, central.KindMalformed, g.now)
		g.h.log.Error("malformed batch dropped", logging.KeySite, site, logging.KeyAgent, agent, "payload", excerpt(payload), logging.Err(err))
		return nil
	}
	if b.Site != site || b.Agent != agent {
		g.stats.MismatchedDropped++
		g.anomaly(site, central.KindMismatched, g.now)
		g.h.log.Error("batch names another site or agent than its topic: dropped", logging.KeySite, site, logging.KeyAgent, agent,
			"batch_site", b.Site, "batch_agent", b.Agent)
		return nil
	}
	if !validJournalID(b.JournalID) {
		g.stats.MalformedDropped++
		g.anomaly(site, central.KindMalformed, g.now)
		g.h.log.Error("batch with an invalid journal id dropped", logging.KeySite, site, logging.KeyAgent, agent, keyJournal, b.JournalID)
		return nil
	}
	if !trust.ok {
		return g.refuseBatch(site, agent, b, trust)
	}
	if err := g.prefetch(site, agent, &b); err != nil { // one round trip for the batch's reads (PostgreSQL)
		return err
	}
	jk := journalKey(site, agent, b.JournalID)
	var j journalRec
	if _, err := getDoc(g.tx.Journal(site, agent, b.JournalID))(fmt.Sprintf("journal %q", jk), &j); err != nil {
		return err
	}
	if j.JournalID == "" {
		j = journalRec{Site: site, Agent: agent, JournalID: b.JournalID, FirstSeen: g.at()}
	}
	for _, e := range b.Events {
		if e.JournalID != b.JournalID || e.Seq == 0 {
			g.stats.InvalidEntries++
			g.anomaly(site, central.KindInvalidEntry, g.now)
			g.h.log.Error("entry that cannot be keyed skipped (seq 0 or another journal id)", logging.KeySite, site, logging.KeyAgent, agent,
				keyJournal, b.JournalID, logging.KeySeq, e.Seq, "entry_journal", e.JournalID)
			continue
		}
		if err := g.ingest(site, agent, &j, e, trust.kid); err != nil {
			return err
		}
	}
	for {
		// An entry the group stored itself is known to be there (its hash is kept); only the
		// first seq beyond them is read from the store (another hub may have stored it).
		k := EntryKey{site, agent, b.JournalID, j.AckedSeq + 1}
		if _, ok := g.hashes[k]; !ok {
			next, err := g.tx.Entry(k)
			if err != nil {
				return err
			}
			if next == nil {
				break
			}
		}
		j.AckedSeq++
	}
	j.MaxSeq = max(j.MaxSeq, j.AckedSeq) // entries another hub stored count too
	j.LastSeen = g.at()
	if err := g.tx.PutJournal(site, agent, b.JournalID, mustJSON(j)); err != nil {
		return err
	}
	if i, ok := g.ackIdx[string(jk)]; ok {
		g.acks[i] = j
	} else {
		g.ackIdx[string(jk)] = len(g.acks)
		g.acks = append(g.acks, j)
	}
	return g.touchAgent(site, agent, func(a *agentRec) {
		a.JournalID, a.AckedSeq, a.LastSeen, a.Online = j.JournalID, j.AckedSeq, g.at(), true
	})
}

// applyEntry indexes the entry under its order and moves the order's state.
func (g *group) applyEntry(site, agent string, e wire.Entry, key EntryKey) (err error) {
	id := e.OrderID
	if id == "" && e.Kind == wire.KindIntake && e.Order != nil {
		id = e.Order.ID()
	}
	if id == "" {
		return nil
	}
	if !validOrderID(id) {
		g.h.log.Warn("order id unusable (1–128 printable characters): entry kept, not indexed", logging.KeySite, site, logging.KeyAgent, agent,
			logging.KeySeq, e.Seq, logging.KeyOrder, id)
		return nil
	}
	if err := g.tx.AddHistory(id, sortableAt(e), key); err != nil {
		return err
	}
	defer func() {
		if err == nil {
			err = g.entryRules(id, e) // notifications (rules.go)
		}
	}()
	rec, known, err := g.order(id)
	if err != nil {
		return err
	}
	at := entryTime(e, g.now)
	if e.Order != nil {
		e.Order = withoutMaskedPhone(*e.Order)
	}
	switch e.Kind {
	case wire.KindIntake:
		if e.Order != nil && !known {
			st, err := order.ParseState(e.To)
			if err != nil {
				st = order.InitialState(e.Order.Payment, false)
			}
			o := order.FromMsg(*e.Order)
			o.ID = id // the entry's order id wins over the message's own
			rec = orderRec{Site: site, Order: o.Receive(st, at), CreatedAt: g.at()}
			g.stats.OrdersPerState[string(st)]++
			return g.saveOrder(rec)
		}
		if e.Order != nil && known {
			if rec, err = g.mergeIntake(rec, *e.Order); err != nil {
				return err
			}
		}
		if e.To == "" {
			return nil
		}
		return g.merge(rec, known, site, agent, e, at)
	case wire.KindStep, wire.KindMerge:
		return g.merge(rec, known, site, agent, e, at)
	case wire.KindUpdate:
		if e.Order != nil && known {
			rec.Order = mergePCData(rec.Order, *e.Order) // an older version changes nothing
			return g.saveOrder(rec)
		}
	case wire.KindReprint, wire.KindIntercept:
		return g.marks(rec, known, site, agent, e, at)
	case wire.KindNote:
		if e.Reason == order.NoteHandedOver && known {
			if err := g.falseCompletionNote(rec, e); err != nil {
				return err
			}
			return g.handedOver(rec, e)
		}
	}
	return nil
}

// merge moves the order forward to e.To with order.Merge and rebroadcasts a change.
func (g *group) merge(rec orderRec, known bool, site, agent string, e wire.Entry, at time.Time) error {
	to, err := order.ParseState(e.To)
	if err != nil {
		g.h.log.Warn("entry with an unknown to-state: order not moved", logging.KeySite, site, logging.KeyAgent, agent,
			logging.KeySeq, e.Seq, logging.KeyOrder, e.OrderID, "kind", e.Kind, logging.Err(err))
		return nil
	}
	if !known {
		rec = orderRec{Site: site, Order: order.Order{ID: e.OrderID, ReceivedAt: at}, CreatedAt: g.at()}
	}
	out := order.Merge(rec.Order, to, e.Waybill, at)
	if out.Result != order.Accepted {
		if out.Result == order.Rejected {
			g.h.log.Warn("state not applied", logging.KeySite, site, logging.KeyAgent, agent, logging.KeySeq, e.Seq,
				logging.KeyOrder, e.OrderID, "from", rec.Order.State, "to", to, "detail", out.Detail)
		}
		return g.marks(rec, known, site, agent, e, at)
	}
	before := rec.Order
	rec.Order = mergeMarks(out.Order, e, at)
	if rec.Order.Carrier == "" {
		rec.Order.Carrier = order.NormalizeCode(e.Carrier)
	}
	if before.State != "" {
		g.stats.OrdersPerState[string(before.State)]--
	}
	g.stats.OrdersPerState[string(rec.Order.State)]++
	if err := g.saveOrder(rec); err != nil {
		return err
	}
	if before.State == rec.Order.State && before.Waybill == rec.Order.Waybill && !marksChanged(before, rec.Order) {
		return nil
	}
	g.stateLater(rec.Site, stateMsg(rec.Order))
	return nil
}

func (g *group) saveOrder(rec orderRec) error {
	rec.UpdatedAt = g.at()
	if g.recs == nil {
		g.recs = map[string]orderRec{}
	}
	g.recs[rec.Order.ID] = rec // the central index reads it back (central.go)
	if err := putOrder(g.tx, rec); err != nil {
		return err
	}
	return g.orderRules(rec)
}

// downlink gives m the site's next hseq and stores it; it is published after the commit.
//
// The recipient's phone goes down masked (order.MaskPhone): PCs print it masked and never need it
// whole; the hub's order record, its versions and the reminder's outbox row keep it whole. A phone
// inside a one-line recipient goes down masked too (order.MaskLinePhones): order systems should
// send that line masked, but may not.
func (g *group) downlink(site string, m wire.OrderMsg) (uint64, error) {
	seq, err := g.tx.NextHSeq(site)
	if err != nil {
		return 0, err
	}
	m.HSeq = seq
	m.RecipientPhone = order.MaskPhone(m.RecipientPhone)
	m.Recipient = order.MaskLinePhones(m.Recipient)
	doc := m.AppendJSON(nil)
	if err := g.tx.PutDownlink(site, seq, doc); err != nil {
		return 0, err
	}
	if _, ok := g.downDocs[site]; !ok {
		g.downSites = append(g.downSites, site)
	}
	g.keepDownDoc(site, doc)
	g.stats.DownlinkPublished++
	return seq, nil
}

// stateLater queues a state message for numberStates. An order the group already queued one for
// keeps its place with the latest message: a state message carries the whole of the hub's record
// (state, waybill, label version, intercept), which only moves forward, and agents merge it
// monotonically, so the earlier one of the same group says nothing the latest does not.
func (g *group) stateLater(site string, m wire.OrderMsg) {
	if g.states == nil {
		g.states = map[string][]wire.OrderMsg{}
		g.stateAt = map[[2]string]int{}
	}
	k := [2]string{site, m.OrderID}
	if i, ok := g.stateAt[k]; ok {
		g.states[site][i] = m
		return
	}
	g.stateAt[k] = len(g.states[site])
	g.states[site] = append(g.states[site], m)
}

// numberStates gives the queued state messages their hseqs and stores them, site by site in
// name order, at the end of the transaction. Taking a site's hseq counter row (locked until the
// commit) only after every journal and order row the group needs is what keeps hub replicas from
// deadlocking: a transaction that holds the counter never waits for another row, and two groups
// take the counters of several sites in the same order. A state message's number may therefore
// come after an order message POSTed later in the same group; each merges on its own at the agent.
// POSTed messages are numbered as they come (the answer carries their hseq, an intercept keeps
// it), so a group with POSTs can still deadlock with another replica's: PostgreSQL aborts one and
// the hub commits that group's items one by one (nothing uncommitted is acked).
func (g *group) numberStates() error {
	sites := make([]string, 0, len(g.states))
	for site := range g.states {
		sites = append(sites, site)
	}
	slices.Sort(sites)
	for _, site := range sites {
		for _, m := range g.states[site] {
			if _, err := g.downlink(site, m); err != nil {
				return err
			}
		}
	}
	return nil
}

func (g *group) touchAgent(site, agent string, fn func(a *agentRec)) error {
	var a agentRec
	if _, err := getDoc(g.tx.Agent(site, agent))(fmt.Sprintf("agent %q", join(site, agent)), &a); err != nil {
		return err
	}
	a.Site, a.Agent = site, agent
	fn(&a)
	return g.tx.PutAgent(site, agent, mustJSON(a))
}

// status records an agent's retained status (online/offline).
func (g *group) status(topic string, payload []byte) error {
	site, agent, _, ok := wire.ParseAgentTopic(topic)
	if !ok || !wire.ValidName(site) || !wire.ValidName(agent) {
		return nil
	}
	if len(payload) == 0 { // a cleared retained message
		return nil
	}
	var s wire.Status
	if err := json.Unmarshal(payload, &s); err != nil {
		g.stats.MalformedDropped++
		g.anomaly(site, central.KindMalformed, g.now)
		g.h.log.Warn("malformed status dropped", logging.KeySite, site, logging.KeyAgent, agent, "payload", excerpt(payload), logging.Err(err))
		return nil
	}
	var flipped bool
	err := g.touchAgent(site, agent, func(a *agentRec) {
		if s.State == "online" && a.BreakerNoticed != s.BreakerOpen {
			a.BreakerNoticed, flipped = s.BreakerOpen, true
		}
		a.Online = s.State == "online"
		if a.Online {
			a.LastSeen = g.at()
		}
		if s.JournalID != "" && s.JournalID != a.JournalID && validJournalID(s.JournalID) {
			// A reinstalled PC announces its new journal before its first batch.
			var j journalRec
			_, _ = getDoc(g.tx.Journal(site, agent, s.JournalID))("journal", &j)
			a.JournalID, a.AckedSeq = s.JournalID, j.AckedSeq
		}
		if s.Version != "" {
			a.Version = s.Version
		}
		a.Breaker, a.Unsynced = s.BreakerOpen, s.Unsynced
		if a.Online {
			a.SettingsHash, a.SettingsOverrides = s.SettingsHash, s.SettingsOverrides
		}
		g.h.metrics.agentStatus(*a, s.State == "online", s.LastSeq, s.Unsynced, s.JournalID)
	})
	if err != nil {
		return err
	}
	if s.State == "online" {
		if err := g.pickupFromConfig(site, agent, s.Pickup); err != nil {
			return err
		}
	}
	if !flipped {
		return nil
	}
	return g.breakerRules(site, agent, s.BreakerOpen, s.At)
}

// catchup records a catch-up request; it is answered after the commit, from the committed log, in
// pages at the agent's pace (catchup.go).
func (g *group) catchup(topic string, payload []byte) error {
	site, agent, _, ok := wire.ParseAgentTopic(topic)
	if !ok || !wire.ValidName(site) || !wire.ValidName(agent) {
		return nil
	}
	var r wire.CatchupRequest
	if err := json.Unmarshal(payload, &r); err != nil {
		g.stats.MalformedDropped++
		g.anomaly(site, central.KindMalformed, g.now)
		g.h.log.Warn("malformed catch-up request dropped", logging.KeySite, site, logging.KeyAgent, agent, "payload", excerpt(payload), logging.Err(err))
		return nil
	}
	c := catchup{site: site, agent: agent, since: r.Since}
	if r.Subscribed {
		end, err := g.tx.LastHSeq(site)
		if err != nil {
			return err
		}
		c.until = end
	}
	g.catchups = append(g.catchups, c)
	return g.touchAgent(site, agent, func(a *agentRec) { a.LastSeen, a.Online = g.at(), true })
}

// post stores validated downlink messages from POST /v1/orders (and the orders they create).
func (g *group) post(p *postReq) error {
	if err := g.prefetchPost(p); err != nil {
		return err
	}
	for _, m := range p.msgs {
		id := m.ID()
		known := false
		if validOrderID(id) {
			var rec orderRec
			var err error
			rec, known, err = loadOrder(g.tx, id)
			if err != nil {
				return err
			}
			if m.Type == wire.TypeOrder {
				m.Version = order.AssignVersion(rec.Order, known, m)
			}
			switch {
			case m.Type == wire.TypeOrder && !known:
				o := order.FromMsg(m)
				o.ID = id
				o = o.Receive(order.InitialState(m.Payment, false), g.now)
				g.stats.OrdersPerState[string(o.State)]++
				rec := orderRec{Site: p.site, Order: o, CreatedAt: g.at()}
				if err := rec.addVersion(m); err != nil {
					return err
				}
				if err := g.saveOrder(rec); err != nil {
					return err
				}
			case m.Type == wire.TypeBalancePaid && known && rec.BalancePaidAt == "":
				rec.BalancePaidAt = g.at() // the presale watch starts here
				if err := g.saveOrder(rec); err != nil {
					return err
				}
			case m.Type == wire.TypeOrder || m.Type == wire.TypeWaybill && known:
				rec.Order = order.MergeData(rec.Order, m)
				if m.Type == wire.TypeOrder {
					if err := rec.addVersion(m); err != nil {
						return err
					}
				}
				if err := g.saveOrder(rec); err != nil {
					return err
				}
				if err := g.orderPosted(rec); err != nil { // rules.go
					return err
				}
			}
		}
		held, pre, err := g.holdForWaybill(p.site, m, known) // e-waybill numbers (waybills.go)
		if err != nil {
			return err
		}
		if held { // published once a provider gave it a waybill; hseq 0 meanwhile
			g.results[p] = append(g.results[p], 0)
			g.versions[p] = append(g.versions[p], m.Version)
			continue
		}
		if pre != nil {
			if _, err := g.downlink(p.site, *pre); err != nil {
				return err
			}
		}
		hseq, err := g.downlink(p.site, m)
		if err != nil {
			return err
		}
		if m.Type == wire.TypeIntercept && validOrderID(id) {
			if err := g.intercepted(id, hseq, m.Reason); err != nil {
				return err
			}
		}
		if validOrderID(id) {
			if err := g.indexOrder(id, ""); err != nil {
				return err
			}
		}
		g.results[p] = append(g.results[p], hseq)
		g.versions[p] = append(g.versions[p], m.Version)
	}
	return nil
}

// withoutMaskedPhone drops a masked recipient phone from an order message a PC journaled (the
// downlink's copy, see downlink): it must not replace the whole number in the hub's record, which
// the customer's reminder needs.
func withoutMaskedPhone(m wire.OrderMsg) *wire.OrderMsg {
	if strings.Contains(m.RecipientPhone, "*") {
		m.RecipientPhone = ""
	}
	return &m
}

// mergePCData merges the order data of a PC's entry into the hub's record. A one-line recipient
// whose phone the downlink masked does not replace the record's line (which may hold the whole
// number the reminder goes to); an empty field leaves the record's as it is.
func mergePCData(o order.Order, m wire.OrderMsg) order.Order {
	if o.Recipient != "" && strings.Contains(m.Recipient, "****") {
		m.Recipient = ""
	}
	return order.MergeData(o, m)
}
