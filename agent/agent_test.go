package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"wedge/agent"
	"wedge/internal/testbroker"
	"wedge/order"
	"wedge/sync/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func getJSON(url string, v any) (int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return resp.StatusCode, json.NewDecoder(resp.Body).Decode(v)
}

// TestScanToHub runs one agent in-process against a real mosquitto and the reference hub, with two
// serial scanners on real pseudo-terminals: an order dispatched through the hub is printed (order
// code, then waybill) and handed over (waybill), and the hub ends with 已揽收 and the history.
func TestScanToHub(t *testing.T) {
	b := testbroker.Start(t, nil)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := startHub(t, ctx, b.URL(), dir, "hub-test")
	ptys := openPTYs(t, 2)
	pp, pd := ptys[0], ptys[1]

	yaml := fmt.Sprintf(`site: sz01
agent: pack02
data_dir: %s
broker: {url: %q, hub_keys: [%q]}
api: {listen: "127.0.0.1:0", token: "tok"}
channels:
  tmall: {order_no_pattern: "^\\d{12,20}$"}
stations:
  - {name: print-1, role: print}
  - {name: dock-1, role: handover}
devices:
  - {name: scan-p1, kind: scanner, station: print-1, transport: serial, port: %s, profile: generic-serial-cr}
  - {name: scan-d1, kind: scanner, station: dock-1, transport: serial, port: %s, profile: generic-serial-cr}
  - {name: scan-gone, kind: scanner, station: dock-1, transport: serial, port: %s, profile: generic-serial-cr}
`, filepath.Join(dir, "agent"), b.URL(), rigHubPub, pp.Name, pd.Name, filepath.Join(dir, "no-such-tty"))
	cfg := writeConfig(t, filepath.Join(dir, "wedge.yaml"), yaml, nil)
	a := runAgent(t, ctx, cfg, agent.Deps{Logger: testLog(t)})

	// Dispatch one good order and one that breaks the tmall contract.
	postOrders(t, h,
		wire.OrderMsg{Type: wire.TypeOrder, OrderID: "T1", Channel: "tmall", ChannelOrderNo: "401234567890123", BuyerID: "b1", OrderedAt: "2026-01-22T07:00:00Z", SKUs: []string{"S1"}, Carrier: "sf"},
		wire.OrderMsg{Type: wire.TypeOrder, OrderID: "T2", Channel: "tmall", ChannelOrderNo: "123", BuyerID: "b2", OrderedAt: "2026-01-22T07:00:00Z", SKUs: []string{"S1"}},
	)
	eventually(t, "the agent receives the order", func() bool {
		o, ok, _ := a.Store().Order("T1")
		return ok && o.State == order.PendingAllocation
	})
	eventually(t, "the contract violation is journaled", func() bool {
		h, _ := a.Store().History("T2")
		return len(h) == 1 && h[0].Reason == string(order.ReasonContract)
	})

	const wb = "SF1234567890123"
	pp.Write([]byte("OP-zhang3\r401234567890123\r"))
	eventually(t, "the operator signs in and the order is scanned", func() bool {
		h, _ := a.Store().History("T1")
		return len(h) == 2 // intake + pairing note
	})
	pp.Write([]byte("\x01\x02noise\r" + wb + "\r"))
	eventually(t, "the order is printed", func() bool {
		o, _, _ := a.Store().Order("T1")
		return o.State == order.WaybillPrinted && o.Waybill == wb
	})
	pd.Write([]byte(wb + "\r"))
	eventually(t, "the order is picked up", func() bool {
		o, _, _ := a.Store().Order("T1")
		return o.State == order.PickedUp
	})

	var ho struct {
		State   string       `json:"state"`
		Waybill string       `json:"waybill"`
		History []wire.Entry `json:"history"`
	}
	eventually(t, "the hub sees 已揽收 with the history", func() bool {
		code, err := hubGetJSON(t, h, "/v1/orders/T1", &ho)
		return err == nil && code == 200 && ho.State == string(order.PickedUp)
	})
	if ho.Waybill != wb {
		t.Errorf("hub waybill %q", ho.Waybill)
	}
	var steps []string
	for _, e := range ho.History {
		if e.Kind == wire.KindStep {
			steps = append(steps, e.From+"→"+e.To+"@"+e.Station+"/"+e.Operator)
		}
	}
	want := "pending_allocation→waybill_printed@print-1/OP-zhang3 waybill_printed→picked_up@dock-1/"
	if strings.Join(steps, " ") != want {
		t.Errorf("hub steps %v, want %s", steps, want)
	}
	eventually(t, "everything is acked", func() bool { return a.Store().AckedSeq() == a.Store().LastSeq() })

	var st struct {
		Unsynced        uint64 `json:"unsynced"`
		BrokerConnected bool   `json:"broker_connected"`
		Devices         []struct {
			Name   string `json:"name"`
			Health struct {
				Connected bool   `json:"connected"`
				Reads     uint64 `json:"reads"`
			} `json:"health"`
		} `json:"devices"`
		Stations []struct {
			Name, Operator string
		} `json:"stations"`
	}
	if code, err := getJSON("http://"+a.APIAddr()+"/api/v1/status", &st); err != nil || code != 200 {
		t.Fatalf("status: %d %v", code, err)
	}
	// A scanner whose port does not exist does not stop the agent; the status shows it down.
	if st.Unsynced != 0 || !st.BrokerConnected || len(st.Devices) != 3 || !st.Devices[0].Health.Connected || st.Stations[0].Operator != "OP-zhang3" {
		t.Errorf("status: %+v", st)
	}
	if st.Devices[2].Name != "scan-gone" || st.Devices[2].Health.Connected {
		t.Errorf("missing device reported as %+v", st.Devices[2])
	}
	if st.Devices[0].Health.Reads < 3 {
		t.Errorf("scan-p1 health: %+v", st.Devices[0].Health)
	}
	// A page on another host name (DNS rebinding) gets nothing from the API or the console.
	for _, path := range []string{"/api/v1/status", "/console/"} {
		req, _ := http.NewRequest("GET", "http://"+a.APIAddr()+path, nil)
		req.Host = "rebind.example:8470"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMisdirectedRequest {
			t.Errorf("%s with a foreign Host: %d, want 421", path, resp.StatusCode)
		}
	}
}

func startAgent(t *testing.T, ctx context.Context, dir, brokerURL, name, stations string) *agent.Agent {
	t.Helper()
	yaml := fmt.Sprintf("site: sz01\nagent: %s\ndata_dir: %s\nbroker: {url: %q, hub_keys: [%q]}\napi: {listen: \"127.0.0.1:0\", token: tok}\nstations:\n%s",
		name, filepath.Join(dir, name), brokerURL, rigHubPub, stations)
	cfg := writeConfig(t, filepath.Join(dir, name+".yaml"), yaml, nil)
	return runAgent(t, ctx, cfg, agent.Deps{})
}

func apiScan(t *testing.T, a *agent.Agent, st, code string) map[string]any {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"station": st, "code": code})
	req, _ := http.NewRequest("POST", "http://"+a.APIAddr()+"/api/v1/scan", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return m
}

// TestPrintOnAHandoverOnB: two agents of one site. The label is printed at PC A; PC B learns it
// from the hub's state rebroadcast and its handover station takes the parcel.
func TestPrintOnAHandoverOnB(t *testing.T) {
	b := testbroker.Start(t, nil)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := startHub(t, ctx, b.URL(), dir, "hub-ab")
	pa := startAgent(t, ctx, dir, b.URL(), "pack01", "  - {name: print-1, role: print}\n")
	pb := startAgent(t, ctx, dir, b.URL(), "dock01", "  - {name: dock-1, role: handover}\n")

	postOrders(t, h, wire.OrderMsg{Type: wire.TypeOrder, OrderID: "AB1", Channel: "jd", ChannelOrderNo: "880010000001", BuyerID: "b", OrderedAt: "2026-01-22T07:00:00Z", SKUs: []string{"S"}, Carrier: "zto"})
	for _, a := range []*agent.Agent{pa, pb} {
		eventually(t, "both agents receive the order", func() bool {
			_, ok, _ := a.Store().Order("AB1")
			return ok
		})
	}
	const wb = "73123456789012" // ZTO
	if m := apiScan(t, pb, "dock-1", wb); m["reason"] != string(order.ReasonUnknownWaybill) {
		t.Fatalf("handover before the print: %v", m)
	}
	apiScan(t, pa, "print-1", "880010000001")
	if m := apiScan(t, pa, "print-1", wb); m["outcome"] != "accepted" {
		t.Fatalf("print on A: %v", m)
	}
	eventually(t, "B learns the print through the hub", func() bool {
		o, _, _ := pb.Store().Order("AB1")
		return o.State == order.WaybillPrinted && o.Waybill == wb
	})
	if m := apiScan(t, pb, "dock-1", wb); m["outcome"] != "accepted" || m["to"] != "picked_up" {
		t.Fatalf("handover on B: %v", m)
	}
	var ho struct {
		State string `json:"state"`
	}
	eventually(t, "the hub has 已揽收", func() bool {
		code, err := hubGetJSON(t, h, "/v1/orders/AB1", &ho)
		return err == nil && code == 200 && ho.State == string(order.PickedUp)
	})
	eventually(t, "A learns the pickup too", func() bool {
		o, _, _ := pa.Store().Order("AB1")
		return o.State == order.PickedUp
	})
}

// TestCatchupAfterOutage: the agent is down while more orders are dispatched than the broker
// queues for it (max_queued_messages 1); after the restart it catches up from the hub and has
// every order, and its journal id survives the restart.
func TestCatchupAfterOutage(t *testing.T) {
	b := testbroker.Start(t, &testbroker.Options{MaxQueued: 1})
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := startHub(t, ctx, b.URL(), dir, "hub-cu")
	dispatch := func(id string) {
		postOrders(t, h, wire.OrderMsg{Type: wire.TypeOrder, OrderID: id, Channel: "jd", ChannelOrderNo: "JD0000000000" + id, BuyerID: "b", OrderedAt: "2026-01-22T07:00:00Z", SKUs: []string{"S"}})
	}
	sub := t.TempDir()
	a := startAgent(t, ctx, sub, b.URL(), "pack01", "  - {name: print-1, role: print}\n")
	jid := a.Store().JournalID()
	dispatch("C1")
	eventually(t, "the first order arrives", func() bool { _, ok, _ := a.Store().Order("C1"); return ok })
	sctx, c := context.WithTimeout(context.Background(), 10*time.Second)
	if err := a.Stop(sctx); err != nil {
		t.Fatal(err)
	}
	c()
	for _, id := range []string{"C2", "C3", "C4", "C5"} {
		dispatch(id)
	}
	a = startAgent(t, ctx, sub, b.URL(), "pack01", "  - {name: print-1, role: print}\n")
	if a.Store().JournalID() != jid {
		t.Fatalf("journal id changed across a restart: %s → %s", jid, a.Store().JournalID())
	}
	for _, id := range []string{"C1", "C2", "C3", "C4", "C5"} {
		eventually(t, "order "+id+" after the outage", func() bool { _, ok, _ := a.Store().Order(id); return ok })
	}
	eventually(t, "the hub sequence is contiguous again", func() bool { return a.Intake().CatchupSince() >= 5 })
}
