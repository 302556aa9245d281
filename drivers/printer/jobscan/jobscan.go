// Package jobscan extracts waybill numbers from print jobs as they stream past (for the print
// proxy): ZPL ^BC (Code 128) and ^B3 (Code 39) fields, i.e. the ^FD…^FS (or ^FV…^FS) data following
// them, and TSPL `BARCODE x,y,"128",…,"DATA"` commands. A job may be split across reads at any byte
// and may hold several labels. Memory is bounded: fields and lines longer than the limits are
// dropped, and at most MaxWaybills numbers are kept per job.
//
// ZPL details handled: ^FH hex escapes (indicator '_' or the one given, e.g. ^FH\), the ^BC
// invocation codes of mode N (">;" start C, ">:" start B, ">9" start A, ">5" ">6" ">7" ">8"
// switches/FNC1 are dropped and "><" is a literal '>'), lower-case commands, and '~' as a command
// prefix. Not handled: ^CC/~CC (changing the caret), ^SN serialised fields, stored formats (^XF
// recalls whose data lives in the printer) and graphics: such labels yield no waybill.
package jobscan

import (
	"bytes"
	"regexp"
	"strings"
)

// Limits.
const (
	MaxField    = 256  // longest barcode field data considered
	MaxLine     = 2048 // longest TSPL line considered
	MaxWaybills = 4096 // per job
)

// Options tune a scanner. A nil *Options means defaults.
type Options struct {
	// Filter keeps only barcodes that match (e.g. the site's waybill formats); nil keeps every
	// Code 128 / Code 39 barcode.
	Filter *regexp.Regexp
}

type zstate uint8

const (
	zNormal zstate = iota
	zCmd1
	zCmd2
	zFHArg
	zField
)

// Scanner is a streaming job scanner. It is an io.Writer whose Write never fails. Not safe for
// concurrent use.
type Scanner struct {
	filter *regexp.Regexp

	// ZPL
	zs       zstate
	c1       byte
	barcode  string // "BC", "B3" or "" (none or another symbology)
	fh       bool
	fhInd    byte
	field    []byte
	fieldBad bool

	// TSPL
	line    []byte
	lineBad bool

	labels   int
	waybills []string
	seen     map[string]bool
	bytes    int64
}

// New returns a scanner.
func New(opts *Options) *Scanner {
	s := &Scanner{seen: map[string]bool{}}
	if opts != nil {
		s.filter = opts.Filter
	}
	return s
}

// Scan scans a whole job at once.
func Scan(job []byte, opts *Options) []string {
	s := New(opts)
	s.Write(job)
	s.Flush()
	return s.Waybills()
}

// Waybills returns the waybill numbers found so far, in order of first appearance, without
// duplicates.
func (s *Scanner) Waybills() []string { return append([]string(nil), s.waybills...) }

// Labels is how many label formats ended so far (ZPL ^XZ, TSPL PRINT lines).
func (s *Scanner) Labels() int { return s.labels }

// Bytes is how many bytes were written.
func (s *Scanner) Bytes() int64 { return s.bytes }

// Flush ends the job: a last TSPL line without a newline is considered.
func (s *Scanner) Flush() {
	s.endLine()
}

// Write scans p. It always returns len(p), nil.
func (s *Scanner) Write(p []byte) (int, error) {
	s.bytes += int64(len(p))
	for _, b := range p {
		s.zpl(b)
		s.tspl(b)
	}
	return len(p), nil
}

func upper(b byte) byte {
	if b >= 'a' && b <= 'z' {
		return b - 32
	}
	return b
}

func (s *Scanner) zpl(b byte) {
	switch s.zs {
	case zNormal:
		if b == '^' || b == '~' {
			s.zs = zCmd1
		}
	case zCmd1:
		if b == '^' || b == '~' {
			return
		}
		s.c1, s.zs = upper(b), zCmd2
	case zCmd2:
		s.zs = zNormal
		c2 := upper(b)
		cmd := func(a, b byte) bool { return s.c1 == a && c2 == b }
		switch {
		case cmd('B', 'C'):
			s.barcode = "BC"
		case cmd('B', '3'):
			s.barcode = "B3"
		case s.c1 == 'B':
			s.barcode = "" // another symbology
		case cmd('F', 'H'):
			s.fh, s.fhInd, s.zs = true, '_', zFHArg
		case cmd('F', 'D') || cmd('F', 'V'):
			s.zs, s.field, s.fieldBad = zField, s.field[:0], false
		case cmd('F', 'S'):
			s.barcode, s.fh = "", false
		case cmd('X', 'Z'):
			s.labels++
			s.barcode, s.fh = "", false
		case cmd('X', 'A'):
			s.barcode, s.fh = "", false
		}
		if b == '^' || b == '~' { // a one-letter command followed by the next one
			s.zs = zCmd1
		}
	case zFHArg:
		s.zs = zNormal
		switch {
		case b == '^' || b == '~':
			s.zs = zCmd1
		case b > ' ' && b < 0x7F:
			s.fhInd = b
		}
	case zField:
		if b == '^' {
			s.endField()
			s.zs = zCmd1
			return
		}
		if len(s.field) >= MaxField {
			s.fieldBad = true
			return
		}
		s.field = append(s.field, b)
	}
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func (s *Scanner) endField() {
	if s.barcode == "" || s.fieldBad {
		return
	}
	data := s.field
	if s.fh {
		var out []byte
		for i := 0; i < len(data); i++ {
			if data[i] == s.fhInd && i+2 < len(data) {
				h, ok1 := unhex(data[i+1])
				l, ok2 := unhex(data[i+2])
				if ok1 && ok2 {
					out = append(out, h<<4|l)
					i += 2
					continue
				}
			}
			out = append(out, data[i])
		}
		data = out
	}
	if s.barcode == "BC" {
		var out []byte
		for i := 0; i < len(data); i++ {
			if data[i] == '>' && i+1 < len(data) {
				switch data[i+1] {
				case '<':
					out = append(out, '>')
					i++
					continue
				case '9', ':', ';', '5', '6', '7', '8':
					i++
					continue
				}
			}
			out = append(out, data[i])
		}
		data = out
	}
	s.add(string(data))
}

func (s *Scanner) add(wb string) {
	wb = strings.TrimSpace(wb)
	if wb == "" || s.seen[wb] || len(s.waybills) >= MaxWaybills {
		return
	}
	if s.filter != nil && !s.filter.MatchString(wb) {
		return
	}
	s.seen[wb] = true
	s.waybills = append(s.waybills, wb)
}

func (s *Scanner) tspl(b byte) {
	if b == '\n' || b == '\r' {
		s.endLine()
		return
	}
	if len(s.line) >= MaxLine {
		s.lineBad = true
		return
	}
	s.line = append(s.line, b)
}

var (
	kwBarcode = []byte("BARCODE")
	kwPrint   = []byte("PRINT")
)

func (s *Scanner) endLine() {
	line, bad := bytes.TrimSpace(s.line), s.lineBad
	s.line, s.lineBad = s.line[:0], false
	if bad || len(line) < 5 {
		return
	}
	head := bytes.ToUpper(line[:min(len(line), 8)])
	switch {
	case bytes.HasPrefix(head, kwPrint) && (len(line) == 5 || line[5] == ' '):
		s.labels++
	case bytes.HasPrefix(head, kwBarcode) && len(line) > 7 && line[7] == ' ':
		args := splitArgs(line[8:])
		if len(args) < 3 {
			return
		}
		switch strings.ToUpper(args[2]) {
		case `"128"`, `"128M"`, `"39"`, `"39C"`, `"39S"`:
		default:
			return
		}
		last := args[len(args)-1]
		if len(args) < 4 || len(last) < 2 || last[0] != '"' || last[len(last)-1] != '"' {
			return
		}
		s.add(strings.ReplaceAll(last[1:len(last)-1], `\["]`, `"`))
	}
}

// splitArgs splits TSPL parameters at commas outside double quotes; \["] inside a string is a quote.
func splitArgs(b []byte) []string {
	var out []string
	var cur []byte
	inq := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case inq && c == '\\' && bytes.HasPrefix(b[i:], []byte(`\["]`)):
			cur = append(cur, b[i:i+4]...)
			i += 3
			continue
		case c == '"':
			inq = !inq
		case c == ',' && !inq:
			out = append(out, string(bytes.TrimSpace(cur)))
			cur = cur[:0]
			continue
		}
		cur = append(cur, c)
	}
	return append(out, string(bytes.TrimSpace(cur)))
}
