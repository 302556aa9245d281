package hidscan

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"

	"wedge/drivers/scanner"
)

// Decoder errors. Each wraps a scanner sentinel, so callers can treat them with errors.Is.
var (
	// ErrCharset: the payload is not valid text in the configured charset (wraps scanner.ErrNoise).
	ErrCharset = fmt.Errorf("hidscan: payload is not valid text in the configured charset: %w", scanner.ErrNoise)
	// ErrReport: a report has the wrong size or report id for the layout (wraps scanner.ErrNoise).
	ErrReport = fmt.Errorf("hidscan: malformed report: %w", scanner.ErrNoise)
	// ErrOptions: decoder or driver options are invalid.
	ErrOptions = errors.New("hidscan: invalid options")
)

// Charsets for payload bytes.
const (
	CharsetUTF8 = "utf-8"
	CharsetGBK  = "gbk"
	// CharsetAuto takes UTF-8 when the bytes are valid UTF-8, else GBK.
	CharsetAuto = "auto"
)

// Decoder turns raw input reports into barcode reads. Feed appends the reads a report completes
// to dst; Flush ends a pending barcode (idle cut-off). Decoders are not safe for concurrent use.
type Decoder interface {
	Feed(dst []scanner.Read, report []byte, at time.Time) ([]scanner.Read, error)
	Flush(dst []scanner.Read, at time.Time) ([]scanner.Read, error)
	// Pending reports whether a barcode is partly assembled (so an idle timer should run).
	Pending() bool
}

func checkCharset(cs string) (string, error) {
	switch cs {
	case "", "utf8", CharsetUTF8, "UTF-8":
		return CharsetUTF8, nil
	case CharsetGBK, "GBK", "gb2312", "gb18030":
		return CharsetGBK, nil
	case CharsetAuto:
		return CharsetAuto, nil
	}
	return "", fmt.Errorf("%w: charset %q (want utf-8, gbk or auto)", ErrOptions, cs)
}

// decodeText turns payload bytes into text under charset cs.
func decodeText(raw []byte, cs string) (string, error) {
	if cs != CharsetGBK && utf8.Valid(raw) {
		return string(raw), nil
	}
	if cs == CharsetUTF8 {
		return "", ErrCharset
	}
	return decodeGBK(raw)
}

func decodeGBK(raw []byte) (string, error) {
	ascii := true
	for _, c := range raw {
		if c >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return string(raw), nil
	}
	out, err := simplifiedchinese.GBK.NewDecoder().Bytes(raw)
	if err != nil {
		return "", ErrCharset
	}
	for _, r := range string(out) {
		if r == utf8.RuneError {
			return "", ErrCharset
		}
	}
	return string(out), nil
}

// suffixes by profile name.
func suffixBytes(s string) ([]byte, error) {
	switch s {
	case "":
		return nil, nil // strip one trailing CR, LF or CRLF
	case "none":
		return []byte{}, nil
	case "cr":
		return []byte{'\r'}, nil
	case "lf":
		return []byte{'\n'}, nil
	case "crlf":
		return []byte{'\r', '\n'}, nil
	case "tab":
		return []byte{'\t'}, nil
	}
	return nil, fmt.Errorf("%w: suffix %q (want cr, lf, crlf, tab or none)", ErrOptions, s)
}

// stripSuffix removes the configured suffix once; nil suffix means "CRLF, CR or LF".
func stripSuffix(b, suffix []byte) []byte {
	if suffix == nil {
		n := len(b)
		if n > 0 && b[n-1] == '\n' {
			n--
		}
		if n > 0 && b[n-1] == '\r' {
			n--
		}
		return b[:n]
	}
	if len(suffix) > 0 && len(b) >= len(suffix) && string(b[len(b)-len(suffix):]) == string(suffix) {
		return b[:len(b)-len(suffix)]
	}
	return b
}

// StripAIM wraps d for hid.aim_prefix: a read that has no AIM yet and whose text starts with an AIM
// symbology identifier "]Xm" (X a letter, m a letter or digit) gets it moved from Text and Raw into
// Read.AIM, as HID POS layout B and keyboard mode deliver it inside the data. A read without one is
// passed on unchanged; a read that is only an AIM identifier is noise.
func StripAIM(d Decoder) Decoder { return aimDecoder{d} }

type aimDecoder struct{ Decoder }

func (a aimDecoder) Feed(dst []scanner.Read, report []byte, at time.Time) ([]scanner.Read, error) {
	n := len(dst)
	out, err := a.Decoder.Feed(dst, report, at)
	return stripAIMs(out, n, err)
}

func (a aimDecoder) Flush(dst []scanner.Read, at time.Time) ([]scanner.Read, error) {
	n := len(dst)
	out, err := a.Decoder.Flush(dst, at)
	return stripAIMs(out, n, err)
}

func stripAIMs(reads []scanner.Read, from int, err error) ([]scanner.Read, error) {
	kept := reads[:from]
	for _, r := range reads[from:] {
		t := r.Text
		if r.AIM != "" || len(t) < 3 || t[0] != ']' || !isLetter(t[1]) || !(isLetter(t[2]) || (t[2] >= '0' && t[2] <= '9')) {
			kept = append(kept, r)
			continue
		}
		if len(t) == 3 {
			if err == nil {
				err = fmt.Errorf("hidscan: AIM identifier %q without data: %w", t, scanner.ErrNoise)
			}
			continue
		}
		r.AIM, r.Text = t[:3], t[3:]
		if len(r.Raw) >= 3 && string(r.Raw[:3]) == r.AIM {
			r.Raw = r.Raw[3:]
		}
		kept = append(kept, r)
	}
	return kept, err
}

func isLetter(c byte) bool { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') }
