// Package zpl is the Zebra Programming Language side of the printer drivers: the status query
// bytes (~HS, ~HQES) and their reply parsers, byte meanings exactly per
// docs/DEVICE-PROTOCOLS.md §5.1 and §5.2. It is pure (no I/O) and does not import the
// printer contract: package printer maps these replies to typed faults.
package zpl

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Status queries, as sent on the wire.
var (
	QueryHS   = []byte("~HS")
	QueryHQES = []byte("~HQES")
	// CancelAll is ~JA: the printer drops every format in its buffer, the label printing now
	// included (ZPL II programming guide, "~JA Cancel All"; not in the reference's §5). A tilde
	// command: it is executed when received, ahead of the buffered formats.
	CancelAll = []byte("~JA")
)

// Control bytes framing every reply string.
const (
	STX = 0x02
	ETX = 0x03
)

// Sentinel errors.
var (
	// ErrIncomplete means the buffer does not yet hold a whole reply: read more and try again.
	ErrIncomplete = errors.New("zpl: incomplete reply")
	// ErrMalformed means the reply does not have the documented shape.
	ErrMalformed = errors.New("zpl: malformed reply")
)

// MaxReply bounds how many bytes a reply may take; a buffer longer than this with no complete
// reply is malformed (a parser never waits for ever).
const MaxReply = 1024

// HostStatus is the ~HS reply (three strings).
type HostStatus struct {
	// String 1: aaa,b,c,dddd,eee,f,g,h,iii,j,k,l
	CommSettings     int
	PaperOut         bool // b
	Paused           bool // c
	LabelLength      int  // dddd, dots
	FormatsInBuffer  int  // eee
	BufferFull       bool // f
	CommDiagMode     bool // g
	PartialFormat    bool // h
	CorruptRAM       bool // j
	UnderTemperature bool // k
	OverTemperature  bool // l
	// String 2: mmm,n,o,p,q,r,s,t,uuuuuuuu,v,www
	FunctionSettings int
	HeadUp           bool // o
	RibbonOut        bool // p
	ThermalTransfer  bool // q
	PrintMode        int  // r: 0 rewind, 1 peel-off, 2 tear-off, 3 cutter, 4 applicator, 5 delayed cut
	PrintWidthMode   int  // s
	LabelWaiting     bool // t
	LabelsRemaining  int  // uuuuuuuu
	FormatWhilePrint bool // v
	GraphicsStored   int  // www
	// String 3: xxxx,y (meaning UNCERTAIN per the reference; kept raw)
	String3 string
}

// frame finds one STX…ETX frame at the start of b (leading CR/LF/space noise skipped, so the CR LF
// of a previous frame that came late is not taken for this one). It is complete at ETX; the CR LF
// after it is consumed when it is already there. It returns the payload between STX and ETX and the
// bytes consumed.
func frame(b []byte) (payload []byte, n int, err error) {
	i := 0
	for i < len(b) && (b[i] == '\r' || b[i] == '\n' || b[i] == ' ') {
		i++
	}
	if i > MaxReply {
		return nil, 0, fmt.Errorf("%w: %d bytes of line noise", ErrMalformed, i)
	}
	if i == len(b) {
		return nil, 0, ErrIncomplete
	}
	if b[i] != STX {
		return nil, 0, fmt.Errorf("%w: expected STX, got 0x%02x", ErrMalformed, b[i])
	}
	end := bytes.IndexByte(b[i+1:], ETX)
	if end > MaxReply || (end < 0 && len(b)-i > MaxReply) {
		return nil, 0, fmt.Errorf("%w: no ETX within %d bytes", ErrMalformed, MaxReply)
	}
	if end < 0 {
		return nil, 0, ErrIncomplete
	}
	payload = b[i+1 : i+1+end]
	if bytes.IndexByte(payload, STX) >= 0 {
		return nil, 0, fmt.Errorf("%w: STX inside a frame", ErrMalformed)
	}
	n = i + 1 + end + 1
	return payload, n + crlfAfter(b[n:]), nil
}

// crlfAfter is how many bytes of the CR LF that follows an ETX are already in b (0, 1 or 2). A
// reply is complete at its ETX: some printers and firmware never send the CR LF the manual
// documents, and waiting for it would make every status query a timeout. A CR LF that comes later
// is skipped as line noise before the next frame.
func crlfAfter(b []byte) int {
	switch {
	case len(b) >= 2 && b[0] == '\r' && b[1] == '\n':
		return 2
	case len(b) >= 1 && b[0] == '\r':
		return 1
	}
	return 0
}

func fields(p []byte, want int) ([]string, error) {
	f := strings.Split(strings.TrimSpace(string(p)), ",")
	if len(f) != want {
		return nil, fmt.Errorf("%w: %d fields, want %d in %q", ErrMalformed, len(f), want, p)
	}
	for i := range f {
		f[i] = strings.TrimSpace(f[i])
	}
	return f, nil
}

func num(s string) (int, error) {
	if s == "" || len(s) > 9 {
		return 0, fmt.Errorf("%w: bad number %q", ErrMalformed, s)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: bad number %q", ErrMalformed, s)
	}
	return n, nil
}

func flag(s string) (bool, error) {
	switch s {
	case "0":
		return false, nil
	case "1":
		return true, nil
	}
	return false, fmt.Errorf("%w: bad flag %q", ErrMalformed, s)
}

// ParseHS parses a ~HS reply at the start of b. It returns the status and the number of bytes
// consumed, ErrIncomplete when more bytes are needed, or an error wrapping ErrMalformed. The reply
// is complete at the third string's ETX, with or without the CR LF after it.
func ParseHS(b []byte) (HostStatus, int, error) {
	var hs HostStatus
	var parts [3][]byte
	n := 0
	for i := range parts {
		p, k, err := frame(b[n:])
		if err != nil {
			return hs, 0, err
		}
		parts[i] = p
		n += k
	}
	f1, err := fields(parts[0], 12)
	if err != nil {
		return hs, 0, fmt.Errorf("string 1: %w", err)
	}
	f2, err := fields(parts[1], 11)
	if err != nil {
		return hs, 0, fmt.Errorf("string 2: %w", err)
	}
	var errs []error
	nm := func(s string) int { v, e := num(s); errs = append(errs, e); return v }
	fl := func(s string) bool { v, e := flag(s); errs = append(errs, e); return v }
	hs.CommSettings = nm(f1[0])
	hs.PaperOut = fl(f1[1])
	hs.Paused = fl(f1[2])
	hs.LabelLength = nm(f1[3])
	hs.FormatsInBuffer = nm(f1[4])
	hs.BufferFull = fl(f1[5])
	hs.CommDiagMode = fl(f1[6])
	hs.PartialFormat = fl(f1[7])
	hs.CorruptRAM = fl(f1[9])
	hs.UnderTemperature = fl(f1[10])
	hs.OverTemperature = fl(f1[11])
	hs.FunctionSettings = nm(f2[0])
	hs.HeadUp = fl(f2[2])
	hs.RibbonOut = fl(f2[3])
	hs.ThermalTransfer = fl(f2[4])
	hs.PrintMode = nm(f2[5])
	hs.PrintWidthMode = nm(f2[6])
	hs.LabelWaiting = fl(f2[7])
	hs.LabelsRemaining = nm(f2[8])
	hs.FormatWhilePrint = fl(f2[9])
	hs.GraphicsStored = nm(f2[10])
	hs.String3 = string(parts[2])
	if err := errors.Join(errs...); err != nil {
		return HostStatus{}, 0, err
	}
	return hs, n, nil
}

// FormatHS builds a ~HS reply (used by the emulator; the inverse of ParseHS).
func FormatHS(hs HostStatus) []byte {
	b := func(v bool) int {
		if v {
			return 1
		}
		return 0
	}
	s3 := hs.String3
	if s3 == "" {
		s3 = "1234,0"
	}
	s := fmt.Sprintf("\x02%03d,%d,%d,%04d,%03d,%d,%d,%d,000,%d,%d,%d\x03\r\n"+
		"\x02%03d,0,%d,%d,%d,%d,%d,%d,%08d,%d,%03d\x03\r\n"+
		"\x02%s\x03\r\n",
		hs.CommSettings, b(hs.PaperOut), b(hs.Paused), hs.LabelLength, hs.FormatsInBuffer,
		b(hs.BufferFull), b(hs.CommDiagMode), b(hs.PartialFormat), b(hs.CorruptRAM),
		b(hs.UnderTemperature), b(hs.OverTemperature),
		hs.FunctionSettings, b(hs.HeadUp), b(hs.RibbonOut), b(hs.ThermalTransfer), hs.PrintMode,
		hs.PrintWidthMode, b(hs.LabelWaiting), hs.LabelsRemaining, b(hs.FormatWhilePrint),
		hs.GraphicsStored, s3)
	return []byte(s)
}

// Error bits of ~HQES (low group), per the reference §5.2.
const (
	ErrMediaOut          uint32 = 0x1
	ErrRibbonOut         uint32 = 0x2
	ErrHeadOpen          uint32 = 0x4
	ErrCutterFault       uint32 = 0x8
	ErrHeadOverTemp      uint32 = 0x10
	ErrMotorOverTemp     uint32 = 0x20
	ErrBadHeadElement    uint32 = 0x40
	ErrHeadDetection     uint32 = 0x80
	ErrBadFirmwareConfig uint32 = 0x100
	ErrHeadThermistor    uint32 = 0x200
	ErrJamRetract        uint32 = 0x1000
	ErrPresenter         uint32 = 0x2000
	ErrPaperFeed         uint32 = 0x4000
	ErrClearPath         uint32 = 0x8000
	ErrPaused            uint32 = 0x10000
	ErrRetractTimeout    uint32 = 0x20000
	ErrBlackMarkCal      uint32 = 0x40000
	ErrBlackMarkNotFound uint32 = 0x80000
)

// Warning bits of ~HQES (low group).
const (
	WarnCalibrate    uint32 = 0x1
	WarnCleanHead    uint32 = 0x2
	WarnReplaceHead  uint32 = 0x4
	WarnPaperNearEnd uint32 = 0x8
)

// ErrorsWarnings is the ~HQES reply.
type ErrorsWarnings struct {
	AnyError   bool   // the f flag of ERRORS
	Errors     uint32 // low group of ERRORS
	ErrorsHigh uint32 // the first (high) group of ERRORS
	AnyWarning bool
	Warnings   uint32
	WarnHigh   uint32
}

// ParseHQES parses a ~HQES reply at the start of b: STX, lines "PRINTER STATUS",
// "ERRORS: f hhhhhhhh hhhhhhhh", "WARNINGS: f hhhhhhhh hhhhhhhh", ETX, CR LF. It is complete at the
// ETX; the CR LF is consumed when it is already there.
func ParseHQES(b []byte) (ErrorsWarnings, int, error) {
	var ew ErrorsWarnings
	p, n, err := frame(b)
	if err != nil {
		return ew, 0, err
	}
	text := string(p)
	if !strings.Contains(text, "PRINTER STATUS") {
		return ew, 0, fmt.Errorf("%w: no PRINTER STATUS line", ErrMalformed)
	}
	var gotE, gotW bool
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		var dst *[3]uint32
		var set *bool
		var e [3]uint32
		switch {
		case strings.HasPrefix(line, "ERRORS:"):
			line, dst, set = strings.TrimPrefix(line, "ERRORS:"), &e, &gotE
		case strings.HasPrefix(line, "WARNINGS:"):
			line, dst, set = strings.TrimPrefix(line, "WARNINGS:"), &e, &gotW
		default:
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 || (f[0] != "0" && f[0] != "1") {
			return ErrorsWarnings{}, 0, fmt.Errorf("%w: bad flag line %q", ErrMalformed, line)
		}
		for i, h := range f[1:] {
			if len(h) != 8 {
				return ErrorsWarnings{}, 0, fmt.Errorf("%w: group %q is not 8 hex digits", ErrMalformed, h)
			}
			v, err := strconv.ParseUint(h, 16, 32)
			if err != nil {
				return ErrorsWarnings{}, 0, fmt.Errorf("%w: group %q is not hex", ErrMalformed, h)
			}
			dst[i+1] = uint32(v)
		}
		if f[0] == "1" {
			dst[0] = 1
		}
		*set = true
		if set == &gotE {
			ew.AnyError, ew.ErrorsHigh, ew.Errors = e[0] == 1, e[1], e[2]
		} else {
			ew.AnyWarning, ew.WarnHigh, ew.Warnings = e[0] == 1, e[1], e[2]
		}
	}
	if !gotE || !gotW {
		return ErrorsWarnings{}, 0, fmt.Errorf("%w: ERRORS or WARNINGS line missing", ErrMalformed)
	}
	return ew, n, nil
}

// FormatHQES builds a ~HQES reply (used by the emulator).
func FormatHQES(ew ErrorsWarnings) []byte {
	f := func(v bool) int {
		if v {
			return 1
		}
		return 0
	}
	return []byte(fmt.Sprintf("\x02\r\n  PRINTER STATUS\r\n   ERRORS:         %d %08X %08X\r\n"+
		"   WARNINGS:       %d %08X %08X\r\n\x03\r\n",
		f(ew.AnyError || ew.Errors != 0 || ew.ErrorsHigh != 0), ew.ErrorsHigh, ew.Errors,
		f(ew.AnyWarning || ew.Warnings != 0 || ew.WarnHigh != 0), ew.WarnHigh, ew.Warnings))
}
