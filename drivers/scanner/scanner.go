// Package scanner holds only the contract between barcode scanner drivers and the rest of wedge:
// the Scanner interface, the Read it yields, optional abilities found by type assertion, and the
// sentinel errors. Implementations live in sibling packages (serial, HID); fakes, trace playback and
// the conformance suite every implementation must pass live in scannertest.
package scanner

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Drivers wrap them with the device name (fmt.Errorf("scanner %q: %w", name, err)).
var (
	// ErrClosed is returned by Read after Close. It is the only error after which Read must not be
	// called again.
	ErrClosed = errors.New("scanner: closed")
	// ErrNoise means bytes arrived that are not a barcode (non-printable garbage, a line without
	// content). The read is dropped; Read may be called again.
	ErrNoise = errors.New("scanner: noise on the line")
	// ErrOverlong means a frame exceeded the limit without a terminator; it was discarded and the
	// driver resynchronised at the next terminator (a serial driver also when the line went
	// quiet: the profile's noise cut-off). Read may be called again.
	ErrOverlong = errors.New("scanner: frame too long")
	// ErrDisconnected means the device went away (unplugged, port vanished). The driver keeps trying
	// to reopen it; Read may be called again and blocks until the device is back.
	ErrDisconnected = errors.New("scanner: device disconnected")
)

// Recoverable reports whether err leaves the scanner usable (anything but ErrClosed).
func Recoverable(err error) bool { return err != nil && !errors.Is(err, ErrClosed) }

// MaxFrame is the longest barcode payload wedge accepts (4 KiB).
const MaxFrame = 4096

// Read is one decoded barcode.
type Read struct {
	Text   string    // the payload as text (UTF-8), AIM prefix and suffix removed
	Raw    []byte    // the payload bytes as received (before charset decoding), without AIM and suffix
	AIM    string    // the AIM symbology identifier, e.g. "]C0", or "" if the device sent none
	At     time.Time // when the last byte arrived
	Device string    // the configured device name
}

// Scanner is a barcode scanner. Read blocks until a barcode arrives, the device errs, or Close is
// called (then it returns ErrClosed). Close may be called from any goroutine, more than once.
type Scanner interface {
	String() string
	Read() (Read, error)
	Close() error
}

// Outcome is what the business decided about a read, for the scanner's own beep/LED.
type Outcome int

// The outcomes.
const (
	Good Outcome = iota // accepted or already done
	Bad                 // rejected
)

// Feedbacker is implemented by scanners that can beep or light up on the host's decision.
// Feedback must respect ctx (callers give it a short timeout) and never block the next Read.
type Feedbacker interface {
	Feedback(ctx context.Context, o Outcome) error
}

// Health is a device's state for the status API and the console.
type Health struct {
	Connected  bool      `json:"connected"`
	LastRead   time.Time `json:"last_read,omitzero"`
	Reads      uint64    `json:"reads"`
	Reconnects uint64    `json:"reconnects"`
	LastError  string    `json:"last_error,omitempty"`
	LastErrAt  time.Time `json:"last_error_at,omitzero"`
}

// HealthReporter is implemented by scanners that track their health.
type HealthReporter interface {
	Health() Health
}
