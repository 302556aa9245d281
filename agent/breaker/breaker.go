// Package breaker is the backlog circuit breaker, as pure policy over a clock: it opens
// when the 待分仓 pending_allocation backlog or its average wait passes a limit, closes by itself
// with hysteresis, or by a supervisor's reset with a reason, and its thresholds can be changed by a
// hub command (order.Command). Every change is returned as a Transition that the agent journals as a
// wire.KindBreaker entry (Transition.Entry); the breaker itself does no I/O.
//
// While the breaker is open, orders arriving from the hub are held (order.Held, 暂停进入) instead of
// entering the backlog (IntakeState); when it closes they are released in arrival order
// (ReleaseOrder). Backlog measures the inputs of Observe from a set of orders.
//
// Hysteresis: the breaker opens when backlog > MaxBacklog or average wait > MaxAvgWait. It closes by
// itself only after backlog and average wait have both stayed below CloseRatio (default 80%) of
// their limits for CloseAfter (default 1 min) without interruption; one observation above the
// ratio restarts that period, so a backlog hovering around the limit cannot make it flap. After a
// supervisor's reset the breaker stays closed for ResetGrace (default CloseAfter), so the held
// orders released by the reset do not immediately trip it again; after that the thresholds apply.
package breaker

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"wedge/internal/clock"
	"wedge/internal/logging"
	"wedge/order"
	"wedge/sync/wire"
)

// Sentinel errors. Thresholds out of range wrap order.ErrThresholds.
var (
	// ErrNoReason means a reset without the supervisor's name or reason.
	ErrNoReason = errors.New("breaker: a reset needs who and why")
	// ErrNotOpen means a reset of a breaker that is already closed.
	ErrNotOpen = errors.New("breaker: not open")
)

// Options configure a Breaker. Zero fields mean the documented defaults: MaxBacklog 200, MaxAvgWait
// 8 min, CloseRatio 0.8, CloseAfter 1 min (order.Default*), ResetGrace = CloseAfter, Clock real,
// Logger discarding.
type Options struct {
	MaxBacklog int
	MaxAvgWait time.Duration
	CloseRatio float64
	CloseAfter time.Duration
	ResetGrace time.Duration
	Clock      clock.Clock
	// Logger gets the breaker's own decisions at debug level (the agent logs them once committed).
	Logger *slog.Logger
	// Initial restores the state persisted before a restart (State as saved by the agent); nil = closed.
	Initial *State
}

// Events of a Transition.
const (
	EventOpen       = "open"       // tripped by a threshold
	EventClose      = "close"      // closed by itself (hysteresis)
	EventReset      = "reset"      // closed by a supervisor
	EventThresholds = "thresholds" // limits changed (hub command or config)
)

// Why codes: what opened the breaker.
const (
	WhyBacklog = "backlog"
	WhyAvgWait = "avg_wait"
)

// Transition is one change of the breaker. The zero value (Event "") means nothing changed.
type Transition struct {
	Event      string            `json:"event,omitempty"`
	Open       bool              `json:"open"` // state after the change
	At         time.Time         `json:"at"`
	By         string            `json:"by,omitempty"`     // the supervisor or "hub"; "" for the breaker itself
	Reason     string            `json:"reason,omitempty"` // why code (open), or the supervisor's / hub's reason
	Backlog    int               `json:"backlog"`
	AvgWait    time.Duration     `json:"avg_wait"`
	Thresholds order.Thresholds  `json:"thresholds"`
	Previous   *order.Thresholds `json:"previous,omitempty"` // EventThresholds only
}

// Changed reports whether t is a real transition.
func (t Transition) Changed() bool { return t.Event != "" }

// Message is the supervisor-facing text, Chinese first.
func (t Transition) Message() order.Message {
	switch t.Event {
	case EventOpen:
		if t.Reason == WhyAvgWait {
			return order.Message{
				ZH: fmt.Sprintf("积压熔断：待分仓平均等待 %s 超过上限 %s，新订单暂停进入", t.AvgWait.Round(time.Second), t.Thresholds.MaxAvgWait),
				EN: fmt.Sprintf("Backlog breaker open: average wait %s exceeds %s, intake paused", t.AvgWait.Round(time.Second), t.Thresholds.MaxAvgWait),
			}
		}
		return order.Message{
			ZH: fmt.Sprintf("积压熔断：待分仓 %d 单超过上限 %d，新订单暂停进入", t.Backlog, t.Thresholds.MaxBacklog),
			EN: fmt.Sprintf("Backlog breaker open: %d pending exceeds %d, intake paused", t.Backlog, t.Thresholds.MaxBacklog),
		}
	case EventClose:
		return order.Message{ZH: "积压已恢复，熔断关闭，暂停的订单按到达顺序进入待分仓", EN: "Backlog recovered: breaker closed, held orders enter pending allocation in arrival order"}
	case EventReset:
		return order.Message{ZH: fmt.Sprintf("主管 %s 复位熔断（原因：%s），暂停的订单按到达顺序进入待分仓", t.By, t.Reason), EN: fmt.Sprintf("Supervisor %s reset the breaker (%s): held orders enter pending allocation in arrival order", t.By, t.Reason)}
	case EventThresholds:
		return order.Message{ZH: "熔断阈值已修改：" + t.Thresholds.String(), EN: "Breaker thresholds changed: " + t.Thresholds.String()}
	}
	return order.Message{}
}

// Entry is the journal entry for t (wire.KindBreaker): From/To are "closed"/"open", Trigger is
// system (the breaker itself), manual (a supervisor) or hub (a command), Operator is By, Reason the
// why code or reason, and Detail the measurements and thresholds.
func (t Transition) Entry() wire.Entry {
	from, to := openWord(!t.Open), openWord(t.Open)
	trigger := wire.TriggerSystem
	switch t.Event {
	case EventReset:
		trigger = wire.TriggerManual
	case EventThresholds:
		from = to
		trigger = wire.TriggerHub
		if t.By != "" && t.By != "hub" && !strings.HasPrefix(t.By, "hub:") {
			trigger = wire.TriggerManual
		}
	}
	detail := fmt.Sprintf("%s: backlog=%d avg_wait=%s %s", t.Event, t.Backlog, t.AvgWait.Round(time.Second), t.Thresholds)
	if t.Previous != nil {
		detail += " (was " + t.Previous.String() + ")"
	}
	return wire.Entry{Kind: wire.KindBreaker, From: from, To: to, Operator: t.By, Trigger: trigger,
		Reason: t.Reason, Detail: detail, At: wire.Time(t.At)}
}

func openWord(open bool) string {
	if open {
		return "open"
	}
	return "closed"
}

// State is the breaker's state, also the form the agent persists (journal Meta) across restarts.
type State struct {
	Open       bool             `json:"open"`
	Since      time.Time        `json:"since,omitzero"` // when it last opened or closed
	Why        string           `json:"why,omitempty"`  // why it opened, or how it closed
	Backlog    int              `json:"backlog"`        // last observation
	AvgWait    time.Duration    `json:"avg_wait"`
	Thresholds order.Thresholds `json:"thresholds"`
	// BelowSince is when the observations went below the close ratio (open only; zero = not below).
	BelowSince time.Time `json:"below_since,omitzero"`
	// GraceUntil is the end of the post-reset grace period.
	GraceUntil time.Time `json:"grace_until,omitzero"`
}

// Breaker is safe for concurrent use.
type Breaker struct {
	clk   clock.Clock
	log   *slog.Logger
	grace time.Duration

	mu sync.Mutex
	st State
}

// New returns a closed breaker (or the one restored from opts.Initial).
func New(opts Options) (*Breaker, error) {
	th := order.Thresholds{MaxBacklog: opts.MaxBacklog, MaxAvgWait: opts.MaxAvgWait, CloseRatio: opts.CloseRatio, CloseAfter: opts.CloseAfter}.WithDefaults()
	if err := th.Validate(); err != nil {
		return nil, err
	}
	b := &Breaker{clk: clock.Or(opts.Clock), log: logging.Or(opts.Logger), grace: opts.ResetGrace}
	if b.grace <= 0 {
		b.grace = th.CloseAfter
	}
	b.st = State{Thresholds: th, Since: b.clk.Now()}
	if opts.Initial != nil {
		b.st = *opts.Initial
		if b.st.Thresholds.WithDefaults().Validate() != nil {
			b.st.Thresholds = th
		}
		b.st.Thresholds = b.st.Thresholds.WithDefaults()
	}
	return b, nil
}

// State returns the current state.
func (b *Breaker) State() State {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.st
}

// Open reports whether intake is paused.
func (b *Breaker) Open() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.st.Open
}

// IntakeState is the state a newly arriving (fully paid) order enters: order.Held while the breaker is
// open, order.PendingAllocation otherwise.
func (b *Breaker) IntakeState() order.State {
	if b.Open() {
		return order.Held
	}
	return order.PendingAllocation
}

func (b *Breaker) transition(event string, now time.Time) Transition {
	return Transition{Event: event, Open: b.st.Open, At: now, Backlog: b.st.Backlog, AvgWait: b.st.AvgWait, Thresholds: b.st.Thresholds}
}

// Observe feeds one measurement of the 待分仓 backlog (held orders excluded) and its average wait,
// and returns the transition it caused, if any.
func (b *Breaker) Observe(backlog int, avgWait time.Duration) Transition {
	now := b.clk.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.st.Backlog, b.st.AvgWait = backlog, avgWait
	th := b.st.Thresholds
	if !b.st.Open {
		if now.Before(b.st.GraceUntil) {
			return Transition{}
		}
		why := ""
		switch {
		case backlog > th.MaxBacklog:
			why = WhyBacklog
		case avgWait > th.MaxAvgWait:
			why = WhyAvgWait
		default:
			return Transition{}
		}
		b.st.Open, b.st.Since, b.st.Why, b.st.BelowSince, b.st.GraceUntil = true, now, why, time.Time{}, time.Time{}
		t := b.transition(EventOpen, now)
		t.Reason = why
		b.log.Debug("breaker opens", "why", why, "backlog", backlog, "avg_wait", avgWait)
		return t
	}
	below := float64(backlog) < th.CloseRatio*float64(th.MaxBacklog) && float64(avgWait) < th.CloseRatio*float64(th.MaxAvgWait)
	if !below {
		b.st.BelowSince = time.Time{}
		return Transition{}
	}
	if b.st.BelowSince.IsZero() {
		b.st.BelowSince = now
	}
	if now.Sub(b.st.BelowSince) < th.CloseAfter {
		return Transition{}
	}
	b.st.Open, b.st.Since, b.st.Why, b.st.BelowSince = false, now, "recovered", time.Time{}
	t := b.transition(EventClose, now)
	t.Reason = "recovered"
	b.log.Debug("breaker closes", "why", "recovered", "backlog", backlog, "avg_wait", avgWait)
	return t
}

// Reset closes an open breaker on a supervisor's decision. by and reason are required.
func (b *Breaker) Reset(by, reason string) (Transition, error) {
	by, reason = strings.TrimSpace(by), strings.TrimSpace(reason)
	if by == "" || reason == "" {
		return Transition{}, ErrNoReason
	}
	now := b.clk.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.st.Open {
		return Transition{}, ErrNotOpen
	}
	b.st.Open, b.st.Since, b.st.Why, b.st.BelowSince = false, now, "reset", time.Time{}
	b.st.GraceUntil = now.Add(b.grace)
	t := b.transition(EventReset, now)
	t.By, t.Reason = by, reason
	b.log.Debug("breaker reset", "by", by, "reason", reason)
	return t, nil
}

// SetThresholds changes the limits (a hub command, or config reloaded). Zero fields keep their
// defaults. by is who asked ("hub" for a command) and reason its text; the transition is to be
// journaled. The open/closed state does not change here; the next Observe applies the new limits.
func (b *Breaker) SetThresholds(by, reason string, th order.Thresholds) (Transition, error) {
	th = th.WithDefaults()
	if err := th.Validate(); err != nil {
		return Transition{}, err
	}
	if strings.TrimSpace(by) == "" {
		return Transition{}, fmt.Errorf("%w: who changed them is required", order.ErrThresholds)
	}
	now := b.clk.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	prev := b.st.Thresholds
	b.st.Thresholds = th
	b.st.BelowSince = time.Time{} // the close period restarts under the new limits
	t := b.transition(EventThresholds, now)
	t.By, t.Reason, t.Previous = by, reason, &prev
	b.log.Debug("breaker thresholds changed", "thresholds", th.String(), "was", prev.String(), "by", by)
	return t, nil
}

// Stats are the measurements of the 待分仓 backlog.
type Stats struct {
	Backlog    int           `json:"backlog"`     // orders in pending_allocation
	Held       int           `json:"held"`        // orders held by the breaker (not in the backlog)
	AvgWait    time.Duration `json:"avg_wait"`    // mean of now − WaitingSince over the backlog
	OldestWait time.Duration `json:"oldest_wait"` // the longest of those
	Overdue    int           `json:"overdue"`     // backlog orders flagged overdue
}

// Backlog measures orders at now; the wait of an order is order.Order.Waited.
func Backlog(orders []order.Order, now time.Time) Stats {
	var s Stats
	var total time.Duration
	for _, o := range orders {
		switch o.State {
		case order.Held:
			s.Held++
		case order.PendingAllocation:
			s.Backlog++
			w := o.Waited(now)
			total += w
			s.OldestWait = max(s.OldestWait, w)
			if o.Overdue {
				s.Overdue++
			}
		}
	}
	if s.Backlog > 0 {
		s.AvgWait = total / time.Duration(s.Backlog)
	}
	return s
}

// Held is an order held by the breaker with the journal sequence number of its intake entry, which
// breaks ties between orders received in the same instant.
type Held struct {
	Order order.Order
	Seq   uint64
}

// ReleaseOrder returns held in the order they must enter 待分仓 when the breaker closes: by arrival
// (ReceivedAt), then by journal seq, then by order id (so the order is total and repeatable). The
// input is not modified.
func ReleaseOrder(held []Held) []Held {
	out := append([]Held(nil), held...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !a.Order.ReceivedAt.Equal(b.Order.ReceivedAt) {
			return a.Order.ReceivedAt.Before(b.Order.ReceivedAt)
		}
		if a.Seq != b.Seq {
			return a.Seq < b.Seq
		}
		return a.Order.ID < b.Order.ID
	})
	return out
}
