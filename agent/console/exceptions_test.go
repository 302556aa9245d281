package console_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"wedge/agent/console"
	"wedge/order"
	"wedge/sync/wire"
)

// The exception queue: everybody sees the intercepted orders and what to do; only a supervisor
// resolves one, with an action that applies, an operator and a note (CSRF and login as for every
// action); the resolution reaches the source with the supervisor's name.
func TestExceptionQueue(t *testing.T) {
	e := newEnv(t, nil)
	stopped := order.Order{ID: "X1", ChannelOrderNo: "TB1", State: order.WaybillPrinted, Waybill: "SF1234567890123",
		Intercept: order.Intercept{ID: 7, Status: wire.InterceptRequested, Reason: "买家要求拦截", At: t0}}
	late := order.Order{ID: "X2", State: order.PickedUp, Intercept: order.Intercept{ID: 8, Status: wire.InterceptAfterPickup, At: t0}}
	e.src.AddOrder(console.OrderView{Order: stopped})
	e.src.AddOrder(console.OrderView{Order: late})
	e.src.AddOrder(console.OrderView{Order: order.Order{ID: "X3", State: order.PendingAllocation}})
	b := newBrowser(t, e.srv.URL)

	var q struct {
		Available  bool
		Exceptions []console.Exception
	}
	b.get("/api/exceptions", &q, 200)
	if !q.Available || len(q.Exceptions) != 2 {
		t.Fatalf("queue %+v", q)
	}
	x1, x2 := q.Exceptions[0], q.Exceptions[1]
	if x1.OrderID != "X1" || x1.Status != wire.InterceptRequested || x1.Reason != "买家要求拦截" || !strings.Contains(x1.Message.ZH, "异常件架") ||
		len(x1.Actions) != 3 {
		t.Fatalf("stopped parcel %+v", x1)
	}
	if x2.Message.ZH != "拦截请求在揽收之后：请联系快递拦截" || len(x2.Actions) != 1 || x2.Actions[0] != order.ResolveAcknowledge {
		t.Fatalf("after pickup %+v", x2)
	}

	release := console.ResolveRequest{OrderID: "X1", Action: order.ResolveRelease, Operator: "李四", Note: "订单系统撤回拦截"}
	if code := b.post("/api/exceptions/resolve", release, nil, nil); code != http.StatusForbidden {
		t.Fatalf("viewer resolve = %d", code)
	}
	var s struct{ CSRF string }
	if code := b.post("/api/login", map[string]string{"user": "wang", "password": "secret-1"}, nil, &s); code != 200 {
		t.Fatalf("login = %d", code)
	}
	b.csrf = s.CSRF
	for _, tc := range []struct {
		req  console.ResolveRequest
		want int
	}{
		{console.ResolveRequest{OrderID: "X1", Action: "ship_anyway", Operator: "李四", Note: "x"}, http.StatusBadRequest},
		{console.ResolveRequest{OrderID: "X1", Action: order.ResolveRelease, Operator: "李四"}, http.StatusBadRequest},
		{console.ResolveRequest{OrderID: "NOPE", Action: order.ResolveRelease, Operator: "李四", Note: "x"}, http.StatusNotFound},
		{console.ResolveRequest{OrderID: "X1", Action: order.ResolveAcknowledge, Operator: "李四", Note: "x"}, http.StatusConflict},
	} {
		if code := b.post("/api/exceptions/resolve", tc.req, nil, nil); code != tc.want {
			t.Errorf("%+v: %d, want %d", tc.req, code, tc.want)
		}
	}
	var res console.ConfirmResult
	if code := b.post("/api/exceptions/resolve", release, nil, &res); code != 200 || !res.OK {
		t.Fatalf("release = %d %+v", code, res)
	}
	if r := e.src.Resolves(); len(r) != 3 || r[2].By != "wang" || r[2].Action != order.ResolveRelease {
		t.Fatalf("resolves = %+v", r)
	}
	b.get("/api/exceptions", &q, 200)
	if len(q.Exceptions) != 1 || q.Exceptions[0].OrderID != "X2" {
		t.Fatalf("queue after the release %+v", q.Exceptions)
	}
}

// The console shows an order's personal data masked, in the order and in its entries' order
// messages alike.
func TestSearchMasksPersonalData(t *testing.T) {
	e := newEnv(t, nil)
	m := wire.OrderMsg{Type: wire.TypeOrder, OrderID: "P1", RecipientName: "张三丰", RecipientPhone: "13812345678", RecipientAddress: "广东省深圳市南山区科苑路8号"}
	e.src.AddOrder(console.OrderView{Order: order.Order{ID: "P1", State: order.PendingAllocation, RecipientName: "张三丰", RecipientPhone: "13812345678",
		RecipientAddress: "广东省深圳市南山区科苑路8号", Recipient: "张三丰 13812345678 广东省深圳市南山区科苑路8号"},
		History: []wire.Entry{{Seq: 1, Kind: wire.KindIntake, OrderID: "P1", Order: &m}}})
	resp, err := http.Get(e.srv.URL + "/api/search?code=P1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, secret := range []string{"13812345678", "张三丰", "科苑路"} {
		if strings.Contains(string(body), secret) {
			t.Errorf("search answer carries %q: %s", secret, body)
		}
	}
	if !strings.Contains(string(body), "138****5678") || !strings.Contains(string(body), "广东省深圳市南山区****") {
		t.Fatalf("search answer %s", body)
	}
}
