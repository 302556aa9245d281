package order

import (
	"regexp"
	"strings"
)

var (
	// token is one whitespace-separated token of a line.
	token = regexp.MustCompile(`\S+`)
	// phoneToken is a token that is a phone number: digits with + - ( ) only.
	phoneToken = regexp.MustCompile(`^[+(]?[0-9][0-9()\-]*$`)
)

// minPhoneDigits is the fewest digits a token needs to be taken for a phone (a fixed line without
// its area code has 7); house numbers and postcodes (6) stay as they are.
const minPhoneDigits = 7

// MaskLinePhones masks the phone numbers in a one-line recipient and leaves the rest as it is:
// "王五 13957218465 广东省深圳市…" → "王五 139****8465 广东省深圳市…". A token of digits (with + - and
// parentheses) with 7 or more digits is masked with MaskPhone, and so is a mainland mobile number
// run together with other text. Order systems should send the line masked already; a line that is
// not must still reach the PCs masked, whose labels print its name and (masked) phone.
func MaskLinePhones(s string) string {
	out := token.ReplaceAllStringFunc(s, func(tok string) string {
		if !phoneToken.MatchString(tok) || countDigits(tok) < minPhoneDigits {
			return tok
		}
		return MaskPhone(tok)
	})
	return mobile.ReplaceAllString(out, "${1}${2}****${4}${5}")
}

func countDigits(s string) int {
	return len(s) - len(strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return -1
		}
		return r
	}, s))
}

// LinePhone returns the mainland mobile number in a one-line recipient as 11 digits, "" when it
// has none: the number a reminder SMS can go to when the order system sent no recipient_phone.
// A token of digits and + - ( ) counts with or without the 86 country code
// ("+86 139-5721-8464" is one token after the country code: "139-5721-8464"); a number run
// together with other text counts too.
func LinePhone(s string) string {
	for _, tok := range token.FindAllString(s, -1) {
		if !phoneToken.MatchString(tok) {
			continue
		}
		d := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, tok)
		if len(d) == 13 && strings.HasPrefix(d, "86") {
			d = d[2:]
		}
		if len(d) == 11 && d[0] == '1' && d[1] >= '3' && d[1] <= '9' {
			return d
		}
	}
	if m := mobile.FindStringSubmatch(s); m != nil {
		return m[2] + m[3] + m[4]
	}
	return ""
}
