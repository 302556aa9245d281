package oversight

import (
	"sync"
	"time"

	"wedge/agent/console"
	"wedge/agent/journal"
	"wedge/order"
	"wedge/sync/wire"
)

// Device and station names of intake's refusals in the console's scan feed.
const (
	FeedStationHub = "hub"
	FeedDeviceHub  = "intake"
)

// entryFeed reads the journal entries committed since its last look, from where the journal stood
// when the agent started, for what the oversight learns from committed entries outside any
// station: intake's refusals (refusalScan) and the orders' arrival (intakeWatch).
type entryFeed struct {
	store *journal.Store

	mu    sync.Mutex
	after uint64
}

// feedPage bounds one read of the journal.
const feedPage = 500

// poll calls visit with every entry committed since the last poll, in seq order.
func (f *entryFeed) poll(visit func(wire.Entry)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for {
		es, err := f.store.Entries(f.after, feedPage, 1<<20)
		if err != nil || len(es) == 0 {
			return
		}
		for _, e := range es {
			visit(e)
		}
		f.after = es[len(es)-1].Seq
		if len(es) < feedPage {
			return
		}
	}
}

// refusalScan is the scan feed's line for an order the hub sent that broke the data contract (a
// reject entry with reason contract_violation, journaled by intake), so that a supervisor sees an
// order that never entered 待分仓; ok is false for any other entry. now stands in for an entry
// without a readable time.
func refusalScan(e wire.Entry, now time.Time) (s console.Scan, ok bool) {
	if e.Kind != wire.KindReject || e.Reason != string(order.ReasonContract) {
		return s, false
	}
	s = console.Scan{At: now, Station: FeedStationHub, Device: FeedDeviceHub, Code: e.Code, OrderID: e.OrderID,
		Result: "rejected", Reason: order.ReasonContract, Message: order.ReasonContract.Message("")}
	if at, err := wire.ParseTime(e.At); err == nil && !at.IsZero() {
		s.At = at
	}
	if e.Order != nil && e.Order.ChannelOrderNo != "" {
		s.Code = e.Order.ChannelOrderNo
	}
	if e.Detail != "" {
		s.Message.ZH += "：" + e.Detail
		s.Message.EN += ": " + e.Detail
	}
	return s, true
}
