// Package pty opens real pseudo-terminal pairs without socat, so that simulated serial devices (in
// tests and in `make demo` on a machine with only Go) drive the real serial drivers through a real
// tty. The device side (Main) is written by the simulator; the port side (Name, e.g. /dev/pts/7) is
// what the driver opens with go.bug.st/serial.
package pty

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Pair is an open pseudo-terminal: Main is the simulator's end, Name the path of the port end.
type Pair struct {
	Main *os.File
	Name string
	// hold keeps the port side open so the pair survives while the driver reopens it.
	hold *os.File
}

// Open allocates a pseudo-terminal pair in raw mode.
func Open() (*Pair, error) {
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("pty: open /dev/ptmx: %w", err)
	}
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("pty: unlock: %w", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("pty: number: %w", err)
	}
	name := "/dev/pts/" + strconv.Itoa(n)
	if err := makeRaw(fd); err != nil {
		unix.Close(fd)
		return nil, err
	}
	hold, err := os.OpenFile(name, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("pty: open %s: %w", name, err)
	}
	if err := makeRaw(int(hold.Fd())); err != nil {
		unix.Close(fd)
		hold.Close()
		return nil, err
	}
	return &Pair{Main: os.NewFile(uintptr(fd), "/dev/ptmx"), Name: name, hold: hold}, nil
}

func makeRaw(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("pty: get termios: %w", err)
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		return fmt.Errorf("pty: set raw: %w", err)
	}
	return nil
}

// Write writes to the device side (what the "scanner" sends).
func (p *Pair) Write(b []byte) (int, error) { return p.Main.Write(b) }

// Read reads from the device side (what the driver sent to the "device").
func (p *Pair) Read(b []byte) (int, error) { return p.Main.Read(b) }

// Close closes both ends. A driver that has the port open then sees the device vanish.
func (p *Pair) Close() error {
	err := p.Main.Close()
	if p.hold != nil {
		p.hold.Close()
	}
	return err
}
