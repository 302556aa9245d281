package wire

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// AppendJSON appends e's JSON encoding to dst: exactly the bytes json.Marshal(e) writes, which the
// hash covers (Canonical) and the hub stores. The fields are written by hand, without reflection,
// when every string is one encoding/json writes verbatim (printable ASCII other than " \ < > &,
// and valid UTF-8 other than U+2028 and U+2029); otherwise, and for the order an intake carries,
// encoding/json writes it. Hashing and storing every entry is the hot path of the journal and
// of the hub's ingest.
func (e *Entry) AppendJSON(dst []byte) []byte {
	if !e.plainStrings() {
		return appendMarshal(dst, e)
	}
	dst = append(dst, `{"journal_id":"`...)
	dst = append(dst, e.JournalID...)
	dst = append(dst, `","seq":`...)
	dst = strconv.AppendUint(dst, e.Seq, 10)
	dst = append(dst, `,"kind":"`...)
	dst = append(dst, e.Kind...)
	dst = append(dst, '"')
	dst = appendOpt(dst, `,"order_id":"`, e.OrderID)
	dst = appendOpt(dst, `,"from":"`, e.From)
	dst = appendOpt(dst, `,"to":"`, e.To)
	dst = appendOpt(dst, `,"waybill":"`, e.Waybill)
	dst = appendOpt(dst, `,"carrier":"`, e.Carrier)
	dst = appendOpt(dst, `,"station":"`, e.Station)
	dst = appendOpt(dst, `,"device":"`, e.Device)
	dst = appendOpt(dst, `,"operator":"`, e.Operator)
	dst = appendOpt(dst, `,"trigger":"`, e.Trigger)
	dst = appendOpt(dst, `,"reason":"`, e.Reason)
	dst = appendOpt(dst, `,"detail":"`, e.Detail)
	dst = appendOpt(dst, `,"code":"`, e.Code)
	dst = appendOpt(dst, `,"job":"`, e.Job)
	if e.LabelVersion != 0 {
		dst = strconv.AppendUint(append(dst, `,"label_version":`...), e.LabelVersion, 10)
	}
	if e.InterceptID != 0 {
		dst = strconv.AppendUint(append(dst, `,"intercept_id":`...), e.InterceptID, 10)
	}
	dst = appendOpt(dst, `,"intercept":"`, e.Intercept)
	if e.Order != nil {
		dst = appendMarshal(append(dst, `,"order":`...), e.Order)
	}
	dst = append(dst, `,"at":"`...)
	dst = append(dst, e.At...)
	dst = append(dst, `","prev_hash":"`...)
	dst = append(dst, e.PrevHash...)
	dst = append(dst, `","hash":"`...)
	dst = append(dst, e.Hash...)
	return append(dst, `"}`...)
}

func appendOpt(dst []byte, key, s string) []byte {
	if s == "" {
		return dst
	}
	return append(append(append(dst, key...), s...), '"')
}

func appendMarshal(dst []byte, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil { // cannot happen for the wire's structs
		panic(err)
	}
	return append(dst, b...)
}

// plainStrings reports whether every string field of e is written verbatim by encoding/json.
func (e *Entry) plainStrings() bool {
	for _, s := range [...]string{e.JournalID, e.Kind, e.OrderID, e.From, e.To, e.Waybill, e.Carrier, e.Station, e.Device,
		e.Operator, e.Trigger, e.Reason, e.Detail, e.Code, e.Job, e.Intercept, e.At, e.PrevHash, e.Hash} {
		if !plainString(s) {
			return false
		}
	}
	return true
}

// plainString reports whether encoding/json (HTML escaping on, as json.Marshal) writes s as is.
func plainString(s string) bool {
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b < 0x20 || b == '"' || b == '\\' || b == '<' || b == '>' || b == '&' {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || r == '\u2028' || r == '\u2029' {
			return false
		}
		i += n
	}
	return true
}
