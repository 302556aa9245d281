package discovery

import (
	"fmt"
	"strings"

	"wedge/drivers/profile"
)

// Report is what `wedge devices` prints: the attached scanners with their matched profile, mode, a
// config snippet to paste, and warnings. Build it with NewReport (a pure function).
type Report struct {
	GOOS     string  `json:"goos"`
	Entries  []Entry `json:"devices"`
	Warnings []Text  `json:"warnings,omitempty"`
}

// Text is a user-facing message, Chinese first, then English.
type Text struct {
	ZH string `json:"zh"`
	EN string `json:"en"`
}

func (t Text) String() string { return t.ZH + " / " + t.EN }

// Entry is one attached scanner candidate.
type Entry struct {
	Device   Device `json:"device"`
	Profile  string `json:"profile,omitempty"` // the best matching profile id ("" = none)
	Model    string `json:"model,omitempty"`
	Mode     string `json:"mode,omitempty"`
	Snippet  string `json:"config_snippet"`
	Warnings []Text `json:"warnings,omitempty"`
}

// Generic profile ids used when no model profile matched.
const (
	GenericHIDPOS   = "generic-hid-pos"
	GenericKeyboard = "generic-keyboard"
	GenericSerial   = "generic-serial-cr"
)

// NewReport lists devs that look like scanners (see Device.LooksLikeScanner) for an agent running
// on goos. profiles resolve ids to models; devs carry the match already (Scan).
func NewReport(devs []Device, profiles []profile.Profile, goos string) Report {
	byID := map[string]profile.Profile{}
	for _, p := range profiles {
		byID[p.ID] = p
	}
	r := Report{GOOS: goos}
	n := 0
	for _, d := range devs {
		if !d.LooksLikeScanner() {
			continue
		}
		n++
		e := Entry{Device: d, Mode: d.Mode}
		if len(d.Profiles) > 0 {
			e.Profile = d.Profiles[0]
			// prefer a profile whose usb entry says this very mode
			for _, id := range d.Profiles {
				if p, ok := byID[id]; ok && hasMode(p, d) {
					e.Profile = id
					break
				}
			}
		}
		if p, ok := byID[e.Profile]; ok {
			e.Model = strings.TrimSpace(p.Vendor + " " + p.Model)
		}
		if len(d.Profiles) > 1 {
			e.Warnings = append(e.Warnings, Text{
				ZH: fmt.Sprintf("多个配置文件匹配 %s:%s（%s），请确认型号", d.VID, d.PID, strings.Join(d.Profiles, ", ")),
				EN: fmt.Sprintf("several profiles match %s:%s (%s): check the model", d.VID, d.PID, strings.Join(d.Profiles, ", ")),
			})
		}
		if e.Profile == "" {
			g := GenericHIDPOS
			switch {
			case d.Transport == TransportSerial:
				g = GenericSerial
			case d.Mode == "keyboard":
				g = GenericKeyboard
			}
			e.Profile = g
			e.Warnings = append(e.Warnings, Text{
				ZH: fmt.Sprintf("没有与 %s:%s 匹配的型号配置，先用通用配置 %s", d.VID, d.PID, g),
				EN: fmt.Sprintf("no model profile matches %s:%s; using the generic profile %s", d.VID, d.PID, g),
			})
		}
		if d.Mode == "keyboard" {
			switch goos {
			case "windows", "darwin":
				e.Warnings = append(e.Warnings, Text{
					ZH: "扫码枪处于键盘模式：Windows/macOS 由系统独占键盘，后台服务无法读取。请扫描设置码切换到 HID POS 或 USB 虚拟串口模式",
					EN: "scanner is in keyboard mode: the OS owns keyboards, so a service cannot read it. Scan the setup code to switch it to HID POS or USB serial (CDC) mode",
				})
			default:
				e.Warnings = append(e.Warnings, Text{
					ZH: "键盘模式：wedge 打开设备时会从内核键盘驱动分离该接口（按键不再进入当前窗口），需安装 udev 规则；中文二维码建议改用 HID POS 或 USB 串口模式",
					EN: "keyboard mode: wedge detaches the interface from the kernel keyboard driver while it reads (keys stop reaching the focused window); needs the udev rule. For Chinese QR codes prefer HID POS or USB serial mode",
				})
			}
		}
		e.Snippet = snippet(n, e)
		r.Entries = append(r.Entries, e)
	}
	if len(r.Entries) == 0 {
		r.Warnings = append(r.Warnings, Text{
			ZH: "未发现扫码枪。检查 USB 连接；Linux 上需要 udev 规则（packaging/udev/99-wedge-scanners.rules）才能访问 USB 设备",
			EN: "no scanner found. Check the USB cable; on Linux the udev rule (packaging/udev/99-wedge-scanners.rules) is needed for USB access",
		})
	}
	return r
}

func hasMode(p profile.Profile, d Device) bool {
	for _, u := range p.USB {
		if strings.EqualFold(u.VID, d.VID) && strings.EqualFold(u.PID, d.PID) && u.Mode == d.Mode {
			return true
		}
	}
	return false
}

// snippet is the agent config entry to paste for e.
func snippet(n int, e Entry) string {
	d := e.Device
	var b strings.Builder
	fmt.Fprintf(&b, "- name: scanner-%d\n  kind: scanner\n  station: CHANGE-ME\n", n)
	if d.Transport == TransportSerial {
		fmt.Fprintf(&b, "  transport: serial\n  port: %q\n  profile: %s\n", d.Path, e.Profile)
		return b.String()
	}
	fmt.Fprintf(&b, "  transport: hid\n  profile: %s\n  match:\n    vid: %q\n    pid: %q\n", e.Profile, d.VID, d.PID)
	if d.Serial != "" {
		fmt.Fprintf(&b, "    serial: %q\n", d.Serial)
	} else {
		fmt.Fprintf(&b, "    usb_path: %q   # no serial number: bound to this USB port\n", d.Path)
	}
	return b.String()
}

// String renders the report for a terminal.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "扫码设备 / scanners (%s): %d\n", r.GOOS, len(r.Entries))
	for _, e := range r.Entries {
		d := e.Device
		fmt.Fprintf(&b, "\n%s  %s:%s", d.Path, d.VID, d.PID)
		if d.Interface >= 0 {
			fmt.Fprintf(&b, " if%d", d.Interface)
		}
		fmt.Fprintf(&b, "  %s %s\n", d.Manufacturer, d.Product)
		model := e.Model
		if model == "" {
			model = "?"
		}
		mode := e.Mode
		if mode == "" {
			mode = "?"
		}
		fmt.Fprintf(&b, "  配置/profile: %s (%s)  模式/mode: %s\n", e.Profile, model, mode)
		for _, w := range e.Warnings {
			fmt.Fprintf(&b, "  ! %s\n", w)
		}
		b.WriteString("  config:\n")
		for _, l := range strings.Split(strings.TrimRight(e.Snippet, "\n"), "\n") {
			b.WriteString("    " + l + "\n")
		}
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(&b, "! %s\n", w)
	}
	return b.String()
}

// Devices scans once and builds the report for opts.Profiles and opts.GOOS (runtime.GOOS when
// empty). A serial enumeration error is returned with the report of what was found.
func Devices(opts *Options) (Report, error) {
	o := opts.withDefaults()
	devs, err := Scan(&o)
	return NewReport(devs, o.Profiles, o.GOOS), err
}
