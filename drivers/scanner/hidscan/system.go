package hidscan

import (
	"sync"

	"github.com/karalabe/hid"
)

// readPoll is how long one hidapi read waits before the adapter checks for Close. hidapi's
// blocking read cannot be interrupted safely (hid_close frees the handle under a reader), so the
// adapter reads with a timeout: a few idle wake-ups per second, no busy polling.
const readPoll = 250 // ms

// SystemEnumerate lists HID devices through karalabe/hid (vid/pid 0 match any). Errors and a
// build without cgo give an empty list.
func SystemEnumerate(vid, pid uint16) []DeviceInfo {
	infos, err := hid.Enumerate(vid, pid)
	if err != nil {
		return nil
	}
	out := make([]DeviceInfo, len(infos))
	for i, d := range infos {
		out[i] = DeviceInfo{Path: d.Path, VendorID: d.VendorID, ProductID: d.ProductID, Release: d.Release,
			Serial: d.Serial, Manufacturer: d.Manufacturer, Product: d.Product,
			UsagePage: d.UsagePage, Usage: d.Usage, Interface: d.Interface}
	}
	return out
}

// SystemOpen opens a HID device through karalabe/hid. On Linux this detaches the kernel driver
// from the interface (keystrokes stop reaching the focused window) and Close reattaches it.
func SystemOpen(info DeviceInfo) (Device, error) {
	d, err := hid.DeviceInfo{Path: info.Path, VendorID: info.VendorID, ProductID: info.ProductID, Interface: info.Interface}.Open()
	if err != nil {
		return nil, err
	}
	return &sysDevice{d: d}, nil
}

// sysDevice makes a hid.Device safe to Close while another goroutine reads or writes: every call
// holds a read lock, Close takes the write lock after marking the device closed, so hid_close never
// runs under a pending hid_read.
type sysDevice struct {
	mu     sync.RWMutex
	d      hid.Device
	closed sync.Once
	done   chan struct{}
	once   sync.Once
}

func (s *sysDevice) stop() chan struct{} {
	s.once.Do(func() { s.done = make(chan struct{}) })
	return s.done
}

func (s *sysDevice) isClosed() bool {
	select {
	case <-s.stop():
		return true
	default:
		return false
	}
}

func (s *sysDevice) Read(b []byte) (int, error) {
	for {
		s.mu.RLock()
		if s.isClosed() {
			s.mu.RUnlock()
			return 0, ErrDeviceClosed
		}
		n, err := s.d.ReadTimeout(b, readPoll)
		s.mu.RUnlock()
		if err != nil || n > 0 {
			return n, err
		}
	}
}

func (s *sysDevice) Write(b []byte) (int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.isClosed() {
		return 0, ErrDeviceClosed
	}
	return s.d.Write(b)
}

func (s *sysDevice) SendFeatureReport(b []byte) (int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.isClosed() {
		return 0, ErrDeviceClosed
	}
	return s.d.SendFeatureReport(b)
}

func (s *sysDevice) Close() error {
	var err error
	s.closed.Do(func() {
		close(s.stop())
		s.mu.Lock() // waits for a pending read (≤ readPoll) or write (hidapi: ≤ 1 s)
		defer s.mu.Unlock()
		err = s.d.Close()
	})
	return err
}
