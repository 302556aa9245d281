package agent_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"wedge/agent"
	"wedge/agent/station"
	"wedge/drivers/printer/emulator"
	"wedge/internal/testbroker"
	"wedge/order"
	"wedge/sync/wire"
)

// startPrintAgent starts an agent with print station print-1 on an emulated ZPL printer (TCP).
func startPrintAgent(t *testing.T, ctx context.Context, dir, brokerURL, name string) (*agent.Agent, *emulator.Emulator) {
	t.Helper()
	emu := emulator.NewZPL(&emulator.Options{PrintTime: 20 * time.Millisecond})
	t.Cleanup(func() { emu.Close() })
	addr, err := emu.ListenTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf(`site: sz01
agent: %s
data_dir: %s
broker: {url: %q, hub_keys: [%q]}
api: {listen: "127.0.0.1:0", token: "tok"}
stations:
  - {name: print-1, role: print}
devices:
  - {name: zd421-1, kind: printer, station: print-1, transport: tcp, address: %q, profile: zebra-zd421}
`, name, filepath.Join(dir, name), brokerURL, rigHubPub, addr)
	cfg := writeConfig(t, filepath.Join(dir, name+".yaml"), yaml, nil)
	return runAgent(t, ctx, cfg, agent.Deps{Logger: testLog(t)}), emu
}

func storedOrder(a *agent.Agent, id string) order.Order {
	o, _, _ := a.Store().Order(id)
	return o
}

// TestVersionAddressChangeAcrossAgents: the order's address changes after its label was printed
// on PC A. Both PCs apply the new version; A journals the change old → new (masked); the handover
// on PC B refuses the parcel (label_outdated) until the next scan of the order on A has reprinted
// the label with the new address, which reaches B through the hub and lets the parcel through.
func TestVersionAddressChangeAcrossAgents(t *testing.T) {
	b := testbroker.Start(t, nil)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := startHub(t, ctx, b.URL(), dir, "hub-ver")
	pa, emu := startPrintAgent(t, ctx, dir, b.URL(), "pack01")
	pb := startAgent(t, ctx, dir, b.URL(), "dock01", "  - {name: dock-1, role: handover}\n")

	const wb = "SF1234567890123"
	const addr1, addr2 = "广东省深圳市南山区科苑路8号", "广东省深圳市福田区华强北路1号"
	msg := func(addr string) wire.OrderMsg {
		return wire.OrderMsg{Type: wire.TypeOrder, OrderID: "VA1", Channel: "tmall", ChannelOrderNo: "401234567890123", BuyerID: "b",
			OrderedAt: "2026-01-22T07:00:00Z", SKUs: []string{"S"}, Carrier: "sf", Waybill: wb,
			RecipientName: "张三", RecipientPhone: "13812345678", RecipientAddress: addr}
	}
	if code := postOrders(t, h, msg(addr1)); code != 200 {
		t.Fatalf("post: %d", code)
	}
	for _, a := range []*agent.Agent{pa, pb} {
		eventually(t, "both agents receive version 1", func() bool { return storedOrder(a, "VA1").Version == 1 })
	}
	if m := apiScan(t, pa, "print-1", "VA1"); m["outcome"] != "accepted" || m["to"] != "waybill_printed" {
		t.Fatalf("print on A: %v", m)
	}
	if jobs := emu.Jobs(); len(jobs) != 1 || !bytes.Contains(jobs[0], []byte("科苑路8号")) {
		t.Fatalf("first label: %d jobs", len(jobs))
	}
	eventually(t, "B learns the print and its label version", func() bool {
		o := storedOrder(pb, "VA1")
		return o.State == order.WaybillPrinted && o.LabelVersion == 1
	})

	// The address changes (the hub gives the message version 2).
	if code := postOrders(t, h, msg(addr2)); code != 200 {
		t.Fatalf("post of the change: %d", code)
	}
	for _, a := range []*agent.Agent{pa, pb} {
		eventually(t, "both agents apply version 2 and mark the label outdated", func() bool {
			o := storedOrder(a, "VA1")
			return o.Version == 2 && o.RecipientAddress == addr2 && o.LabelOutdated
		})
	}
	hist, _ := pa.Store().History("VA1")
	var upd *wire.Entry
	for i := range hist {
		if hist[i].Kind == wire.KindUpdate {
			upd = &hist[i]
		}
	}
	if upd == nil || !strings.Contains(upd.Detail, `recipient_address "广东省深圳市南山区****" → "广东省深圳市福田区****"`) || strings.Contains(upd.Detail, "华强北") {
		t.Fatalf("A's update entry %+v", upd)
	}

	// B refuses the parcel with the old label.
	if m := apiScan(t, pb, "dock-1", wb); m["reason"] != string(order.ReasonLabelOutdated) || !strings.Contains(fmt.Sprint(m["message"]), "面单已过期") {
		t.Fatalf("handover on B with the old label: %v", m)
	}
	// The next scan of the order on A reprints it with the new address.
	if m := apiScan(t, pa, "print-1", "VA1"); m["kind"] != wire.KindReprint || m["good"] != true {
		t.Fatalf("reprint on A: %v", m)
	}
	if jobs := emu.Jobs(); len(jobs) != 2 || !bytes.Contains(jobs[1], []byte("华强北")) {
		t.Fatalf("reprinted label: %d jobs", len(jobs))
	}
	eventually(t, "B learns the reprint", func() bool {
		o := storedOrder(pb, "VA1")
		return o.LabelVersion == 2 && !o.LabelOutdated
	})
	if m := apiScan(t, pb, "dock-1", wb); m["outcome"] != "accepted" || m["to"] != "picked_up" {
		t.Fatalf("handover on B after the reprint: %v", m)
	}

	var ho struct {
		Version      uint64           `json:"version"`
		LabelVersion uint64           `json:"label_version"`
		Versions     []wire.OrderMsg  `json:"versions"`
		History      []wire.Entry     `json:"history"`
		Intercept    *order.Intercept `json:"intercept"`
	}
	eventually(t, "the hub holds both versions and every agent's trace", func() bool {
		code, err := hubGetJSON(t, h, "/v1/orders/VA1", &ho)
		kinds := map[string]int{}
		for _, e := range ho.History {
			kinds[e.Kind]++
		}
		return err == nil && code == 200 && ho.Version == 2 && ho.LabelVersion == 2 && len(ho.Versions) == 2 &&
			kinds[wire.KindUpdate] == 2 && kinds[wire.KindReprint] == 1 && kinds[wire.KindReject] == 1
	})
}

// TestInterceptAcrossAgents: the order system intercepts a printed order. The handover on PC B
// stops the parcel (intercepted, to the exception shelf) and so does the print station on PC A; a
// supervisor's release on A reaches B through the hub, and B lets the parcel go.
func TestInterceptAcrossAgents(t *testing.T) {
	b := testbroker.Start(t, nil)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := startHub(t, ctx, b.URL(), dir, "hub-ic")
	pa := startAgent(t, ctx, dir, b.URL(), "pack01", "  - {name: print-1, role: print}\n")
	pb := startAgent(t, ctx, dir, b.URL(), "dock01", "  - {name: dock-1, role: handover}\n")

	postOrders(t, h, wire.OrderMsg{Type: wire.TypeOrder, OrderID: "IC1", Channel: "jd", ChannelOrderNo: "880010000001", BuyerID: "b", OrderedAt: "2026-01-22T07:00:00Z", SKUs: []string{"S"}, Carrier: "zto"})
	for _, a := range []*agent.Agent{pa, pb} {
		eventually(t, "both agents receive the order", func() bool { _, ok, _ := a.Store().Order("IC1"); return ok })
	}
	const wb = "73123456789012" // ZTO
	apiScan(t, pa, "print-1", "880010000001")
	if m := apiScan(t, pa, "print-1", wb); m["outcome"] != "accepted" {
		t.Fatalf("print on A: %v", m)
	}
	eventually(t, "B learns the print", func() bool { return storedOrder(pb, "IC1").State == order.WaybillPrinted })

	if code := postOrders(t, h, wire.OrderMsg{Type: wire.TypeIntercept, OrderID: "IC1", Reason: "买家要求拦截"}); code != 200 {
		t.Fatalf("post intercept: %d", code)
	}
	for _, a := range []*agent.Agent{pa, pb} {
		eventually(t, "both agents flag the intercept", func() bool { return storedOrder(a, "IC1").Intercepted() })
	}
	m := apiScan(t, pb, "dock-1", wb)
	if m["reason"] != string(order.ReasonIntercepted) || !strings.Contains(fmt.Sprint(m["message"]), "异常件架") {
		t.Fatalf("handover on B of an intercepted parcel: %v", m)
	}
	if m := apiScan(t, pa, "print-1", "880010000001"); m["reason"] != string(order.ReasonIntercepted) {
		t.Fatalf("print station on A: %v", m)
	}
	if o := storedOrder(pb, "IC1"); o.State != order.WaybillPrinted {
		t.Fatalf("the intercept moved the state: %s", o.State)
	}

	// A supervisor on A releases it; B learns it through the hub.
	res := station.Resolve(ctx, pa.Store(), station.ResolveRequest{Code: "IC1", Action: order.ResolveRelease, Operator: "OP-boss", Note: "订单系统撤回拦截"}, nil)
	if !res.Good() || res.Entry.Kind != wire.KindIntercept {
		t.Fatalf("release on A: %+v", res)
	}
	eventually(t, "B learns the release", func() bool {
		o := storedOrder(pb, "IC1")
		return !o.Intercepted() && o.Intercept.Status == wire.InterceptReleased
	})
	if m := apiScan(t, pb, "dock-1", wb); m["outcome"] != "accepted" || m["to"] != "picked_up" {
		t.Fatalf("handover on B after the release: %v", m)
	}
}

// TestInterceptAfterPickupAcrossAgents: an intercept that comes after the courier took the parcel
// is recorded on every PC as "contact the carrier", and stops nothing.
func TestInterceptAfterPickupAcrossAgents(t *testing.T) {
	b := testbroker.Start(t, nil)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := startHub(t, ctx, b.URL(), dir, "hub-icp")
	pa := startAgent(t, ctx, dir, b.URL(), "pack01", "  - {name: print-1, role: print}\n  - {name: dock-1, role: handover}\n")
	pb := startAgent(t, ctx, dir, b.URL(), "dock01", "  - {name: dock-2, role: handover}\n")
	postOrders(t, h, wire.OrderMsg{Type: wire.TypeOrder, OrderID: "IC2", Channel: "jd", ChannelOrderNo: "880020000002", BuyerID: "b", OrderedAt: "2026-01-22T07:00:00Z", SKUs: []string{"S"}, Carrier: "zto"})
	eventually(t, "A receives the order", func() bool { _, ok, _ := pa.Store().Order("IC2"); return ok })
	const wb = "73123456789013"
	apiScan(t, pa, "print-1", "880020000002")
	apiScan(t, pa, "print-1", wb)
	if m := apiScan(t, pa, "dock-1", wb); m["to"] != "picked_up" {
		t.Fatalf("pickup on A: %v", m)
	}
	eventually(t, "B learns the pickup", func() bool { return storedOrder(pb, "IC2").State == order.PickedUp })
	postOrders(t, h, wire.OrderMsg{Type: wire.TypeIntercept, OrderID: "IC2", Reason: "late"})
	for _, a := range []*agent.Agent{pa, pb} {
		eventually(t, "every PC records the intercept after pickup", func() bool {
			o := storedOrder(a, "IC2")
			return o.Intercept.Status == wire.InterceptAfterPickup && o.InterceptMessage().ZH == "拦截请求在揽收之后：请联系快递拦截"
		})
	}
}
