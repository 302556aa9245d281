// Package intake applies the hub's downlink messages (wire.OrderMsg: order, balance_paid, waybill,
// cancel, intercept, state) to the agent's journal store.
//
// An order message of a higher version than the order holds is an update (an update entry with
// the changed fields, old → new, personal data masked); a lower or equal version writes nothing.
// An intercept flags the order (an intercept entry). The rules are the order domain's
// (order.DecideMsg); intake only reads, decides and commits.
//
// Intake is idempotent: a repeat of a message that changes nothing writes nothing. What it refuses
// it journals as a reject entry, so the hub sees it: an order id reused with different data
// (conflict), a channel order number that breaks the channel's data contract (contract_violation),
// a message that cannot be read (malformed_message, with a bounded excerpt). Nothing it receives
// crashes it or blocks the queue.
//
// State messages are other agents' progress as the hub saw it; they merge monotonically (order.Merge)
// and create a minimal order record when the order is unknown here, so that an order printed on
// PC A can be handed over on PC B.
//
// Intake remembers, in the journal's meta bucket and in the same transaction as the messages, the
// highest contiguous hub sequence (hseq) it applied. Messages beyond a gap are applied and remembered
// (or, when they need a missing one, left for the replay); the position moves only over contiguous
// numbers. Several hub replicas publish concurrently, so a later hseq can overtake an earlier one on
// the way: on a gap intake waits Options.Grace before it calls RequestCatchup(since), once per gap,
// and asks nothing when the missing numbers arrive within the window. CatchupSince is what to ask
// for after a reconnect.
//
// Replays are cheap: an element whose hseq is already applied is read only for its hseq, and a
// payload of nothing but replays takes no journal transaction. ApplyAll applies payloads that
// arrived together in one transaction, with the same rules as one by one.
package intake

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"wedge/agent/journal"
	"wedge/internal/clock"
	"wedge/internal/logging"
	"wedge/order"
	"wedge/sync/wire"
)

// Sentinel errors. Match them with errors.Is.
var (
	// ErrCommit means the journal could not commit a payload: nothing of it was applied, and the hub
	// sequence did not advance (a catch-up replays it).
	ErrCommit = errors.New("intake: commit failed")
)

// MetaHSeq is the journal meta key holding the highest contiguous applied hub sequence (8 bytes,
// big endian).
const MetaHSeq = "intake/hseq"

// DefaultGrace is Options.Grace when zero: a few commit-and-publish round trips of a hub replica.
const DefaultGrace = 2 * time.Second

// MaxExcerpt bounds the bytes of a bad payload kept in a journal entry's detail.
const MaxExcerpt = order.MaxIntakeExcerpt

// Options are intake's dependencies and settings. The zero value is valid.
type Options struct {
	Clock  clock.Clock  // nil: the real clock
	Logger *slog.Logger // nil: silent
	// Contract checks a channel order number against the channel's data contract (nil: no
	// contract); config.Config.CheckOrderNo fits.
	Contract func(channel, orderNo string) error
	// RequestCatchup asks the hub to replay the downlink after since. It must not block. Nil: none.
	RequestCatchup func(since uint64)
	// Grace is how long a gap in the hub sequence may stay open before a catch-up is requested
	// (hub replicas publish out of order). 0: DefaultGrace; negative: ask at once.
	Grace time.Duration
	// IntakeState is the state a new, fully paid order enters: order.Held while the backlog breaker
	// is open (oversight.Breaker.IntakeState). Nil: order.PendingAllocation.
	IntakeState func() order.State
}

// Intake applies downlink payloads. Apply may be called from one goroutine at a time (the agent's
// downlink pump); CatchupSince and Stats from any.
type Intake struct {
	store *journal.Store
	opts  Options
	clk   clock.Clock
	log   *slog.Logger

	mu        sync.Mutex
	hseq      uint64              // highest contiguous applied
	above     map[uint64]struct{} // applied beyond a gap
	maxSeen   uint64              // highest hseq of a readable message seen (applied or left for the replay)
	requested uint64              // the since of the last catch-up request (+1; 0 = none)
	grace     *graceWait          // the open grace window, nil when none
	wg        sync.WaitGroup      // the grace window's goroutine
	stats     Stats
	junk      junkBudget // bounds the reject entries of unauthenticated junk
}

// Stats counts what intake did.
type Stats struct {
	Payloads  uint64 `json:"payloads"`
	Applied   uint64 `json:"applied"`   // messages that wrote an entry other than a reject
	NoOps     uint64 `json:"no_ops"`    // idempotent repeats
	Rejected  uint64 `json:"rejected"`  // reject entries written
	Malformed uint64 `json:"malformed"` // of which malformed_message
	Catchups  uint64 `json:"catchups"`  // catch-up requests made
	// Suppressed counts unreadable unauthenticated elements past the journaling budget: counted,
	// logged and summed up in one note entry per window instead of one reject entry each.
	Suppressed uint64 `json:"suppressed"`
}

// New returns an Intake over store, loading the remembered hub sequence.
func New(ctx context.Context, store *journal.Store, opts Options) (*Intake, error) {
	in := &Intake{store: store, opts: opts, clk: clock.Or(opts.Clock), log: logging.Or(opts.Logger), above: map[uint64]struct{}{}}
	err := store.Do(ctx, func(tx *journal.Tx) error {
		if b := tx.Meta(MetaHSeq); len(b) == 8 {
			in.hseq = binary.BigEndian.Uint64(b)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("intake: load hub sequence: %w", err)
	}
	return in, nil
}

// CatchupSince is the highest contiguous hub sequence applied: ask the hub for everything after it.
func (in *Intake) CatchupSince() uint64 {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.hseq
}

// Stats returns the counters.
func (in *Intake) Stats() Stats {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.stats
}

// element is one message of a payload, or a reason it could not be read.
type element struct {
	msg  wire.OrderMsg
	hseq uint64 // also for bad elements, when readable
	bad  error
	raw  []byte
}

// split parses a payload element by element, so that a bad element keeps its hseq and its excerpt.
// An element whose hseq applied says is already applied is a replay: only its hseq is read (the
// pass counts it as a no-op whatever the rest of it holds), which spares the full decode.
func split(payload []byte, applied func(hseq uint64) bool) ([]element, error) {
	payload = bytes.TrimSpace(payload)
	var raws []json.RawMessage
	if len(payload) > 0 && payload[0] == '[' {
		if err := json.Unmarshal(payload, &raws); err != nil {
			return nil, fmt.Errorf("%w: %v", wire.ErrMalformed, err)
		}
	} else {
		if _, _, err := wire.ParseDownlink(payload); err != nil {
			return nil, err
		}
		raws = []json.RawMessage{payload}
	}
	out := make([]element, 0, len(raws))
	for i, raw := range raws {
		el := element{raw: raw}
		if m, err := wire.DecodeOrderMsg(raw); err == nil {
			el.hseq = m.HSeq // what the hseq-only decode below yields for any message that decodes
		} else {
			var h struct {
				HSeq uint64 `json:"hseq"`
			}
			_ = json.Unmarshal(raw, &h) // best effort, for bad elements
			el.hseq = h.HSeq
		}
		if el.hseq != 0 && applied(el.hseq) {
			out = append(out, el)
			continue
		}
		msgs, bad, err := wire.ParseDownlink(raw)
		switch {
		case err != nil:
			el.bad = fmt.Errorf("element %d: %w", i, err)
		case len(bad) > 0:
			el.bad = fmt.Errorf("element %d: %w", i, bad[0])
		case len(msgs) != 1:
			el.bad = fmt.Errorf("%w: element %d is not one message", wire.ErrMalformed, i)
		default:
			el.msg, el.hseq = msgs[0], msgs[0].HSeq
		}
		out = append(out, el)
	}
	return out, nil
}

// Apply applies one downlink payload that was not authenticated (the agent accepts unsigned
// messages): an element consumes its hub sequence number only when it can be read and validated, so
// junk carrying the next numbers can never make the hub's real orders and cancels look already
// applied; the gap it leaves is recovered from the hub's log by a catch-up. Refusals are journaled
// (unreadable junk within a budget per window, see junkBudget) and logged; it returns an error only
// when the journal could not commit (wrapping ErrCommit), in which case nothing was applied.
func (in *Intake) Apply(ctx context.Context, payload []byte) error {
	return in.apply(ctx, payload, false)
}

// ApplyAuthenticated applies a payload whose signature by the hub was verified: every element with a
// sequence number consumes it, including one this version cannot read (journaled as a rejection),
// because the hub really sent it and asking again would bring the same element back forever.
func (in *Intake) ApplyAuthenticated(ctx context.Context, payload []byte) error {
	return in.apply(ctx, payload, true)
}

// logLine is a log record decided inside the transaction and written after the commit.
type logLine struct {
	level slog.Level
	msg   string
	args  []any
}

func (in *Intake) apply(ctx context.Context, payload []byte, authenticated bool) error {
	return in.ApplyAll(ctx, []Payload{{Data: payload, Authenticated: authenticated}})
}

// Payload is one downlink payload and whether its signature by the hub was verified.
type Payload struct {
	Data          []byte
	Authenticated bool
}

// ApplyAll applies payloads that arrived together, in their order, exactly as Apply and
// ApplyAuthenticated would one after the other, but in one journal transaction: one commit for
// the group instead of one per payload. A payload of nothing but replays (every element's hub
// sequence already applied) needs no transaction at all. If the journal cannot commit, nothing of
// the group was applied and the error wraps ErrCommit (a catch-up replays it).
func (in *Intake) ApplyAll(ctx context.Context, payloads []Payload) error {
	now := in.clk.Now().UTC()
	in.mu.Lock()
	start := pass{hseq: in.hseq, above: maps(in.above), junk: in.junk}
	in.mu.Unlock()
	// Replays are recognised against the state before the group; an element applied by an earlier
	// payload of the group is decoded and then found applied by its pass.
	elems := make([][]element, len(payloads))
	perrs := make([]error, len(payloads))
	for i, pl := range payloads {
		elems[i], perrs[i] = split(pl.Data, start.applied)
	}
	passes := make([]pass, len(payloads))
	// prepare sets up the passes from the state before the group; it reports whether one of them
	// must write. fn may run again after a failed batch: it starts from the same state every time.
	prepare := func(tx *journal.Tx) (write bool) {
		prev := start
		for i, pl := range payloads {
			p := pass{in: in, tx: tx, now: now, authenticated: pl.Authenticated, st: Stats{Payloads: 1},
				hseq: prev.hseq, startHSeq: prev.hseq, above: maps(prev.above), junk: prev.junk}
			if tx == nil && (perrs[i] != nil || !p.replayOnly(elems[i])) {
				return true
			}
			if tx != nil {
				p.run(pl.Data, elems[i], perrs[i])
			}
			passes[i], prev = p, p
		}
		return false
	}
	if prepare(nil) {
		err := in.store.Do(ctx, func(tx *journal.Tx) error {
			prepare(tx)
			return nil
		})
		if err != nil {
			in.log.Error("intake: payload not applied, a catch-up will replay it", logging.Err(err), "payloads", len(payloads))
			return fmt.Errorf("%w: %w", ErrCommit, err)
		}
	}
	for i := range passes {
		in.settle(ctx, &passes[i])
	}
	return nil
}

// settle takes over a pass that committed (or needed no commit): its log lines, hub sequence, junk
// budget and counters, and asks for a catch-up once per gap.
func (in *Intake) settle(ctx context.Context, p *pass) {
	for _, l := range p.logs {
		in.log.Log(ctx, l.level, l.msg, l.args...)
	}
	in.mu.Lock()
	in.hseq, in.above, in.junk = p.hseq, p.above, p.junk
	in.maxSeen = max(in.maxSeen, p.maxSeen)
	in.stats.add(p.st)
	in.mu.Unlock()
	in.checkGap()
}

// pass is one payload applied inside one journal transaction: the hub sequence it moves, the junk
// budget it spends, what it counts and the log lines to write after the commit.
type pass struct {
	in            *Intake
	tx            *journal.Tx
	now           time.Time
	authenticated bool

	hseq      uint64              // highest contiguous applied
	startHSeq uint64              // hseq before the pass (the stored one)
	above     map[uint64]struct{} // applied beyond a gap
	maxSeen   uint64              // highest hseq of a readable element
	junk      junkBudget
	st        Stats
	logs      []logLine
}

func (p *pass) run(payload []byte, elems []element, perr error) {
	if summary := p.junk.roll(p.now); summary.Kind != "" {
		p.tx.Append(summary)
	}
	if perr != nil {
		p.rejectJunk(0, perr, payload)
	} else {
		for _, el := range elems {
			p.element(el)
		}
	}
	if p.hseq != p.startHSeq {
		// Unchanged, it is already stored: rewriting it would make a replay's transaction commit.
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], p.hseq)
		p.tx.SetMeta(MetaHSeq, b[:])
	}
}

// applied reports whether hseq was applied before this pass (a replay).
func (p *pass) applied(hseq uint64) bool {
	_, dup := p.above[hseq]
	return dup || hseq <= p.hseq
}

// replayOnly reports whether the payload is nothing but replays and the junk window has no note
// due: then the pass writes nothing and needs no transaction. It counts the replays as no-ops.
func (p *pass) replayOnly(elems []element) bool {
	if j := p.junk; j.roll(p.now).Kind != "" {
		return false
	}
	for _, el := range elems {
		if el.hseq == 0 || !p.applied(el.hseq) {
			return false
		}
	}
	p.st.NoOps += uint64(len(elems))
	return true
}

// element applies one element: a replay is a no-op; an unreadable one is journaled as junk and
// consumes its number only when authenticated; a valid one is decided and committed.
func (p *pass) element(el element) {
	if el.hseq != 0 && p.applied(el.hseq) {
		p.st.NoOps++
		return // already applied (a replay)
	}
	consume := el.hseq != 0
	if el.bad != nil {
		p.rejectJunk(el.hseq, el.bad, el.raw)
		consume = consume && p.authenticated
	} else {
		beyondGap := el.hseq > p.hseq+1
		p.maxSeen = max(p.maxSeen, el.hseq)
		e, wrote := p.in.decide(p.tx, el.msg, p.now)
		switch {
		case !wrote:
			p.st.NoOps++
		case e.Kind == wire.KindReject:
			p.st.Rejected++
			p.logs = append(p.logs, logLine{slog.LevelWarn, "intake: message refused", []any{"type", el.msg.Type,
				logging.KeyOrder, e.OrderID, "reason", e.Reason, "detail", e.Detail}})
			// Beyond a gap, a message about an order not heard of yet may follow that order's
			// message in the missing range: apply it again when the replay brings it in sequence,
			// instead of counting it as applied.
			if e.Reason == string(order.ReasonUnknownOrder) && beyondGap {
				consume = false
			}
		default:
			p.st.Applied++
		}
	}
	if consume {
		p.consume(el.hseq)
	}
}

// consume marks hseq applied and moves the contiguous position over what is now contiguous.
func (p *pass) consume(hseq uint64) {
	p.above[hseq] = struct{}{}
	p.maxSeen = max(p.maxSeen, hseq)
	for {
		if _, ok := p.above[p.hseq+1]; !ok {
			return
		}
		p.hseq++
		delete(p.above, p.hseq)
	}
}

// rejectJunk journals an unreadable payload or element within the budget, and counts it.
func (p *pass) rejectJunk(seq uint64, err error, raw []byte) {
	p.st.Rejected++
	p.st.Malformed++
	if !p.junk.take(p.authenticated) {
		p.st.Suppressed++
		return
	}
	p.tx.Append(order.Malformed(p.now, seq, err, raw))
	p.logs = append(p.logs, logLine{slog.LevelWarn, "intake: malformed message skipped", []any{logging.Err(err)}})
}

// Junk budget: at most JunkBurst reject entries for unreadable unauthenticated input per JunkWindow.
// Past it, junk is counted (Stats.Suppressed), and the first entry of the next window is preceded
// by one note entry that says how many were suppressed, so a flood grows the journal by a bounded
// amount and still leaves a trace. Authenticated input (signed by the hub) is always journaled.
const (
	JunkBurst  = 20
	JunkWindow = time.Minute
)

type junkBudget struct {
	start      time.Time // of the current window
	used       int
	suppressed int
}

// roll starts a new window when the current one is over; the returned note, when its Kind is set,
// says how many entries the window that ended suppressed (journal it first).
func (j *junkBudget) roll(now time.Time) (summary wire.Entry) {
	if now.Sub(j.start) < JunkWindow && !now.Before(j.start) {
		return summary
	}
	if j.suppressed > 0 {
		summary = wire.Entry{Kind: wire.KindNote, Trigger: wire.TriggerHub, Reason: string(order.ReasonMalformed), At: wire.Time(now),
			Detail: fmt.Sprintf("%d unreadable downlink messages were not journaled one by one (more than %d per %s)", j.suppressed, JunkBurst, JunkWindow)}
	}
	*j = junkBudget{start: now}
	return summary
}

// take reports whether one more junk entry may be journaled in the current window.
func (j *junkBudget) take(authenticated bool) bool {
	if authenticated || j.used < JunkBurst {
		j.used++
		return true
	}
	j.suppressed++
	return false
}

func (s *Stats) add(o Stats) {
	s.Payloads += o.Payloads
	s.Applied += o.Applied
	s.NoOps += o.NoOps
	s.Rejected += o.Rejected
	s.Malformed += o.Malformed
	s.Catchups += o.Catchups
	s.Suppressed += o.Suppressed
}

func maps(m map[uint64]struct{}) map[uint64]struct{} {
	c := make(map[uint64]struct{}, len(m))
	for k := range m {
		c[k] = struct{}{}
	}
	return c
}

// decide decides one valid message with the order domain's rules and commits the decision. It returns
// the entry written and whether one was.
func (in *Intake) decide(tx *journal.Tx, m wire.OrderMsg, now time.Time) (wire.Entry, bool) {
	id := m.ID()
	o, known := tx.Order(id)
	env := order.MsgEnv{At: now, Contract: in.opts.Contract,
		Held: in.opts.IntakeState != nil && in.opts.IntakeState() == order.Held}
	if m.Type == wire.TypeOrder && !known {
		if other, ok := tx.OrderByChannelNo(strings.TrimSpace(m.ChannelOrderNo)); ok {
			env.ChannelNoOwnerID = other.ID
		}
	}
	d := tx.Commit(order.DecideMsg(o, known, m, env))
	return d.Entry, d.Journaled()
}
