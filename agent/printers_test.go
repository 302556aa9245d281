package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"wedge/agent"
	"wedge/agent/printing"
	"wedge/drivers/printer"
	"wedge/drivers/printer/emulator"
	"wedge/drivers/printer/jobscan"
	"wedge/internal/testbroker"
	"wedge/order"
	"wedge/sync/wire"
)

func prDo(t *testing.T, method, url string, body any, v any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil {
		json.Unmarshal(b, v)
	}
	return resp.StatusCode, b
}

// Printing end to end through the agent: real mosquitto, the reference hub, a pty scanner and a ZPL
// emulator over TCP. A scan prints, the printer confirms, and the hub shows 已打单 with the waybill;
// a paper-out fault shows in the status and reaches the event hook; the API reprints and serves
// the label PNG; a third-party two-label job through the proxy advances both orders.
func TestPrinterEndToEnd(t *testing.T) {
	b := testbroker.Start(t, nil)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := startHub(t, ctx, b.URL(), dir, "hub-pr")
	pp := openPTYs(t, 1)[0]
	emu := emulator.NewZPL(&emulator.Options{PrintTime: 20 * time.Millisecond})
	t.Cleanup(func() { emu.Close() }) // after the agent stops, as the printer outlives its driver
	paddr, err := emu.ListenTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}

	yaml := fmt.Sprintf(`site: sz01
agent: pack02
data_dir: %s
broker: {url: %q, hub_keys: [%q]}
api: {listen: "127.0.0.1:0", token: "tok"}
stations:
  - {name: print-1, role: print}
devices:
  - {name: scan-p1, kind: scanner, station: print-1, transport: serial, port: %s, profile: generic-serial-cr}
  - {name: zd421-1, kind: printer, station: print-1, transport: tcp, address: %q, profile: zebra-zd421, proxy_listen: "127.0.0.1:0", proxy_filter: "^SF\\d{13}$"}
`, filepath.Join(dir, "agent"), b.URL(), rigHubPub, pp.Name, paddr)
	cfg := writeConfig(t, filepath.Join(dir, "wedge.yaml"), yaml, nil)
	var mu sync.Mutex
	var events []printing.Event
	a := runAgent(t, ctx, cfg, agent.Deps{Logger: testLog(t), OnPrinterEvent: func(e printing.Event) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}})
	api := "http://" + a.APIAddr()

	const wb1, wb2, wb3, wb4 = "SF1234567890123", "SF1234567890222", "SF1234567890333", "SF1234567890444"
	var orders []wire.OrderMsg
	for i, wb := range []string{wb1, wb2, wb3, wb4} {
		orders = append(orders, wire.OrderMsg{Type: wire.TypeOrder, OrderID: fmt.Sprintf("T%d", i+1), Channel: "tmall",
			ChannelOrderNo: fmt.Sprintf("40123456789012%d", i+1), BuyerID: "b", OrderedAt: "2026-01-22T07:00:00Z",
			SKUs: []string{"S1"}, Carrier: "sf", Waybill: wb, Recipient: "张** 138****5678"})
	}
	postOrders(t, h, orders...)
	eventually(t, "the agent receives the orders with their waybills", func() bool {
		o, ok, _ := a.Store().Order("T4")
		return ok && o.State == order.PendingAllocation && o.AssignedWaybill == wb4
	})

	// 1. scan → printed → confirmed → 已打单, at the hub too.
	pp.Write([]byte("OP-zhang3\r401234567890121\r"))
	eventually(t, "T1 printed", func() bool {
		o, _, _ := a.Store().Order("T1")
		return o.State == order.WaybillPrinted && o.Waybill == wb1
	})
	if jobs := emu.Jobs(); len(jobs) != 1 || !reflect.DeepEqual(jobscan.Scan(jobs[0], nil), []string{wb1}) {
		t.Fatalf("printer jobs: %d", len(jobs))
	}
	var ho struct {
		State   string       `json:"state"`
		Waybill string       `json:"waybill"`
		History []wire.Entry `json:"history"`
	}
	eventually(t, "the hub shows T1 已打单 with its waybill", func() bool {
		code, _ := hubGetJSON(t, h, "/v1/orders/T1", &ho)
		return code == 200 && ho.State == string(order.WaybillPrinted) && ho.Waybill == wb1
	})
	var step *wire.Entry
	for i := range ho.History {
		if ho.History[i].Kind == wire.KindStep {
			step = &ho.History[i]
		}
	}
	if step == nil || step.Trigger != wire.TriggerPrint || step.Device != "zd421-1" || step.Job == "" || step.Operator != "OP-zhang3" {
		t.Fatalf("hub step entry %+v", step)
	}

	// 2. paper out: T2 stays 待分仓, the fault is in the status and reached the event hook.
	emu.SetFault(printer.FaultPaperOut)
	pp.Write([]byte("401234567890122\r"))
	eventually(t, "T2's printer_fault is journaled", func() bool {
		hist, _ := a.Store().History("T2")
		return len(hist) == 2 && hist[1].Reason == string(order.ReasonPrinterFault)
	})
	var st struct {
		Printers []printing.PrinterStatus `json:"printers"`
		Devices  []struct {
			Name   string `json:"name"`
			Health struct {
				Connected bool   `json:"connected"`
				LastError string `json:"last_error"`
			} `json:"health"`
		} `json:"devices"`
	}
	if code, _ := prDo(t, "GET", api+"/api/v1/status", nil, &st); code != 200 || len(st.Printers) != 1 {
		t.Fatalf("status %d %+v", code, st)
	}
	if p := st.Printers[0]; p.OK || !reflect.DeepEqual(p.Faults, []printer.Fault{printer.FaultPaperOut}) || p.Station != "print-1" || p.Proxy == "" {
		t.Fatalf("printer status %+v", p)
	}
	if d := st.Devices[1]; d.Name != "zd421-1" || !d.Health.Connected || !strings.Contains(d.Health.LastError, "缺纸") {
		t.Fatalf("printer device %+v", d)
	}
	mu.Lock()
	if len(events) != 1 || events[0].Printer != "zd421-1" || events[0].OrderID != "T2" {
		t.Fatalf("events %+v", events)
	}
	mu.Unlock()
	if o, _, _ := a.Store().Order("T2"); o.State != order.PendingAllocation {
		t.Fatalf("T2 %+v", o)
	}
	emu.SetFault("")

	// 3. API: reprint T1 (token), label.png.
	var rj struct {
		Good bool   `json:"good"`
		Kind string `json:"kind"`
	}
	if code, b := prDo(t, "POST", api+"/api/v1/orders/T1/reprint", map[string]string{"operator": "OP-li", "note": "torn"}, &rj); code != 200 || !rj.Good || rj.Kind != wire.KindReprint {
		t.Fatalf("reprint: %d %s", code, b)
	}
	if code, _ := prDo(t, "POST", api+"/api/v1/orders/T1/reprint", map[string]string{}, nil); code != 400 {
		t.Fatalf("reprint without operator: %d", code)
	}
	if code, _ := prDo(t, "POST", api+"/api/v1/orders/NOPE/reprint", map[string]string{"operator": "OP-li"}, nil); code != 404 {
		t.Fatalf("reprint unknown: %d", code)
	}
	code, png := prDo(t, "GET", api+"/api/v1/orders/T1/label.png", nil, nil)
	if code != 200 || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("label.png: %d %q", code, png[:min(len(png), 40)])
	}
	if zbar, err := exec.LookPath("zbarimg"); err == nil {
		f := filepath.Join(dir, "label.png")
		os.WriteFile(f, png, 0o600)
		out, err := exec.Command(zbar, "--raw", "-q", f).Output()
		if got := strings.TrimSpace(string(out)); err != nil || got != wb1 {
			t.Fatalf("zbarimg read %q (%v), want exactly %q", got, err, wb1)
		}
	} else if os.Getenv("CI") != "" {
		t.Fatal("zbarimg is required in CI (apt install zbar-tools)")
	}
	if code, _ := prDo(t, "GET", api+"/api/v1/orders/NOPE/label.png", nil, nil); code != 404 {
		t.Fatalf("label.png of an unknown order: %d", code)
	}
	req, _ := http.NewRequest("POST", api+"/api/v1/orders/T1/reprint", strings.NewReader(`{"operator":"OP-li"}`))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("reprint without token: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if n := len(emu.Jobs()); n != 3 { // T1, T2 (paper out, then printed when the paper came back), the reprint
		t.Fatalf("printer has %d formats, want 3", n)
	}

	// 4. proxy: a two-label third-party job advances T3 and T4; the printer gets the bytes as sent.
	before := len(emu.Received())
	job := []byte("^XA^FO40,40^BCN,100,Y,N,N^FD" + wb3 + "^FS^FO40,200^BCN,60,N,N,N^FD12345678^FS^XZ\n^XA^FO40,40^BCN,100,Y,N,N^FD" + wb4 + "^FS^XZ\n")
	c, err := net.Dial("tcp", st.Printers[0].Proxy)
	if err != nil {
		t.Fatal(err)
	}
	c.Write(job)
	c.Close()
	eventually(t, "T3 and T4 printed through the proxy", func() bool {
		o3, _, _ := a.Store().Order("T3")
		o4, _, _ := a.Store().Order("T4")
		return o3.State == order.WaybillPrinted && o4.State == order.WaybillPrinted
	})
	if got := emu.Received()[before:]; !bytes.Equal(got, job) {
		t.Fatalf("printer received %q, want the job unchanged", got)
	}
	eventually(t, "everything is acked by the hub", func() bool { return a.Store().AckedSeq() == a.Store().LastSeq() })
}
