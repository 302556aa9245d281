package central

import (
	"sort"
	"time"

	"wedge/order"
	"wedge/sync/wire"
)

// AgentState is the last state one PC journaled for an order.
type AgentState struct {
	Agent string `json:"agent"`
	State string `json:"state"`
	At    string `json:"at"`
	Kind  string `json:"kind"` // the entry that set it (step, merge, intake)
}

// Disagreement is an order on which a PC and the hub disagree.
type Disagreement struct {
	OrderID  string       `json:"order_id"`
	Site     string       `json:"site"`
	HubState string       `json:"hub_state"`
	Agents   []AgentState `json:"agents"` // every PC that journaled the order, the disagreeing ones marked by their state
}

// SiteConsistency is one site's ratio.
type SiteConsistency struct {
	Site     string  `json:"site"`
	Compared int     `json:"compared"`
	Agree    int     `json:"agree"`
	Ratio    float64 `json:"ratio"`
	Level    string  `json:"level"`
}

// Consistency is GET /v1/consistency.
type Consistency struct {
	Goal     float64           `json:"goal"`
	Warn     float64           `json:"warn"`
	Compared int               `json:"compared"` // orders with at least one PC's state, not settling
	Agree    int               `json:"agree"`
	Settling int               `json:"settling"` // changed at the hub less than Settle ago: not compared yet
	Ratio    float64           `json:"ratio"`    // Agree/Compared (1 when nothing compared)
	Level    string            `json:"level"`
	Sites    []SiteConsistency `json:"sites"`
	Orders   []Disagreement    `json:"orders"`
}

// comparable maps a state to what is compared: 暂停进入 counts as 待分仓, because the backlog
// breaker is per PC (one PC holds what its siblings have in 待分仓).
func comparable(s string) string {
	if s == string(order.Held) {
		return string(order.PendingAllocation)
	}
	return s
}

// agentStates is the last state each PC of the order's site journaled (by At, then seq).
func agentStates(o Order) []AgentState {
	last := map[string]Entry{}
	for _, e := range o.History {
		if e.To == "" || e.Site != o.Site || (e.Kind != wire.KindStep && e.Kind != wire.KindMerge && e.Kind != wire.KindIntake) {
			continue
		}
		p, ok := last[e.Agent]
		if !ok || e.At.After(p.At) || e.At.Equal(p.At) && e.Seq > p.Seq {
			last[e.Agent] = e
		}
	}
	out := make([]AgentState, 0, len(last))
	for a, e := range last {
		out = append(out, AgentState{Agent: a, State: e.To, At: wire.Time(e.At), Kind: e.Kind})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Agent < out[j].Agent })
	return out
}

// Consistency compares, order by order, each PC's last journaled state with the hub's at now.
func (m *Measures) Consistency(orders []Order, site string, now time.Time) Consistency {
	c := Consistency{Goal: m.o.ConsistencyGoal, Warn: m.o.ConsistencyWarn, Sites: []SiteConsistency{}, Orders: []Disagreement{}}
	sites := map[string]*SiteConsistency{}
	for _, o := range orders {
		if site != "" && o.Site != site {
			continue
		}
		states := agentStates(o)
		if len(states) == 0 {
			continue
		}
		if now.Sub(o.UpdatedAt) < m.o.Settle {
			c.Settling++
			continue
		}
		s := sites[o.Site]
		if s == nil {
			s = &SiteConsistency{Site: o.Site}
			sites[o.Site] = s
		}
		s.Compared++
		c.Compared++
		agree := true
		for _, a := range states {
			agree = agree && comparable(a.State) == comparable(string(o.State))
		}
		if agree {
			s.Agree++
			c.Agree++
			continue
		}
		c.Orders = append(c.Orders, Disagreement{OrderID: o.ID, Site: o.Site, HubState: string(o.State), Agents: states})
	}
	c.Ratio, c.Level = m.ratio(c.Agree, c.Compared)
	for _, s := range sites {
		s.Ratio, s.Level = m.ratio(s.Agree, s.Compared)
		c.Sites = append(c.Sites, *s)
	}
	sort.Slice(c.Sites, func(i, j int) bool { return c.Sites[i].Site < c.Sites[j].Site })
	sort.Slice(c.Orders, func(i, j int) bool {
		a, b := c.Orders[i], c.Orders[j]
		return a.Site < b.Site || a.Site == b.Site && a.OrderID < b.OrderID
	})
	return c
}

// ratio grades agree/compared against the consistency goal and warning.
func (m *Measures) ratio(agree, compared int) (float64, string) {
	if compared == 0 {
		return 1, "none"
	}
	r := float64(agree) / float64(compared)
	switch {
	case r >= m.o.ConsistencyGoal:
		return r, "ok"
	case r >= m.o.ConsistencyWarn:
		return r, "warn"
	}
	return r, "bad"
}
