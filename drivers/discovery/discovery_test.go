package discovery_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"wedge/drivers/discovery"
	"wedge/drivers/profile"
	"wedge/drivers/scanner/hidscan"
	"wedge/internal/clock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

func ip(i int) *int { return &i }

var profiles = []profile.Profile{
	{ID: "honeywell-1450g", Kind: "scanner", Vendor: "Honeywell", Model: "Voyager 1450g", USB: []profile.USBID{{VID: "0C2E", PID: "0B8F", Mode: "hid_pos"}}},
	{ID: "zebra-ds2208", Kind: "scanner", Vendor: "Zebra", Model: "DS2208", USB: []profile.USBID{{VID: "05E0", PID: "1200", Mode: "keyboard"}, {VID: "05E0", PID: "1701", Mode: "cdc_serial"}}},
	{ID: "zebra-li2208", Kind: "scanner", Vendor: "Zebra", Model: "LI2208", USB: []profile.USBID{{VID: "05E0", PID: "1200", Mode: "keyboard"}}},
	{ID: "zebra-zd421", Kind: "printer", Vendor: "Zebra", Model: "ZD421", USB: []profile.USBID{{VID: "0A5F", PID: "0141", Mode: "printer"}}},
}

// fakeUSB is a hand-written enumerator pair.
type fakeUSB struct {
	mu      sync.Mutex
	hid     []hidscan.DeviceInfo
	ports   []discovery.Port
	portErr error
}

func (f *fakeUSB) set(hid []hidscan.DeviceInfo, ports []discovery.Port) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hid, f.ports = hid, ports
}

func (f *fakeUSB) HID(vid, pid uint16) []hidscan.DeviceInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]hidscan.DeviceInfo(nil), f.hid...)
}

func (f *fakeUSB) Ports() ([]discovery.Port, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]discovery.Port(nil), f.ports...), f.portErr
}

var (
	hw    = hidscan.DeviceInfo{Path: "1-1:1.0", VendorID: 0x0C2E, ProductID: 0x0B8F, Serial: "17012B1234", Product: "Honeywell Scanning and Mobility"}
	zkbd  = hidscan.DeviceInfo{Path: "1-2:1.0", VendorID: 0x05E0, ProductID: 0x1200, Product: "Symbol Bar Code Scanner"}
	mouse = hidscan.DeviceInfo{Path: "1-3:1.0", VendorID: 0x046D, ProductID: 0xC077, Product: "USB Optical Mouse"}
	acm   = discovery.Port{Name: "/dev/ttyACM0", IsUSB: true, VID: "05e0", PID: "1701", SerialNumber: "S123"}
	tty   = discovery.Port{Name: "/dev/ttyS0"}
)

func opts(f *fakeUSB) *discovery.Options {
	return &discovery.Options{HIDEnumerate: f.HID, SerialPorts: f.Ports, Profiles: profiles, GOOS: "linux"}
}

func TestScanMatchesProfiles(t *testing.T) {
	f := &fakeUSB{}
	f.set([]hidscan.DeviceInfo{hw, zkbd, mouse}, []discovery.Port{acm, tty})
	devs, err := discovery.Scan(opts(f))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]discovery.Device{}
	for _, d := range devs {
		got[d.Key] = d
	}
	if d := got["hid:1-1:1.0"]; d.VID != "0C2E" || d.Mode != "hid_pos" || strings.Join(d.Profiles, ",") != "honeywell-1450g" || d.Serial != "17012B1234" {
		t.Errorf("honeywell: %+v", d)
	}
	if d := got["hid:1-2:1.0"]; d.Mode != "keyboard" || strings.Join(d.Profiles, ",") != "zebra-ds2208,zebra-li2208" {
		t.Errorf("zebra kbd: %+v", d)
	}
	if d := got["serial:/dev/ttyACM0"]; d.VID != "05E0" || d.Mode != "cdc_serial" || strings.Join(d.Profiles, ",") != "zebra-ds2208" || d.Interface != -1 {
		t.Errorf("acm: %+v", d)
	}
	if d := got["hid:1-3:1.0"]; len(d.Profiles) != 0 || d.LooksLikeScanner() {
		t.Errorf("mouse: %+v", d)
	}
	if d := got["serial:/dev/ttyS0"]; d.VID != "" || d.LooksLikeScanner() {
		t.Errorf("ttyS0: %+v", d)
	}
	// a failing serial enumeration still lists HID devices
	f.portErr = discovery.ErrEnumerate
	devs, err = discovery.Scan(opts(f))
	if !errors.Is(err, discovery.ErrEnumerate) || len(devs) != 3 {
		t.Fatalf("with port error: %d devs, %v", len(devs), err)
	}
}

func TestRules(t *testing.T) {
	f := &fakeUSB{}
	second := hw
	second.Path, second.Serial = "1-4:1.0", "17012B9999"
	f.set([]hidscan.DeviceInfo{hw, second, zkbd}, []discovery.Port{acm})
	devs, _ := discovery.Scan(opts(f))
	for _, c := range []struct {
		rule discovery.Rule
		want []string
	}{
		{discovery.Rule{VID: "0c2e", PID: "0B8F"}, []string{"hid:1-1:1.0", "hid:1-4:1.0"}},
		{discovery.Rule{VID: "0C2E", Serial: "17012B9999"}, []string{"hid:1-4:1.0"}},
		{discovery.Rule{USBPath: "1-1:1.0"}, []string{"hid:1-1:1.0"}},
		{discovery.Rule{Port: "/dev/ttyACM0"}, []string{"serial:/dev/ttyACM0"}},
		{discovery.Rule{VID: "05E0", Interface: ip(0)}, []string{"hid:1-2:1.0"}},
		{discovery.Rule{VID: "05E0", PID: "1701"}, []string{"serial:/dev/ttyACM0"}},
		{discovery.Rule{VID: "FFFF"}, nil},
	} {
		var got []string
		for _, d := range discovery.Bind(devs, c.rule) {
			got = append(got, d.Key)
		}
		if strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("%+v: %v, want %v", c.rule, got, c.want)
		}
	}
	for _, bad := range []discovery.Rule{{}, {VID: "0C2EX"}, {PID: "xyz"}} {
		if _, err := bad.HIDMatch(); !errors.Is(err, discovery.ErrRule) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	m, err := discovery.Rule{VID: "0c2e", PID: "0b8f", Serial: "17012B1234"}.HIDMatch()
	if err != nil || m.VID != 0x0C2E || m.PID != 0x0B8F || m.Interface != hidscan.AnyInterface || !m.Matches(hw) || m.Matches(second) {
		t.Fatalf("HIDMatch %+v %v", m, err)
	}
}

func TestReportWarnsKeyboardModeOnWindows(t *testing.T) {
	f := &fakeUSB{}
	f.set([]hidscan.DeviceInfo{hw, zkbd, mouse}, []discovery.Port{acm})
	devs, _ := discovery.Scan(opts(f))
	win := discovery.NewReport(devs, profiles, "windows")
	lin := discovery.NewReport(devs, profiles, "linux")
	if len(win.Entries) != 3 || len(lin.Entries) != 3 {
		t.Fatalf("entries %d/%d, want 3 (mouse left out)", len(win.Entries), len(lin.Entries))
	}
	find := func(r discovery.Report, key string) discovery.Entry {
		for _, e := range r.Entries {
			if e.Device.Key == key {
				return e
			}
		}
		t.Fatalf("no entry %s", key)
		return discovery.Entry{}
	}
	kw := find(win, "hid:1-2:1.0")
	if !hasWarning(kw, "HID POS") || !hasWarning(kw, "键盘模式") {
		t.Errorf("windows keyboard warnings %v", kw.Warnings)
	}
	if kl := find(lin, "hid:1-2:1.0"); hasWarning(kl, "a service cannot read it") {
		t.Errorf("linux got the windows warning: %v", kl.Warnings)
	}
	if hw := find(win, "hid:1-1:1.0"); len(hw.Warnings) != 0 || hw.Profile != "honeywell-1450g" || hw.Model != "Honeywell Voyager 1450g" {
		t.Errorf("honeywell entry %+v", hw)
	}
	h := find(win, "hid:1-1:1.0").Snippet
	for _, want := range []string{"transport: hid", "profile: honeywell-1450g", `vid: "0C2E"`, `pid: "0B8F"`, `serial: "17012B1234"`} {
		if !strings.Contains(h, want) {
			t.Errorf("snippet lacks %q:\n%s", want, h)
		}
	}
	if s := find(win, "serial:/dev/ttyACM0").Snippet; !strings.Contains(s, `port: "/dev/ttyACM0"`) || !strings.Contains(s, "transport: serial") {
		t.Errorf("serial snippet:\n%s", s)
	}
	if z := find(win, "hid:1-2:1.0"); !strings.Contains(z.Snippet, "usb_path") || !hasWarning(z, "several profiles") {
		t.Errorf("zebra keyboard entry %+v", z)
	}
	if s := win.String(); !strings.Contains(s, "扫码设备 / scanners (windows): 3") {
		t.Errorf("text:\n%s", s)
	}
	empty := discovery.NewReport(nil, profiles, "linux")
	if len(empty.Warnings) != 1 || !strings.Contains(empty.Warnings[0].String(), "udev") {
		t.Errorf("empty report %+v", empty)
	}
}

func TestReportGenericProfiles(t *testing.T) {
	pos := hidscan.DeviceInfo{Path: "\\\\?\\hid#vid_1234", VendorID: 0x1234, ProductID: 0x0001, UsagePage: 0x8C, Usage: 0x02}
	kbd := hidscan.DeviceInfo{Path: "kbd", VendorID: 0x1234, ProductID: 0x0002, UsagePage: 0x01, Usage: 0x06, Product: "2D Barcode Scanner"}
	f := &fakeUSB{}
	f.set([]hidscan.DeviceInfo{pos, kbd}, nil)
	devs, _ := discovery.Scan(opts(f))
	r := discovery.NewReport(devs, profiles, "windows")
	if len(r.Entries) != 2 || r.Entries[0].Profile != discovery.GenericHIDPOS || r.Entries[1].Profile != discovery.GenericKeyboard {
		t.Fatalf("%+v", r.Entries)
	}
}

func hasWarning(e discovery.Entry, s string) bool {
	for _, w := range e.Warnings {
		if strings.Contains(w.String(), s) {
			return true
		}
	}
	return false
}

// nextEvent waits for an event (real time only bounds a hang).
func nextEvent(t *testing.T, w *discovery.Watcher) discovery.Event {
	t.Helper()
	select {
	case ev := <-w.Events():
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
	return discovery.Event{}
}

func noEvent(t *testing.T, w *discovery.Watcher) {
	t.Helper()
	select {
	case ev := <-w.Events():
		t.Fatalf("unexpected event %v %s", ev.Kind, ev.Device.Key)
	default:
	}
}

// tick advances the fake clock by one interval once the watcher sleeps, and waits until it has
// scanned and slept again.
func tick(t *testing.T, clk *clock.Fake, d time.Duration) {
	t.Helper()
	wait := func() {
		deadline := time.Now().Add(5 * time.Second)
		for clk.Waiters() == 0 {
			if time.Now().After(deadline) {
				t.Fatal("watcher never slept")
			}
			time.Sleep(time.Millisecond)
		}
	}
	wait()
	clk.Advance(d)
	time.Sleep(time.Millisecond)
	wait()
}

func TestWatcherDebounceAndReplug(t *testing.T) {
	f := &fakeUSB{}
	f.set([]hidscan.DeviceInfo{hw}, nil)
	clk := clock.NewFake(t0)
	o := opts(f)
	o.Clock, o.Interval, o.Debounce = clk, 500*time.Millisecond, time.Second
	w := discovery.Watch(o)
	defer w.Close()
	if ev := nextEvent(t, w); ev.Kind != discovery.Added || ev.Device.Key != "hid:1-1:1.0" {
		t.Fatalf("first event %v %s", ev.Kind, ev.Device.Key)
	}
	// a brief drop-out (one scan) is not a removal
	f.set(nil, nil)
	tick(t, clk, 500*time.Millisecond)
	f.set([]hidscan.DeviceInfo{hw}, nil)
	tick(t, clk, 500*time.Millisecond)
	noEvent(t, w)
	st := w.States()
	if len(st) != 1 || !st[0].Present || st[0].Dropouts != 1 {
		t.Fatalf("states after drop-out %+v", st)
	}
	// unplugged for longer than the debounce: removed
	f.set(nil, nil)
	tick(t, clk, 500*time.Millisecond)
	tick(t, clk, 500*time.Millisecond)
	tick(t, clk, 500*time.Millisecond)
	if ev := nextEvent(t, w); ev.Kind != discovery.Removed {
		t.Fatalf("want removed, got %v", ev.Kind)
	}
	if len(w.Present()) != 0 {
		t.Fatalf("present %+v", w.Present())
	}
	// replugged: seen again at the next scan, within 2 s of fake time
	f.set([]hidscan.DeviceInfo{hw}, nil)
	start := clk.Now()
	tick(t, clk, 500*time.Millisecond)
	ev := nextEvent(t, w)
	if ev.Kind != discovery.Added || ev.At.Sub(start) > 2*time.Second {
		t.Fatalf("replug event %v after %v", ev.Kind, ev.At.Sub(start))
	}
	if st := w.States(); st[0].Reconnects != 1 || !st[0].Present {
		t.Fatalf("states %+v", st)
	}
}

func TestWatcherKeepsSerialPortsWhenEnumerationFails(t *testing.T) {
	f := &fakeUSB{}
	f.set(nil, []discovery.Port{acm})
	clk := clock.NewFake(t0)
	o := opts(f)
	o.Clock = clk
	w := discovery.Watch(o)
	defer w.Close()
	nextEvent(t, w)
	f.mu.Lock()
	f.portErr, f.ports = discovery.ErrEnumerate, nil
	f.mu.Unlock()
	for range 4 {
		tick(t, clk, 500*time.Millisecond)
	}
	noEvent(t, w)
	if len(w.Present()) != 1 {
		t.Fatalf("serial port dropped on an enumeration error")
	}
}

func TestDevicesEndToEnd(t *testing.T) {
	f := &fakeUSB{}
	f.set([]hidscan.DeviceInfo{hw}, []discovery.Port{acm})
	set, err := profile.LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	o := opts(f)
	o.Profiles, o.GOOS = set, "windows"
	r, err := discovery.Devices(o)
	if err != nil || len(r.Entries) != 2 {
		t.Fatalf("%+v %v", r, err)
	}
	// 0C2E:0B8F is listed by both Voyager 1400g-series profiles
	if e := r.Entries[0]; e.Profile != "honeywell-1450g" || e.Mode != "hid_pos" || !hasWarning(e, "several profiles") {
		t.Errorf("honeywell %+v", e)
	}
	// 05E0:1701 (CDC) is listed by the serial helper's zebra-cdc and by the Zebra model profiles
	if e := r.Entries[1]; e.Mode != "cdc_serial" || !strings.HasPrefix(e.Profile, "zebra-") {
		t.Errorf("zebra cdc %+v", e)
	}
}
