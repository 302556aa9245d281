package hub

import (
	"context"
	"fmt"
	"time"

	"wedge/order"
	"wedge/sync/hub/hubconsole"
	"wedge/sync/wire"
)

// The central console (hubconsole) at /console/: the hub gives it its API route table, so signed-in
// users reach the same handlers as tokens (a console breaker command is stored and audited like an
// API one, by "console:<user>"), and the overview below, rebuilt after every commit and every few
// seconds. The overview reads through the hub's own query functions (agents, agentCommands), so it
// works on every Store.

// Overview is what the central console pushes: the network by site, then agent.
type Overview struct {
	At    string         `json:"at"` // hub clock
	Sites []SiteOverview `json:"sites"`
	// OrdersPerState are the hub's order counts (all sites).
	OrdersPerState map[string]uint64 `json:"orders_per_state"`
}

// SiteOverview is one site: its agents and sums over them.
type SiteOverview struct {
	Site           string          `json:"site"`
	Agents         []AgentOverview `json:"agents"`
	Online         int             `json:"online"`
	BreakersOpen   int             `json:"breakers_open"`
	Unsynced       uint64          `json:"unsynced"`
	SettingsDiffer bool            `json:"settings_differ"`
	// Backlog is the site's 待分仓 as the hub's central index has it (nil: none).
	Backlog *BacklogView `json:"backlog,omitempty"`
}

// BacklogView is a site's 待分仓 backlog: how many orders, their average and longest wait (from
// when each entered 暂停进入 or 待分仓, by the hub's clock), as Go durations rounded to the second.
type BacklogView struct {
	Count   int    `json:"count"`
	AvgWait string `json:"avg_wait"`
	MaxWait string `json:"max_wait"`
}

// AgentOverview is one agent as GET /v1/agents shows it, with its last threshold command.
type AgentOverview struct {
	agentRec
	// Thresholds is the last breaker_thresholds command the hub sent it (nil: none; the agent runs
	// the thresholds of its file, and SettingsOverrides says what a command changed).
	Thresholds *ThresholdsView `json:"thresholds,omitempty"`
}

// ThresholdsView is a threshold command as the console shows it: the policy it states (defaults
// filled in) and who sent it when.
type ThresholdsView struct {
	CommandID  string  `json:"command_id"`
	By         string  `json:"by"`
	At         string  `json:"at"`
	Reason     string  `json:"reason,omitempty"`
	MaxBacklog int     `json:"max_backlog"`
	MaxAvgWait string  `json:"max_avg_wait"`
	CloseRatio float64 `json:"close_ratio"`
	CloseAfter string  `json:"close_after"`
}

// overview builds the console's overview.
func (h *Hub) overview(ctx context.Context) (any, error) {
	agents, err := h.agents(ctx)
	if err != nil {
		return nil, err
	}
	now := h.clk.Now()
	last := make([]*ThresholdsView, len(agents))
	var backlogs map[string]*BacklogView
	err = h.db.View(ctx, func(tx Tx) error {
		for i, a := range agents {
			cmds, err := agentCommands(tx, a.Site, a.Agent)
			if err != nil {
				return err
			}
			last[i] = lastThresholds(cmds)
		}
		backlogs, err = siteBacklogs(tx, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	ov := Overview{At: wire.Time(now), Sites: []SiteOverview{}, OrdersPerState: h.Stats().OrdersPerState}
	for i, a := range agents {
		if n := len(ov.Sites); n == 0 || ov.Sites[n-1].Site != a.Site {
			ov.Sites = append(ov.Sites, SiteOverview{Site: a.Site, Backlog: backlogs[a.Site]})
		}
		s := &ov.Sites[len(ov.Sites)-1]
		s.Agents = append(s.Agents, AgentOverview{agentRec: a, Thresholds: last[i]})
		if a.Online {
			s.Online++
		}
		if a.Breaker {
			s.BreakersOpen++
		}
		s.Unsynced += a.Unsynced
		s.SettingsDiffer = s.SettingsDiffer || a.SettingsDiffer
	}
	return ov, nil
}

// siteBacklogs walks the central index's orders in 待分仓 (the list behind GET /v1/lists/overdue)
// and sums them per site. The backlog is bounded by the breakers (a few hundred per site), so a
// walk per overview is cheap.
func siteBacklogs(tx Tx, now time.Time) (map[string]*BacklogView, error) {
	type sum struct {
		n          int
		total, max time.Duration
	}
	sums := map[string]*sum{}
	err := tx.OrdersInState(string(order.PendingAllocation), ListFilter{}, func(ix OrderIndex) (bool, error) {
		s := sums[ix.Site]
		if s == nil {
			s = &sum{}
			sums[ix.Site] = s
		}
		s.n++
		if t, err := wire.ParseTime(ix.Since); err == nil && !t.IsZero() && now.After(t) {
			w := now.Sub(t)
			s.total += w
			s.max = max(s.max, w)
		}
		return true, nil
	})
	out := make(map[string]*BacklogView, len(sums))
	for site, s := range sums {
		out[site] = &BacklogView{Count: s.n, AvgWait: (s.total / time.Duration(s.n)).Round(time.Second).String(),
			MaxWait: s.max.Round(time.Second).String()}
	}
	return out, err
}

// lastThresholds is the newest readable threshold command of cmds (oldest first), or nil.
func lastThresholds(cmds []CommandRecord) *ThresholdsView {
	for i := len(cmds) - 1; i >= 0; i-- {
		c := cmds[i]
		if c.Type != order.CommandThresholds {
			continue
		}
		_, th, err := order.ParseCommand(c.Payload)
		if err != nil {
			continue // stored before a rule changed: the one before still says something
		}
		return &ThresholdsView{CommandID: c.ID, By: c.By, At: c.ReceivedAt, Reason: c.Reason, MaxBacklog: th.MaxBacklog,
			MaxAvgWait: th.MaxAvgWait.String(), CloseRatio: th.CloseRatio, CloseAfter: th.CloseAfter.String()}
	}
	return nil
}

// startConsole starts the central console when Options.Console has users.
func (h *Hub) startConsole() error {
	o := h.opts.Console
	if o == nil || len(o.Users) == 0 {
		return nil
	}
	opts := *o
	if opts.Clock == nil {
		opts.Clock = h.clk
	}
	if opts.Logger == nil {
		opts.Logger = h.log
	}
	var routes []hubconsole.Route
	for _, rt := range h.apiRoutes() {
		routes = append(routes, hubconsole.Route{Pattern: rt.pattern, Scope: rt.scope, Handler: rt.handler})
	}
	c, err := hubconsole.New(opts, routes, h.overview)
	if err != nil {
		return fmt.Errorf("%w: console: %w", ErrOptions, err)
	}
	h.console = c
	return nil
}
