package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"wedge/agent"
	"wedge/internal/clock"
	"wedge/internal/testbroker"
	"wedge/order"
	"wedge/sync/wire"
)

// An agent with a fake clock: the breaker opens, orders arriving while it is open are held, the
// agent restarts while it is open (it stays open and keeps holding), a hub command on the command
// topic raises the limit (audited), and the breaker closes by itself: every order is in 待分仓, the
// held ones released in arrival order. Nothing is lost.
func TestBreakerAcrossAgentRestart(t *testing.T) {
	b := testbroker.Start(t, nil)
	dir := t.TempDir()
	clk := clock.NewFake(time.Date(2026, 11, 11, 2, 0, 0, 0, time.UTC))
	yaml := fmt.Sprintf("site: sz01\nagent: pack01\ndata_dir: %s\nbroker: {url: %q, hub_keys: [%q]}\napi: {listen: \"off\"}\n"+
		"stations:\n  - {name: print-1, role: print}\nbreaker: {max_backlog: 3, close_after: 1m}\n", filepath.Join(dir, "data"), b.URL(), rigHubPub)
	cfg := writeConfig(t, filepath.Join(dir, "wedge.yaml"), yaml, nil)
	ctx := context.Background()
	start := func() *agent.Agent {
		a, err := agent.New(ctx, cfg, agent.Deps{Clock: clk})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	stop := func(a *agent.Agent) {
		sctx, c := context.WithTimeout(ctx, 10*time.Second)
		defer c()
		if err := a.Stop(sctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	}
	n := 0
	newOrder := func(a *agent.Agent) string {
		n++
		id := fmt.Sprintf("R%02d", n)
		p := fmt.Sprintf(`{"type":"order","order_id":%q,"channel":"jd","channel_order_no":"JD0000000000%s","buyer_id":"b","ordered_at":"2026-11-11T00:00:00Z","skus":["S1"],"carrier":"sf"}`, id, id)
		if err := a.Intake().Apply(ctx, []byte(p)); err != nil {
			t.Fatal(err)
		}
		return id
	}
	state := func(a *agent.Agent, id string) order.State {
		o, ok, err := a.Store().Order(id)
		if err != nil || !ok {
			t.Fatalf("order %s lost (%v)", id, err)
		}
		return o.State
	}

	a := start()
	for range 4 {
		newOrder(a)
	}
	a.Supervisor().Check(ctx)
	if !a.Supervisor().Breaker().Open() {
		t.Fatal("4 orders over a limit of 3 did not open the breaker")
	}
	var held []string
	for range 3 {
		clk.Advance(time.Second)
		held = append(held, newOrder(a))
	}
	stop(a)

	a = start()
	defer func() { stop(a) }()
	if !a.Supervisor().Breaker().Open() {
		t.Fatal("the breaker did not survive the restart")
	}
	for range 2 {
		clk.Advance(time.Second)
		held = append(held, newOrder(a))
	}
	for _, id := range held {
		if st := state(a, id); st != order.Held {
			t.Fatalf("%s is %s while the breaker is open", id, st)
		}
	}

	// The hub raises the limit over the command topic (signed with the hub's key, as the hub does).
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("test-hub-cmd"))
	if tok := c.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer c.Disconnect(100)
	cmd := `{"type":"breaker_thresholds","id":"c-7","by":"ops","reason":"加人","max_backlog":100,"close_after":"1m"}`
	eventually(t, "the command applies", func() bool {
		// QoS 1 to a subscribed topic; re-sent until applied (the agent may still be subscribing).
		topic := wire.TopicCommand("sz01", "pack01")
		c.Publish(topic, 1, false, wire.NewSigner(rigHubKey).Sign(topic, []byte(cmd))).Wait()
		time.Sleep(50 * time.Millisecond)
		return a.Supervisor().Breaker().State().Thresholds.MaxBacklog == 100
	})

	// Below 80% of the new limit for close_after: it closes by itself and releases in arrival order.
	a.Supervisor().Check(ctx)
	clk.Advance(61 * time.Second)
	a.Supervisor().Check(ctx)
	if a.Supervisor().Breaker().Open() {
		t.Fatal("the breaker did not close by itself")
	}
	for i := 1; i <= n; i++ {
		if st := state(a, fmt.Sprintf("R%02d", i)); st != order.PendingAllocation {
			t.Fatalf("R%02d is %s after the close", i, st)
		}
	}
	es, err := a.Store().Entries(0, 10000, 1<<26)
	if err != nil {
		t.Fatal(err)
	}
	var released, audit []string
	for _, e := range es {
		switch {
		case e.Kind == wire.KindStep && e.From == string(order.Held):
			if e.Trigger != wire.TriggerSystem {
				t.Fatalf("release by %s", e.Trigger)
			}
			released = append(released, e.OrderID)
		case e.Kind == wire.KindBreaker:
			audit = append(audit, e.To+"/"+e.Trigger+"/"+e.Code)
		}
	}
	if strings.Join(released, ",") != strings.Join(held, ",") {
		t.Fatalf("released %v, want %v", released, held)
	}
	if len(audit) < 3 || audit[0] != "open/system/" || audit[len(audit)-1] != "closed/system/" || !strings.Contains(strings.Join(audit, " "), "open/hub/c-7") {
		t.Fatalf("breaker entries %v", audit)
	}
}

// A threshold command POSTed to the reference hub reaches a real agent over mosquitto: the agent
// applies it, journals it as a breaker entry carrying the hub's command id and who gave it, and the
// hub acknowledges that entry (it is stored at the hub), next to its own record of the command.
func TestHubCommandReachesAgent(t *testing.T) {
	b := testbroker.Start(t, nil)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := startHub(t, ctx, b.URL(), dir, "hub-cmd-test")
	a := startAgent(t, ctx, dir, b.URL(), "pack01", "  - {name: print-1, role: print}\n")
	base := "/v1/agents/sz01/pack01/commands"
	eventually(t, "the hub knows the agent", func() bool {
		var agents []map[string]any
		code, err := hubGetJSON(t, h, "/v1/agents", &agents)
		return err == nil && code == http.StatusOK && len(agents) == 1
	})

	// The hub records a command as by the name of the token that sent it.
	ops := newHubToken(t, h, "ops-zhang")
	post := func(body string) (int, map[string]any) {
		resp, err := hubDo(t, h, ops, http.MethodPost, base, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, v
	}
	// Refused at the hub: the agent is never asked.
	if code, v := post(`{"type":"breaker_thresholds","by":"ops","max_backlog":0.5}`); code != http.StatusBadRequest {
		t.Fatalf("fractional max_backlog: %d %v", code, v)
	}
	code, v := post(`{"type":"breaker_thresholds","by":"ops-zhang","reason":"双十一加派人手","max_backlog":300,"max_avg_wait":"10m"}`)
	if code != http.StatusAccepted || v["id"] != "hub-1" {
		t.Fatalf("POST: %d %v", code, v)
	}
	eventually(t, "the agent applies the hub's command", func() bool {
		th := a.Supervisor().Breaker().State().Thresholds
		return th.MaxBacklog == 300 && th.MaxAvgWait == 10*time.Minute
	})
	var seq uint64
	eventually(t, "the breaker entry is journaled", func() bool {
		es, err := a.Store().Entries(0, 10000, 1<<26)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.Kind == wire.KindBreaker && e.Trigger == wire.TriggerHub {
				if e.Code != "hub-1" || e.Operator != "hub:ops-zhang" {
					t.Fatalf("breaker entry %+v", e)
				}
				seq = e.Seq
				return true
			}
		}
		return false
	})
	eventually(t, "the hub acknowledges the breaker entry", func() bool { return a.Store().AckedSeq() >= seq })
	var list []map[string]any
	if code, err := hubGetJSON(t, h, base, &list); err != nil || code != http.StatusOK || len(list) != 1 || list[0]["by"] != "ops-zhang" {
		t.Fatalf("hub audit: %d %v %v", code, err, list)
	}
}

// A manual confirmation through the agent's API (POST /api/v1/orders/{id}/confirm) reaches the
// console's scan feed and the metrics like a station's result, accepted and refused alike, and the
// API's recent list holds it once.
func TestAPIConfirmReachesConsoleAndMetrics(t *testing.T) {
	b := testbroker.Start(t, nil)
	dir := t.TempDir()
	ctx := context.Background()
	a := startAgent(t, ctx, dir, b.URL(), "pack01", "  - {name: print-1, role: print}\n")
	msg := `{"type":"order","order_id":"M1","channel":"jd","channel_order_no":"JD0000000000M1","buyer_id":"b","ordered_at":"2026-11-11T00:00:00Z","skus":["S1"],"carrier":"sf","waybill":"SF1234567890123"}`
	if err := a.Intake().Apply(ctx, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	base := "http://" + a.APIAddr()
	confirm := func(id, body string) int {
		req, _ := http.NewRequest("POST", base+"/api/v1/orders/"+id+"/confirm", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := confirm("M1", `{"operator":"OP-boss","note":"打印机坏了，手写面单"}`); code != http.StatusOK {
		t.Fatalf("confirm: %d", code)
	}
	if code := confirm("M1", `{"operator":"OP-boss"}`); code != http.StatusConflict {
		t.Fatalf("confirm without note: %d", code)
	}

	// The hook runs before the answer: no waiting needed.
	var snap struct {
		Feed []struct {
			Operator, Code, Result, Reason string
			OrderID                        string `json:"order_id"`
		} `json:"feed"`
	}
	if code, err := getJSON(base+"/console/api/snapshot", &snap); err != nil || code != http.StatusOK {
		t.Fatalf("snapshot: %d %v", code, err)
	}
	if len(snap.Feed) != 2 || snap.Feed[0].Result != "accepted" || snap.Feed[0].OrderID != "M1" || snap.Feed[0].Operator != "OP-boss" ||
		snap.Feed[1].Result != "rejected" || snap.Feed[1].Reason != string(order.ReasonManualIncomplete) {
		t.Fatalf("console feed %+v", snap.Feed)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var mb strings.Builder
	_, _ = io.Copy(&mb, resp.Body)
	resp.Body.Close()
	m := mb.String()
	for _, want := range []string{
		`wedge_steps_total{from="pending_allocation",to="waybill_printed",trigger="manual"} 1`,
		`wedge_rejections_total{reason="manual_incomplete"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Fatalf("metrics lack %s:\n%s", want, m)
		}
	}
	if strings.Contains(m, "wedge_scans_total{") {
		t.Fatalf("a manual confirmation counted as a scan:\n%s", m)
	}
	var st struct {
		Recent []map[string]any `json:"recent"`
	}
	if code, err := getJSON(base+"/api/v1/status", &st); err != nil || code != http.StatusOK || len(st.Recent) != 2 {
		t.Fatalf("status recent: %d %v %v", code, err, st.Recent)
	}
}
