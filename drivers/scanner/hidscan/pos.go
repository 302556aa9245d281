package hidscan

import (
	"fmt"
	"time"

	"wedge/drivers/scanner"
)

// HID POS layouts (profile hid.layout). See the package doc for the byte tables.
const (
	LayoutPOSA     = "pos_a"    // Honeywell, Access-IS, Youjie: AIM at bytes 2–4, data from 5; falls back to B without ']'
	LayoutPOSB     = "pos_b"    // Newland, ID TECH, Unitech: data from byte 2, always
	LayoutPOSAuto  = "pos_auto" // same as pos_a: per report, byte 2 == ']' → A, else B (the reference's parser guidance); see bWithAIM
	LayoutKeyboard = "keyboard" // boot keyboard reports
)

// POSOptions configure a POSDecoder. The zero value means: automatic layout, report id 2, strip one
// trailing CR/LF/CRLF, UTF-8, payloads up to scanner.MaxFrame.
type POSOptions struct {
	Layout   string // pos_a | pos_b | pos_auto ("" = pos_auto)
	ReportID byte   // input report id (0 = 2)
	Suffix   string // cr | lf | crlf | tab | none ("" = any one of CRLF/CR/LF)
	Charset  string // utf-8 | gbk | auto ("" = utf-8)
	// BracketAt3 accepts the AIM ']' at byte 3 as well as byte 2 (Zebra and Datalogic in HID POS
	// mode seem to send one extra leading byte; UNCERTAIN, inferred from the WebHID library), and
	// shifts the layout A offsets by one when it is found there.
	BracketAt3 bool
	MaxPayload int // 0 = scanner.MaxFrame
}

// POSDecoder assembles HID POS input reports (64 bytes, report id 2, "more data" in bit 0 of byte
// 63) into reads.
type POSDecoder struct {
	layout   string
	rid      byte
	suffix   []byte
	charset  string
	at3      bool
	max      int
	buf      []byte
	aim      string
	started  bool
	overlong bool
}

// NewPOSDecoder checks o and returns a decoder.
func NewPOSDecoder(o POSOptions) (*POSDecoder, error) {
	d := &POSDecoder{layout: o.Layout, rid: o.ReportID, at3: o.BracketAt3, max: o.MaxPayload}
	switch d.layout {
	case "":
		d.layout = LayoutPOSAuto
	case LayoutPOSA, LayoutPOSB, LayoutPOSAuto:
	default:
		return nil, fmt.Errorf("%w: layout %q (want pos_a, pos_b or pos_auto)", ErrOptions, o.Layout)
	}
	if d.rid == 0 {
		d.rid = 2
	}
	if d.max <= 0 || d.max > scanner.MaxFrame {
		d.max = scanner.MaxFrame
	}
	var err error
	if d.suffix, err = suffixBytes(o.Suffix); err != nil {
		return nil, err
	}
	if d.charset, err = checkCharset(o.Charset); err != nil {
		return nil, err
	}
	return d, nil
}

// Pending reports whether a multi-report payload is partly assembled.
func (d *POSDecoder) Pending() bool { return d.started }

// Flush drops a partly assembled payload (its last report never came) and reports it as noise.
func (d *POSDecoder) Flush(dst []scanner.Read, at time.Time) ([]scanner.Read, error) {
	if !d.started {
		return dst, nil
	}
	d.reset()
	return dst, fmt.Errorf("hidscan: multi-report payload cut off (no last report): %w", scanner.ErrNoise)
}

func (d *POSDecoder) reset() {
	d.buf = d.buf[:0]
	d.aim = ""
	d.started = false
	d.overlong = false
}

// Feed adds one input report. Reports with another report id are ignored (e.g. replies to
// commands); reports too short to hold the header give ErrReport.
func (d *POSDecoder) Feed(dst []scanner.Read, r []byte, at time.Time) ([]scanner.Read, error) {
	if len(r) == 0 || r[0] != d.rid {
		return dst, nil
	}
	if len(r) < 3 {
		return dst, fmt.Errorf("%w: %d bytes", ErrReport, len(r))
	}
	more := len(r) >= 64 && r[63]&1 == 1
	layout := d.layout
	off := 0 // extra leading byte (BracketAt3)
	if layout != LayoutPOSB {
		// pos_a and pos_auto: layout A when the AIM ']' is where A puts it, else layout B (a
		// layout A report always carries the AIM, so its absence means the device is not A).
		switch {
		case r[2] == ']' && (d.started || !bWithAIM(r)):
			layout = LayoutPOSA
		case d.at3 && len(r) > 3 && r[3] == ']':
			layout, off = LayoutPOSA, 1
		case d.started && d.aim != "":
			// a continuation report of layout A that does not repeat the AIM: data from byte 5
			// (UNCERTAIN: the Access-IS manual only says it "holds the remaining bytes")
			layout = "cont_a"
		default:
			layout = LayoutPOSB
		}
	}
	var data []byte
	switch layout {
	case LayoutPOSA:
		start := 5 + off
		if len(r) < start {
			return dst, fmt.Errorf("%w: %d bytes, layout A needs %d", ErrReport, len(r), start)
		}
		n := int(r[1+off])
		if !d.started {
			d.aim = string(r[2+off : 5+off])
		}
		data = clampData(r, start, n, 61+off)
	case "cont_a":
		data = clampData(r, 5, int(r[1]), 61)
	default: // B
		data = clampData(r, 2, int(r[1]), 58)
	}
	d.started = true
	if !d.overlong {
		if len(d.buf)+len(data) > d.max+len(d.suffix)+2 {
			d.overlong = true
		} else {
			d.buf = append(d.buf, data...)
		}
	}
	if more {
		return dst, nil
	}
	defer d.reset()
	if d.overlong {
		return dst, fmt.Errorf("hidscan: payload over %d bytes: %w", d.max, scanner.ErrOverlong)
	}
	raw := stripSuffix(d.buf, d.suffix)
	if len(raw) > d.max {
		return dst, fmt.Errorf("hidscan: payload over %d bytes: %w", d.max, scanner.ErrOverlong)
	}
	if len(raw) == 0 {
		return dst, fmt.Errorf("hidscan: empty payload: %w", scanner.ErrNoise)
	}
	text, err := decodeText(raw, d.charset)
	if err != nil {
		return dst, err
	}
	return append(dst, scanner.Read{Text: text, Raw: append([]byte(nil), raw...), AIM: d.aim, At: at}), nil
}

// bWithAIM reports whether a report with ']' at byte 2 is layout B carrying an AIM prefix in its data
// rather than layout A: B's length byte counts the AIM, A's does not, so read as A the last three
// "data" bytes would be B's zero padding. (Real data never ends in three NULs: NUL is noise.)
func bWithAIM(r []byte) bool {
	n := int(r[1])
	if n < 3 || len(r) < 5+n {
		return false
	}
	return r[2+n] == 0 && r[3+n] == 0 && r[4+n] == 0
}

// clampData returns r[start:start+n] limited to the field end and the report length.
func clampData(r []byte, start, n, end int) []byte {
	if end > len(r) {
		end = len(r)
	}
	if start > end {
		return nil
	}
	if start+n < end {
		end = start + n
	}
	return r[start:end]
}
