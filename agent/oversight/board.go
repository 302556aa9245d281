package oversight

import (
	"cmp"
	"maps"
	"slices"
	"sync"
	"time"

	"wedge/agent/breaker"
	"wedge/agent/console"
	"wedge/agent/latency"
	"wedge/order"
)

// MaxOverdueRows bounds the overdue rows on the board.
const MaxOverdueRows = 50

// board is what the console's board shows between observations: the counts per state, the backlog
// measurements, the overdue rows and the uplink's state as of the last observation. Devices are
// read fresh for every snapshot.
type board struct {
	site, agent string
	devices     func() []console.Device // nil: none
	sync        func() console.Sync     // nil: the last observation's

	mu       sync.Mutex
	counts   map[order.State]int
	stats    breaker.Stats
	overdue  []console.OrderRow
	lastSync console.Sync
	intake   latency.Stats
}

// setIntake stores the intake latency window's last measurement.
func (b *board) setIntake(s latency.Stats) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.intake = s
}

// set stores an observation.
func (b *board) set(counts map[order.State]int, st breaker.Stats, overdue []console.OrderRow, sy console.Sync) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.counts, b.stats, b.overdue, b.lastSync = counts, st, overdue, sy
}

// snapshot is the board at now with the breaker's state and the KPI. It returns fresh maps and
// slices (the console encodes them on other goroutines).
func (b *board) snapshot(now time.Time, br breaker.State, k console.KPI) console.Snapshot {
	var devs []console.Device
	if b.devices != nil {
		devs = b.devices()
	}
	b.mu.Lock()
	counts := maps.Clone(b.counts)
	if counts == nil {
		counts = map[order.State]int{}
	}
	st, sy, rows, lat := b.stats, b.lastSync, append([]console.OrderRow(nil), b.overdue...), b.intake
	lat.Buckets, lat.Bounds = slices.Clone(lat.Buckets), slices.Clone(lat.Bounds)
	b.mu.Unlock()
	if b.sync != nil {
		sy = b.sync()
	}
	return console.Snapshot{Site: b.site, Agent: b.agent, At: now, Counts: counts, Backlog: st,
		Breaker: br, KPI: k, Devices: devs, Sync: sy, Overdue: rows, Intake: lat}
}

// overdueRows are the board's overdue rows among pending: oldest first, at most MaxOverdueRows.
func overdueRows(pending []order.Order) []console.OrderRow {
	var rows []console.OrderRow
	for _, o := range pending {
		if o.Overdue {
			rows = append(rows, console.OrderRow{ID: o.ID, ChannelOrderNo: o.ChannelOrderNo, State: o.State, Since: o.OverdueSince(), Overdue: true})
		}
	}
	slices.SortFunc(rows, func(a, b console.OrderRow) int { return cmp.Or(a.Since.Compare(b.Since), cmp.Compare(a.ID, b.ID)) })
	if len(rows) > MaxOverdueRows {
		rows = rows[:MaxOverdueRows]
	}
	return rows
}
