package console

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/gorilla/websocket"

	"wedge/internal/logging"
)

// client is one browser. Its queue is bounded; Publish never waits for it.
type client struct {
	conn   *websocket.Conn
	send   chan []byte
	resync chan struct{}
	done   chan struct{} // closed by the reader when the browser goes away
}

// push queues b; on overflow the queue is emptied and a resync is requested. Called with c.mu held.
func (cl *client) push(b []byte, c *Console) {
	select {
	case cl.send <- b:
		return
	default:
	}
	for drained := false; !drained; {
		select {
		case <-cl.send:
		default:
			drained = true
		}
	}
	select {
	case cl.resync <- struct{}{}:
		c.resyncs.Add(1)
	default: // a resync is already pending
	}
}

func (c *Console) serveWS(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		http.Error(w, "控制台已关闭 / console closed", http.StatusServiceUnavailable)
		return
	}
	conn, err := c.upgrader.Upgrade(w, r, nil) // checks the Origin (Origins.SameOrigin) and answers errors itself
	if err != nil {
		c.log.Info("console websocket refused", "remote", r.RemoteAddr, "origin", r.Header.Get("Origin"), logging.Err(err))
		return
	}
	conn.SetReadLimit(4 << 10)
	cl := &client{conn: conn, send: make(chan []byte, c.opts.QueueLen), resync: make(chan struct{}, 1), done: make(chan struct{})}
	cl.resync <- struct{}{} // the first message is the snapshot
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		conn.Close()
		return
	}
	c.clients[cl] = struct{}{}
	c.wg.Add(2)
	c.mu.Unlock()
	go c.reader(cl)
	go c.writer(cl)
}

// reader discards what the browser sends (nothing is expected) and notices when it leaves.
func (c *Console) reader(cl *client) {
	defer c.wg.Done()
	defer close(cl.done)
	for {
		if _, _, err := cl.conn.ReadMessage(); err != nil {
			return
		}
	}
}

// writer owns all writes to the connection.
func (c *Console) writer(cl *client) {
	defer c.wg.Done()
	defer func() {
		c.mu.Lock()
		delete(c.clients, cl)
		c.mu.Unlock()
		cl.conn.Close()
	}()
	ping := c.clk.NewTimer(c.opts.PingEvery)
	defer ping.Stop()
	write := func(typ int, b []byte) bool {
		cl.conn.SetWriteDeadline(time.Now().Add(c.opts.WriteTimeout)) // a network deadline, not logic time
		if err := cl.conn.WriteMessage(typ, b); err != nil {
			select {
			case <-cl.done:
			case <-c.closing:
			default:
				c.dropped.Add(1)
				c.log.Warn("console client closed after a failed write", logging.Err(err))
			}
			return false
		}
		return true
	}
	snapshot := func() bool {
		b, err := json.Marshal(Event{EventSnapshot, c.full()})
		if err != nil {
			c.log.Error("console cannot encode the snapshot", logging.Err(err))
			return false
		}
		return write(websocket.TextMessage, b)
	}
	for {
		// A pending resync goes first: it replaces whatever the queue held.
		select {
		case <-cl.resync:
			if !snapshot() {
				return
			}
			continue
		default:
		}
		select {
		case <-c.closing:
			cl.conn.SetWriteDeadline(time.Now().Add(time.Second))
			cl.conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "agent stopping"))
			return
		case <-cl.done:
			return
		case <-cl.resync:
			if !snapshot() {
				return
			}
		case b := <-cl.send:
			if !write(websocket.TextMessage, b) {
				return
			}
		case <-ping.C():
			if !write(websocket.PingMessage, nil) {
				return
			}
			ping.Reset(c.opts.PingEvery)
		}
	}
}
