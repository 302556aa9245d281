//go:build unix

package agent_test

import (
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"wedge/agent"
	"wedge/drivers/scanner/hidscan"
)

// pollingDevice behaves like hidscan's SystemOpen adapter while no barcode comes: each Read
// waits up to 250 ms (hidapi's read timeout) and returns 0 bytes. It never returns data.
type pollingDevice struct {
	once   sync.Once
	closed chan struct{}
}

func (d *pollingDevice) Read(b []byte) (int, error) {
	select {
	case <-d.closed:
		return 0, hidscan.ErrDeviceClosed
	case <-time.After(250 * time.Millisecond):
		return 0, nil
	}
}
func (d *pollingDevice) Write(b []byte) (int, error)             { return len(b), nil }
func (d *pollingDevice) SendFeatureReport(b []byte) (int, error) { return len(b), nil }
func (d *pollingDevice) Close() error                            { d.once.Do(func() { close(d.closed) }); return nil }

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIdleCPU4Devices (goal < 1% of a core, no busy polling): the whole agent
// (journal, uplink connected to mosquitto, supervision, API, discovery watcher re-scanning every
// 500 ms) with 4 HID scanners attached that read like hidapi does (250 ms read timeout), measured
// as the process's CPU time (getrusage) over 10 s with no scans. The enumerators are fakes, so the
// cost of the system's USB enumeration is not in it (BenchmarkSystemEnumerate measures that).
func BenchmarkIdleCPU4Devices(b *testing.B) {
	var infos []hidscan.DeviceInfo
	devices := ""
	for i := range 4 {
		infos = append(infos, hidscan.DeviceInfo{Path: fmt.Sprintf("1-1.%d:1.0", i+1), VendorID: 0x0C2E, ProductID: 0x0B8F, Serial: fmt.Sprintf("S%d", i), Interface: 0})
		devices += fmt.Sprintf("  - {name: hid-%d, station: print-1, transport: hid, profile: honeywell-1470g, match: {vid: \"0C2E\", pid: \"0B8F\", serial: \"S%d\"}}\n", i, i)
	}
	var mu sync.Mutex
	opened := 0
	startHIDAgentDevices(b, devices, agent.Deps{
		HIDEnumerate: func(vid, pid uint16) []hidscan.DeviceInfo { return infos },
		HIDOpen: func(hidscan.DeviceInfo) (hidscan.Device, error) {
			mu.Lock()
			opened++
			mu.Unlock()
			return &pollingDevice{closed: make(chan struct{})}, nil
		},
	})
	time.Sleep(2 * time.Second) // start-up done, uplink connected
	mu.Lock()
	if opened != 4 {
		b.Fatalf("%d devices open, want 4", opened)
	}
	mu.Unlock()
	const window = 10 * time.Second
	b.ResetTimer()
	var pct float64
	for i := 0; i < b.N; i++ {
		c0, t0 := cpuTime(), time.Now()
		time.Sleep(window)
		pct = 100 * float64(cpuTime()-c0) / float64(time.Since(t0))
	}
	b.ReportMetric(pct, "%core-idle")
}
