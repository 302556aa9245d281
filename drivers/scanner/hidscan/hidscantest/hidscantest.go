// Package hidscantest holds hand-written fakes for the hidscan driver: a fake HID device that plays
// recorded byte traces, a fake enumerator for plug/unplug, and builders that synthesise HID POS and
// boot keyboard reports. Trace files are scannertest's format (scannertest.ReadTrace); this package
// only turns their "in" events into input reports and back.
package hidscantest

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"wedge/drivers/scanner/hidscan"
	"wedge/drivers/scanner/scannertest"
)

// Report is one input report of a trace, at an offset from the start of the trace.
type Report struct {
	At   time.Duration
	Data []byte
}

// Reports returns the input reports of t: its "in" events (device → host). Its "out" events
// (feedback, set-up reports) are not input and are left out.
func Reports(t scannertest.Trace) []Report {
	var out []Report
	for _, e := range t.Filter(scannertest.In) {
		out = append(out, Report{At: e.At, Data: e.Data})
	}
	return out
}

// Trace returns reps as a trace of "in" events.
func Trace(reps []Report) scannertest.Trace {
	t := make(scannertest.Trace, len(reps))
	for i, r := range reps {
		t[i] = scannertest.Event{At: r.At, Dir: scannertest.In, Data: r.Data}
	}
	return t
}

// ReadTrace reads a trace file (scannertest.LoadTrace) and returns its input reports.
func ReadTrace(path string) ([]Report, error) {
	t, err := scannertest.LoadTrace(path)
	if err != nil {
		return nil, err
	}
	return Reports(t), nil
}

// ParseTrace parses a trace (scannertest.ReadTrace) and returns its input reports.
func ParseTrace(r io.Reader) ([]Report, error) {
	t, err := scannertest.ReadTrace(r)
	if err != nil {
		return nil, err
	}
	return Reports(t), nil
}

// WriteTrace writes reps as a trace file of "in" events (scannertest's Trace.WriteTo).
func WriteTrace(w io.Writer, reps []Report) error {
	_, err := Trace(reps).WriteTo(w)
	return err
}

// Spaced gives reports a fixed gap, starting at start.
func Spaced(start, gap time.Duration, reps ...[]byte) []Report {
	out := make([]Report, len(reps))
	for i, r := range reps {
		out[i] = Report{At: start + time.Duration(i)*gap, Data: r}
	}
	return out
}

// ErrUnplugged is what the fake device's Read returns after Unplug.
var ErrUnplugged = errors.New("hidscantest: device unplugged")

// Device is a fake HID device. Reads return pushed reports in order and block while none is
// queued; Close and Unplug unblock them. Writes and feature reports are recorded.
type Device struct {
	mu        sync.Mutex
	cond      *sync.Cond
	queue     [][]byte
	closed    bool
	unplug    bool
	writes    [][]byte
	features  [][]byte
	writeGate chan struct{}
	closedCh  chan struct{}
}

func (d *Device) closedC() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closedCh == nil {
		d.closedCh = make(chan struct{})
		if d.closed {
			close(d.closedCh)
		}
	}
	return d.closedCh
}

// NewDevice returns a fake device with reports queued.
func NewDevice(reports ...[]byte) *Device {
	d := &Device{}
	d.cond = sync.NewCond(&d.mu)
	d.queue = append(d.queue, reports...)
	return d
}

// Push queues reports.
func (d *Device) Push(reports ...[]byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range reports {
		d.queue = append(d.queue, append([]byte(nil), r...))
	}
	d.cond.Broadcast()
}

// Unplug makes pending and later Reads fail as if the device went away.
func (d *Device) Unplug() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.unplug = true
	d.cond.Broadcast()
}

// GateWrites makes every Write block until the returned function is called (once).
func (d *Device) GateWrites() (release func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	g := make(chan struct{})
	d.writeGate = g
	var once sync.Once
	return func() { once.Do(func() { close(g) }) }
}

// Read implements hidscan.Device.
func (d *Device) Read(b []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for len(d.queue) == 0 && !d.closed && !d.unplug {
		d.cond.Wait()
	}
	switch {
	case d.closed:
		return 0, hidscan.ErrDeviceClosed
	case d.unplug:
		return 0, ErrUnplugged
	}
	r := d.queue[0]
	d.queue = d.queue[1:]
	return copy(b, r), nil
}

// Write implements hidscan.Device.
func (d *Device) Write(b []byte) (int, error) {
	d.mu.Lock()
	g := d.writeGate
	d.mu.Unlock()
	if g != nil {
		select {
		case <-g:
		case <-d.closedC():
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || d.unplug {
		return 0, hidscan.ErrDeviceClosed
	}
	d.writes = append(d.writes, append([]byte(nil), b...))
	d.cond.Broadcast()
	return len(b), nil
}

// SendFeatureReport implements hidscan.Device.
func (d *Device) SendFeatureReport(b []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || d.unplug {
		return 0, hidscan.ErrDeviceClosed
	}
	d.features = append(d.features, append([]byte(nil), b...))
	return len(b), nil
}

// Close implements hidscan.Device; it unblocks Read.
func (d *Device) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.closed && d.closedCh != nil {
		close(d.closedCh)
	}
	d.closed = true
	d.cond.Broadcast()
	return nil
}

// Closed reports whether Close was called.
func (d *Device) Closed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}

// Writes returns copies of the output reports written so far.
func (d *Device) Writes() [][]byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([][]byte(nil), d.writes...)
}

// WaitWrites blocks until at least n writes were made or timeout passes (real time: only for
// waiting on another goroutine, never to assert timing).
func (d *Device) WaitWrites(n int, timeout time.Duration) [][]byte {
	deadline := time.Now().Add(timeout)
	for {
		w := d.Writes()
		if len(w) >= n || time.Now().After(deadline) {
			return w
		}
		time.Sleep(time.Millisecond)
	}
}

// Features returns copies of the feature reports sent so far.
func (d *Device) Features() [][]byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([][]byte(nil), d.features...)
}

// Bus is a fake USB bus: an enumerator and opener over plugged fake devices.
type Bus struct {
	mu      sync.Mutex
	devs    []busDev
	opens   int
	openErr error
}

type busDev struct {
	info hidscan.DeviceInfo
	dev  func() *Device
}

// Plug attaches a device; each Open calls mk for a fresh fake device.
func (b *Bus) Plug(info hidscan.DeviceInfo, mk func() *Device) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.devs = append(b.devs, busDev{info, mk})
}

// Unplug removes devices with this path.
func (b *Bus) Unplug(path string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	kept := b.devs[:0]
	for _, d := range b.devs {
		if d.info.Path != path {
			kept = append(kept, d)
		}
	}
	b.devs = kept
}

// FailOpen makes Open fail with err (nil to stop failing).
func (b *Bus) FailOpen(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.openErr = err
}

// Opens counts successful opens.
func (b *Bus) Opens() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.opens
}

// Enumerate matches hidscan's seam: vid/pid 0 match any.
func (b *Bus) Enumerate(vid, pid uint16) []hidscan.DeviceInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []hidscan.DeviceInfo
	for _, d := range b.devs {
		if (vid == 0 || d.info.VendorID == vid) && (pid == 0 || d.info.ProductID == pid) {
			out = append(out, d.info)
		}
	}
	return out
}

// Open matches hidscan's seam.
func (b *Bus) Open(info hidscan.DeviceInfo) (hidscan.Device, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.openErr != nil {
		return nil, b.openErr
	}
	for _, d := range b.devs {
		if d.info.Path == info.Path {
			b.opens++
			return d.dev(), nil
		}
	}
	return nil, fmt.Errorf("hidscantest: no device at %q", info.Path)
}
