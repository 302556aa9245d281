package hub

import "wedge/sync/wire"

// groupScratch are the maps a group fills per entry (the orders it read and wrote, the hashes
// of the entries it stored, its queued state messages), kept by the owner from one group to the
// next and emptied in between: a group of a thousand entries otherwise grows each from nothing,
// rehashing at every doubling, and its state messages' slice copies itself as often. Only the
// owner's groups (Hub.commit, one at a time) use them; nothing of a group is used after its
// commit returns.
type groupScratch struct {
	recs    map[string]orderRec
	hashes  map[EntryKey]string
	states  map[string][]wire.OrderMsg
	stateAt map[[2]string]int
}

// scratchKeep is the most entries a kept map or slice may have held: after a larger group (a
// catch-up of a long outage) they are dropped rather than held at that size for good.
const scratchKeep = 1 << 13

// lend empties the maps and hands them to g.
func (s *groupScratch) lend(g *group) {
	if s.recs == nil || len(s.recs) > scratchKeep || len(s.hashes) > scratchKeep || len(s.stateAt) > scratchKeep {
		s.recs, s.hashes = map[string]orderRec{}, map[EntryKey]string{}
		s.states, s.stateAt = map[string][]wire.OrderMsg{}, map[[2]string]int{}
	}
	clear(s.recs)
	clear(s.hashes)
	clear(s.stateAt)
	for site, msgs := range s.states {
		if cap(msgs) > scratchKeep {
			delete(s.states, site)
			continue
		}
		clear(msgs) // nothing of the last group stays reachable
		s.states[site] = msgs[:0]
	}
	g.recs, g.hashes, g.states, g.stateAt = s.recs, s.hashes, s.states, s.stateAt
}
