package station

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"wedge/agent/journal"
	"wedge/internal/clock"
	"wedge/order"
	"wedge/sync/wire"
)

// ResolveRequest is a supervisor's resolution of an order's open intercept (the console's
// exception queue): order.Resolve's action, who and why.
type ResolveRequest struct {
	Code     string // order id, channel order no or waybill
	Action   string // order.ResolveRelease | ResolveCancel | ResolveReturnToStock | ResolveAcknowledge
	Operator string
	Note     string
	Station  string // optional: where it was resolved
	Device   string // default DeviceAPI
}

// Resolve journals a supervisor's resolution of an order's open intercept (trigger manual, with
// operator and note) in one transaction and returns after the commit; a refusal (no open
// intercept, no note, an action that does not fit) is journaled as a rejection. An unknown code
// returns a Result with ErrNotFound and journals nothing.
func Resolve(ctx context.Context, store *journal.Store, req ResolveRequest, clk clock.Clock) Result {
	m := manual{code: req.Code, operator: req.Operator, station: req.Station, device: req.Device}
	return m.run(ctx, store, clk, func(o order.Order, src order.Source, now time.Time, _ order.PickupPolicy) Decision {
		d := Decision{Decision: order.Resolve(o, order.Resolution{Action: req.Action, Operator: req.Operator, Note: req.Note, At: now}, src)}
		if d.Outcome.Result == order.Accepted {
			m := order.Message{ZH: "拦截已处理：" + resolutionZH(req.Action) + "（订单 " + o.ID + "）",
				EN: "Intercept resolved: " + strings.ReplaceAll(req.Action, "_", " ") + " (order " + o.ID + ")"}
			d.Message = &m
		} else if d.Outcome.Detail != "" {
			d.Entry.Detail = order.Excerpt(d.Outcome.Detail+"; note: "+req.Note, order.MaxExcerpt)
		}
		return d
	})
}

// resolutionZH names a resolution for the operator.
func resolutionZH(action string) string {
	switch action {
	case order.ResolveRelease:
		return "放行"
	case order.ResolveCancel:
		return "取消订单"
	case order.ResolveReturnToStock:
		return "退回库存"
	case order.ResolveAcknowledge:
		return "已联系快递"
	}
	return action
}

// ExceptionQueue lists the orders with an open intercept (the console's exception queue). The
// first List reads every order; later ones read only the journal entries committed since and
// re-read the orders they name, so the queue costs a full scan once per process. Its methods are
// safe for concurrent use.
type ExceptionQueue struct {
	store *journal.Store

	mu    sync.Mutex
	built bool
	seq   uint64              // journal entries read up to here
	ids   map[string]struct{} // orders that may have an open intercept
}

// NewExceptionQueue returns the exception queue of store.
func NewExceptionQueue(store *journal.Store) *ExceptionQueue {
	return &ExceptionQueue{store: store, ids: map[string]struct{}{}}
}

// List returns the orders with an open intercept, oldest intercept first: those whose parcel is
// stopped (order.Order.Intercepted) and those intercepted after pickup.
func (q *ExceptionQueue) List(ctx context.Context) ([]order.Order, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.built {
		last := q.store.LastSeq() // entries after it are read below (a second look is harmless)
		err := q.store.ForEachOrder("", func(o order.Order) bool {
			if o.Intercept.Open() {
				q.ids[o.ID] = struct{}{}
			}
			return ctx.Err() == nil
		})
		if err == nil {
			err = ctx.Err()
		}
		if err != nil {
			return nil, err
		}
		q.seq, q.built = last, true
	}
	for {
		es, err := q.store.Entries(q.seq, 1000, 1<<20)
		if err != nil {
			return nil, err
		}
		if len(es) == 0 {
			break
		}
		for _, e := range es {
			if e.OrderID != "" && (e.Intercept != "" || e.Kind == wire.KindIntercept) {
				q.ids[e.OrderID] = struct{}{}
			}
			q.seq = e.Seq
		}
	}
	var out []order.Order
	for id := range q.ids {
		o, ok, err := q.store.Order(id)
		if err != nil {
			return nil, err
		}
		if !ok || !o.Intercept.Open() || (o.Intercept.Status == wire.InterceptRequested && !o.Intercepted()) {
			delete(q.ids, id)
			continue
		}
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b order.Order) int {
		return cmp.Or(a.Intercept.At.Compare(b.Intercept.At), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}
