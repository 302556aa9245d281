// Package waybill knows the number formats of Chinese express carriers' e-waybills (电子面单) and the
// UPU S10 check digit, so that wedge can refuse a label that cannot belong to the order's carrier.
//
// Formats come from docs/DEVICE-PROTOCOLS.md §6 (sources S61, S62, S64). Digit-only formats
// overlap between carriers (a 15-digit number starting with 43 is both STO and Yunda), so Validate is
// always called with the carrier the hub assigned when there is one; Detect only guesses.
package waybill

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Sentinel errors of Validate. Match them with errors.Is.
var (
	// ErrUnknownCarrier means the carrier code is not one wedge knows.
	ErrUnknownCarrier = errors.New("waybill: unknown carrier")
	// ErrFormat means the number does not match the carrier's format.
	ErrFormat = errors.New("waybill: number does not match the carrier's format")
	// ErrCheckDigit means an S10 number has a wrong check digit.
	ErrCheckDigit = errors.New("waybill: S10 check digit is wrong")
	// ErrEmpty means no number was given.
	ErrEmpty = errors.New("waybill: empty number")
)

// Carrier describes one carrier's waybill number format.
type Carrier struct {
	Code    string // stable code used in config, on the wire and in the journal, e.g. "sf"
	NameZH  string // 顺丰速运
	NameEN  string // SF Express
	Pattern *regexp.Regexp
	// S10 marks the UPU S10 format, which also has a check digit.
	S10 bool
	// Prefixed carriers are tried first by Detect (their numbers cannot collide with digit-only ones).
	Prefixed bool
}

// The carriers, in Detect order: prefixed formats first, then digit-only ones.
var carriers = []Carrier{
	{Code: "sf", NameZH: "顺丰速运", NameEN: "SF Express", Pattern: regexp.MustCompile(`^SF[A-Z0-9]\d{12}$`), Prefixed: true},
	{Code: "yto", NameZH: "圆通速递", NameEN: "YTO Express", Pattern: regexp.MustCompile(`^YT\d{13}$`), Prefixed: true},
	{Code: "jt", NameZH: "极兔速递", NameEN: "J&T Express", Pattern: regexp.MustCompile(`^JT\d{12,13}$`), Prefixed: true},
	{Code: "jd", NameZH: "京东物流", NameEN: "JD Logistics", Pattern: regexp.MustCompile(`^JD[A-Z0-9]{2}\d{11}$`), Prefixed: true},
	{Code: "deppon", NameZH: "德邦快递", NameEN: "Deppon", Pattern: regexp.MustCompile(`^DPK\d{12}$`), Prefixed: true},
	{Code: "s10", NameZH: "国际邮件(S10)", NameEN: "UPU S10 international post", Pattern: regexp.MustCompile(`^[A-Z]{2}\d{9}[A-Z]{2}$`), S10: true, Prefixed: true},
	{Code: "chinapost", NameZH: "邮政快递包裹", NameEN: "China Post parcel", Pattern: regexp.MustCompile(`^P[A-Z]\d{11}$`), Prefixed: true},
	{Code: "zto", NameZH: "中通快递", NameEN: "ZTO Express", Pattern: regexp.MustCompile(`^7[3-68]\d{12}$`)},
	{Code: "sto", NameZH: "申通快递", NameEN: "STO Express", Pattern: regexp.MustCompile(`^(77|43)\d{12,15}$`)},
	{Code: "yunda", NameZH: "韵达快递", NameEN: "Yunda Express", Pattern: regexp.MustCompile(`^([34]\d{14}|5\d{12})$`)},
	{Code: "ems", NameZH: "EMS/中国邮政", NameEN: "EMS / China Post", Pattern: regexp.MustCompile(`^[189]\d{12}$`)},
	{Code: "cainiao", NameZH: "菜鸟速递", NameEN: "Cainiao", Pattern: regexp.MustCompile(`^621\d{12}$`)},
}

var byCode = func() map[string]*Carrier {
	m := make(map[string]*Carrier, len(carriers))
	for i := range carriers {
		m[carriers[i].Code] = &carriers[i]
	}
	return m
}()

// Lookup returns the carrier with the given code (case-insensitive).
func Lookup(code string) (Carrier, bool) {
	c, ok := byCode[strings.ToLower(strings.TrimSpace(code))]
	if !ok {
		return Carrier{}, false
	}
	return *c, true
}

// Codes lists the known carrier codes, sorted.
func Codes() []string {
	out := make([]string, 0, len(carriers))
	for _, c := range carriers {
		out = append(out, c.Code)
	}
	sort.Strings(out)
	return out
}

// Normalize trims white space and upper-cases a scanned number. Scanners never add lower case to
// these formats, but keyboard-mode scanners with CapsLock on do.
func Normalize(number string) string {
	return strings.ToUpper(strings.TrimSpace(number))
}

// Validate checks number against the carrier's format. An empty carrier accepts any format wedge
// knows (Detect succeeds).
func Validate(carrier, number string) error {
	number = Normalize(number)
	if number == "" {
		return ErrEmpty
	}
	if strings.TrimSpace(carrier) == "" {
		if _, ok := Detect(number); !ok {
			return fmt.Errorf("%w: %q matches no known carrier", ErrFormat, number)
		}
		return nil
	}
	c, ok := Lookup(carrier)
	if !ok {
		return fmt.Errorf("%w: %q (known: %s)", ErrUnknownCarrier, carrier, strings.Join(Codes(), ", "))
	}
	if !c.Pattern.MatchString(number) {
		return fmt.Errorf("%w: %q is not a %s (%s) number", ErrFormat, number, c.NameEN, c.Code)
	}
	if c.S10 && !S10Valid(number) {
		return fmt.Errorf("%w: %q", ErrCheckDigit, number)
	}
	return nil
}

// Detect guesses the carrier of a number: prefixed formats first, then digit-only ones, whose
// ranges overlap (the first match wins, so prefer the carrier from the order when there is one).
func Detect(number string) (Carrier, bool) {
	number = Normalize(number)
	for _, c := range carriers {
		if c.Pattern.MatchString(number) {
			if c.S10 && !S10Valid(number) {
				continue
			}
			return c, true
		}
	}
	return Carrier{}, false
}

// S10Valid reports whether a 13-character UPU S10 identifier (2 letters, 8 serial digits, check
// digit, 2 letters) has the right check digit: weights 8,6,4,2,3,5,9,7; check = 11 − (sum mod 11),
// 10 → 0 and 11 → 5.
func S10Valid(id string) bool {
	if len(id) != 13 {
		return false
	}
	check, ok := S10CheckDigit(id[2:10])
	return ok && id[10] == '0'+byte(check)
}

// S10CheckDigit computes the check digit of 8 serial digits; ok is false if serial is not 8 digits.
func S10CheckDigit(serial string) (digit int, ok bool) {
	if len(serial) != 8 {
		return 0, false
	}
	weights := [8]int{8, 6, 4, 2, 3, 5, 9, 7}
	sum := 0
	for i := 0; i < 8; i++ {
		d := serial[i]
		if d < '0' || d > '9' {
			return 0, false
		}
		sum += int(d-'0') * weights[i]
	}
	c := 11 - sum%11
	switch c {
	case 10:
		c = 0
	case 11:
		c = 5
	}
	return c, true
}
