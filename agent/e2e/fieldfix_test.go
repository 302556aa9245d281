package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"wedge/drivers/printer/emulator"
	"wedge/drivers/printer/jobscan"
	"wedge/internal/pty"
)

// startAgentWith starts agent name (site sz01) with the given stations/devices sections (and
// anything else, e.g. profiles_dir), a tmall contract and a breaker out of the way.
func startAgentWith(t *testing.T, dir, name string, b *e2eBroker, body string) *agentProc {
	t.Helper()
	return startAgentYAML(t, dir, name, b, busyAgent+body)
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
	b := startBroker(t, dir)
	h := startHub(t, dir, b, freeAddr(t))
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

// beepProfile is generic-serial-cr with Datalogic's serial beeps (B good, F bad), from the agent's
// profiles_dir: the noise cut-off is the default one.
const beepProfile = `schema: 1
id: e2e-serial-cr-beep
kind: scanner
vendor: test
model: CR-terminated serial scanner with serial beeps
serial: {terminator: cr}
feedback: {protocol: datalogic, via: serial, good: "42", bad: "46"}
sources: [e2e test]
`

// lineNoise is about 100 KiB of garbage as a serial line carries it when it goes wrong: frames of
// random bytes (each with a control byte, so none is a barcode), an overlong run ended by a CR,
// and last an overlong run without a terminator of finalRun bytes: only the noise cut-off ends it.
func lineNoise(seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 99))
	var b []byte
	for len(b) < 88<<10 {
		b = append(b, 0x00)
		for range 1 + rng.IntN(800) {
			c := byte(rng.UintN(256))
			if c == '\r' {
				c = 0x07
			}
			b = append(b, c)
		}
		b = append(b, '\r')
	}
	b = append(b, bytes.Repeat([]byte{0x00, 0x7f}, 3<<10)...)
	b = append(b, '\r')
	return append(b, bytes.Repeat([]byte{0x1b, 0x00, 0xff}, finalRun/3)...)
}

const finalRun = 6 << 10

// cutOff is the driver's record of the noise cut-off ending the final overlong run.
func cutOff(log, device string) bool {
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.Contains(l, "quiet after an overlong frame") && strings.Contains(l, "device="+device+" ") &&
			strings.Contains(l, fmt.Sprintf("bytes=%d", finalRun)) {
			return true
		}
	}
	return false
}

// deviceBytes collects what the agent writes to a scanner's device side (its beeps).
type deviceBytes struct {
	mu  sync.Mutex
	got []byte
}

func (d *deviceBytes) Write(b []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.got = append(d.got, b...)
	return len(b), nil
}

func (d *deviceBytes) bytes() []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return bytes.Clone(d.got)
}

// TestGoodScanAfterNoise: the field case on real processes and real ptys. 100 KiB of noise ending
// in an overlong garbage line without a terminator arrives on a generic-serial-cr scanner and on a
// CR scanner that beeps; when the line goes quiet the garbage is dropped (the noise cut-off), and
// the next scans are read and accepted: the badge, then an order and its waybill, which reaches
// 已打单 at the hub. No piece of the noise reaches a station. The beeping scanner gets its bad beep
// for the noise and its good beep for the scan after it.
func TestGoodScanAfterNoise(t *testing.T) {
	needE2E(t)
	dir := t.TempDir()
	b := startBroker(t, dir)
	h := startHub(t, dir, b, freeAddr(t))
	ps, ds := openPty(t), openPty(t)
	profiles := filepath.Join(dir, "profiles")
	if err := os.MkdirAll(profiles, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(profiles, "e2e-serial-cr-beep.yaml"), []byte(beepProfile), 0o644); err != nil {
		t.Fatal(err)
	}
	a := startAgentWith(t, dir, "pack01", b, fmt.Sprintf(`profiles_dir: %s
stations:
  - {name: print-1, role: print}
  - {name: dock-1, role: handover}
devices:
  - {name: scan-1, kind: scanner, station: print-1, transport: serial, port: %s, profile: generic-serial-cr}
  - {name: scan-2, kind: scanner, station: dock-1, transport: serial, port: %s, profile: e2e-serial-cr-beep}
`, profiles, ps.Name, ds.Name))
	beeps := &deviceBytes{}
	copied := make(chan struct{})
	go func() { defer close(copied); io.Copy(beeps, ds.Main) }()
	// The copy ends when no one has the port open any more: the agent gone, then the pty closed.
	t.Cleanup(func() { a.kill(); ds.Close(); <-copied })

	orders := makeOrders("NZ", 2)
	h.dispatch(t, "sz01", orders)
	waitFor(t, 60*time.Second, "the agent receives the orders", func() bool {
		return a.orderState(t, orders[0].OrderID) == "pending_allocation" && a.orderState(t, orders[1].OrderID) == "pending_allocation"
	})
	waitFor(t, 30*time.Second, "the scanners are open", func() bool { return a.devicesConnected(t) })

	// The noise, on both scanners at once. A pty holds a few KiB: the writes wait for the agent.
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for i, p := range []*pty.Pair{ps, ds} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := p.Write(lineNoise(uint64(i + 1))); err != nil {
				errs <- fmt.Errorf("%s: %w", p.Name, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the noise cut-off ends the overlong garbage line on both scanners", func() bool {
		a.alive()
		log := a.log()
		return cutOff(log, "scan-1") && cutOff(log, "scan-2")
	})
	waitFor(t, 30*time.Second, "the bad beep for the noise", func() bool { return bytes.Contains(beeps.bytes(), []byte("F")) })
	if got := beeps.bytes(); bytes.Contains(got, []byte("B")) {
		t.Fatalf("a good beep before any good scan: %q", got)
	}

	// The scans right after the noise.
	scan(t, ps, "OP-n1")
	for _, o := range orders {
		scan(t, ps, o.OrderID, o.Waybill)
	}
	scan(t, ds, "OP-d1")
	waitFor(t, 30*time.Second, "the good beep for the badge after the noise", func() bool {
		got := beeps.bytes()
		return len(got) > 0 && got[len(got)-1] == 'B'
	})
	waitFor(t, 60*time.Second, "both orders are 已打单 at the hub", func() bool {
		for _, o := range orders {
			if ho, ok := h.order(o.OrderID); !ok || ho.State != "waybill_printed" {
				return false
			}
		}
		return true
	})
	want := []string{"OP-n1", orders[0].OrderID, orders[0].Waybill, orders[1].OrderID, orders[1].Waybill}
	var got []string
	for _, o := range a.outcomes(t) {
		if o.station == "print-1" {
			got = append(got, o.code)
		}
		if o.result != "accepted" {
			t.Errorf("scan %q on %s: %+v, want accepted", o.code, o.station, o)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("print-1 read %q, want exactly %q (the first scan after the noise is read, no noise is)", got, want)
	}
	if log := a.log(); !strings.Contains(log, scannerNoise) || !strings.Contains(log, scannerOverlong) {
		t.Errorf("the agent log names neither the noise nor the overlong lines")
	}
	a.drained(t, h, 60*time.Second)
	a.stop()
	a.verify(t)
	for _, e := range a.entries(t) {
		if e.Station != "" && !strings.HasPrefix(e.Code, "OP-") && !strings.HasPrefix(e.Code, "NZ-") && !strings.HasPrefix(e.Code, "SF") {
			t.Errorf("journal entry of a station with a code that is not one of the scans: %+v", e)
		}
	}
}
