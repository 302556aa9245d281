package hub

// DownlinkEndTx reads where a site's downlink log ends, so that a catch-up can stop there
// (catchup.go): what is committed after the request was recorded is published live.
type DownlinkEndTx interface {
	// LastHSeq is the site's last allocated downlink hseq as this transaction sees it (0 when the
	// site has none): every hseq up to it is committed, or allocated by this transaction itself.
	// In an Update on a shared store it is the last one committed when it is read, so any hseq
	// above it is committed after the read. It locks nothing.
	LastHSeq(site string) (uint64, error)
}
