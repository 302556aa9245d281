// Package transport opens the byte streams label printers are reached over: raw TCP (port 9100),
// serial ports (go.bug.st/serial, RS-232 or USB CDC) and the Linux USB printer class device
// (/dev/usb/lpN, opened with os.OpenFile; bidirectional where the printer's firmware answers on the
// IN endpoint).
//
// Because usblp is a plain character device, tests exercise it by pointing the path at a
// pseudo-terminal (internal/pty). On a real /dev/usb/lpN a blocked Read may not be woken by Close on
// every kernel (the device is not always pollable); the printer driver therefore never relies on a
// Read finishing for Close to return.
//
// Room for later transports (a Windows spooler): anything that is an io.ReadWriteCloser works.
package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"

	"go.bug.st/serial"
)

// Kinds of transport.
const (
	TCP    = "tcp"
	Serial = "serial"
	USBLP  = "usblp"
)

// DefaultTCPPort is the raw printing port.
const DefaultTCPPort = 9100

// ErrUnknown is returned for a transport kind that is not tcp, serial or usblp.
var ErrUnknown = errors.New("transport: unknown kind (want tcp, serial or usblp)")

// ErrAddress is returned when the address is missing or malformed.
var ErrAddress = errors.New("transport: bad address")

// SerialMode is the line setting for serial printers; the zero value means 9600 8N1.
type SerialMode struct {
	Baud     int
	DataBits int
	Parity   string // none | even | odd
	StopBits int    // 1 | 2
}

// Config says where the printer is.
type Config struct {
	Kind    string // tcp | serial | usblp
	Address string // tcp: host or host:port; serial: /dev/ttyUSB0; usblp: /dev/usb/lp0
	Port    int    // tcp port when Address has none (default 9100)
	Serial  SerialMode
}

// Open opens the stream. ctx bounds the TCP dial.
func Open(ctx context.Context, c Config) (io.ReadWriteCloser, error) {
	if strings.TrimSpace(c.Address) == "" {
		return nil, fmt.Errorf("%w: empty address for %s", ErrAddress, c.Kind)
	}
	switch c.Kind {
	case TCP, "":
		addr := c.Address
		if _, _, err := net.SplitHostPort(addr); err != nil {
			p := c.Port
			if p == 0 {
				p = DefaultTCPPort
			}
			addr = net.JoinHostPort(addr, strconv.Itoa(p))
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("transport: dial %s: %w", addr, err)
		}
		return conn, nil
	case Serial:
		m := &serial.Mode{BaudRate: c.Serial.Baud, DataBits: c.Serial.DataBits}
		if m.BaudRate == 0 {
			m.BaudRate = 9600
		}
		if m.DataBits == 0 {
			m.DataBits = 8
		}
		switch c.Serial.Parity {
		case "", "none":
			m.Parity = serial.NoParity
		case "even":
			m.Parity = serial.EvenParity
		case "odd":
			m.Parity = serial.OddParity
		default:
			return nil, fmt.Errorf("%w: parity %q", ErrAddress, c.Serial.Parity)
		}
		switch c.Serial.StopBits {
		case 0, 1:
			m.StopBits = serial.OneStopBit
		case 2:
			m.StopBits = serial.TwoStopBits
		default:
			return nil, fmt.Errorf("%w: stop bits %d", ErrAddress, c.Serial.StopBits)
		}
		p, err := serial.Open(c.Address, m)
		if err != nil {
			return nil, fmt.Errorf("transport: open serial %s: %w", c.Address, err)
		}
		return p, nil
	case USBLP:
		f, err := os.OpenFile(c.Address, os.O_RDWR, 0)
		if err != nil {
			return nil, fmt.Errorf("transport: open usblp %s: %w", c.Address, err)
		}
		return f, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknown, c.Kind)
}
