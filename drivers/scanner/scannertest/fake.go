package scannertest

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"wedge/drivers/scanner"
	"wedge/internal/clock"
)

// Fake is a scanner without hardware for tests of the layers above the drivers (stations, the
// agent). Reads come from Push/PushErr, from raw bytes (Inject, a byte trace through Replay: a
// minimal CR/LF line framing, each non-empty line one barcode), or from the channel given to
// NewFake. It implements scanner.Scanner, scanner.Feedbacker (recording the outcomes) and
// scanner.HealthReporter, starts no goroutines, and passes the conformance suite (Run).
type Fake struct {
	name string
	in   <-chan scanner.Read
	clk  clock.Clock

	mu        sync.Mutex
	queue     []result
	line      []byte
	wake      chan struct{} // closed and replaced when something is queued
	closed    chan struct{}
	closeOnce sync.Once
	feedback  []scanner.Outcome
	health    scanner.Health
}

var (
	_ scanner.Scanner        = (*Fake)(nil)
	_ scanner.Feedbacker     = (*Fake)(nil)
	_ scanner.HealthReporter = (*Fake)(nil)
)

type result struct {
	r   scanner.Read
	err error
}

// NewFake returns a fake scanner named name. in, when not nil, is a further source of reads (the
// test closes it or not; a closed channel just stops delivering). clk stamps Read.At for reads
// that have none (nil: the wall clock).
func NewFake(name string, in <-chan scanner.Read, clk clock.Clock) *Fake {
	return &Fake{name: name, in: in, clk: clock.Or(clk), wake: make(chan struct{}), closed: make(chan struct{}),
		health: scanner.Health{Connected: true}}
}

// String names the fake.
func (f *Fake) String() string { return "fake scanner " + f.name }

// Push queues a read. It fails with ErrClosed after Close.
func (f *Fake) Push(r scanner.Read) error { return f.push(result{r: r}) }

// PushErr queues an error for Read to return (e.g. scanner.ErrNoise, scanner.ErrDisconnected).
func (f *Fake) PushErr(err error) error { return f.push(result{err: err}) }

func (f *Fake) push(res result) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.closedErr(); err != nil {
		return err
	}
	f.queue = append(f.queue, res)
	close(f.wake)
	f.wake = make(chan struct{})
	return nil
}

// Inject feeds raw bytes as a device would send them: every CR or LF ends a barcode (empty lines
// are ignored). It fails with ErrClosed after Close.
func (f *Fake) Inject(b []byte) error {
	for _, c := range b {
		if c != '\r' && c != '\n' {
			f.mu.Lock()
			f.line = append(f.line, c)
			f.mu.Unlock()
			continue
		}
		f.mu.Lock()
		line := bytes.Clone(f.line)
		f.line = f.line[:0]
		f.mu.Unlock()
		if len(line) == 0 {
			continue
		}
		if err := f.Push(scanner.Read{Text: string(line), Raw: line}); err != nil {
			return err
		}
	}
	return f.closedErr()
}

// Read returns the next queued read or error, blocking until there is one or Close is called.
func (f *Fake) Read() (scanner.Read, error) {
	for {
		f.mu.Lock()
		if err := f.closedErr(); err != nil {
			f.mu.Unlock()
			return scanner.Read{}, err
		}
		if len(f.queue) > 0 {
			res := f.queue[0]
			f.queue = f.queue[1:]
			f.mu.Unlock()
			return f.stamp(res)
		}
		wake, in := f.wake, f.in
		f.mu.Unlock()
		select {
		case <-wake:
		case <-f.closed:
		case r, ok := <-in:
			if !ok {
				f.mu.Lock()
				f.in = nil
				f.mu.Unlock()
				continue
			}
			return f.stamp(result{r: r})
		}
	}
}

func (f *Fake) stamp(res result) (scanner.Read, error) {
	if res.err != nil {
		return scanner.Read{}, res.err
	}
	r := res.r
	if r.At.IsZero() {
		r.At = f.clk.Now()
	}
	if r.Device == "" {
		r.Device = f.name
	}
	f.mu.Lock()
	f.health.Reads++
	f.health.LastRead = r.At
	f.mu.Unlock()
	return r, nil
}

// closedErr is ErrClosed, wrapped with the device name as drivers do, once Close was called; nil
// before.
func (f *Fake) closedErr() error {
	select {
	case <-f.closed:
		return fmt.Errorf("scanner %q: %w", f.name, scanner.ErrClosed)
	default:
		return nil
	}
}

// Close unblocks Read (ErrClosed from then on). It may be called more than once.
func (f *Fake) Close() error {
	f.closeOnce.Do(func() {
		f.mu.Lock()
		close(f.closed)
		f.health.Connected = false
		f.mu.Unlock()
	})
	return nil
}

// Feedback records o. It fails with ErrClosed after Close, or with ctx's error.
func (f *Fake) Feedback(ctx context.Context, o scanner.Outcome) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.closedErr(); err != nil {
		return err
	}
	f.feedback = append(f.feedback, o)
	return nil
}

// Feedbacks returns the outcomes given to Feedback so far, in order.
func (f *Fake) Feedbacks() []scanner.Outcome {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]scanner.Outcome(nil), f.feedback...)
}

// Health reports reads and whether the fake is open.
func (f *Fake) Health() scanner.Health {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.health
}
