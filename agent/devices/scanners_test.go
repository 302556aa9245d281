package devices_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"wedge/agent/api"
	"wedge/agent/config"
	"wedge/agent/devices"
	"wedge/drivers/discovery"
	"wedge/drivers/profile"
	"wedge/drivers/scanner"
	"wedge/drivers/scanner/hidscan"
	"wedge/drivers/scanner/hidscan/feedback"
	"wedge/drivers/scanner/hidscan/hidscantest"
	"wedge/drivers/scanner/scannertest"
	"wedge/internal/clock"
	"wedge/order"
)

// A Honeywell Voyager 1470g in HID POS mode (0C2E:0B8F, profile honeywell-1470g).
var voyager = hidscan.DeviceInfo{Path: "1-1.2:1.0", VendorID: 0x0C2E, ProductID: 0x0B8F, Serial: "18094B2C11", Manufacturer: "Honeywell", Product: "Voyager 1470g", Interface: 0}

const hidDevice = `  - {name: hid-1, station: print-1, transport: hid, profile: honeywell-1470g, match: {vid: "0C2E", pid: "0B8F", serial: "18094B2C11"}}
`

func encode(t *testing.T, id string, o scanner.Outcome) []byte {
	t.Helper()
	profiles, err := devices.LoadProfiles("")
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := feedback.Encode(profiles[id].Feedback, o, false)
	if err != nil {
		t.Fatal(err)
	}
	return cmd.Bytes
}

// A HID POS scanner plays a trace (scans built with hidscantest, then the recorded multi-report
// UTF-8 QR trace of hidscan's testdata) through the devices: every scan reaches the print station,
// and after each outcome the scanner gets the profile's good or bad output report, in scan order,
// following the business decision (a code that decodes fine but is unknown gets the bad beep).
func TestHIDScanFeedbackFollowsOutcome(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 11, 9, 0, 0, 0, time.UTC))
	start := clk.Now()
	const wb = "73123456789012" // ZTO
	codes := []string{"OP-zhang", "NOPE-1", "88001", wb, wb}
	var trace []hidscantest.Report
	for k, c := range codes {
		for j, r := range hidscantest.POSA("]C0", 'j', []byte(c+"\r")) {
			trace = append(trace, hidscantest.Report{At: time.Duration(k+1)*time.Second + time.Duration(j)*time.Millisecond, Data: r})
		}
	}
	recorded, err := hidscantest.ReadTrace(filepath.Join("..", "..", "drivers", "scanner", "hidscan", "testdata", "pos_a_qr_utf8.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recorded {
		r.At += time.Duration(len(codes)+1) * time.Second
		trace = append(trace, r)
	}
	player := hidscantest.NewPlayer(clk, start, trace)
	var mu sync.Mutex
	opens := 0
	r := startDevices(t, clk, hidDevice, devices.Options{
		HIDEnumerate: func(vid, pid uint16) []hidscan.DeviceInfo { return []hidscan.DeviceInfo{voyager} },
		HIDOpen: func(hidscan.DeviceInfo) (hidscan.Device, error) {
			mu.Lock()
			defer mu.Unlock()
			opens++
			if opens > 1 {
				return nil, fmt.Errorf("opened twice")
			}
			return player, nil
		},
	})
	rec := r.rec
	r.addOrder(t, "H1", "88001")

	good, bad := encode(t, "honeywell-1470g", scanner.Good), encode(t, "honeywell-1470g", scanner.Bad)
	// Play the trace: move the fake clock to each report when the player waits for it; after
	// the last report of a read, wait for its outcome and its feedback before going on.
	nreads := len(codes) + 2
	for !player.Done() {
		var due time.Time
		eventually(t, "the player waits for the next report", func() bool {
			d, ok := player.Waiting()
			due = d
			return ok || player.Done()
		})
		if !due.IsZero() {
			clk.Set(due)
		}
	}
	eventually(t, "every read has an outcome and its feedback", func() bool {
		return len(rec.Results()) == nreads && len(player.Writes()) == nreads
	})
	res := rec.Results()
	want := []order.Result{order.Accepted, order.Rejected, order.Accepted, order.Accepted, order.AlreadyDone, order.Rejected, order.Rejected}
	for i, r := range res {
		if r.Err != nil || r.Outcome.Result != want[i] || r.Device != "hid-1" {
			t.Errorf("read %d (%q): %s err %v device %q, want %s", i, r.Code, r.Outcome.Result, r.Err, r.Device, want[i])
		}
	}
	if res[3].Outcome.To != order.WaybillPrinted {
		t.Errorf("the waybill scan did not print the order: %+v", res[3].Outcome)
	}
	if !strings.HasPrefix(res[6].Code, "收件人：张三") || !strings.HasSuffix(res[6].Code, "运单号SF1385628716739") {
		t.Errorf("the multi-report QR did not arrive whole: %q", res[6].Code)
	}
	writes := player.Writes()
	for i, w := range writes {
		exp, name := bad, "bad"
		if res[i].Good() {
			exp, name = good, "good"
		}
		if !bytes.Equal(w, exp) {
			t.Errorf("feedback %d after %s (%q): % X, want %s % X", i, res[i].Outcome.Result, res[i].Code, w, name, exp)
		}
	}
	if !bytes.Equal(good, []byte{0xFD, 0x02, 0x1B, 0x37}) || !bytes.Equal(bad, []byte{0xFD, 0x02, 0x1B, 0x38}) {
		t.Errorf("honeywell-1470g feedback: good % X bad % X", good, bad)
	}
	if f := player.Features(); len(f) != 1 || !bytes.Equal(f[0], []byte{0xFE, 0x01}) {
		t.Errorf("setup feature reports: % X", f)
	}
}

// A stuck feedback write (the device never answers the output report) delays no read: the next
// scans still reach the station and get their outcomes.
func TestStuckFeedbackDelaysNoRead(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 11, 9, 0, 0, 0, time.UTC))
	dev := hidscantest.NewDevice()
	release := dev.GateWrites()
	defer release()
	rec := startDevices(t, clk, hidDevice, devices.Options{
		HIDEnumerate: func(vid, pid uint16) []hidscan.DeviceInfo { return []hidscan.DeviceInfo{voyager} },
		HIDOpen:      func(hidscan.DeviceInfo) (hidscan.Device, error) { return dev, nil },
	}).rec
	for i := range 12 {
		dev.Push(hidscantest.POSA("]C0", 'j', fmt.Appendf(nil, "NOPE-%d\r", i))...)
	}
	eventually(t, "all 12 reads have outcomes while the first beep is stuck", func() bool { return len(rec.Results()) == 12 })
	if w := dev.Writes(); len(w) != 0 {
		t.Errorf("a gated write went through: %d", len(w))
	}
	release()
	eventually(t, "the stuck beep is written once released", func() bool { return len(dev.Writes()) >= 1 })
}

// ProfileTransports says which scanner transports each shipped scanner profile can drive.
func TestProfileTransports(t *testing.T) {
	profiles, err := devices.LoadProfiles("")
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string][]string{
		"generic-serial-cr": {"serial"}, "generic-hid-pos": {"hid"}, "generic-keyboard": {"hid"},
		"honeywell-1470g": {"hid"}, "newland-cdc": {"serial"}, "honeywell-xenon-1950g": {"serial", "hid"},
	} {
		if got := devices.ProfileTransports(profiles[id]); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", id, got, want)
		}
	}
	if got := devices.ProfileTransports(profile.Profile{}); got != nil {
		t.Errorf("empty profile: %v", got)
	}
}

// stuckFeedback is a scanner whose Feedback blocks until released, whatever its ctx says (the
// worst driver): the devices must still read on.
type stuckFeedback struct {
	*scannertest.Fake
	gate  chan struct{}
	calls atomic.Int32
}

func (s *stuckFeedback) Feedback(ctx context.Context, o scanner.Outcome) error {
	s.calls.Add(1)
	<-s.gate
	return s.Fake.Feedback(context.Background(), o)
}

// Whatever the driver does with a beep, the reads go on: a Feedback that never returns delays
// no scan, and once it returns the queued beeps follow in order, the newest kept when the queue
// overflowed.
func TestBlockingFeedbackDelaysNoRead(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 11, 9, 0, 0, 0, time.UTC))
	in := make(chan scanner.Read)
	sc := &stuckFeedback{Fake: scannertest.NewFake("ser-1", in, clk), gate: make(chan struct{})}
	rec := startDevices(t, clk, "  - {name: ser-1, station: print-1, transport: serial, port: /dev/ttyFAKE0, profile: generic-serial-cr}\n", devices.Options{
		OpenScanner: func(config.Device, profile.Profile, *slog.Logger) (scanner.Scanner, error) { return sc, nil },
	}).rec
	for i := range 3 + devices.FeedbackQueue {
		in <- scanner.Read{Text: fmt.Sprintf("NOPE-%d", i), At: clk.Now()}
	}
	in <- scanner.Read{Text: "OP-li", At: clk.Now()}
	eventually(t, "every read has its outcome while the first beep is stuck", func() bool { return len(rec.Results()) == 4+devices.FeedbackQueue })
	if n := sc.calls.Load(); n != 1 {
		t.Errorf("feedback calls while the first is stuck: %d", n)
	}
	close(sc.gate)
	eventually(t, "the queued beeps are sent", func() bool { return len(sc.Feedbacks()) == 1+devices.FeedbackQueue })
	fb := sc.Feedbacks()
	for i, o := range fb[:len(fb)-1] {
		if o != scanner.Bad {
			t.Errorf("beep %d: %v, want bad", i, o)
		}
	}
	if fb[len(fb)-1] != scanner.Good {
		t.Errorf("the last queued beep (badge) is %v, want good", fb[len(fb)-1])
	}
}

// serialBus is a fake serial port enumeration over real ptys.
type serialBus struct {
	mu    sync.Mutex
	ports []discovery.Port
	scans int
}

func (b *serialBus) list() ([]discovery.Port, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.scans++
	return slices.Clone(b.ports), nil
}

func (b *serialBus) set(ports ...discovery.Port) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ports = ports
}

// A USB serial scanner bound by vid/pid/serial, not by port name: it is opened on whatever tty the
// enumerator lists for it, closed when it stays unplugged past the debounce, and bound again under
// a new tty name when replugged (real ptys, real serial driver, fake enumeration and clock).
func TestSerialScannerBoundByMatch(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 11, 9, 0, 0, 0, time.UTC))
	ptys := openPTYs(t, 2)
	p1, p2 := ptys[0], ptys[1]
	port := func(name string) discovery.Port {
		return discovery.Port{Name: name, IsUSB: true, VID: "1eab", PID: "1d06", SerialNumber: "NL-7", Product: "FM430"}
	}
	bus := &serialBus{}
	r := startDevices(t, clk, `  - {name: cdc-1, station: print-1, transport: serial, profile: newland-cdc, match: {vid: "1EAB", pid: "1D06", serial: "NL-7"}}
`, devices.Options{SerialPorts: bus.list, HIDEnumerate: func(uint16, uint16) []hidscan.DeviceInfo { return nil }})
	rec := r.rec
	advance := func(what string, max time.Duration, cond func() bool) {
		t.Helper()
		var moved time.Duration
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if moved >= max || time.Now().After(deadline) {
				t.Fatalf("%s: not within %v of fake time", what, moved)
			}
			clk.Advance(100 * time.Millisecond)
			moved += 100 * time.Millisecond
			time.Sleep(5 * time.Millisecond)
		}
	}
	status := func() api.Device { return r.only(t) }
	if d := status(); d.Health.Connected || d.Health.LastError == "" {
		t.Errorf("before it is plugged in: %+v", d)
	}
	// Plugged in beside an identical scanner with another serial number, which is not bound.
	bus.set(port(p1.Name), discovery.Port{Name: "/dev/ttyACM9", IsUSB: true, VID: "1eab", PID: "1d06", SerialNumber: "OTHER"})
	advance("bound to the first tty", 2*time.Second, func() bool { return status().Health.Connected })
	if d := status(); d.Port != p1.Name {
		t.Errorf("bound to %q, want %q", d.Port, p1.Name)
	}
	p1.Write([]byte("OP-li\r"))
	eventually(t, "the read reaches the station", func() bool { return len(rec.Results()) == 1 })

	bus.set()
	advance("unplugged after the debounce", 3*time.Second, func() bool {
		ev := rec.Events()
		return len(ev) == 2 && !ev[1].Plugged
	})
	if d := status(); d.Health.Connected {
		t.Errorf("still connected after the unplug: %+v", d)
	}
	p1.Write([]byte("OP-ghost\r")) // the old tty is no longer read
	bus.set(port(p2.Name))
	advance("bound again under the new tty name", 2*time.Second, func() bool { return status().Health.Connected })
	p2.Write([]byte("OP-wang\r"))
	eventually(t, "the replugged scanner reads again", func() bool { return len(rec.Results()) >= 2 })
	res := rec.Results()
	if len(res) != 2 || res[1].Code != "OP-wang" {
		t.Errorf("results: %+v", res)
	}
	d := status()
	if d.Port != p2.Name || d.Health.Reads != 2 || d.Health.Reconnects != 1 {
		t.Errorf("status after the replug: %+v", d)
	}
	ev := rec.Events()
	if len(ev) != 3 || !ev[0].Plugged || ev[1].Plugged || !ev[2].Plugged || ev[0].Path != p1.Name || ev[2].Path != p2.Name {
		t.Errorf("events: %+v", ev)
	}
}

// Replugged into another port faster than the debounce: the old tty is dead (the driver says
// disconnected), so the new tty with the same identity is bound at once, without waiting for the
// old one's unplug to be confirmed, and no unplug event is raised.
func TestSerialScannerFastReplugRebinds(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 11, 9, 0, 0, 0, time.UTC))
	ptys := openPTYs(t, 2)
	p1, p2 := ptys[0], ptys[1]
	port := func(name string) discovery.Port {
		return discovery.Port{Name: name, IsUSB: true, VID: "1EAB", PID: "1D06", SerialNumber: "NL-7"}
	}
	bus := &serialBus{}
	bus.set(port(p1.Name))
	r := startDevices(t, clk, `  - {name: cdc-1, station: print-1, transport: serial, profile: newland-cdc, match: {serial: "NL-7"}}
`, devices.Options{SerialPorts: bus.list, HIDEnumerate: func(uint16, uint16) []hidscan.DeviceInfo { return nil }})
	rec := r.rec
	status := func() (string, bool) {
		d := r.only(t)
		return d.Port, d.Health.Connected
	}
	eventually(t, "bound to the first tty", func() bool { p, c := status(); return c && p == p1.Name })
	p1.Write([]byte("OP-li\r"))
	eventually(t, "first read", func() bool { return len(rec.Results()) == 1 })

	p1.Close() // the cable is pulled: the tty dies
	eventually(t, "the driver notices", func() bool { _, c := status(); return !c })
	bus.set(port(p2.Name))              // and it is back at once on another port
	clk.Advance(500 * time.Millisecond) // one watcher scan, well under the 1 s debounce
	eventually(t, "bound to the new tty", func() bool { p, c := status(); return c && p == p2.Name })
	p2.Write([]byte("OP-wang\r"))
	eventually(t, "read on the new tty", func() bool { return len(rec.Results()) == 2 })
	for _, ev := range rec.Events() {
		if !ev.Plugged {
			t.Errorf("unplug event for a replug faster than the debounce: %+v", ev)
		}
	}
}
