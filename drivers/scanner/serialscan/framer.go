package serialscan

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"

	"wedge/drivers/profile"
	"wedge/drivers/scanner"
)

// Frame is one thing the framer found in the byte stream: a barcode (Err == nil; Read has Text,
// Raw and AIM set, not At or Device) or a rejected frame (Err wraps scanner.ErrNoise or
// scanner.ErrOverlong and says why).
type Frame struct {
	Read scanner.Read
	Err  error
}

// Framer splits the byte stream of a serial scanner into barcodes. It is pure (no I/O, no time):
// the driver feeds it what the port delivers and, when the line has been quiet with a frame
// pending, calls Flush (the profile's idle cut-off: the frame is a barcode) or Cut (the noise
// cut-off: the frame is noise).
//
// Rules:
//   - a frame ends at the terminator (cr, lf, tab; crlf ends at CR or LF, so a lone CR or LF also
//     ends a frame and the LF of CRLF makes an empty frame, which is ignored like every empty frame);
//   - with aim_prefix, a leading AIM symbology identifier "]Xm" is moved from the data to Read.AIM
//     (a frame without one is still accepted, with AIM "");
//   - a frame longer than scanner.MaxFrame bytes of data without a terminator is reported once
//     with ErrOverlong as soon as the limit is passed, and the rest up to the next terminator (or
//     idle or noise cut-off) is discarded: the framer resynchronises there;
//   - at the noise cut-off an unfinished frame is rejected with ErrNoise, so that garbage without
//     a terminator is not glued to the front of the next barcode;
//   - a frame with control bytes (anything below 0x20 except GS 0x1D, DEL 0x7F, C1 controls) or
//     invalid text (UTF-8; GBK when the profile's charset is gbk, decoded to UTF-8) is rejected
//     with ErrNoise naming the byte offset and showing a hex excerpt.
type Framer struct {
	isTerm  func(byte) bool
	term    string
	aim     bool
	gbk     bool
	limit   int
	buf     []byte
	discard bool // inside an overlong frame: drop bytes until the next terminator
	over    int  // bytes of the overlong frame being discarded, so far
}

// NewFramer returns a framer for the profile's framing (terminator, aim_prefix, charset); zero
// fields take their defaults.
func NewFramer(s profile.Serial) *Framer {
	s = s.WithDefaults()
	f := &Framer{term: s.Terminator, aim: s.AIMPrefix, gbk: s.Charset == "gbk", limit: scanner.MaxFrame}
	if f.aim {
		f.limit += 3
	}
	switch s.Terminator {
	case "lf":
		f.isTerm = func(c byte) bool { return c == '\n' }
	case "crlf":
		f.isTerm = func(c byte) bool { return c == '\r' || c == '\n' }
	case "tab":
		f.isTerm = func(c byte) bool { return c == '\t' }
	default:
		f.term = "cr"
		f.isTerm = func(c byte) bool { return c == '\r' }
	}
	return f
}

// Feed adds bytes from the line and returns the frames they completed, in order.
func (f *Framer) Feed(b []byte) []Frame {
	var out []Frame
	for _, c := range b {
		if f.isTerm(c) {
			out = f.end(out)
			continue
		}
		if f.discard {
			f.over++
			continue
		}
		if len(f.buf) >= f.limit {
			out = append(out, Frame{Err: fmt.Errorf("%w: more than %d bytes without a %s terminator (starts % X…); discarding up to the next terminator or a pause in the line",
				scanner.ErrOverlong, scanner.MaxFrame, strings.ToUpper(f.term), f.buf[:min(16, len(f.buf))])})
			f.discard = true
			f.over = len(f.buf) + 1
			f.buf = f.buf[:0]
			continue
		}
		f.buf = append(f.buf, c)
	}
	return out
}

// Flush ends the pending frame as if a terminator had arrived (the idle cut-off). It also ends
// the discarding of an overlong frame.
func (f *Framer) Flush() []Frame { return f.end(nil) }

// Cut is the noise cut-off: the line has been quiet too long for the rest of a frame to be coming.
// An unfinished frame is rejected with ErrNoise (its length and first bytes in the message); an
// overlong frame being discarded ends, without a second report (overlong is its length in bytes).
// Either way the next byte starts a new frame.
func (f *Framer) Cut() (out []Frame, overlong int) {
	if f.discard {
		n := f.over
		f.discard, f.over = false, 0
		f.buf = f.buf[:0]
		return nil, n
	}
	if len(f.buf) == 0 {
		return nil, 0
	}
	more := ""
	if len(f.buf) > 16 {
		more = "…"
	}
	err := fmt.Errorf("%w: an unfinished %d-byte frame without its %s terminator, then no byte (starts % X%s); dropped",
		scanner.ErrNoise, len(f.buf), strings.ToUpper(f.term), f.buf[:min(16, len(f.buf))], more)
	f.buf = f.buf[:0]
	return []Frame{{Err: err}}, 0
}

// Pending reports whether bytes of an unfinished frame are buffered (or an overlong frame is being
// discarded), i.e. whether an idle cut-off would do anything.
func (f *Framer) Pending() bool { return len(f.buf) > 0 || f.discard }

// Reset drops the unfinished frame (the device went away mid-frame) and returns how many bytes it
// had.
func (f *Framer) Reset() int {
	n := len(f.buf)
	f.buf = f.buf[:0]
	f.discard, f.over = false, 0
	return n
}

func (f *Framer) end(out []Frame) []Frame {
	if f.discard {
		f.discard, f.over = false, 0
		f.buf = f.buf[:0]
		return out
	}
	if len(f.buf) == 0 {
		return out
	}
	fr := f.decode(bytes.Clone(f.buf))
	f.buf = f.buf[:0]
	return append(out, fr)
}

func (f *Framer) decode(frame []byte) Frame {
	payload, aim := frame, ""
	if f.aim && len(frame) >= 3 && frame[0] == ']' && isAlpha(frame[1]) && isAlnum(frame[2]) {
		aim, payload = string(frame[:3]), frame[3:]
	}
	if len(payload) == 0 {
		return Frame{Err: fmt.Errorf("%w: AIM identifier %q without data", scanner.ErrNoise, aim)}
	}
	start := len(frame) - len(payload)
	if f.gbk {
		text, off, what := decodeGBK(payload)
		if what != "" {
			return Frame{Err: noise(frame, start+off, what)}
		}
		return Frame{Read: scanner.Read{Text: text, Raw: payload, AIM: aim}}
	}
	for off := 0; off < len(payload); {
		r, size := utf8.DecodeRune(payload[off:])
		switch {
		case r == utf8.RuneError && size == 1:
			return Frame{Err: noise(frame, start+off, fmt.Sprintf("byte 0x%02X is not UTF-8", payload[off]))}
		case isControl(r):
			return Frame{Err: noise(frame, start+off, fmt.Sprintf("control character U+%04X", r))}
		}
		off += size
	}
	return Frame{Read: scanner.Read{Text: string(payload), Raw: payload, AIM: aim}}
}

// decodeGBK decodes GBK (code page 936) text; on failure it returns the offset of the offending
// byte and what is wrong with it.
func decodeGBK(b []byte) (text string, off int, what string) {
	for off = 0; off < len(b); {
		c := b[off]
		switch {
		case c < 0x80:
			if isControl(rune(c)) {
				return "", off, fmt.Sprintf("control character U+%04X", c)
			}
			off++
		case c == 0x80: // the euro sign in code page 936
			off++
		case c == 0xFF:
			return "", off, "byte 0xFF is not GBK"
		default:
			if off+1 >= len(b) {
				return "", off, fmt.Sprintf("GBK lead byte 0x%02X at the end of the frame", c)
			}
			t := b[off+1]
			if t < 0x40 || t == 0x7F || t == 0xFF {
				return "", off, fmt.Sprintf("0x%02X 0x%02X is not a GBK character", c, t)
			}
			r, err := simplifiedchinese.GBK.NewDecoder().Bytes(b[off : off+2])
			if err != nil || bytes.Equal(r, []byte(string(utf8.RuneError))) {
				return "", off, fmt.Sprintf("0x%02X 0x%02X is not a GBK character", c, t)
			}
			off += 2
		}
	}
	out, err := simplifiedchinese.GBK.NewDecoder().Bytes(b)
	if err != nil {
		return "", 0, "not GBK: " + err.Error()
	}
	return string(out), 0, ""
}

// isControl reports the characters a barcode must not contain: C0 controls other than GS (the
// GS1 separator), DEL and C1 controls.
func isControl(r rune) bool {
	return (r < 0x20 && r != 0x1D) || r == 0x7F || (r >= 0x80 && r <= 0x9F)
}

func isAlpha(c byte) bool { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') }
func isAlnum(c byte) bool { return isAlpha(c) || (c >= '0' && c <= '9') }

// noise wraps ErrNoise with where and what, and a hex excerpt of up to 8 bytes either side with the
// offending byte in brackets.
func noise(frame []byte, off int, what string) error {
	return fmt.Errorf("%w: %s at byte %d of a %d-byte frame: %s", scanner.ErrNoise, what, off, len(frame), hexExcerpt(frame, off))
}

func hexExcerpt(b []byte, off int) string {
	from, to := max(0, off-8), min(len(b), off+9)
	var s strings.Builder
	if from > 0 {
		s.WriteString("… ")
	}
	for i := from; i < to; i++ {
		if i > from {
			s.WriteByte(' ')
		}
		if i == off {
			fmt.Fprintf(&s, "[%02X]", b[i])
		} else {
			fmt.Fprintf(&s, "%02X", b[i])
		}
	}
	if to < len(b) {
		s.WriteString(" …")
	}
	return s.String()
}
