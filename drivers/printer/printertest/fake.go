package printertest

import (
	"context"
	"fmt"
	"sync"

	"wedge/drivers/printer"
)

// Fake is a hand-written printer.Printer for tests of code that uses printers (the agent's print
// station) when a byte-level emulator is more than the test needs. It records jobs and answers
// Status from a script. The zero value is a healthy printer that completes every job at once.
type Fake struct {
	Name string
	// StatusFunc answers the n-th Status call (n counts from 0); nil = always ready and done.
	StatusFunc func(n int) (printer.Status, error)
	// PrintErr, when set, is returned by Print (the job is not recorded).
	PrintErr error

	mu     sync.Mutex
	jobs   [][]byte
	calls  int
	closed bool
}

var _ printer.Printer = (*Fake)(nil)

func (f *Fake) String() string {
	if f.Name == "" {
		return "fake"
	}
	return f.Name
}

// Print records the job.
func (f *Fake) Print(ctx context.Context, job []byte) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return "", fmt.Errorf("printer %q: %w", f.String(), printer.ErrClosed)
	}
	if f.PrintErr != nil {
		return "", f.PrintErr
	}
	if len(job) == 0 {
		return "", fmt.Errorf("printer %q: %w", f.String(), printer.ErrEmptyJob)
	}
	f.jobs = append(f.jobs, append([]byte(nil), job...))
	return fmt.Sprintf("%s-%d", f.String(), len(f.jobs)), nil
}

// Status answers from StatusFunc.
func (f *Fake) Status(ctx context.Context) (printer.Status, error) {
	f.mu.Lock()
	n := f.calls
	f.calls++
	closed := f.closed
	f.mu.Unlock()
	if closed {
		return printer.Status{}, fmt.Errorf("printer %q: %w", f.String(), printer.ErrClosed)
	}
	if f.StatusFunc == nil {
		return printer.Status{Ready: true}, nil
	}
	return f.StatusFunc(n)
}

// Close marks the fake closed.
func (f *Fake) Close() error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	return nil
}

// Jobs returns the recorded jobs.
func (f *Fake) Jobs() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]byte(nil), f.jobs...)
}

// StatusCalls is how many times Status was called.
func (f *Fake) StatusCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}
