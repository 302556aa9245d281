// Package tspl is the TSC TSPL side of the printer drivers (TSC, Gprinter, HPRT, Xprinter, Deli and
// most Chinese desktop waybill printers): the status query bytes <ESC>!? and <ESC>!S and their reply
// parsers, byte meanings exactly per docs/DEVICE-PROTOCOLS.md §5.3. It is pure (no I/O)
// and does not import the printer contract: package printer maps these replies to typed faults.
package tspl

import (
	"errors"
	"fmt"
)

// Status queries, as sent on the wire.
var (
	QueryStatus   = []byte{0x1B, '!', '?'} // <ESC>!? : 1 byte reply, 0x00 = ready
	QueryExtended = []byte{0x1B, '!', 'S'} // <ESC>!S : STX + 4 bytes + ETX CR LF (TSC firmware V6.29 EZ and later; complete at ETX)
)

// Sentinel errors.
var (
	ErrIncomplete = errors.New("tspl: incomplete reply")
	ErrMalformed  = errors.New("tspl: malformed reply")
)

// Bits of the <ESC>!? reply byte.
const (
	BitHeadOpen  byte = 1 << 0
	BitPaperJam  byte = 1 << 1
	BitPaperOut  byte = 1 << 2
	BitRibbonOut byte = 1 << 3
	BitPause     byte = 1 << 4
	BitPrinting  byte = 1 << 5
	BitCoverOpen byte = 1 << 6 // option
	BitTempRange byte = 1 << 7 // environment temperature out of range (option)
)

// Status is the <ESC>!? reply: one byte, 0x00 = ready.
type Status byte

// Ready reports the documented "ready" value 0x00.
func (s Status) Ready() bool { return s == 0 }

// Has reports whether bit b is set.
func (s Status) Has(b byte) bool { return byte(s)&b != 0 }

// ParseStatus parses an <ESC>!? reply at the start of b (exactly one byte; every value is valid).
func ParseStatus(b []byte) (Status, int, error) {
	if len(b) == 0 {
		return 0, 0, ErrIncomplete
	}
	return Status(b[0]), 1, nil
}

// Message values of byte 1 of the <ESC>!S reply.
const (
	MsgNormal       byte = '@'
	MsgPause        byte = '`'
	MsgBackingLabel byte = 'B'
	MsgCutting      byte = 'C'
	MsgError        byte = 'E'
	MsgFormFeed     byte = 'F'
	MsgWaitKey      byte = 'K'
	MsgWaitTake     byte = 'L'
	MsgPrinting     byte = 'P'
	MsgImaging      byte = 'W'
)

// Flag bits over the 0x40 base in bytes 2–4 of the <ESC>!S reply.
const (
	// byte 2 (warning)
	WarnBufferFull byte = 0x08 // 'H'
	// byte 3 (error)
	ErrHeadOverheat  byte = 0x01 // 'A'
	ErrMotorOverheat byte = 0x02 // 'B'
	ErrCutterJam     byte = 0x08 // 'H'
	ErrNoMemory      byte = 0x10 // 'P'
	// byte 4 (error); the reference excerpt was cut off after 'D': values past ribbon are UNCERTAIN.
	ErrPaperEmpty byte = 0x01 // 'A'
	ErrPaperJam   byte = 0x02 // 'B'
	ErrRibbon     byte = 0x04 // 'D' (UNCERTAIN: "ribbon …", cut off in the source)
)

// Extended is the <ESC>!S reply: four bytes, each 0x40 ('@') plus flags (byte 1 is an enumeration).
type Extended struct {
	Message byte // '@' normal, '`' pause, 'B','C','E','F','K','L','P','W' (see Msg*)
	Warning byte // flags over 0x40
	Error1  byte // flags over 0x40 (byte 3)
	Error2  byte // flags over 0x40 (byte 4)
}

// ParseExtended parses an <ESC>!S reply at the start of b: STX, 4 bytes, ETX, CR, LF. Leading CR and
// LF are skipped (the late CR LF of a previous reply). The reply is complete at the ETX: a printer
// that leaves the CR LF out has answered; the CR LF is consumed when it is already there, and bytes
// after the ETX that are not CR LF are not part of the reply.
func ParseExtended(b []byte) (Extended, int, error) {
	var e Extended
	i := 0
	for i < len(b) && (b[i] == '\r' || b[i] == '\n') {
		i++
	}
	b = b[i:]
	if len(b) == 0 {
		return e, 0, ErrIncomplete
	}
	if b[0] != 0x02 {
		return e, 0, fmt.Errorf("%w: expected STX, got 0x%02x", ErrMalformed, b[0])
	}
	// Check what is there so garbage fails early.
	for k := 1; k < len(b) && k < 5; k++ {
		if b[k] < 0x40 {
			return e, 0, fmt.Errorf("%w: status byte %d is 0x%02x (below 0x40)", ErrMalformed, k, b[k])
		}
	}
	if len(b) < 6 {
		return e, 0, ErrIncomplete
	}
	if b[5] != 0x03 {
		return e, 0, fmt.Errorf("%w: expected ETX, got 0x%02x", ErrMalformed, b[5])
	}
	n := 6
	if n < len(b) && b[n] == '\r' {
		n++
		if n < len(b) && b[n] == '\n' {
			n++
		}
	}
	e = Extended{Message: b[1], Warning: b[2] - 0x40, Error1: b[3] - 0x40, Error2: b[4] - 0x40}
	return e, i + n, nil
}

// FormatExtended builds an <ESC>!S reply (used by the emulator).
func FormatExtended(e Extended) []byte {
	m := e.Message
	if m == 0 {
		m = MsgNormal
	}
	return []byte{0x02, m, 0x40 | e.Warning, 0x40 | e.Error1, 0x40 | e.Error2, 0x03, '\r', '\n'}
}
