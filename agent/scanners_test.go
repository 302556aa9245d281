package agent_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"wedge/agent"
	"wedge/agent/config"
	"wedge/agent/devices"
	"wedge/agent/station"
	"wedge/drivers/discovery"
	"wedge/drivers/scanner"
	"wedge/drivers/scanner/hidscan"
	"wedge/drivers/scanner/hidscan/hidscantest"
	"wedge/internal/clock"
	"wedge/internal/testbroker"
)

// A Honeywell Voyager 1470g in HID POS mode (0C2E:0B8F, profile honeywell-1470g).
var voyager = hidscan.DeviceInfo{Path: "1-1.2:1.0", VendorID: 0x0C2E, ProductID: 0x0B8F, Serial: "18094B2C11", Manufacturer: "Honeywell", Product: "Voyager 1470g", Interface: 0}

const hidDevice = `  - {name: hid-1, station: print-1, transport: hid, profile: honeywell-1470g, match: {vid: "0C2E", pid: "0B8F", serial: "18094B2C11"}}
`

// recorder collects what the agent reports through its hooks.
type recorder struct {
	mu      sync.Mutex
	results []station.Result
	events  []devices.Event
	logs    bytes.Buffer
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.logs.Write(p)
}

func (r *recorder) result(res station.Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.results = append(r.results, res)
}

func (r *recorder) event(ev devices.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

func (r *recorder) Results() []station.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.results)
}

func (r *recorder) Events() []devices.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// startHIDAgent starts an agent with a print station, the devices given and the deps' seams, on
// a fake clock, against a real mosquitto.
func startHIDAgent(t *testing.T, clk *clock.Fake, devices string, deps agent.Deps) (*agent.Agent, *recorder) {
	t.Helper()
	return startAgentTB(t, clk, devices, deps)
}

// startAgentTB starts the agent on clk (nil: the real clock); deps.OnResult, if set, is called
// after the recorder's.
func startAgentTB(t testing.TB, clk clock.Clock, devices string, deps agent.Deps) (*agent.Agent, *recorder) {
	t.Helper()
	b := testbroker.Start(t, nil)
	dir := t.TempDir()
	yaml := fmt.Sprintf("site: sz01\nagent: pack01\ndata_dir: %s\nbroker: {url: %q, hub_keys: [%q]}\napi: {listen: \"127.0.0.1:0\", token: tok}\n"+
		"stations:\n  - {name: print-1, role: print}\ndevices:\n%s", filepath.Join(dir, "data"), b.URL(), rigHubPub, devices)
	profiles, err := agent.LoadProfiles("")
	if err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, filepath.Join(dir, "wedge.yaml"), yaml, &config.Options{
		ProfileKind:       func(id string) (string, bool) { p, ok := profiles[id]; return p.Kind, ok },
		ProfileTransports: func(id string) []string { return agent.ProfileTransports(profiles[id]) },
	})
	rec := &recorder{}
	onResult := deps.OnResult
	deps.Clock, deps.Logger, deps.OnDeviceEvent = clk, slog.New(slog.NewTextHandler(rec, &slog.HandlerOptions{Level: slog.LevelDebug})), rec.event
	deps.OnResult = func(r station.Result) {
		rec.result(r)
		if onResult != nil {
			onResult(r)
		}
	}
	if deps.SerialPorts == nil {
		deps.SerialPorts = func() ([]discovery.Port, error) { return nil, nil }
	}
	t.Cleanup(func() { // runs after the agent has stopped
		if t.Failed() {
			rec.mu.Lock()
			t.Log("agent log:\n" + rec.logs.String())
			rec.mu.Unlock()
		}
	})
	a := runAgent(t, context.Background(), cfg, deps)
	return a, rec
}

// usbBus is a fake USB bus for hot-plug: the device is present or not, each plug-in a fresh fake
// device; it counts the watcher's enumerations (vid/pid 0) apart from the driver's.
type usbBus struct {
	mu      sync.Mutex
	present bool
	dev     *hidscantest.Device
	opens   int
	scans   int
}

func (b *usbBus) enumerate(vid, pid uint16) []hidscan.DeviceInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	if vid == 0 && pid == 0 {
		b.scans++
	}
	if !b.present {
		return nil
	}
	return []hidscan.DeviceInfo{voyager}
}

func (b *usbBus) open(hidscan.DeviceInfo) (hidscan.Device, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.present {
		return nil, fmt.Errorf("no device")
	}
	b.opens++
	return b.dev, nil
}

func (b *usbBus) plug() *hidscantest.Device {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.present, b.dev = true, hidscantest.NewDevice()
	return b.dev
}

func (b *usbBus) unplug() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.present = false
	b.dev.Unplug()
}

func (b *usbBus) counts() (opens, scans int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.opens, b.scans
}

// Hot-plug over a fake enumerator on the fake clock: a drop-out shorter than the debounce is no
// unplug event but the driver reconnects; a real unplug is one debounced event and shows in the
// status (disconnected, last error); a replugged scanner reads again within 2 s.
func TestHIDHotPlug(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 11, 9, 0, 0, 0, time.UTC))
	bus := &usbBus{}
	dev := bus.plug()
	a, rec := startHIDAgent(t, clk, hidDevice, agent.Deps{HIDEnumerate: bus.enumerate, HIDOpen: bus.open})
	scan := func(d *hidscantest.Device, code string, n int) {
		t.Helper()
		d.Push(hidscantest.POSA("]C0", 'j', []byte(code+"\r"))...)
		eventually(t, "the read "+code+" reaches the station", func() bool { return len(rec.Results()) == n })
	}
	// advance moves the fake clock in 100 ms steps until cond holds, at most max of fake time.
	advance := func(what string, max time.Duration, cond func() bool) time.Duration {
		t.Helper()
		var moved time.Duration
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if moved >= max || time.Now().After(deadline) {
				t.Fatalf("%s: not within %v of fake time", what, moved)
			}
			clk.Advance(100 * time.Millisecond)
			moved += 100 * time.Millisecond
			time.Sleep(5 * time.Millisecond) // let the woken goroutines run (the bound is fake time)
		}
		return moved
	}
	eventually(t, "plugged event at start", func() bool { return len(rec.Events()) == 1 })
	scan(dev, "OP-li", 1)

	// A drop-out: the watcher scans once while it is away, then it is back.
	_, scans := bus.counts()
	bus.unplug()
	advance("the watcher scans while the device is away", 900*time.Millisecond, func() bool { _, s := bus.counts(); return s > scans })
	dev = bus.plug()
	advance("the driver reopens the device", 2*time.Second, func() bool { o, _ := bus.counts(); return o == 2 })
	scan(dev, "OP-wang", 2)
	_, scans = bus.counts()
	advance("the watcher sees it again", time.Second, func() bool { _, s := bus.counts(); return s > scans })

	// A real unplug: one debounced event, and the status says so.
	bus.unplug()
	advance("the unplug event", 3*time.Second, func() bool { return len(rec.Events()) == 2 })
	ev := rec.Events()
	if !ev[0].Plugged || ev[1].Plugged || ev[1].Device != "hid-1" || ev[1].Station != "print-1" || ev[1].Path != voyager.Path {
		t.Fatalf("events: %+v (a drop-out shorter than the debounce must not be an unplug)", ev)
	}
	// The debounced event reaches the supervision at once (its own poll is 5 s of fake time
	// away): /metrics says the scanner is down.
	eventually(t, "wedge_device_up 0 for hid-1", func() bool {
		resp, err := http.Get("http://" + a.APIAddr() + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(body), `wedge_device_up{device="hid-1",kind="scanner"} 0`)
	})
	var st struct {
		Devices []struct {
			Name   string         `json:"name"`
			Port   string         `json:"port"`
			Health scanner.Health `json:"health"`
		} `json:"devices"`
	}
	if code, err := getJSON("http://"+a.APIAddr()+"/api/v1/status", &st); err != nil || code != 200 || len(st.Devices) != 1 {
		t.Fatalf("status: %d %v %+v", code, err, st)
	}
	if h := st.Devices[0].Health; h.Connected || h.Reads != 2 || h.Reconnects != 1 || h.LastError == "" || !h.LastRead.Equal(clk.Now()) && h.LastRead.IsZero() {
		t.Errorf("status after unplug: %+v", h)
	}

	// Replugged: reads again within 2 s.
	dev = bus.plug()
	moved := advance("the replugged scanner is open again", 2*time.Second, func() bool { o, _ := bus.counts(); return o == 3 })
	scan(dev, "OP-zhao", 3)
	advance("the watcher reports it plugged in again", 2*time.Second, func() bool { return len(rec.Events()) == 3 })
	if ev := rec.Events()[2]; !ev.Plugged {
		t.Errorf("third event: %+v", ev)
	}
	t.Logf("replugged scanner open again after %v of fake time", moved)
	if code, err := getJSON("http://"+a.APIAddr()+"/api/v1/status", &st); err != nil || code != 200 || !st.Devices[0].Health.Connected || st.Devices[0].Health.Reconnects != 2 || st.Devices[0].Port != voyager.Path {
		t.Errorf("status after replug: %d %v %+v", code, err, st.Devices)
	}
}
