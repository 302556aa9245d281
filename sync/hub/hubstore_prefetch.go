package hub

import "wedge/sync/wire"

// Prefetch is what the group is about to use for one batch of a journal (Tx.Prefetch): the
// journal's record and its agent's, the entries and pending entries at Seqs (and around them), and
// the order records of Orders. A store that answers over a network reads them ahead in one or two
// round trips instead of one per call; it takes the journal's lock (see Tx.Journal) at the
// latest when it reads the record, and the orders' locks no earlier than the first Order call of
// one of them.
type Prefetch struct {
	Site, Agent, Journal string
	Seqs                 []uint64
	Orders               []string
}

// prefetch tells the store what batch b of site/agent will use: called before the journal's
// record is read, so a store can take the journal's lock in the same round trip.
func (g *group) prefetch(site, agent string, b *wire.Batch) error {
	p := Prefetch{Site: site, Agent: agent, Journal: b.JournalID}
	for _, e := range b.Events {
		if e.JournalID != b.JournalID || e.Seq == 0 {
			continue // skipped by batch
		}
		p.Seqs = append(p.Seqs, e.Seq)
		if id := entryOrderID(e); id != "" {
			p.Orders = append(p.Orders, id)
		}
	}
	return g.tx.Prefetch(p)
}
