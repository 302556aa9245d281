// Package webconsole holds the WebSocket plumbing shared by wedge's web consoles (the agent's and
// the hub's): the upgrade with its Origin check, a reader that only notices when the browser
// leaves, and deadline-bound writes. What each console pushes, and when, stays with the console:
// the agent queues events and falls back to a snapshot, the hub keeps only the newest overview.
package webconsole

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/gorilla/websocket"

	"wedge/internal/logging"
)

// ReadLimit bounds a browser message; the consoles expect none, so this is small.
const ReadLimit = 4 << 10

// ByeTimeout bounds the write of a close message (a network deadline, not logic time).
const ByeTimeout = time.Second

// Conn is one browser's WebSocket. Read runs in one goroutine; every write (Write, Bye) must come
// from one other goroutine, the connection's writer. Close may be called from anywhere.
type Conn struct {
	ws   *websocket.Conn
	done chan struct{}
}

// Upgrade upgrades r with u, whose CheckOrigin refuses foreign origins (webauth.Origins.SameOrigin):
// the upgrader answers a refused request itself (403 for an origin, 400 for a bad handshake) and
// Upgrade logs it as "<logName> websocket refused" and returns false.
func Upgrade(w http.ResponseWriter, r *http.Request, u *websocket.Upgrader, log *slog.Logger, logName string) (*Conn, bool) {
	ws, err := u.Upgrade(w, r, nil)
	if err != nil {
		logging.Or(log).Info(logName+" websocket refused", "remote", r.RemoteAddr, "origin", r.Header.Get("Origin"), logging.Err(err))
		return nil, false
	}
	ws.SetReadLimit(ReadLimit)
	return &Conn{ws: ws, done: make(chan struct{})}, true
}

// Read discards what the browser sends and returns when it goes away (or the connection is
// closed), closing Done.
func (c *Conn) Read() {
	defer close(c.done)
	for {
		if _, _, err := c.ws.ReadMessage(); err != nil {
			return
		}
	}
}

// Done is closed when Read has returned: the browser left.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Write sends one message within timeout (a network deadline, not logic time).
func (c *Conn) Write(typ int, b []byte, timeout time.Duration) error {
	c.ws.SetWriteDeadline(time.Now().Add(timeout))
	return c.ws.WriteMessage(typ, b)
}

// Bye sends a close message with code and text, best effort within ByeTimeout.
func (c *Conn) Bye(code int, text string) {
	c.ws.SetWriteDeadline(time.Now().Add(ByeTimeout))
	c.ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(code, text))
}

// Close closes the network connection; Read returns soon after.
func (c *Conn) Close() error { return c.ws.Close() }
