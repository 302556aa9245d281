package hub

// LastHSeq is the sequence of the site's downlink bucket: NextHSeq allocates from it, and only one
// read-write transaction runs at a time, so it is the last hseq committed (or this one's own).
func (t boltTx) LastHSeq(site string) (uint64, error) {
	sb := t.tx.Bucket(bktDownlink).Bucket([]byte(site))
	if sb == nil {
		return 0, nil
	}
	return sb.Sequence(), nil
}
