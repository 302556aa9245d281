package hub

// postMsgWeight is what one POSTed message counts toward maxGroupBytes: about the JSON of an order
// message. A POST's item carries no payload, so POSTs used to count nothing: a burst of them went
// into one transaction (32,000 orders, seconds of the owner's time), while the agents' batches
// (their intake entries of the same orders) waited behind it and the transaction's B+tree leaves
// grew without a split.
const postMsgWeight = 256

// groupWeight is what item it counts toward maxGroupBytes.
func groupWeight(it item) int {
	w := len(it.payload)
	if it.post != nil {
		w += postMsgWeight * len(it.post.msgs)
	}
	return w
}
