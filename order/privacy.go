package order

import (
	"regexp"
	"strings"
	"unicode/utf8"

	"wedge/sync/wire"
)

// Personal data (the recipient's name, phone and address) is kept whole in the order record and in
// the order message an intake entry carries, because the label prints the full address. Everything
// people read outside the label shows it masked: journal details, logs, the console, metrics. The
// phone and name rules are the ones the label uses (drivers/printer/label): the label prints the
// masked name and phone too, and the full address.

// MaskName keeps the first character: "张三丰" → "张**".
func MaskName(s string) string {
	r, n := utf8.DecodeRuneInString(strings.TrimSpace(s))
	if n == 0 {
		return ""
	}
	return string(r) + "**"
}

// MaskPhone keeps the first 3 and last 4 digits of 11-digit numbers (138****5678), else only the
// last 4.
func MaskPhone(s string) string {
	s = strings.TrimSpace(s)
	switch {
	case len(s) >= 11:
		return s[:3] + "****" + s[len(s)-4:]
	case len(s) > 4:
		return strings.Repeat("*", len(s)-4) + s[len(s)-4:]
	case s != "":
		return "****"
	}
	return ""
}

// maxAddressPrefix bounds the runes MaskAddress keeps.
const maxAddressPrefix = 12

// MaskAddress keeps the administrative part of an address, up to its last 省/市/区/县/州/旗/镇
// within the first 12 characters (else the first 6), and masks the rest: "广东省深圳市南山区科技园
// 路1号" → "广东省深圳市南山区****". An address no longer than what is kept is masked whole but for
// its first character.
func MaskAddress(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	rs := []rune(s)
	keep := 0
	for i, r := range rs[:min(len(rs), maxAddressPrefix)] {
		if strings.ContainsRune("省市区县州旗镇", r) {
			keep = i + 1
		}
	}
	if keep == 0 {
		keep = min(6, len(rs))
	}
	if keep >= len(rs) {
		keep = 1
	}
	return string(rs[:keep]) + "****"
}

// MaskRecipientLine masks a one-line recipient ("张三 13812345678 深圳市…"): the first field as a
// name, a field of digits as a phone, the rest as an address. A line that is masked already
// (older order systems send it so) stays as it is.
func MaskRecipientLine(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return ""
	}
	if strings.Contains(s, "*") || strings.Contains(s, "…") {
		return strings.Join(f, " ")
	}
	out := []string{MaskName(f[0])}
	rest := f[1:]
	if len(rest) > 0 && strings.Trim(rest[0], "0123456789+- ") == "" {
		out = append(out, MaskPhone(rest[0]))
		rest = rest[1:]
	}
	if len(rest) > 0 {
		out = append(out, MaskAddress(strings.Join(rest, " ")))
	}
	return strings.Join(out, " ")
}

// Masked is o with its personal data masked, for what people read outside the label (the
// console, an API answer, a log line).
func (o Order) Masked() Order {
	o.SKUs = append([]string(nil), o.SKUs...)
	o.Recipient = MaskRecipientLine(o.Recipient)
	o.RecipientName, o.RecipientPhone, o.RecipientAddress = MaskName(o.RecipientName), MaskPhone(o.RecipientPhone), MaskAddress(o.RecipientAddress)
	return o
}

// MaskMsg is m with its personal data masked (an entry's order message shown to people).
func MaskMsg(m wire.OrderMsg) wire.OrderMsg {
	m.SKUs = append([]string(nil), m.SKUs...)
	m.Recipient = MaskRecipientLine(m.Recipient)
	m.RecipientName, m.RecipientPhone, m.RecipientAddress = MaskName(m.RecipientName), MaskPhone(m.RecipientPhone), MaskAddress(m.RecipientAddress)
	return m
}

// MaskEntry is e with the personal data of its order message masked. Details are masked when they
// are written (Changes), so they are left as they are; e's hash no longer matches, so this is for
// display only.
func MaskEntry(e wire.Entry) wire.Entry {
	if e.Order != nil {
		m := MaskMsg(*e.Order)
		e.Order = &m
	}
	return e
}

var (
	// personalField is a recipient field in JSON text: "recipient_phone":"13812345678".
	personalField = regexp.MustCompile(`"(recipient|recipient_name|recipient_phone|recipient_address)"\s*:\s*"((?:[^"\\]|\\.)*)"`)
	// mobile is a mainland mobile number standing alone in free text.
	mobile = regexp.MustCompile(`(^|[^0-9])(1[3-9][0-9])([0-9]{4})([0-9]{4})($|[^0-9])`)
)

// MaskText masks the personal data in free text that input puts into the journal or a log (an
// excerpt of a message that could not be read): the values of recipient fields in JSON, and
// mobile numbers.
func MaskText(s string) string {
	s = personalField.ReplaceAllStringFunc(s, func(f string) string {
		m := personalField.FindStringSubmatch(f)
		var v string
		switch m[1] {
		case "recipient":
			v = MaskRecipientLine(m[2])
		case "recipient_name":
			v = MaskName(m[2])
		case "recipient_phone":
			v = MaskPhone(m[2])
		default:
			v = MaskAddress(m[2])
		}
		return `"` + m[1] + `":"` + strings.ReplaceAll(v, `"`, "") + `"`
	})
	return mobile.ReplaceAllString(s, "${1}${2}****${4}${5}")
}
