package hidscan

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeLib stands in for karalabe/hid's device: ReadTimeout returns 0 bytes after "timeout"
// (immediately here) unless a report is queued, and counts calls made after Close (which would
// be a use-after-free in hidapi).
type fakeLib struct {
	mu        sync.Mutex
	queue     [][]byte
	closed    bool
	afterFree atomic.Int32
	inRead    atomic.Int32
}

func (f *fakeLib) check() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		f.afterFree.Add(1)
	}
}
func (f *fakeLib) Close() error {
	if f.inRead.Load() != 0 {
		f.afterFree.Add(1) // hid_close under a pending hid_read
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}
func (f *fakeLib) Write(b []byte) (int, error) { f.check(); return len(b), nil }
func (f *fakeLib) Read(b []byte) (int, error)  { return f.ReadTimeout(b, -1) }
func (f *fakeLib) ReadTimeout(b []byte, ms int) (int, error) {
	f.inRead.Add(1)
	defer f.inRead.Add(-1)
	f.check()
	time.Sleep(time.Millisecond) // a short poll, like hid_read_timeout with nothing queued
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.queue) == 0 {
		return 0, nil
	}
	n := copy(b, f.queue[0])
	f.queue = f.queue[1:]
	return n, nil
}
func (f *fakeLib) GetFeatureReport(b []byte) (int, error)  { f.check(); return 0, nil }
func (f *fakeLib) SendFeatureReport(b []byte) (int, error) { f.check(); return len(b), nil }

func TestSysDeviceCloseWhileReading(t *testing.T) {
	lib := &fakeLib{queue: [][]byte{{2, 1, 'x'}}}
	d := &sysDevice{d: lib}
	buf := make([]byte, 65)
	if n, err := d.Read(buf); err != nil || n != 3 {
		t.Fatalf("first read %d %v", n, err)
	}
	errc := make(chan error, 1)
	go func() { _, err := d.Read(buf); errc <- err }() // polls: nothing queued
	time.Sleep(5 * time.Millisecond)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, ErrDeviceClosed) {
		t.Fatalf("pending Read after Close: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := d.Write([]byte{0xFD}); !errors.Is(err, ErrDeviceClosed) {
		t.Fatalf("Write after Close: %v", err)
	}
	if _, err := d.SendFeatureReport([]byte{0xFE, 1}); !errors.Is(err, ErrDeviceClosed) {
		t.Fatalf("SendFeatureReport after Close: %v", err)
	}
	if n := lib.afterFree.Load(); n != 0 {
		t.Fatalf("%d library calls after or during hid_close", n)
	}
}
