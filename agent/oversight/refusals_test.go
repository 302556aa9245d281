package oversight_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"wedge/agent/config"
	"wedge/agent/console"
	"wedge/agent/intake"
	"wedge/agent/oversight"
	"wedge/order"
	"wedge/sync/wire"
)

// An order the hub sent that breaks the data contract never enters 待分仓; the console shows the
// refusal in its scan feed (with the channel order number and why) and finds it by its order id,
// with the journaled reject. Refusals journaled before the agent started are not shown again.
func TestContractRefusalInConsole(t *testing.T) {
	r := newRig(t, oversight.Options{})
	c, err := config.Parse("wedge.yaml", []byte("site: sz01\nagent: pack02\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	contractIntake := func() *intake.Intake {
		in, err := intake.New(ctx, r.store, intake.Options{Clock: r.clk, Contract: c.CheckOrderNo, IntakeState: r.ov.Breaker().IntakeState})
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	apply := func(in *intake.Intake, id, no string) {
		t.Helper()
		p := `{"type":"order","order_id":"` + id + `","channel":"tmall","channel_order_no":"` + no + `","buyer_id":"b","ordered_at":"2026-11-11T00:00:00Z","skus":["S1"],"payment":"full"}`
		if err := in.Apply(ctx, []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	apply(contractIntake(), "OLD1", "x0") // before the restart: not shown again
	r.restart()
	in := contractIntake()
	apply(in, "X1", "x1")
	apply(in, "G1", "401234567890123")
	r.ov.Check(ctx)

	mux := http.NewServeMux()
	r.ov.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	get := func(path string, v any) int {
		t.Helper()
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode == http.StatusOK {
			if err := json.NewDecoder(res.Body).Decode(v); err != nil {
				t.Fatal(err)
			}
		}
		return res.StatusCode
	}
	var full console.Full
	get("/console/api/snapshot", &full)
	var rows []string
	for _, s := range full.Feed {
		rows = append(rows, s.Station+"/"+s.Device+" "+s.Code+" "+s.OrderID+" "+s.Result+" "+string(s.Reason))
		if s.OrderID == "X1" && !strings.Contains(s.Message.ZH, "数据契约") {
			t.Errorf("feed message %+v", s.Message)
		}
	}
	if got := strings.Join(rows, " | "); got != "hub/intake x1 X1 rejected contract_violation" {
		t.Fatalf("scan feed: %s", got)
	}
	if st := r.state("G1"); st != order.PendingAllocation {
		t.Fatalf("the good order is %s", st)
	}
	var v console.OrderView
	if code := get("/console/api/search?code=X1", &v); code != http.StatusOK || len(v.History) != 1 || v.History[0].Kind != wire.KindReject ||
		v.History[0].Reason != string(order.ReasonContract) || v.Order.ID != "X1" || v.Order.State != "" {
		t.Fatalf("search X1: %d %+v", code, v)
	}
	if code := get("/console/api/search?code=NOPE", &v); code != http.StatusNotFound {
		t.Fatalf("search of an unknown code: %d", code)
	}
}
