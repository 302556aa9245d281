package oversight

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"wedge/agent/breaker"
	"wedge/agent/journal"
	"wedge/agent/metrics"
	"wedge/internal/clock"
	"wedge/internal/logging"
	"wedge/order"
	"wedge/sync/wire"
)

// MetaBreaker is the journal meta key holding the breaker state (JSON of breaker.State).
const MetaBreaker = "breaker"

// Breaker is the backlog breaker made durable: the pure breaker.Breaker plus its journal part.
// Every transition is journaled (a wire.KindBreaker entry and the state under MetaBreaker) in one
// transaction, together with the release of the held orders when it closes; only after the commit
// are the others told. When a commit fails the breaker returns to its state before the transition.
// Its methods are safe for concurrent use.
type Breaker struct {
	store *journal.Store
	opts  breaker.Options // as configured, for restore
	log   *slog.Logger
	m     *metrics.Metrics
	// onChange is called after each committed transition, with mu held.
	onChange func(breaker.Transition)
	// book records which hub command set the thresholds (MetaSettings).
	book *settingsBook

	br atomic.Pointer[breaker.Breaker]
	// mu serialises changes with their commits (owner loop, reset, hub command).
	mu sync.Mutex
}

// loadBreaker restores the breaker from the journal meta (closed with opts' thresholds when there
// is none) and settles the settings (settle): a threshold the configuration file changed since the
// last start takes the file's value, one it did not change keeps its current value (a hub
// command's). The changes are journaled as settings notes, in the same transaction as the records.
func loadBreaker(ctx context.Context, store *journal.Store, opts breaker.Options, book *settingsBook, clk clock.Clock, log *slog.Logger, m *metrics.Metrics) (*Breaker, error) {
	var initial *breaker.State
	var changes []settingChange
	var settled settingsRecord
	var settledTh order.Thresholds
	now := clk.Now()
	fileTh := order.Thresholds{MaxBacklog: opts.MaxBacklog, MaxAvgWait: opts.MaxAvgWait, CloseRatio: opts.CloseRatio, CloseAfter: opts.CloseAfter}.WithDefaults()
	err := store.Do(ctx, func(tx *journal.Tx) error {
		initial, changes = nil, nil
		if b := tx.Meta(MetaBreaker); len(b) > 0 {
			var st breaker.State
			if err := json.Unmarshal(b, &st); err != nil {
				return fmt.Errorf("breaker state in the journal meta is unreadable: %w", err)
			}
			initial = &st
		}
		prev, err := readSettings(tx)
		if err != nil {
			return err
		}
		eff, rec, cs, err := settle(book.file, book.configFile, prev, initial, fileTh)
		if err != nil {
			return err
		}
		if initial != nil && eff != initial.Thresholds.WithDefaults() {
			initial.Thresholds = eff
			b, _ := json.Marshal(initial)
			tx.SetMeta(MetaBreaker, b)
		}
		for _, c := range cs {
			tx.Append(c.entry(now))
		}
		if b, _ := json.Marshal(rec); !bytes.Equal(b, tx.Meta(MetaSettings)) {
			tx.SetMeta(MetaSettings, b)
		}
		settled, settledTh, changes = rec, eff, cs
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("oversight: load breaker state and settings: %w", err)
	}
	book.set(settled, settledTh)
	for _, c := range changes {
		args := []any{"field", c.field, "old", c.old, "new", c.new, "where", c.where}
		if c.hub != nil {
			args = append(args, "replaces_hub_command", c.hub.Command, "hub_by", c.hub.By, "hub_at", c.hub.At)
		}
		log.Warn("setting changed in the configuration file: the file's value applies (journaled)", args...)
	}
	opts.Clock, opts.Logger, opts.Initial = clk, log, nil
	b := &Breaker{store: store, opts: opts, log: log, m: m, book: book}
	if initial != nil {
		opts.Initial = initial
		opts.MaxBacklog, opts.MaxAvgWait = initial.Thresholds.MaxBacklog, initial.Thresholds.MaxAvgWait
		opts.CloseRatio, opts.CloseAfter = initial.Thresholds.CloseRatio, initial.Thresholds.CloseAfter
	}
	br, err := breaker.New(opts)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	b.br.Store(br)
	if br.Open() {
		log.Warn("breaker open at start: new orders stay held", "why", br.State().Why, "since", br.State().Since)
	}
	m.SetBreaker(br.Open())
	return b, nil
}

// State returns the breaker's current state.
func (b *Breaker) State() breaker.State { return b.br.Load().State() }

// Open reports whether intake is paused (for the agent's retained status).
func (b *Breaker) Open() bool { return b.br.Load().Open() }

// IntakeState is the state a newly arriving, fully paid order enters: order.Held while the breaker
// is open, else order.PendingAllocation (intake.Options.IntakeState).
func (b *Breaker) IntakeState() order.State { return b.br.Load().IntakeState() }

// Reset closes the open breaker on a supervisor's decision (journaled) and releases the held
// orders; it returns after the commit. breaker.ErrNotOpen and breaker.ErrNoReason are wrapped.
func (b *Breaker) Reset(ctx context.Context, by, reason string) (released int, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	br := b.br.Load()
	tr, err := br.Reset(by, reason)
	if err != nil {
		return 0, err
	}
	return b.commitLocked(ctx, br, tr, "", nil)
}

// Command applies a hub command (wire.TopicCommand, order.Command). A command that cannot be read
// or applied is journaled as a note (so the hub sees the refusal) and returned wrapping ErrCommand.
func (b *Breaker) Command(ctx context.Context, payload []byte) error {
	cmd, th, err := order.ParseCommand(payload)
	if err == nil {
		b.mu.Lock()
		br := b.br.Load()
		var tr breaker.Transition
		if tr, err = br.SetThresholds("hub:"+cmd.By, cmd.Reason, th); err == nil {
			_, err = b.commitLocked(ctx, br, tr, cmd.ID, &hubCommand{by: cmd.By, id: cmd.ID})
			b.mu.Unlock()
			return err
		}
		b.mu.Unlock()
	}
	ex := string(payload)
	if len(ex) > 200 {
		ex = ex[:200]
	}
	now := b.opts.Clock.Now()
	jerr := b.store.Do(ctx, func(tx *journal.Tx) error {
		tx.Append(wire.Entry{Kind: wire.KindNote, Trigger: wire.TriggerHub, Code: cmd.ID, At: wire.Time(now), Reason: "command_refused",
			Detail: fmt.Sprintf("hub command refused: %v; payload: %q", err, ex)})
		return nil
	})
	if jerr != nil {
		return fmt.Errorf("%w: %w (and journaling the refusal failed: %w)", ErrCommand, err, jerr)
	}
	return fmt.Errorf("%w: %w", ErrCommand, err)
}

// observe feeds one observation of the backlog to the breaker and commits the transition it
// causes; with the breaker closed it releases held orders left by a race with intake. It reports
// whether it wrote to the journal.
func (b *Breaker) observe(ctx context.Context, pending, held []order.Order, now time.Time) (wrote bool) {
	st := breaker.Backlog(pending, now)
	b.mu.Lock()
	defer b.mu.Unlock()
	br := b.br.Load()
	tr := br.Observe(st.Backlog, st.AvgWait)
	switch {
	case tr.Changed():
		if _, err := b.commitLocked(ctx, br, tr, "", nil); err != nil {
			b.log.Error("breaker change not journaled", logging.Err(err))
		}
		return true
	case !br.Open() && len(held) > 0:
		// Held while the breaker was closing: release them now (arrival order).
		hs := arrival(b.store, held)
		err := b.store.Do(ctx, func(tx *journal.Tx) error {
			releaseHeld(tx, b.m, hs, now, wire.TriggerSystem, "", "熔断已关闭 / breaker closed")
			return nil
		})
		if err != nil {
			b.log.Error("held orders not released", logging.Err(err))
		}
		return true
	}
	return false
}

// hubCommand is who sent a hub command that set the thresholds, and its id.
type hubCommand struct{ by, id string }

// commitLocked journals tr (from br) with the breaker state, releasing the held orders when it
// closed, then calls onChange. Thresholds set by a hub command (hub) are recorded as its in the
// settings record, in the same transaction. On a failed commit the breaker is restored to its
// state before tr. mu must be held.
func (b *Breaker) commitLocked(ctx context.Context, br *breaker.Breaker, tr breaker.Transition, code string, hub *hubCommand) (released int, err error) {
	state, _ := json.Marshal(br.State())
	var rec *settingsRecord
	if tr.Event == breaker.EventThresholds && b.book != nil {
		r := b.book.record()
		if hub != nil {
			r = b.book.withHub(tr.Thresholds, tr.At, hub.by, hub.id)
		}
		rec = &r
	}
	var held []breaker.Held // read before the transaction (no read inside a write); re-checked in it
	if !tr.Open {
		var orders []order.Order
		if err := b.store.ForEachOrder(order.Held, func(o order.Order) bool { orders = append(orders, o); return true }); err != nil {
			b.restore(br, tr)
			return 0, fmt.Errorf("%w: read held orders: %w", ErrCommit, err)
		}
		held = arrival(b.store, orders)
	}
	err = b.store.Do(ctx, func(tx *journal.Tx) error {
		e := tr.Entry()
		if code != "" {
			e.Code = code
		}
		tx.Append(e)
		tx.SetMeta(MetaBreaker, state)
		if rec != nil {
			rb, _ := json.Marshal(rec)
			tx.SetMeta(MetaSettings, rb)
		}
		released = 0
		if !tr.Open && (tr.Event == breaker.EventClose || tr.Event == breaker.EventReset) {
			trig, detail := wire.TriggerSystem, "熔断自动关闭，暂停订单按到达顺序进入待分仓 / breaker closed by itself: held orders released in arrival order"
			if tr.Event == breaker.EventReset {
				trig, detail = wire.TriggerManual, "主管复位熔断："+tr.Reason+" / breaker reset by a supervisor: held orders released in arrival order"
			}
			released = releaseHeld(tx, b.m, held, tr.At, trig, tr.By, detail)
		}
		return nil
	})
	if err != nil {
		b.restore(br, tr)
		return 0, fmt.Errorf("%w: breaker %s not journaled, kept the previous state: %w", ErrCommit, tr.Event, err)
	}
	if rec != nil {
		b.book.set(*rec, tr.Thresholds)
	}
	b.log.Info("breaker "+tr.Event, "open", tr.Open, "by", tr.By, "reason", tr.Reason, "backlog", tr.Backlog,
		"avg_wait", tr.AvgWait, "thresholds", tr.Thresholds.String(), "released", released)
	if b.onChange != nil {
		b.onChange(tr)
	}
	return released, nil
}

// restore replaces the breaker by one in the state before tr (a commit failed).
func (b *Breaker) restore(br *breaker.Breaker, tr breaker.Transition) {
	prev := br.State()
	switch tr.Event {
	case breaker.EventOpen, breaker.EventClose, breaker.EventReset:
		prev.Open = !tr.Open
		prev.BelowSince, prev.GraceUntil = time.Time{}, time.Time{}
	case breaker.EventThresholds:
		if tr.Previous != nil {
			prev.Thresholds = *tr.Previous
		}
	}
	th := prev.Thresholds
	o := b.opts
	o.MaxBacklog, o.MaxAvgWait, o.CloseRatio, o.CloseAfter, o.Initial = th.MaxBacklog, th.MaxAvgWait, th.CloseRatio, th.CloseAfter, &prev
	if nb, err := breaker.New(o); err == nil {
		b.br.Store(nb)
	}
}

// releaseHeld moves every held order to 待分仓 in arrival order inside tx (order.ActRelease, one
// step entry each, detail saying why) and returns how many.
func releaseHeld(tx *journal.Tx, m *metrics.Metrics, held []breaker.Held, now time.Time, trigger, by, detail string) int {
	n := 0
	src := order.Source{Trigger: trigger, Operator: by, At: now}
	for _, h := range breaker.ReleaseOrder(held) {
		o, ok := tx.Order(h.Order.ID)
		if !ok || o.State != order.Held {
			continue
		}
		d := order.Decide(o, order.Request{Action: order.ActRelease, At: now}, src)
		if d.Outcome.Result != order.Accepted {
			continue
		}
		d.Entry.Detail = detail
		tx.Commit(d)
		m.Step(d.Outcome.From, d.Outcome.To, trigger)
		n++
	}
	return n
}

// arrival pairs held orders with the journal seq of their intake entry, which orders arrivals of
// the same instant (read outside any write transaction; 0 if unknown).
func arrival(store *journal.Store, orders []order.Order) []breaker.Held {
	held := make([]breaker.Held, 0, len(orders))
	for _, o := range orders {
		var seq uint64
		if h, err := store.History(o.ID); err == nil {
			for _, e := range h {
				if e.Kind == wire.KindIntake {
					seq = e.Seq
					break
				}
			}
		}
		held = append(held, breaker.Held{Order: o, Seq: seq})
	}
	return held
}
