package oversight

import (
	"sync"

	"wedge/agent/console"
	"wedge/agent/journal"
	"wedge/internal/clock"
	"wedge/order"
	"wedge/sync/wire"
)

// Device and station names of intake's refusals in the console's scan feed.
const (
	FeedStationHub = "hub"
	FeedDeviceHub  = "intake"
)

// refusalFeed shows the orders the hub sent that broke the data contract (reject entries with
// reason contract_violation, journaled by intake, outside any station) in the console's scan feed,
// so that a supervisor sees an order that never entered 待分仓. It reads the journal entries
// committed since its last look, from where the journal stood when the agent started.
type refusalFeed struct {
	store *journal.Store
	clk   clock.Clock

	mu    sync.Mutex
	after uint64
}

// feedPage bounds one read of the journal.
const feedPage = 500

// poll publishes the contract refusals committed since the last poll.
func (f *refusalFeed) poll(publish func(console.Scan)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for {
		es, err := f.store.Entries(f.after, feedPage, 1<<20)
		if err != nil || len(es) == 0 {
			return
		}
		for _, e := range es {
			if e.Kind != wire.KindReject || e.Reason != string(order.ReasonContract) {
				continue
			}
			s := console.Scan{At: f.clk.Now(), Station: FeedStationHub, Device: FeedDeviceHub, Code: e.Code, OrderID: e.OrderID,
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
			publish(s)
		}
		f.after = es[len(es)-1].Seq
		if len(es) < feedPage {
			return
		}
	}
}
