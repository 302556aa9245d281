// Package feedback encodes the "good read" / "bad read" commands that tell a barcode scanner what
// the business decided about a scan, byte for byte, for every vendor protocol wedge knows. It is
// pure (no I/O) so that the serial and the HID drivers share it and tests can check exact bytes.
//
// Facts and their certainty (see docs/DEVICE-PROTOCOLS.md §1.3, §4.3):
//
//   - Honeywell serial host ACK: ESC 7 = good read, ESC 8 = bad read; Xenon/Granit want a comma
//     after each command (1B 37 2C). Host ACK must be switched on in the scanner first. [S41]
//   - Honeywell HID POS: output report 0xFD carries serial bytes as [FD][len][bytes…]; the documented
//     example is the beep FD 03 16 07 0D [S11]. That ESC 7 / ESC 8 wrapped the same way (FD 02 1B 37)
//     gives the host-ACK good/bad read is UNCERTAIN (derived from the serial manuals, not seen in a
//     capture); the meaning of byte 1 is UNCERTAIN too: wedge writes the payload length (03 for the
//     3-byte beep), but python_hon_usbhid's README calls "FD 03" a fixed preamble and sent 0x0F for
//     the 10-byte REVINF. menu command, which fits neither reading.
//   - Zebra SSI: BEEP = opcode 0xE6 from the host (source 0x04) with one beep code; checksum is the
//     16-bit two's complement of the byte sum, high byte first. Which beep code sounds how is
//     UNCERTAIN (Zebra guide not retrieved); wedge uses 0x00 for good and 0x07 for bad.
//   - Datalogic RS-232 host commands: 'B' good-read tone, 'F' not-on-file (long beep series). [S44]
//   - Newland: 7E 00 frames [7E 00][type][len][addr hi][addr lo][data…][CRC hi][CRC lo], CRC-CCITT
//     (XMODEM: poly 0x1021, init 0) over type..data, checked against the one published example
//     (7E 00 08 01 00 00 D5 EF 41). Which register makes a good or bad beep is UNKNOWN: Newland
//     profiles must give the good/bad bytes explicitly. Over HID POS the frame goes in output
//     report 0x04 as [04][len][frame…] [S13]; UNCERTAIN beyond that one example.
package feedback

import (
	"errors"
	"fmt"

	"wedge/drivers/profile"
	"wedge/drivers/scanner"
)

// Sentinel errors.
var (
	// ErrNoFeedback means the profile has no feedback (protocol none or no bytes for this outcome).
	ErrNoFeedback = errors.New("feedback: the profile defines no feedback for this outcome")
	// ErrProtocol means the profile names a protocol or channel this package does not know.
	ErrProtocol = errors.New("feedback: unknown protocol")
	// ErrHex means a good/bad byte string in the profile is not valid hex.
	ErrHex = errors.New("feedback: bad hex bytes")
)

// Protocols (profile feedback.protocol).
const (
	None            = "none"
	HoneywellHID    = "honeywell_hid"
	HoneywellSerial = "honeywell_serial"
	ZebraSSI        = "zebra_ssi"
	Datalogic       = "datalogic"
	Newland         = "newland"
)

// Channels (profile feedback.via).
const (
	ViaOutputReport  = "output_report"
	ViaFeatureReport = "feature_report"
	ViaSerial        = "serial"
)

// Command is the exact bytes to send and the channel to send them on. For HID reports Bytes[0] is
// the report id (hidapi's convention for Write and SendFeatureReport).
type Command struct {
	Via   string
	Bytes []byte
}

// Encode returns the command for outcome o under profile feedback f. Bytes given in the profile
// (good/bad) win; otherwise the protocol's default is used. A nil f or protocol none gives
// ErrNoFeedback.
func Encode(f *profile.Feedback, o scanner.Outcome, comma bool) (Command, error) {
	if f == nil || f.Protocol == "" || f.Protocol == None {
		return Command{}, ErrNoFeedback
	}
	via := f.Via
	custom := f.Good
	if o == scanner.Bad {
		custom = f.Bad
	}
	var payload []byte
	if custom != "" {
		b, err := ParseHex(custom)
		if err != nil {
			return Command{}, err
		}
		payload = b
	}
	switch f.Protocol {
	case HoneywellHID:
		if via == "" {
			via = ViaOutputReport
		}
		if payload == nil {
			payload = HostACK(o, comma)
		}
		rid := byte(0xFD)
		if f.ReportID != 0 {
			rid = byte(f.ReportID)
		}
		if via == ViaSerial {
			return Command{Via: via, Bytes: payload}, nil
		}
		return Command{Via: via, Bytes: Wrap(rid, payload)}, nil
	case HoneywellSerial:
		if payload == nil {
			payload = HostACK(o, comma)
		}
		return Command{Via: orDefault(via, ViaSerial), Bytes: payload}, nil
	case ZebraSSI:
		if payload == nil {
			code := byte(BeepGood)
			if o == scanner.Bad {
				code = BeepBad
			}
			payload = SSIBeep(code)
		}
		return Command{Via: orDefault(via, ViaSerial), Bytes: payload}, nil
	case Datalogic:
		if payload == nil {
			payload = DatalogicCommand(o)
		}
		return Command{Via: orDefault(via, ViaSerial), Bytes: payload}, nil
	case Newland:
		if payload == nil {
			return Command{}, fmt.Errorf("%w: newland needs explicit good/bad bytes (register unknown)", ErrNoFeedback)
		}
		via = orDefault(via, ViaSerial)
		if via != ViaSerial {
			rid := byte(0x04)
			if f.ReportID != 0 {
				rid = byte(f.ReportID)
			}
			return Command{Via: via, Bytes: Wrap(rid, payload)}, nil
		}
		return Command{Via: via, Bytes: payload}, nil
	}
	return Command{}, fmt.Errorf("%w %q (want none, honeywell_hid, honeywell_serial, zebra_ssi, datalogic or newland)", ErrProtocol, f.Protocol)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// HostACK is Honeywell's host-ACK escape: ESC 7 (good read) or ESC 8 (bad read), with a trailing
// comma for Xenon/Granit when comma is set.
func HostACK(o scanner.Outcome, comma bool) []byte {
	b := []byte{0x1B, '7'}
	if o == scanner.Bad {
		b[1] = '8'
	}
	if comma {
		b = append(b, ',')
	}
	return b
}

// Wrap puts payload into a numbered HID report: [rid][len(payload)][payload…].
func Wrap(rid byte, payload []byte) []byte {
	out := make([]byte, 0, len(payload)+2)
	out = append(out, rid, byte(len(payload)))
	return append(out, payload...)
}

// HoneywellBeep is the documented Honeywell HID beep: FD 03 16 07 0D (SYN BEL CR in report 0xFD).
func HoneywellBeep() []byte { return Wrap(0xFD, []byte{0x16, 0x07, 0x0D}) }

// SSI beep codes wedge uses (UNCERTAIN which tone each code makes).
const (
	BeepGood = 0x00
	BeepBad  = 0x07
)

// SSI opcodes used here.
const (
	SSIOpBeep   = 0xE6
	SSIOpAimOff = 0xC4
	ssiFromHost = 0x04
)

// SSI builds a host→scanner SSI packet [len][opcode][0x04][status][data…][ckHi][ckLo].
func SSI(opcode, status byte, data ...byte) []byte {
	n := 4 + len(data)
	out := make([]byte, 0, n+2)
	out = append(out, byte(n), opcode, ssiFromHost, status)
	out = append(out, data...)
	ck := SSIChecksum(out)
	return append(out, ck[0], ck[1])
}

// SSIChecksum is the 16-bit two's complement of the sum of b, high byte first.
func SSIChecksum(b []byte) [2]byte {
	var sum uint16
	for _, c := range b {
		sum += uint16(c)
	}
	ck := -sum
	return [2]byte{byte(ck >> 8), byte(ck)}
}

// SSIBeep is the SSI BEEP packet with one beep code.
func SSIBeep(code byte) []byte { return SSI(SSIOpBeep, 0, code) }

// DatalogicCommand is 'B' (good-read tone) or 'F' (not on file: long beep series).
func DatalogicCommand(o scanner.Outcome) []byte {
	if o == scanner.Bad {
		return []byte{'F'}
	}
	return []byte{'B'}
}

// NewlandFrame builds a Newland 7E 00 frame: [7E 00][typ][len(data)][addr hi][addr lo][data…][CRC].
// typ 0x08 writes a register, 0x07 reads one (per the one published example).
func NewlandFrame(typ byte, addr uint16, data []byte) []byte {
	out := make([]byte, 0, 8+len(data))
	out = append(out, 0x7E, 0x00, typ, byte(len(data)), byte(addr>>8), byte(addr))
	out = append(out, data...)
	c := CRC16XModem(out[2:])
	return append(out, byte(c>>8), byte(c))
}

// CRC16XModem is CRC-16/XMODEM (poly 0x1021, init 0, no reflection).
func CRC16XModem(b []byte) uint16 {
	var c uint16
	for _, x := range b {
		c ^= uint16(x) << 8
		for range 8 {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
	}
	return c
}

// ParseHex reads bytes written as hex the way profiles write them ("1B37", "1B 37 2C",
// "0x1B,0x37"): it is profile.ParseHex, so the loader accepts exactly what this package can send,
// with the error wrapping ErrHex.
func ParseHex(s string) ([]byte, error) {
	b, err := profile.ParseHex(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHex, err)
	}
	return b, nil
}
