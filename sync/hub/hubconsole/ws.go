package hubconsole

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/gorilla/websocket"

	"wedge/internal/logging"
	"wedge/internal/webauth"
)

// Network limits of one browser connection (network deadlines, not logic time).
const (
	writeTimeout    = 10 * time.Second
	pingEvery       = 30 * time.Second
	snapshotTimeout = 10 * time.Second
)

// Message is what the WebSocket sends: {"type":"overview","data":…}, or {"type":"error",…} when the
// overview could not be built.
type Message struct {
	Type  string `json:"type"`
	Data  any    `json:"data,omitempty"`
	Error string `json:"error,omitempty"`
}

// client is one browser. Its mailbox holds only the newest overview.
type client struct {
	conn *websocket.Conn
	sess webauth.Session
	box  chan []byte   // capacity 1
	done chan struct{} // closed by the reader when the browser goes away
}

// offer replaces whatever the mailbox holds by b; it never blocks.
func (cl *client) offer(b []byte) {
	for {
		select {
		case cl.box <- b:
			return
		default:
		}
		select {
		case <-cl.box:
		default:
		}
	}
}

// refresh builds the overview and hands it to every browser when it changed.
func (c *Console) refresh() {
	ctx, cancel := context.WithTimeout(context.Background(), snapshotTimeout)
	v, err := c.snapshot(ctx)
	cancel()
	m := Message{Type: "overview", Data: v}
	if err != nil {
		c.log.Error("hub console cannot build the overview", logging.Err(err))
		m = Message{Type: "error", Error: "总览读取失败 / overview failed: " + err.Error()}
	}
	b, err := json.Marshal(m)
	if err != nil {
		c.log.Error("hub console cannot encode the overview", logging.Err(err))
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if bytes.Equal(b, c.last) {
		return
	}
	c.last = b
	for cl := range c.clients {
		cl.offer(b)
	}
}

// serveWS upgrades a signed-in browser of an allowed origin (the upgrader checks the Origin and
// answers 403 itself) and sends it the overview, then every change.
func (c *Console) serveWS(w http.ResponseWriter, r *http.Request) {
	s, ok := c.signedIn(w, r)
	if !ok {
		return
	}
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		writeErr(w, http.StatusServiceUnavailable, "控制台已关闭", "console closed")
		return
	}
	conn, err := c.upgrader.Upgrade(w, r, nil)
	if err != nil {
		c.log.Info("hub console websocket refused", "remote", r.RemoteAddr, "origin", r.Header.Get("Origin"), logging.Err(err))
		return
	}
	conn.SetReadLimit(4 << 10)
	cl := &client{conn: conn, sess: s, box: make(chan []byte, 1), done: make(chan struct{})}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		conn.Close()
		return
	}
	c.clients[cl] = struct{}{}
	if c.last != nil {
		cl.offer(c.last)
	}
	c.wg.Add(2)
	c.mu.Unlock()
	c.Changed() // a fresh overview soon, whatever the last one was
	go c.reader(cl)
	go c.writer(cl)
}

// reader discards what the browser sends and notices when it leaves.
func (c *Console) reader(cl *client) {
	defer c.wg.Done()
	defer close(cl.done)
	for {
		if _, _, err := cl.conn.ReadMessage(); err != nil {
			return
		}
	}
}

// writer owns all writes to the connection; it ends the connection when the session expires.
func (c *Console) writer(cl *client) {
	defer c.wg.Done()
	defer func() {
		c.mu.Lock()
		delete(c.clients, cl)
		c.mu.Unlock()
		cl.conn.Close()
	}()
	ping := time.NewTicker(pingEvery)
	defer ping.Stop()
	write := func(typ int, b []byte) bool {
		cl.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
		return cl.conn.WriteMessage(typ, b) == nil
	}
	bye := func(code int, text string) {
		cl.conn.SetWriteDeadline(time.Now().Add(time.Second))
		cl.conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(code, text))
	}
	for {
		select {
		case <-c.closing:
			bye(websocket.CloseGoingAway, "hub stopping")
			return
		case <-cl.done:
			return
		case b := <-cl.box:
			if !c.clk.Now().Before(cl.sess.Exp) {
				bye(websocket.ClosePolicyViolation, "session expired")
				return
			}
			if !write(websocket.TextMessage, b) {
				return
			}
		case <-ping.C:
			if !write(websocket.PingMessage, nil) {
				return
			}
		}
	}
}
