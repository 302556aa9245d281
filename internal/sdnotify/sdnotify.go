// Package sdnotify tells systemd (Type=notify units) that wedge is ready or stopping, by writing to
// the datagram socket named in $NOTIFY_SOCKET. Outside systemd it does nothing.
package sdnotify

import (
	"net"
	"os"
)

// Ready reports READY=1: the journal is open and the agent accepts scans.
func Ready() error { return send("READY=1") }

// Stopping reports STOPPING=1.
func Stopping() error { return send("STOPPING=1") }

// Status sets the one-line status shown by `systemctl status`.
func Status(s string) error { return send("STATUS=" + s) }

func send(msg string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' { // abstract namespace
		path = "\x00" + path[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(msg))
	return err
}
