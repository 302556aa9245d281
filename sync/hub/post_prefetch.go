package hub

// prefetchPost names the orders of a POST to the store before post reads the first of them, as
// the ingest's prefetch does for a batch: a store that answers over a network (PostgreSQL) then
// locks and reads them, and their index rows, in one round trip at the first Order call instead
// of one per message. bbolt ignores it.
func (g *group) prefetchPost(p *postReq) error {
	ids := make([]string, 0, len(p.msgs))
	for _, m := range p.msgs {
		if id := m.ID(); validOrderID(id) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	return g.tx.Prefetch(Prefetch{Site: p.site, Orders: ids})
}
