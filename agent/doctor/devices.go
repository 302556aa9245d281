package doctor

import (
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"wedge/agent/config"
	"wedge/drivers/discovery"
)

// NodeAccess says whether the service user can read and write a device node, given its mode
// and group (GroupOf). The packaged user is in wedge, dialout, lp and plugdev.
type NodeAccess struct {
	Groups  []string                         // the service user's groups; default wedge dialout lp plugdev
	GroupOf func(fs.FileInfo) (string, bool) // the node's group name; default: from the file system
}

func (n NodeAccess) groups() []string {
	if n.Groups == nil {
		return []string{"wedge", "dialout", "lp", "plugdev"}
	}
	return n.Groups
}

// Devices checks each configured device: a fixed port exists and its node is open to the service
// user; a USB match is plugged in and its profile lists it; a network printer is not probed here.
func Devices(devs []config.Device, found []discovery.Device, stat func(string) (fs.FileInfo, error), acc NodeAccess) []Result {
	var rs []Result
	for _, d := range devs {
		rs = append(rs, device(d, found, stat, acc))
	}
	return rs
}

func device(d config.Device, found []discovery.Device, stat func(string) (fs.FileInfo, error), acc NodeAccess) Result {
	name := fmt.Sprintf("device 设备 %s (%s %s)", d.Name, d.Kind, d.Transport)
	if d.Transport == "tcp" {
		return result(name, Skip, "网络打印机 network printer "+d.Address+": 由代理状态页显示 its state is on the agent's status page", "")
	}
	if d.Match != nil {
		if r, ok := matchDevice(name, d, found); !ok || d.Port == "" {
			return r
		}
	}
	return node(name, d.Port, stat, acc)
}

// matchDevice finds the USB device d.Match names; ok with a port still to check.
func matchDevice(name string, d config.Device, found []discovery.Device) (Result, bool) {
	m := d.Match
	for _, f := range found {
		if m.VID != "" && !strings.EqualFold(m.VID, f.VID) || m.PID != "" && !strings.EqualFold(m.PID, f.PID) ||
			m.Serial != "" && m.Serial != f.Serial {
			continue
		}
		if d.Profile != "" && len(f.Profiles) > 0 && !slices.Contains(f.Profiles, d.Profile) {
			return result(name, Warn, fmt.Sprintf("%s:%s 已连接 plugged in at %s, 但固件配置 but profile %s does not list it (%s)",
				f.VID, f.PID, f.Path, d.Profile, strings.Join(f.Profiles, ", ")),
				"用 wedge devices 查看建议的 profile use the profile wedge devices suggests"), true
		}
		return result(name, OK, fmt.Sprintf("%s:%s 已连接 plugged in at %s (%s)", f.VID, f.PID, f.Path, f.Product), ""), true
	}
	return result(name, Fail, fmt.Sprintf("未找到 not plugged in: vid %s pid %s serial %q", m.VID, m.PID, m.Serial),
		"插好设备（换个 USB 口试试），再运行 wedge devices 核对 vid/pid\nplug the device in (try another USB port), then check vid/pid with wedge devices"), false
}

// node checks that a device node exists and that the service user may open it.
func node(name, path string, stat func(string) (fs.FileInfo, error), acc NodeAccess) Result {
	fi, err := stat(path)
	if err != nil {
		return result(name, Fail, path+": 不存在 missing: "+err.Error(),
			"插好设备并确认端口名（ls /dev/ttyACM* /dev/ttyUSB* /dev/usb/lp*；wedge devices）\nplug the device in and check the port name (ls /dev/ttyACM* /dev/ttyUSB* /dev/usb/lp*; wedge devices)")
	}
	mode := fi.Mode().Perm()
	if mode&0o006 == 0o006 {
		return result(name, OK, fmt.Sprintf("%s %v", path, mode), "")
	}
	group, ok := "", false
	if acc.GroupOf != nil {
		group, ok = acc.GroupOf(fi)
	}
	if ok && mode&0o060 == 0o060 && slices.Contains(acc.groups(), group) {
		return result(name, OK, fmt.Sprintf("%s %v group %s", path, mode, group), "")
	}
	return result(name, Fail, fmt.Sprintf("%s %v group %q: wedge 用户无读写权限 the wedge user cannot open it", path, mode, group),
		"安装 udev 规则或把 wedge 用户加入该组（usermod -a -G GROUP wedge），重启服务\ninstall the udev rules or add the wedge user to that group (usermod -a -G GROUP wedge), then restart the service")
}
