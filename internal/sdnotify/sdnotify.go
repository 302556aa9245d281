// Package sdnotify tells systemd (Type=notify units) that wedge is ready or stopping, by writing to
// the datagram socket named in $NOTIFY_SOCKET. Outside systemd it does nothing.
package sdnotify

import (
	"net"
	"os"
	"strconv"
	"time"
)

// Ready reports READY=1: the journal is open and the agent accepts scans.
func Ready() error { return send("READY=1") }

// Stopping reports STOPPING=1.
func Stopping() error { return send("STOPPING=1") }

// Status sets the one-line status shown by `systemctl status`.
func Status(s string) error { return send("STATUS=" + s) }

// Watchdog reports WATCHDOG=1: the service is alive (WatchdogSec= in the unit).
func Watchdog() error { return send("WATCHDOG=1") }

// WatchdogInterval is the unit's WatchdogSec= as systemd passes it ($WATCHDOG_USEC), and whether
// this process is the one to ping ($WATCHDOG_PID, when set, names it). Without a watchdog, ok is
// false.
func WatchdogInterval() (d time.Duration, ok bool) {
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0, false
	}
	us, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || us <= 0 {
		return 0, false
	}
	return time.Duration(us) * time.Microsecond, true
}

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
