// Package intake applies the hub's downlink messages (wire.OrderMsg: order, balance_paid, waybill,
// cancel, state) to the agent's journal store.
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
// highest contiguous hub sequence (hseq) it applied. On a gap it calls RequestCatchup(since) once
// per gap; CatchupSince is what to ask for after a reconnect.
package intake

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"wedge/agent/journal"
	"wedge/internal/clock"
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

// MaxExcerpt bounds the bytes of a bad payload kept in a journal entry's detail.
const MaxExcerpt = order.MaxIntakeExcerpt

// Options are intake's dependencies and settings. The zero value is valid.
type Options struct {
	Clock clock.Clock          // nil: the real clock
	Logf  func(string, ...any) // nil: silent
	// Contract checks a channel order number against the channel's data contract (nil: no
	// contract); config.Config.CheckOrderNo fits.
	Contract func(channel, orderNo string) error
	// RequestCatchup asks the hub to replay the downlink after since. It must not block. Nil: none.
	RequestCatchup func(since uint64)
	// IntakeState is the state a new, fully paid order enters: order.Held while the backlog breaker
	// is open (supervise.Supervisor.IntakeState). Nil: order.PendingAllocation.
	IntakeState func() order.State
}

// Intake applies downlink payloads. Apply may be called from one goroutine at a time (the agent's
// downlink pump); CatchupSince and Stats from any.
type Intake struct {
	store *journal.Store
	opts  Options
	clk   clock.Clock
	logf  func(string, ...any)

	mu        sync.Mutex
	hseq      uint64              // highest contiguous applied
	above     map[uint64]struct{} // applied beyond a gap
	requested uint64              // the since of the last catch-up request (+1; 0 = none)
	stats     Stats
}

// Stats counts what intake did.
type Stats struct {
	Payloads  uint64 `json:"payloads"`
	Applied   uint64 `json:"applied"`   // messages that wrote an entry other than a reject
	NoOps     uint64 `json:"no_ops"`    // idempotent repeats
	Rejected  uint64 `json:"rejected"`  // reject entries written
	Malformed uint64 `json:"malformed"` // of which malformed_message
	Catchups  uint64 `json:"catchups"`  // catch-up requests made
}

// New returns an Intake over store, loading the remembered hub sequence.
func New(ctx context.Context, store *journal.Store, opts Options) (*Intake, error) {
	in := &Intake{store: store, opts: opts, clk: clock.Or(opts.Clock), logf: opts.Logf, above: map[uint64]struct{}{}}
	if in.logf == nil {
		in.logf = func(string, ...any) {}
	}
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
func split(payload []byte) ([]element, error) {
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
		var h struct {
			HSeq uint64 `json:"hseq"`
		}
		_ = json.Unmarshal(raw, &h) // best effort, for bad elements
		el.hseq = h.HSeq
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

// Apply applies one downlink payload (a JSON object or an array). Everything it refuses is journaled
// and logged; it returns an error only when the journal could not commit (wrapping ErrCommit), in
// which case nothing of the payload was applied.
func (in *Intake) Apply(ctx context.Context, payload []byte) error {
	now := in.clk.Now().UTC()
	elems, perr := split(payload)

	in.mu.Lock()
	h0, a0 := in.hseq, maps(in.above)
	in.mu.Unlock()
	var hseq uint64
	var above map[uint64]struct{}
	var sawGap bool

	var st Stats
	var logs []string
	err := in.store.Do(ctx, func(tx *journal.Tx) error {
		st, logs = Stats{Payloads: 1}, nil
		hseq, above, sawGap = h0, maps(a0), false
		if perr != nil {
			e := order.Malformed(now, 0, perr, payload)
			tx.Append(e)
			st.Rejected++
			st.Malformed++
			logs = append(logs, fmt.Sprintf("intake: malformed payload skipped: %v", perr))
			return nil
		}
		for _, el := range elems {
			if el.hseq != 0 {
				if _, dup := above[el.hseq]; dup || el.hseq <= hseq {
					st.NoOps++
					continue // already applied (a replay)
				}
			}
			retry := false // leave it for the catch-up replay
			if el.hseq > hseq+1 {
				sawGap = true
			}
			if el.bad != nil {
				tx.Append(order.Malformed(now, el.hseq, el.bad, el.raw))
				st.Rejected++
				st.Malformed++
				logs = append(logs, fmt.Sprintf("intake: malformed message skipped: %v", el.bad))
			} else {
				e, wrote := in.apply(tx, el.msg, now)
				kind := e.Kind
				switch {
				case !wrote:
					st.NoOps++
				case kind == wire.KindReject:
					st.Rejected++
					logs = append(logs, fmt.Sprintf("intake: %s %s refused: %s (%s)", el.msg.Type, e.OrderID, e.Reason, e.Detail))
					// Beyond a gap, a message about an order not heard of yet may follow that
					// order's message in the missing range: apply it again when the replay
					// brings it in sequence, instead of counting it as applied.
					retry = e.Reason == string(order.ReasonUnknownOrder) && el.hseq > hseq+1
				default:
					st.Applied++
				}
			}
			if el.hseq != 0 && !retry {
				above[el.hseq] = struct{}{}
				for {
					if _, ok := above[hseq+1]; !ok {
						break
					}
					hseq++
					delete(above, hseq)
				}
			}
		}
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], hseq)
		tx.SetMeta(MetaHSeq, b[:])
		return nil
	})
	if err != nil {
		in.logf("intake: payload not applied, will be replayed by a catch-up: %v", err)
		return fmt.Errorf("%w: %w", ErrCommit, err)
	}
	for _, l := range logs {
		in.logf("%s", l)
	}
	in.mu.Lock()
	in.hseq, in.above = hseq, above
	gap := (len(above) > 0 || sawGap) && in.requested != hseq+1
	if gap {
		in.requested = hseq + 1
		st.Catchups++
	}
	in.stats.add(st)
	in.mu.Unlock()
	if gap {
		in.logf("intake: gap in the hub sequence after %d: asking for a catch-up", hseq)
		if in.opts.RequestCatchup != nil {
			in.opts.RequestCatchup(hseq)
		}
	}
	return nil
}

func (s *Stats) add(o Stats) {
	s.Payloads += o.Payloads
	s.Applied += o.Applied
	s.NoOps += o.NoOps
	s.Rejected += o.Rejected
	s.Malformed += o.Malformed
	s.Catchups += o.Catchups
}

func maps(m map[uint64]struct{}) map[uint64]struct{} {
	c := make(map[uint64]struct{}, len(m))
	for k := range m {
		c[k] = struct{}{}
	}
	return c
}

// apply decides one valid message with the order domain's rules and commits the decision. It returns
// the entry written and whether one was.
func (in *Intake) apply(tx *journal.Tx, m wire.OrderMsg, now time.Time) (wire.Entry, bool) {
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
