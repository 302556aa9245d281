package central

import (
	"math"
	"sort"
	"time"

	"wedge/order"
	"wedge/sync/wire"
)

// PresaleOrder is one presale order in the watch.
type PresaleOrder struct {
	OrderID       string  `json:"order_id"`
	Site          string  `json:"site"`
	State         string  `json:"state"`
	BalancePaidAt string  `json:"balance_paid_at,omitempty"`
	PendingAt     string  `json:"pending_at,omitempty"` // reached 待分仓 (a PC's step), "" : not yet
	Hours         float64 `json:"hours,omitempty"`      // balance → 待分仓 (or → now while not reached)
}

// Presale is GET /v1/presale.
type Presale struct {
	LimitHours      float64        `json:"limit_hours"`
	AwaitingBalance []PresaleOrder `json:"awaiting_balance"` // 待付尾款
	Deposits        int            `json:"deposits"`         // orders paid by deposit
	BalancePaid     int            `json:"balance_paid"`     // of which the balance was paid
	Conversion      float64        `json:"conversion"`       // BalancePaid/Deposits (0 without deposits)
	// Suspect (疑似异常): balance paid, and 待分仓 reached later than the limit or not at all past it.
	Suspect []PresaleOrder `json:"suspect"`
	// AvgHoursToPending is the mean time from the balance to 待分仓 over Reached orders.
	AvgHoursToPending float64 `json:"avg_hours_to_pending"`
	Reached           int     `json:"reached"`
	// AwaitingCount and SuspectCount are the lists' whole lengths (an answer may cut the lists).
	AwaitingCount int `json:"awaiting_count"`
	SuspectCount  int `json:"suspect_count"`
}

// balanceAndPending finds when the balance was paid (the hub's record of the order system's
// message, else the PC's step out of 待付尾款) and when a PC first moved the order into 待分仓.
func balanceAndPending(o Order) (paid, pending time.Time) {
	paid = o.BalancePaidAt
	for _, e := range o.History {
		if e.Kind != wire.KindStep || e.At.IsZero() {
			continue
		}
		if paid.IsZero() && e.From == string(order.AwaitingBalance) {
			paid = e.At
		}
		if e.To == string(order.PendingAllocation) && (pending.IsZero() || e.At.Before(pending)) {
			pending = e.At
		}
	}
	return paid, pending
}

func hours(d time.Duration) float64 { return math.Round(d.Hours()*100) / 100 }

// Presale watches the deposit orders of site ("" = all) at now.
func (m *Measures) Presale(orders []Order, site string, now time.Time) Presale {
	p := Presale{LimitHours: m.o.PresaleLimit.Hours(), AwaitingBalance: []PresaleOrder{}, Suspect: []PresaleOrder{}}
	var total time.Duration
	for _, o := range orders {
		if site != "" && o.Site != site || o.Payment != order.PaymentDeposit && o.State != order.AwaitingBalance {
			continue
		}
		p.Deposits++
		paid, pending := balanceAndPending(o)
		po := PresaleOrder{OrderID: o.ID, Site: o.Site, State: string(o.State)}
		if o.State == order.AwaitingBalance && paid.IsZero() {
			p.AwaitingBalance = append(p.AwaitingBalance, po)
			continue
		}
		if paid.IsZero() {
			continue // cancelled before its balance, or past 待分仓 without a known balance time
		}
		p.BalancePaid++
		po.BalancePaidAt = wire.Time(paid)
		end := now
		if !pending.IsZero() {
			po.PendingAt = wire.Time(pending)
			end = pending
			p.Reached++
			total += pending.Sub(paid)
		}
		po.Hours = hours(end.Sub(paid))
		if end.Sub(paid) > m.o.PresaleLimit && o.State != order.Cancelled {
			p.Suspect = append(p.Suspect, po)
		}
	}
	if p.Deposits > 0 {
		p.Conversion = float64(p.BalancePaid) / float64(p.Deposits)
	}
	if p.Reached > 0 {
		p.AvgHoursToPending = hours(total / time.Duration(p.Reached))
	}
	byID := func(s []PresaleOrder) {
		sort.Slice(s, func(i, j int) bool {
			return s[i].Site < s[j].Site || s[i].Site == s[j].Site && s[i].OrderID < s[j].OrderID
		})
	}
	byID(p.AwaitingBalance)
	byID(p.Suspect)
	p.AwaitingCount, p.SuspectCount = len(p.AwaitingBalance), len(p.Suspect)
	return p
}
