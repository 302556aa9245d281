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
	"wedge/internal/webconsole"
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
	conn *webconsole.Conn
	sess webauth.Session
	box  chan []byte // capacity 1
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
	conn, ok := webconsole.Upgrade(w, r, &c.upgrader, c.log, "hub console")
	if !ok {
		return
	}
	cl := &client{conn: conn, sess: s, box: make(chan []byte, 1)}
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
	cl.conn.Read()
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
		return cl.conn.Write(typ, b, writeTimeout) == nil
	}
	bye := cl.conn.Bye
	for {
		select {
		case <-c.closing:
			bye(websocket.CloseGoingAway, "hub stopping")
			return
		case <-cl.conn.Done():
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
