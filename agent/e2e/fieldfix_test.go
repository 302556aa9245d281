package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"wedge/drivers/printer/emulator"
	"wedge/drivers/printer/jobscan"
	"wedge/internal/testbroker"
)

// startAgentWith writes an agent's config (site sz01) with the given stations/devices sections (and
// anything else, e.g. profiles_dir) into dir/<name>/ and starts it.
func startAgentWith(t *testing.T, dir, name string, b *testbroker.Broker, body string) *agentProc {
	t.Helper()
	a := &agentProc{name: name, dir: filepath.Join(dir, name)}
	a.data = filepath.Join(a.dir, "data")
	a.cfgPath = filepath.Join(a.dir, "wedge.yaml")
	if err := os.MkdirAll(a.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`site: sz01
agent: %s
data_dir: %s
broker: {url: %q}
api: {listen: "127.0.0.1:0", token: "e2e-token"}
channels:
  tmall: {order_no_pattern: "^\\d{12,20}$"}
breaker: {max_backlog: 100000, max_avg_wait: 24h}
%s`, name, a.data, b.URL(), body)
	if err := os.WriteFile(a.cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	a.run(t)
	return a
}

// deviceConnected reports whether the named device shows connected in the agent's status.
func (a *agentProc) deviceConnected(t *testing.T, name string) bool {
	for _, d := range a.status(t).Devices {
		if d.Name == name {
			return d.Health.Connected
		}
	}
	return false
}

// TestPrintThroughETXOnlyPrinter: the real agent prints through a Zebra whose ~HS/~HQES replies
// end at ETX without the CR LF (some firmware does). The printer answered, so every print is
// confirmed and the orders reach 已打单, at the agent and at the hub; none is a "printer does not
// answer" fault.
func TestPrintThroughETXOnlyPrinter(t *testing.T) {
	needE2E(t)
	dir := t.TempDir()
	b := testbroker.Start(t, nil)
	h := startHub(t, dir, b.URL(), freeAddr(t))
	ps := openPty(t)
	emu := emulator.NewZPL(&emulator.Options{PrintTime: 20 * time.Millisecond, Ending: emulator.EndETX})
	t.Cleanup(func() { emu.Close() })
	paddr, err := emu.ListenTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := startAgentWith(t, dir, "pack01", b, fmt.Sprintf(`stations:
  - {name: print-1, role: print}
devices:
  - {name: scan-1, kind: scanner, station: print-1, transport: serial, port: %s, profile: generic-serial-cr}
  - {name: zd421-1, kind: printer, station: print-1, transport: tcp, address: %q, profile: zebra-zd421}
`, ps.Name, paddr))

	orders := makeOrders("ETX", 3)
	h.dispatch(t, "sz01", orders)
	waitFor(t, 60*time.Second, "the agent receives the orders", func() bool {
		for _, o := range orders {
			if a.orderState(t, o.OrderID) != "pending_allocation" {
				return false
			}
		}
		return true
	})
	waitFor(t, 30*time.Second, "the scanner is open", func() bool { return a.deviceConnected(t, "scan-1") })

	scan(t, ps, "OP-etx1")
	for _, o := range orders {
		scan(t, ps, o.OrderID) // the print station prints the order's waybill label
	}
	waitFor(t, 60*time.Second, "every order is 已打单 at the agent", func() bool {
		for _, o := range orders {
			if a.orderState(t, o.OrderID) != "waybill_printed" {
				return false
			}
		}
		return true
	})
	jobs := emu.Jobs()
	if len(jobs) != len(orders) {
		t.Fatalf("the printer got %d formats, want %d", len(jobs), len(orders))
	}
	for i, o := range orders {
		if got := jobscan.Scan(jobs[i], nil); !reflect.DeepEqual(got, []string{o.Waybill}) {
			t.Errorf("label %d carries %v, want %s", i+1, got, o.Waybill)
		}
	}
	if emu.Queries() < len(orders) {
		t.Errorf("the printer was asked for its status %d times: the prints were not confirmed by status", emu.Queries())
	}
	for _, o := range a.outcomes(t) {
		if o.result != "accepted" {
			t.Errorf("scan %q: %+v, want accepted (a printer that answers at ETX is no fault)", o.code, o)
		}
	}
	waitFor(t, 60*time.Second, "the hub shows every order 已打单", func() bool {
		for _, o := range orders {
			if ho, ok := h.order(o.OrderID); !ok || ho.State != "waybill_printed" || ho.Waybill != o.Waybill {
				return false
			}
		}
		return true
	})
	a.drained(t, h, 60*time.Second)
	a.stop()
	a.verify(t)
}
