// Package proxy is the print proxy: a raw port (like 9100) that stands in for a station's printer.
// Third-party software (a WMS, a platform print component) prints to it; the proxy forwards every job
// byte for byte to the real printer, extracts the waybill numbers from the job (jobscan), confirms
// completion by the printer's status (printer.Confirm) and reports both steps through callbacks.
//
// wedge never blocks or alters a user's printing: jobs are forwarded in arrival order whatever the
// scan finds, a panicking scanner or callback is recovered and the job still prints, and a failed
// send is retried (a retry after a partly sent job may print that job twice: a duplicate label is
// preferred to a missing one).
//
// A job is what one connection sends until it closes, or until IdleGap passes with no bytes (for
// clients that keep the connection open), or MaxJob bytes. Status queries embedded in a job (~HS,
// <ESC>!?) are forwarded, but their answers are not relayed back to the third-party client.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"sync"
	"time"

	"wedge/drivers/printer"
	"wedge/drivers/printer/jobscan"
	"wedge/internal/clock"
	"wedge/internal/logging"
)

// ErrStopped is returned by Stop when called twice.
var ErrStopped = errors.New("proxy: already stopped")

// Job is one job received from a third-party client.
type Job struct {
	ID           string   // proxy job id, e.g. "pack-1-proxy-7"
	PrinterJobID string   // the id the printer's Print returned ("" if sending failed)
	Waybills     []string // waybill numbers found, in order, without duplicates
	Labels       int      // label formats seen (ZPL ^XZ, TSPL PRINT)
	Bytes        int
	Remote       string // client address
}

// Options tune the proxy. A nil *Options means defaults.
type Options struct {
	Name    string                  // for job ids and logs (default "proxy")
	Clock   clock.Clock             // nil = real time (retries and Confirm)
	Logger  *slog.Logger            // nil = discard; records carry Name as proxy
	Filter  *regexp.Regexp          // waybill filter for jobscan; nil keeps every Code 128/39 barcode
	IdleGap time.Duration           // a job ends after this quiet time on an open connection (default 2s)
	MaxJob  int                     // a job is cut after this many bytes (default 64 MiB)
	Retries int                     // extra send attempts when Print fails (default 3)
	RetryIn time.Duration           // wait between attempts (default 1s)
	Confirm *printer.ConfirmOptions // passed to printer.Confirm (its Clock and Logger default to Clock and Logger)
	// OnJob is called once a job was forwarded (or finally failed to send). It must not block.
	OnJob func(Job)
	// OnConfirmed is called after printer.Confirm for every job that was sent: err is nil when the
	// printer confirmed, a *printer.FaultError on a fault, printer.ErrNoStatus for printers without
	// a status query (confirm by scan-back), or the send error. It must not block for long.
	OnConfirmed func(j Job, st printer.Status, err error)
}

// Proxy is a running print proxy.
type Proxy struct {
	ln       net.Listener
	up       printer.Printer
	o        Options
	clk      clock.Clock
	log      *slog.Logger
	ctx      context.Context
	cancel   context.CancelFunc
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	seq      int
	stopped  bool
	fwdQ     chan Job // jobs with bytes, in arrival order
	confQ    chan Job
	readers  sync.WaitGroup
	owners   sync.WaitGroup
	payloads map[string][]byte
}

// New listens on listen (e.g. "0.0.0.0:9100", or "127.0.0.1:0") and starts forwarding to upstream.
func New(listen string, upstream printer.Printer, opts *Options) (*Proxy, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if upstream == nil {
		return nil, errors.New("proxy: nil upstream printer")
	}
	if o.Name == "" {
		o.Name = "proxy"
	}
	if o.IdleGap <= 0 {
		o.IdleGap = 2 * time.Second
	}
	if o.MaxJob <= 0 {
		o.MaxJob = 64 << 20
	}
	if o.Retries == 0 {
		o.Retries = 3
	}
	if o.RetryIn <= 0 {
		o.RetryIn = time.Second
	}
	var co printer.ConfirmOptions
	if o.Confirm != nil {
		co = *o.Confirm
	}
	if co.Clock == nil {
		co.Clock = o.Clock
	}
	if co.Logger == nil {
		co.Logger = o.Logger
	}
	o.Confirm = &co
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("proxy %s: listen %s: %w", o.Name, listen, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{ln: ln, up: upstream, o: o, clk: clock.Or(o.Clock), log: logging.Or(o.Logger).With("proxy", o.Name), ctx: ctx, cancel: cancel,
		conns: map[net.Conn]struct{}{}, fwdQ: make(chan Job, 1024), confQ: make(chan Job, 1024),
		payloads: map[string][]byte{}}
	p.owners.Add(2)
	go p.forwarder()
	go p.confirmer()
	p.readers.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the listening address.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

func (p *Proxy) accept() {
	defer p.readers.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.stopped {
			p.mu.Unlock()
			c.Close()
			return
		}
		p.conns[c] = struct{}{}
		p.readers.Add(1)
		p.mu.Unlock()
		go p.read(c)
	}
}

// read collects jobs from one client connection.
func (p *Proxy) read(c net.Conn) {
	defer p.readers.Done()
	defer func() {
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
		c.Close()
	}()
	var buf []byte
	var sc *jobscan.Scanner
	scanOK := true
	chunk := make([]byte, 32<<10)
	submit := func() {
		if len(buf) == 0 {
			return
		}
		j := Job{Bytes: len(buf), Remote: c.RemoteAddr().String()}
		if scanOK {
			func() {
				defer func() {
					if r := recover(); r != nil {
						p.log.Error("job scanner panicked; the job still prints", "panic", r)
						scanOK = false
					}
				}()
				sc.Flush()
				j.Waybills, j.Labels = sc.Waybills(), sc.Labels()
			}()
		}
		p.mu.Lock()
		p.seq++
		j.ID = p.o.Name + "-" + strconv.Itoa(p.seq)
		p.payloads[j.ID] = buf
		p.mu.Unlock()
		p.fwdQ <- j
		buf, sc, scanOK = nil, nil, true
	}
	for {
		c.SetReadDeadline(time.Now().Add(p.o.IdleGap))
		n, err := c.Read(chunk)
		if n > 0 {
			if sc == nil {
				sc = jobscan.New(&jobscan.Options{Filter: p.o.Filter})
			}
			buf = append(buf, chunk[:n]...)
			if scanOK {
				func() {
					defer func() {
						if r := recover(); r != nil {
							p.log.Error("job scanner panicked; the job still prints", "panic", r)
							scanOK = false
						}
					}()
					sc.Write(chunk[:n])
				}()
			}
			if len(buf) >= p.o.MaxJob {
				submit()
			}
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				submit()
				p.mu.Lock()
				stopped := p.stopped
				p.mu.Unlock()
				if !stopped {
					continue
				}
			}
			submit()
			return
		}
	}
}

// forwarder is the one goroutine sending jobs to the printer, in arrival order.
func (p *Proxy) forwarder() {
	defer p.owners.Done()
	defer close(p.confQ)
	for j := range p.fwdQ {
		p.mu.Lock()
		data := p.payloads[j.ID]
		delete(p.payloads, j.ID)
		p.mu.Unlock()
		var err error
		for attempt := 0; attempt <= p.o.Retries; attempt++ {
			if attempt > 0 {
				t := p.clk.NewTimer(p.o.RetryIn)
				select {
				case <-t.C():
				case <-p.ctx.Done():
					t.Stop()
				}
			}
			// Sending uses a context that only a forced stop cancels: accepted jobs are printed.
			j.PrinterJobID, err = p.up.Print(p.ctx, data)
			if err == nil || p.ctx.Err() != nil {
				break
			}
			p.log.Warn("proxied job not sent; retrying", "job", j.ID, "attempt", attempt+1, logging.Err(err))
		}
		if err != nil {
			p.log.Error("proxied job could not be sent", "job", j.ID, "bytes", j.Bytes, "labels", j.Labels, "waybills", j.Waybills, logging.Err(err))
		} else {
			p.log.Info("proxied job sent", "job", j.ID, "bytes", j.Bytes, "labels", j.Labels, "waybills", j.Waybills)
		}
		p.callJob(j)
		if err != nil {
			p.callConfirmed(j, printer.Status{}, err)
			continue
		}
		p.confQ <- j
	}
}

// confirmer is the one goroutine confirming sent jobs by status, in order.
func (p *Proxy) confirmer() {
	defer p.owners.Done()
	for j := range p.confQ {
		st, err := printer.Confirm(p.ctx, p.up, j.PrinterJobID, p.o.Confirm)
		p.callConfirmed(j, st, err)
	}
}

func (p *Proxy) callJob(j Job) {
	if p.o.OnJob == nil {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			p.log.Error("OnJob panicked", "panic", r)
		}
	}()
	p.o.OnJob(j)
}

func (p *Proxy) callConfirmed(j Job, st printer.Status, err error) {
	if p.o.OnConfirmed == nil {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			p.log.Error("OnConfirmed panicked", "panic", r)
		}
	}()
	p.o.OnConfirmed(j, st, err)
}

// Stop stops accepting, ends open client connections (what they sent so far is still forwarded),
// forwards every accepted job, and waits for pending confirmations until ctx ends; then it cancels
// them (OnConfirmed gets the context error) and waits for every goroutine. It does not close the
// upstream printer.
func (p *Proxy) Stop(ctx context.Context) error {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return ErrStopped
	}
	p.stopped = true
	for c := range p.conns {
		c.SetReadDeadline(time.Now())
	}
	p.mu.Unlock()
	p.ln.Close()
	p.readers.Wait()
	close(p.fwdQ)
	done := make(chan struct{})
	go func() { p.owners.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		p.cancel()
		<-done
	}
	p.cancel()
	return err
}
