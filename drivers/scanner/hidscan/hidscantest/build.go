package hidscantest

import "strings"

// POSA splits payload into 64-byte HID POS layout A reports (report id 2, length of this report's
// data at byte 1, AIM at 2–4 of every report, data from 5 up to 56 bytes, vendor code id at 61,
// "more" in bit 0 of byte 63). An empty aim writes "]X0".
func POSA(aim string, codeID byte, payload []byte) [][]byte {
	if len(aim) != 3 {
		aim = "]X0"
	}
	var out [][]byte
	for first := true; first || len(payload) > 0; first = false {
		n := min(len(payload), 56)
		r := make([]byte, 64)
		r[0], r[1] = 0x02, byte(n)
		copy(r[2:5], aim)
		copy(r[5:], payload[:n])
		r[61] = codeID
		payload = payload[n:]
		if len(payload) > 0 {
			r[63] = 1
		}
		out = append(out, r)
	}
	return out
}

// POSB splits payload into HID POS layout B reports (data from byte 2, up to 56 bytes).
func POSB(codeID byte, payload []byte) [][]byte {
	var out [][]byte
	for first := true; first || len(payload) > 0; first = false {
		n := min(len(payload), 56)
		r := make([]byte, 64)
		r[0], r[1] = 0x02, byte(n)
		copy(r[2:], payload[:n])
		r[62] = codeID
		payload = payload[n:]
		if len(payload) > 0 {
			r[63] = 1
		}
		out = append(out, r)
	}
	return out
}

// Keyboard usages and modifiers for building reports.
const (
	ModLShift = 0x02
	ModLAlt   = 0x04
	Enter     = 0x28
	Tab       = 0x2B
	CapsLock  = 0x39
	KPEnter   = 0x58
)

// Key is a boot keyboard report with one key down.
func Key(mod, usage byte) []byte { return []byte{mod, 0, usage, 0, 0, 0, 0, 0} }

// Release is the all-zero report.
func Release() []byte { return make([]byte, 8) }

// Type returns press/release pairs typing s on a US layout (printable ASCII only; \r is Enter,
// \t is Tab).
func Type(s string) [][]byte {
	var out [][]byte
	for _, c := range []byte(s) {
		mod, u := usageOf(c)
		if u == 0 {
			continue
		}
		out = append(out, Key(mod, u), Release())
	}
	return out
}

// Alt types Alt + keypad decimal digits of n (as written, so "029" keeps its zero), then
// releases Alt.
func Alt(digits string) [][]byte {
	out := [][]byte{Key(ModLAlt, 0)}
	for _, c := range digits {
		u := byte(0x62) // KP0
		if c != '0' {
			u = byte(0x59 + c - '1')
		}
		out = append(out, Key(ModLAlt, u), Key(ModLAlt, 0))
	}
	return append(out, Release())
}

func usageOf(c byte) (mod, usage byte) {
	switch {
	case c >= 'a' && c <= 'z':
		return 0, 0x04 + c - 'a'
	case c >= 'A' && c <= 'Z':
		return ModLShift, 0x04 + c - 'A'
	case c >= '1' && c <= '9':
		return 0, 0x1E + c - '1'
	case c == '0':
		return 0, 0x27
	case c == '\r':
		return 0, Enter
	case c == '\t':
		return 0, Tab
	case c == ' ':
		return 0, 0x2C
	}
	if i := strings.IndexByte(")!@#$%^&*(", c); i >= 0 {
		if i == 0 {
			return ModLShift, 0x27
		}
		return ModLShift, 0x1E + byte(i) - 1
	}
	for u, p := range map[byte]string{0x2D: "-_", 0x2E: "=+", 0x2F: "[{", 0x30: "]}", 0x31: "\\|", 0x33: ";:", 0x34: "'\"", 0x35: "`~", 0x36: ",<", 0x37: ".>", 0x38: "/?"} {
		if p[0] == c {
			return 0, u
		}
		if p[1] == c {
			return ModLShift, u
		}
	}
	return 0, 0
}

// Concat joins report lists.
func Concat(lists ...[][]byte) [][]byte {
	var out [][]byte
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}
