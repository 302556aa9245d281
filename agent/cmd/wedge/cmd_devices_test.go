package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"wedge/agent"
	"wedge/agent/config"
	"wedge/drivers/discovery"
	"wedge/drivers/scanner/hidscan"
)

// fakeBus is a fake enumeration: a Honeywell 1950g in keyboard mode with a serial number, an
// unknown HID POS scanner without one, a mouse (not listed), a USB CDC serial scanner and an
// RS-232 port that is not USB.
func fakeBus(serialErr error) func() discovery.Options {
	return func() discovery.Options {
		return discovery.Options{
			HIDEnumerate: func(vid, pid uint16) []hidscan.DeviceInfo {
				return []hidscan.DeviceInfo{
					{Path: "1-1.2:1.0", VendorID: 0x0C2E, ProductID: 0x1001, Serial: "21090B4F1A", Manufacturer: "Honeywell", Product: "Xenon 1950g", Interface: 0, UsagePage: 0x01, Usage: 0x06},
					{Path: "1-1.3:1.0", VendorID: 0x1EAB, ProductID: 0x9999, Product: "2D Barcode Scanner", Interface: 0, UsagePage: 0x8C},
					{Path: "1-1.4:1.0", VendorID: 0x046D, ProductID: 0xC077, Product: "USB Optical Mouse", Interface: 0, UsagePage: 0x01, Usage: 0x02},
				}
			},
			SerialPorts: func() ([]discovery.Port, error) {
				if serialErr != nil {
					return nil, serialErr
				}
				return []discovery.Port{
					{Name: "/dev/ttyACM0", IsUSB: true, VID: "1eab", PID: "1d06", SerialNumber: "X1", Product: "Newland FM430"},
					{Name: "/dev/ttyS0"},
				}, nil
			},
		}
	}
}

func withSeams(t *testing.T, f func() discovery.Options) {
	old := devicesSeams
	devicesSeams = f
	t.Cleanup(func() { devicesSeams = old })
}

// `wedge devices` over a fake enumeration: every scanner listed with its profile, mode and a
// snippet that, pasted under devices:, is a valid config bound to that very device; the mouse and
// the plain RS-232 port are not listed; a keyboard-mode scanner gets the Windows warning.
func TestDevicesReport(t *testing.T) {
	withSeams(t, fakeBus(nil))
	code, out, errs := wedge(t, "devices", "--os", "windows")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{
		"扫码设备 / scanners (windows): 3",
		"1-1.2:1.0  0C2E:1001 if0  Honeywell Xenon 1950g",
		"配置/profile: honeywell-xenon-1950g (Honeywell Xenon 1950g)  模式/mode: keyboard",
		"Windows/macOS", "switch it to HID POS or USB serial",
		"1-1.3:1.0  1EAB:9999", "generic-hid-pos", "模式/mode: hid_pos",
		"/dev/ttyACM0", "newland-cdc", "cdc_serial",
		"serial: \"21090B4F1A\"", "usb_path: \"1-1.3:1.0\"",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	for _, not := range []string{"Mouse", "ttyS0"} {
		if strings.Contains(out, not) {
			t.Errorf("%q listed:\n%s", not, out)
		}
	}
	if code, out, _ := wedge(t, "devices", "--os", "linux"); code != exitOK || strings.Contains(out, "Windows/macOS") || !strings.Contains(out, "udev") {
		t.Errorf("linux: keyboard-mode advice wrong:\n%s", out)
	}

	// The snippets are valid configuration for the profiles they name.
	code, js, _ := wedge(t, "devices", "--json")
	var rep discovery.Report
	if code != exitOK || json.Unmarshal([]byte(js), &rep) != nil || len(rep.Entries) != 3 {
		t.Fatalf("json: %d %s", code, js)
	}
	profiles, err := agent.LoadProfiles("")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("site: sz01\nagent: pack01\nstations:\n  - {name: print-1, role: print}\ndevices:\n")
	for _, e := range rep.Entries {
		for _, l := range strings.Split(strings.TrimRight(strings.ReplaceAll(e.Snippet, "CHANGE-ME", "print-1"), "\n"), "\n") {
			b.WriteString("  " + l + "\n")
		}
	}
	cfg, err := config.Parse("snippets.yaml", []byte(b.String()), &config.Options{
		ProfileKind:       func(id string) (string, bool) { p, ok := profiles[id]; return p.Kind, ok },
		ProfileTransports: func(id string) []string { return agent.ProfileTransports(profiles[id]) },
	})
	if err != nil {
		t.Fatalf("pasted snippets do not load:\n%s\n%v", b.String(), err)
	}
	hid := cfg.Devices[0]
	if hid.Transport != "hid" || hid.Match == nil || hid.Match.VID != "0C2E" || hid.Match.PID != "1001" || hid.Match.Serial != "21090B4F1A" {
		t.Errorf("hid snippet: %+v %+v", hid, hid.Match)
	}
	if m := cfg.Devices[1].Match; m == nil || m.USBPath != "1-1.3:1.0" {
		t.Errorf("no-serial snippet not bound to its port: %+v", m)
	}
	if d := cfg.Devices[2]; d.Transport != "serial" || d.Port != "/dev/ttyACM0" || d.Profile != "newland-cdc" {
		t.Errorf("serial snippet: %+v", d)
	}
}

// A failing serial enumeration still lists the HID scanners, with the error on stderr.
func TestDevicesSerialEnumerationFails(t *testing.T) {
	withSeams(t, fakeBus(fmt.Errorf("%w: permission denied", discovery.ErrEnumerate)))
	code, out, errs := wedge(t, "devices")
	if code != exitOK || !strings.Contains(out, "honeywell-xenon-1950g") || strings.Contains(out, "ttyACM0") || !strings.Contains(errs, "permission denied") {
		t.Errorf("exit %d\nout: %s\nerr: %s", code, out, errs)
	}
}

// Nothing attached: a clear hint, exit 0. A broken --profiles dir: exit 1 naming the file.
func TestDevicesEmptyAndBadProfiles(t *testing.T) {
	withSeams(t, func() discovery.Options {
		return discovery.Options{HIDEnumerate: func(uint16, uint16) []hidscan.DeviceInfo { return nil },
			SerialPorts: func() ([]discovery.Port, error) { return nil, nil }}
	})
	if code, out, _ := wedge(t, "devices"); code != exitOK || !strings.Contains(out, "未发现扫码枪") || !strings.Contains(out, "no scanner found") {
		t.Errorf("empty: %d %s", code, out)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "acme-x1.yaml"), []byte("schema: 1\nid: acme-x1\nkind: scanner\nhid: {layout: pos_c}\nsources: [x]\n"), 0o644)
	if code, _, errs := wedge(t, "devices", "--profiles", dir); code != exitFailure || !strings.Contains(errs, "acme-x1.yaml:4: hid.layout") {
		t.Errorf("bad profiles: %d %s", code, errs)
	}
}

// A user-written HID profile with several mistakes: every one is reported with file, line and
// field, and nothing is printed as OK.
func TestProfilesValidateUserHID(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "acme-x1.yaml"), []byte(`schema: 1
id: acme-x2
kind: scanner
vendor: Acme
model: X1
usb:
  - {vid: "0C2", pid: "1001", mode: hidpos}
hid:
  layout: pos_c
  alt_codes: big5
feedback:
  protocol: honeywell_hid
  via: output_report
  report_id: 253
  good: "1B 3Z"
sources: ["bench test"]
`), 0o644)
	os.WriteFile(filepath.Join(dir, "acme-y.yaml"), []byte("schema: 1\nid: acme-y\nkind: scanner\n  bad: [\n"), 0o644)
	code, out, errs := wedge(t, "profiles", "validate", dir)
	if code != exitFailure || strings.Contains(out, "OK") {
		t.Fatalf("exit %d, out %q", code, out)
	}
	for _, want := range []string{
		"acme-x1.yaml:2: id: \"acme-x2\" must equal the file name",
		"acme-x1.yaml:7: usb[0].vid: \"0C2\" is not 4 hex digits",
		"acme-x1.yaml:7: usb[0].mode: \"hidpos\"",
		"acme-x1.yaml:9: hid.layout: \"pos_c\"",
		"acme-x1.yaml:10: hid.alt_codes: \"big5\"",
		"acme-x1.yaml:15: feedback.good: \"1B 3Z\" is not hex",
		"acme-y.yaml:4: YAML syntax",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("missing %q in:\n%s", want, errs)
		}
	}
	// Fixed, it validates and says which transports it has.
	os.Remove(filepath.Join(dir, "acme-y.yaml"))
	os.WriteFile(filepath.Join(dir, "acme-x1.yaml"), []byte("schema: 1\nid: acme-x1\nkind: scanner\nvendor: Acme\nmodel: X1\nusb: [{vid: \"0C2E\", pid: \"1001\", mode: hid_pos}]\nhid: {layout: pos_a, report_id: 2, report_size: 64}\nfeedback: {protocol: honeywell_hid, via: output_report, report_id: 253, good: \"1B 37\", bad: \"1B 38\"}\nsources: [x]\n"), 0o644)
	if code, out, errs := wedge(t, "profiles", "validate", dir); code != exitOK || !strings.Contains(out, "acme-x1 Acme X1 (scanner; hid)") {
		t.Errorf("fixed profile: %d %s %s", code, out, errs)
	}
}

// `wedge run --check` checks a HID scanner's match rule and that its profile can drive HID.
func TestRunCheckHIDDevice(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "wedge.yaml")
	os.WriteFile(p, []byte(`site: sz01
agent: pack01
stations:
  - {name: print-1, role: print}
devices:
  - name: hid-1
    station: print-1
    transport: hid
    profile: generic-serial-cr
    match: {vid: "0C2E", pid: "0B8"}
`), 0o644)
	code, _, errs := wedge(t, "run", "--check", "--config", p)
	for _, want := range []string{
		p + `:9: devices[0].profile: "generic-serial-cr" has no hid settings (it has: serial)`,
		p + `:10: devices[0].match.pid: "0B8" is not 4 hex digits`,
	} {
		if code != exitUsage || !strings.Contains(errs, want) {
			t.Errorf("exit %d, missing %q in:\n%s", code, want, errs)
		}
	}
	os.WriteFile(p, []byte("site: sz01\nagent: pack01\nstations:\n  - {name: print-1, role: print}\ndevices:\n"+
		"  - {name: hid-1, station: print-1, transport: hid, profile: honeywell-1470g, match: {vid: \"0C2E\", pid: \"0B8F\"}}\n"), 0o644)
	if code, out, errs := wedge(t, "run", "--check", "--config", p); code != exitOK || !strings.Contains(out, "OK") {
		t.Errorf("valid HID config: %d %s %s", code, out, errs)
	}
}
