package supervise

import (
	"context"
	"errors"
	"fmt"

	"wedge/agent/console"
	"wedge/agent/journal"
	"wedge/agent/station"
	"wedge/order"
	"wedge/sync/wire"
)

// source is the console.Source of a Supervisor.
type source Supervisor

var (
	_ console.Source     = (*source)(nil)
	_ console.AlertAcker = (*source)(nil)
)

func (src *source) Snapshot() console.Snapshot {
	s := (*Supervisor)(src)
	now := s.clk.Now()
	k := s.kpiNow(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	counts := make(map[order.State]int, len(s.counts))
	for st, n := range s.counts {
		counts[st] = n
	}
	var devs []console.Device
	if s.opts.Devices != nil {
		devs = s.opts.Devices()
	}
	sy := s.lastSync
	if s.opts.Sync != nil {
		sy = s.opts.Sync()
	}
	return console.Snapshot{Site: s.opts.Site, Agent: s.opts.Agent, At: now, Counts: counts, Backlog: s.stats,
		Breaker: s.Breaker(), KPI: k, Devices: devs, Sync: sy, Overdue: append([]console.OrderRow(nil), s.overdue...)}
}

func (src *source) Search(ctx context.Context, code string) (console.OrderView, error) {
	s := (*Supervisor)(src)
	o, ok, err := s.store.FindOrder(code)
	if err != nil {
		return console.OrderView{}, err
	}
	if !ok {
		return console.OrderView{}, fmt.Errorf("%w: %q", console.ErrNotFound, code)
	}
	h, err := s.store.History(o.ID)
	if err != nil {
		return console.OrderView{}, err
	}
	v := console.OrderView{Order: o, History: h}
	if a, ok := order.Next(o.State); ok {
		v.Next = a
	}
	return v, nil
}

func (src *source) Confirm(ctx context.Context, req console.ConfirmRequest) (console.ConfirmResult, error) {
	s := (*Supervisor)(src)
	mr := station.ManualRequest{Code: req.OrderID, Operator: req.Operator, Note: req.Note, Device: DeviceConsole}
	if req.Note != "" && req.By != "" {
		mr.Note = req.Note + " (confirmed by " + req.By + ")"
	}
	var r station.Result
	if s.opts.Confirm != nil {
		r = s.opts.Confirm(ctx, mr)
	} else {
		r = station.Confirm(ctx, s.store, mr, s.clk)
	}
	if errors.Is(r.Err, station.ErrNotFound) {
		return console.ConfirmResult{}, fmt.Errorf("%w: %q", console.ErrNotFound, req.OrderID)
	}
	if r.Err != nil {
		return console.ConfirmResult{}, r.Err
	}
	if s.opts.Confirm == nil {
		s.OnResult(r)
	}
	return console.ConfirmResult{OK: r.Good(), From: r.Outcome.From, To: r.Outcome.To, Message: r.Message}, nil
}

func (src *source) ResetBreaker(ctx context.Context, by, reason string) error {
	_, err := (*Supervisor)(src).Reset(ctx, by, reason)
	return err
}

// AckAlert journals an acknowledged popup as a note.
func (src *source) AckAlert(ctx context.Context, a console.Alert) error {
	s := (*Supervisor)(src)
	now := s.clk.Now()
	return s.store.Do(ctx, func(tx *journal.Tx) error {
		tx.Append(wire.Entry{Kind: wire.KindNote, Trigger: wire.TriggerManual, Operator: a.AckedBy, At: wire.Time(now),
			Reason: "alert_acked", Code: a.ID, Detail: "popup acknowledged: " + a.Kind + ": " + a.Title.ZH + " / " + a.Title.EN})
		return nil
	})
}
