package printer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"wedge/internal/clock"
	"wedge/internal/logging"
)

// ConfirmOptions tune Confirm. A nil *ConfirmOptions means all defaults.
type ConfirmOptions struct {
	Clock    clock.Clock   // nil = real time
	Logger   *slog.Logger  // nil = discard; records carry the printer as device and the job id
	Interval time.Duration // between polls (default 250ms)
	Timeout  time.Duration // give up after this long with ErrConfirmTimeout (default 60s)
	// Settle applies to printers whose status does not tell buffer counts (TSPL): "not printing" is
	// believed only after the printer was seen printing or Settle has passed since Confirm began,
	// because <ESC>!? is answered at once, possibly before the job's PRINT command was parsed
	// (default 500ms; UNCERTAIN how long real printers need).
	Settle time.Duration
}

// Confirm polls p's status until everything sent so far (so the job jobID too) has been printed
// with no fault, and returns that last status. On a fault it returns a *FaultError (errors.Is
// ErrFault) listing the faults; a status query with no answer is the fault FaultNoAnswer. A printer
// without a status query returns ErrNoStatus: confirm by scan-back. After opts.Timeout without
// completion or fault it returns ErrConfirmTimeout.
//
// ZPL: done means no error flags, formats in buffer 0 and labels remaining 0. TSPL: <ESC>!? == 0x00
// (not printing) and, with <ESC>!S, message '@' and no flags.
func Confirm(ctx context.Context, p Printer, jobID string, opts *ConfirmOptions) (Status, error) {
	if opts == nil {
		opts = &ConfirmOptions{}
	}
	clk := clock.Or(opts.Clock)
	interval, timeout, settle := opts.Interval, opts.Timeout, opts.Settle
	if interval <= 0 {
		interval = 250 * time.Millisecond
	}
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	if settle <= 0 {
		settle = 500 * time.Millisecond
	}
	log := logging.Or(opts.Logger).With(logging.KeyDevice, p.String(), "job", jobID)
	start := clk.Now()
	sawPrinting := false
	failures := 0
	const maxFailures = 3
	for polls := 1; ; polls++ {
		st, err := p.Status(ctx)
		switch {
		case errors.Is(err, ErrNoStatus):
			return st, err
		case st.Has(FaultNoAnswer) || errors.Is(err, ErrJobLost) || (err == nil && len(st.Faults) > 0):
			attrs := []any{"faults", st.Faults, "polls", polls}
			if err != nil {
				attrs = append(attrs, logging.Err(err))
			}
			log.Warn("printer fault", attrs...)
			return st, &FaultError{Printer: p.String(), Faults: st.Faults, Status: st, Err: err}
		case err != nil:
			if ctx.Err() != nil || errors.Is(err, ErrClosed) {
				return st, err
			}
			// A printer that cannot be reached at all (unplugged, powered off, port gone) is, for
			// the operator, a printer that does not answer.
			if failures++; failures >= maxFailures {
				log.Warn("printer status failed; reported as a fault", "failures", failures, logging.Err(err))
				st.Faults = []Fault{FaultNoAnswer}
				if errors.Is(err, ErrBadReply) {
					st.Faults = []Fault{FaultUnknown} // it answers, but not what its profile says
				}
				return st, &FaultError{Printer: p.String(), Faults: st.Faults, Status: st, Err: err}
			}
			log.Warn("printer status failed; retrying", "failures", failures, logging.Err(err))
		case st.Printing:
			sawPrinting, failures = true, 0
		case st.Done() && (st.FormatsInBuffer >= 0 || sawPrinting || clk.Now().Sub(start) >= settle):
			log.Debug("print job confirmed", "polls", polls)
			return st, nil
		}
		if clk.Now().Sub(start) >= timeout {
			return st, fmt.Errorf("printer %q job %s: %w after %v", p.String(), jobID, ErrConfirmTimeout, timeout)
		}
		t := clk.NewTimer(interval)
		select {
		case <-t.C():
		case <-ctx.Done():
			t.Stop()
			return st, ctx.Err()
		}
	}
}
