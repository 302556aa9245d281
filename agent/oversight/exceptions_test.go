package oversight_test

import (
	"context"
	"errors"
	"testing"

	"wedge/agent/console"
	"wedge/agent/oversight"
	"wedge/order"
	"wedge/sync/wire"
)

// The console's exception queue over the agent's journal: an intercept from the hub puts the order
// on it, a supervisor's release takes it off, journaled as manual with the supervisor's name.
func TestSourceExceptions(t *testing.T) {
	r := newRig(t, oversight.Options{})
	ctx := context.Background()
	for _, p := range []string{
		`{"type":"order","hseq":1,"order_id":"W1","channel":"tmall","channel_order_no":"4000000000001","buyer_id":"b","ordered_at":"2026-11-11T00:00:00Z","skus":["S1"],"carrier":"sf","waybill":"SF1385628716739"}`,
		`{"type":"intercept","hseq":2,"order_id":"W1","reason":"买家要求拦截"}`,
	} {
		if err := r.in.Apply(ctx, []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	src := oversight.SourceOf(r.ov).(console.ExceptionSource)
	q, err := src.Exceptions(ctx)
	if err != nil || len(q) != 1 || q[0].OrderID != "W1" || q[0].Status != wire.InterceptRequested || q[0].Reason != "买家要求拦截" {
		t.Fatalf("queue %+v %v", q, err)
	}
	res, err := src.Resolve(ctx, console.ResolveRequest{OrderID: "W1", Action: order.ResolveRelease, Operator: "李四", Note: "订单系统撤回", By: "wang"})
	if err != nil || !res.OK {
		t.Fatalf("release %+v %v", res, err)
	}
	h, _ := r.store.History("W1")
	last := h[len(h)-1]
	if last.Kind != wire.KindIntercept || last.Trigger != wire.TriggerManual || last.Operator != "李四" || last.Intercept != wire.InterceptReleased {
		t.Fatalf("release entry %+v", last)
	}
	if q, _ := src.Exceptions(ctx); len(q) != 0 {
		t.Fatalf("queue after the release %+v", q)
	}
	if _, err := src.Resolve(ctx, console.ResolveRequest{OrderID: "nope", Action: order.ResolveRelease, Operator: "x", Note: "y"}); !errors.Is(err, console.ErrNotFound) {
		t.Fatalf("unknown order: %v", err)
	}
}
