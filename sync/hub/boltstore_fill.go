package hub

import bolt "go.etcd.io/bbolt"

// appendFill is the fill of the buckets whose keys mostly come in ascending order: a journal's
// entries arrive seq after seq, so a page is split where it is full rather than in halves (bbolt's
// default, 0.5) that the next keys never land in. Each commit writes about half as many pages of
// entries (a sixth fewer pages in all on the ingest benchmark). A key that does land in a full
// page (an entry that waited for its predecessor) still splits it; nothing is read differently.
// bbolt keeps FillPercent per transaction, so it is set on every writable one.
const appendFill = 1.0

// setFill sets the fill of the append-mostly buckets of a writable transaction.
func setFill(tx *bolt.Tx) {
	if b := tx.Bucket(bktEntries); b != nil {
		b.FillPercent = appendFill
	}
}
