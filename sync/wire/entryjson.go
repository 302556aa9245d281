package wire

import "unicode/utf8"

// AppendJSON appends e's JSON encoding to dst: exactly the bytes json.Marshal(e) writes (tests
// compare the two, fuzzed), which the hash covers (Canonical) and the hub and the journal's
// export store. Every field, the order an intake carries included, is written by hand without
// reflection: hashing and storing every entry is the hot path of the journal and of the hub's
// ingest.
func (e *Entry) AppendJSON(dst []byte) []byte { return e.appendJSON(dst, false) }

// AppendCanonical appends the bytes the hash covers (Canonical) to dst: e's JSON with the hash
// field empty, whatever e.Hash holds.
func (e *Entry) AppendCanonical(dst []byte) []byte { return e.appendJSON(dst, true) }

// appendJSON appends e's JSON, byte for byte what json.Marshal(e) writes; without the hash
// field's value when canonical (then it is Canonical, what the hash covers).
func (e *Entry) appendJSON(dst []byte, canonical bool) []byte {
	dst = append(dst, `{"journal_id":`...)
	dst = appendJSONString(dst, e.JournalID)
	dst = append(dst, `,"seq":`...)
	dst = appendUint(dst, e.Seq)
	dst = append(dst, `,"kind":`...)
	dst = appendJSONString(dst, e.Kind)
	dst = optStr(dst, `,"order_id":`, e.OrderID)
	dst = optStr(dst, `,"from":`, e.From)
	dst = optStr(dst, `,"to":`, e.To)
	dst = optStr(dst, `,"waybill":`, e.Waybill)
	dst = optStr(dst, `,"carrier":`, e.Carrier)
	dst = optStr(dst, `,"station":`, e.Station)
	dst = optStr(dst, `,"device":`, e.Device)
	dst = optStr(dst, `,"operator":`, e.Operator)
	dst = optStr(dst, `,"trigger":`, e.Trigger)
	dst = optStr(dst, `,"reason":`, e.Reason)
	dst = optStr(dst, `,"detail":`, e.Detail)
	dst = optStr(dst, `,"code":`, e.Code)
	dst = optStr(dst, `,"job":`, e.Job)
	dst = optUint(dst, `,"label_version":`, e.LabelVersion)
	dst = optUint(dst, `,"intercept_id":`, e.InterceptID)
	dst = optStr(dst, `,"intercept":`, e.Intercept)
	if m := e.Order; m != nil {
		dst = m.AppendJSON(append(dst, `,"order":`...))
	}
	dst = append(dst, `,"at":`...)
	dst = appendJSONString(dst, e.At)
	dst = append(dst, `,"prev_hash":`...)
	dst = appendJSONString(dst, e.PrevHash)
	dst = append(dst, `,"hash":`...)
	if canonical {
		return append(dst, `""}`...)
	}
	dst = appendJSONString(dst, e.Hash)
	return append(dst, '}')
}

func optStr(dst []byte, key, s string) []byte {
	if s == "" {
		return dst
	}
	dst = append(dst, key...)
	return appendJSONString(dst, s)
}

func optUint(dst []byte, key string, n uint64) []byte {
	if n == 0 {
		return dst
	}
	dst = append(dst, key...)
	return appendUint(dst, n)
}

func appendUint(dst []byte, n uint64) []byte {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		if n /= 10; n == 0 {
			break
		}
	}
	return append(dst, b[i:]...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString is encoding/json's string encoding with HTML escaping (json.Marshal's): ", \
// and the control characters escaped, <, > and & as \u003c \u003e \u0026, U+2028 and U+2029 as
// escapes, each byte of invalid UTF-8 as \ufffd.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
