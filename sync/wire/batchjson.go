package wire

// AppendJSON appends b's JSON encoding to dst: exactly the bytes json.Marshal(b) writes (tests
// compare the two), each entry written by Entry.AppendJSON. The uplink encodes every batch it
// publishes with it.
func (b *Batch) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"site":`...)
	dst = appendJSONString(dst, b.Site)
	dst = append(dst, `,"agent":`...)
	dst = appendJSONString(dst, b.Agent)
	dst = append(dst, `,"journal_id":`...)
	dst = appendJSONString(dst, b.JournalID)
	if b.Events == nil {
		return append(dst, `,"events":null}`...)
	}
	dst = append(dst, `,"events":[`...)
	for i := range b.Events {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = b.Events[i].AppendJSON(dst)
	}
	return append(dst, "]}"...)
}
