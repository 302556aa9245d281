package hidscan

import (
	"fmt"
	"time"
	"unicode/utf8"

	"wedge/drivers/scanner"
)

// Alt+keypad decimal meanings (profile hid.alt_codes).
const (
	AltUnicode = "unicode" // the number is a Unicode code point (笔 = Alt+31508)
	AltGBK     = "gbk"     // the number is a GBK code (记 = 0xBCC7 = Alt+48327)
)

// KeyboardOptions configure a KeyboardDecoder. The zero value means: reports of 8 bytes (9 with a
// report id are recognised by length), Enter / keypad Enter / Tab end a barcode, Alt codes are
// Unicode, no idle cut-off, payloads up to scanner.MaxFrame.
type KeyboardOptions struct {
	AltCodes string // unicode | gbk ("" = unicode)
	// Suffix selects the terminators: "" or tab: Enter, keypad Enter or Tab; cr/lf/crlf: Enter or
	// keypad Enter (Tab is data); none: only the idle cut-off (Enter and Tab are data).
	Suffix string
	// IdleCut ends a barcode after this quiet time (checked on the next report and by Flush).
	IdleCut    time.Duration
	MaxPayload int // 0 = scanner.MaxFrame
}

// Keyboard usages (HID usage page 0x07).
const (
	kEnter     = 0x28
	kTab       = 0x2B
	kCapsLock  = 0x39
	kKPEnter   = 0x58
	kKP1       = 0x59
	kKP0       = 0x62
	modShift   = 0x02 | 0x20
	modAlt     = 0x04 | 0x40
	modCtrl    = 0x01 | 0x10
	maxAltDigs = 10
)

// usage → unshifted, shifted (US layout).
var usTable = func() (t [256][2]byte) {
	for u := 0x04; u <= 0x1D; u++ {
		t[u] = [2]byte{byte('a' + u - 0x04), byte('A' + u - 0x04)}
	}
	shifted := ")!@#$%^&*("
	for u := 0x1E; u <= 0x27; u++ {
		d := (u - 0x1E + 1) % 10
		t[u] = [2]byte{byte('0' + d), shifted[d]}
	}
	pairs := map[byte][2]byte{
		0x2C: {' ', ' '}, 0x2D: {'-', '_'}, 0x2E: {'=', '+'}, 0x2F: {'[', '{'}, 0x30: {']', '}'},
		0x31: {'\\', '|'}, 0x32: {'#', '~'}, 0x33: {';', ':'}, 0x34: {'\'', '"'}, 0x35: {'`', '~'},
		0x36: {',', '<'}, 0x37: {'.', '>'}, 0x38: {'/', '?'},
		0x54: {'/', '/'}, 0x55: {'*', '*'}, 0x56: {'-', '-'}, 0x57: {'+', '+'}, 0x63: {'.', '.'},
	}
	for u, p := range pairs {
		t[u] = p
	}
	for u := kKP1; u <= kKP0; u++ {
		d := (u - kKP1 + 1) % 10
		t[u] = [2]byte{byte('0' + d), byte('0' + d)}
	}
	return t
}()

// KeyboardDecoder decodes boot keyboard reports ([mod][0][k1..k6], or the same after a report id)
// on edges: a usage counts when it appears and was not in the previous report, so "11" (press,
// release, press) gives two 1s and a held key gives one. It assumes the scanner's keyboard country
// is US and NumLock on (keypad keys are digits); Ctrl+letter gives the control character and
// Ctrl+] gives GS; F-keys, arrows and NumLock itself are not data.
type KeyboardDecoder struct {
	gbk     bool
	termTab bool
	termCR  bool
	idle    time.Duration
	max     int

	prev     [6]byte
	prevMod  byte
	caps     bool
	raw      []byte // payload bytes (UTF-8 in unicode mode, GBK in gbk mode)
	bad      error  // first error inside this barcode (reported at its end)
	overlong bool
	altDigs  int
	altVal   uint64
	last     time.Time
	pending  bool
}

// NewKeyboardDecoder checks o and returns a decoder.
func NewKeyboardDecoder(o KeyboardOptions) (*KeyboardDecoder, error) {
	d := &KeyboardDecoder{idle: o.IdleCut, max: o.MaxPayload, termTab: true, termCR: true}
	switch o.AltCodes {
	case "", AltUnicode:
	case AltGBK:
		d.gbk = true
	default:
		return nil, fmt.Errorf("%w: alt_codes %q (want unicode or gbk)", ErrOptions, o.AltCodes)
	}
	switch o.Suffix {
	case "", "tab":
	case "cr", "lf", "crlf":
		d.termTab = false
	case "none":
		d.termTab, d.termCR = false, false
	default:
		return nil, fmt.Errorf("%w: suffix %q (want cr, lf, crlf, tab or none)", ErrOptions, o.Suffix)
	}
	if d.max <= 0 || d.max > scanner.MaxFrame {
		d.max = scanner.MaxFrame
	}
	if d.idle < 0 {
		return nil, fmt.Errorf("%w: negative idle cut-off", ErrOptions)
	}
	return d, nil
}

// Pending reports whether keys of an unfinished barcode are buffered.
func (d *KeyboardDecoder) Pending() bool { return d.pending }

// Flush ends the pending barcode (idle cut-off). The read is stamped with its last key's time.
func (d *KeyboardDecoder) Flush(dst []scanner.Read, at time.Time) ([]scanner.Read, error) {
	d.finishAlt()
	if !d.pending {
		return dst, nil
	}
	if !d.last.IsZero() {
		at = d.last
	}
	return d.emit(dst, at)
}

// Feed decodes one report of 8 bytes, or 9 bytes whose first byte is a report id.
func (d *KeyboardDecoder) Feed(dst []scanner.Read, r []byte, at time.Time) ([]scanner.Read, error) {
	switch len(r) {
	case 8:
	case 9:
		r = r[1:]
	default:
		return dst, fmt.Errorf("%w: keyboard report of %d bytes (want 8, or 9 with a report id)", ErrReport, len(r))
	}
	var err error
	if d.pending && d.idle > 0 && !d.last.IsZero() && at.Sub(d.last) >= d.idle {
		d.finishAlt()
		dst, err = d.emit(dst, d.last)
	}
	d.last = at
	keys := r[2:8]
	for _, k := range keys {
		if k >= 0x01 && k <= 0x03 { // ErrorRollOver, POSTFail, ErrorUndefined: state unknown
			return dst, err
		}
	}
	mod := r[0]
	if d.prevMod&modAlt != 0 && mod&modAlt == 0 {
		d.finishAlt()
	}
	for _, k := range keys {
		if k == 0 || d.wasDown(k) {
			continue
		}
		var e error
		dst, e = d.press(dst, k, mod, at)
		if err == nil {
			err = e
		}
	}
	copy(d.prev[:], keys)
	d.prevMod = mod
	return dst, err
}

func (d *KeyboardDecoder) wasDown(k byte) bool {
	for _, p := range d.prev {
		if p == k {
			return true
		}
	}
	return false
}

func (d *KeyboardDecoder) press(dst []scanner.Read, k, mod byte, at time.Time) ([]scanner.Read, error) {
	if mod&modAlt != 0 && k >= kKP1 && k <= kKP0 {
		if d.altDigs < maxAltDigs {
			d.altVal = d.altVal*10 + uint64((k-kKP1+1)%10)
		}
		d.altDigs++
		d.pending = true
		return dst, nil
	}
	switch k {
	case kCapsLock:
		d.caps = !d.caps
		return dst, nil
	case kEnter, kKPEnter:
		if d.termCR {
			d.finishAlt()
			return d.emit(dst, at)
		}
		d.add('\r')
		return dst, nil
	case kTab:
		if d.termTab {
			d.finishAlt()
			return d.emit(dst, at)
		}
		d.add('\t')
		return dst, nil
	}
	p := usTable[k]
	if p[0] == 0 {
		return dst, nil // F-keys, arrows, NumLock…: not data
	}
	shift := mod&modShift != 0
	c := p[0]
	if k >= 0x04 && k <= 0x1D {
		if shift != d.caps {
			c = p[1]
		}
	} else if shift {
		c = p[1]
	}
	if mod&modCtrl != 0 {
		switch {
		case c >= 'a' && c <= 'z':
			c = c - 'a' + 1
		case c >= 'A' && c <= 'Z':
			c = c - 'A' + 1
		case c == '[' || c == '{':
			c = 0x1B
		case c == '\\' || c == '|':
			c = 0x1C
		case c == ']' || c == '}':
			c = 0x1D // GS as Ctrl+]
		}
	}
	d.add(c)
	return dst, nil
}

func (d *KeyboardDecoder) add(b ...byte) {
	d.pending = true
	if d.overlong {
		return
	}
	if len(d.raw)+len(b) > d.max {
		d.overlong = true
		return
	}
	d.raw = append(d.raw, b...)
}

// finishAlt turns the collected Alt+keypad digits into bytes: ≤255 as one byte (Alt+029 → GS),
// else a Unicode code point (UTF-8) or a two-byte GBK code.
func (d *KeyboardDecoder) finishAlt() {
	if d.altDigs == 0 {
		return
	}
	v, n := d.altVal, d.altDigs
	d.altVal, d.altDigs = 0, 0
	switch {
	case n > maxAltDigs:
		d.fail(fmt.Errorf("%w: Alt code with %d digits", ErrCharset, n))
	case v <= 0x7F:
		d.add(byte(v))
	case v <= 0xFF:
		if d.gbk {
			d.add(byte(v))
		} else {
			d.add(utf8.AppendRune(nil, rune(v))...) // Latin-1 code point
		}
	case d.gbk:
		hi, lo := byte(v>>8), byte(v)
		if v > 0xFFFF || hi < 0x81 || hi > 0xFE || lo < 0x40 || lo == 0x7F || lo == 0xFF {
			d.fail(fmt.Errorf("%w: Alt+%d is not a GBK code", ErrCharset, v))
			return
		}
		d.add(hi, lo)
	default:
		if v > utf8.MaxRune || (v >= 0xD800 && v <= 0xDFFF) {
			d.fail(fmt.Errorf("%w: Alt+%d is not a Unicode code point", ErrCharset, v))
			return
		}
		d.add(utf8.AppendRune(nil, rune(v))...)
	}
}

func (d *KeyboardDecoder) fail(err error) {
	d.pending = true
	if d.bad == nil {
		d.bad = err
	}
}

func (d *KeyboardDecoder) emit(dst []scanner.Read, at time.Time) ([]scanner.Read, error) {
	raw, bad, over := d.raw, d.bad, d.overlong
	d.raw, d.bad, d.overlong, d.pending = d.raw[:0], nil, false, false
	switch {
	case over:
		return dst, fmt.Errorf("hidscan: keyboard barcode over %d bytes: %w", d.max, scanner.ErrOverlong)
	case bad != nil:
		return dst, bad
	case len(raw) == 0:
		return dst, fmt.Errorf("hidscan: terminator without data: %w", scanner.ErrNoise)
	}
	cs := CharsetUTF8
	if d.gbk {
		cs = CharsetGBK
	}
	text, err := decodeText(raw, cs)
	if err != nil {
		return dst, err
	}
	return append(dst, scanner.Read{Text: text, Raw: append([]byte(nil), raw...), At: at}), nil
}
