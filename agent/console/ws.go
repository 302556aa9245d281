package console

import (
	"encoding/json"
	"net/http"

	"github.com/gorilla/websocket"

	"wedge/internal/logging"
	"wedge/internal/webconsole"
)

// client is one browser. Its queue is bounded; Publish never waits for it.
type client struct {
	conn   *webconsole.Conn
	send   chan []byte
	resync chan struct{}
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
	conn, ok := webconsole.Upgrade(w, r, &c.upgrader, c.log, "console") // checks the Origin (Origins.SameOrigin) and answers errors itself
	if !ok {
		return
	}
	cl := &client{conn: conn, send: make(chan []byte, c.opts.QueueLen), resync: make(chan struct{}, 1)}
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
	cl.conn.Read()
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
		if err := cl.conn.Write(typ, b, c.opts.WriteTimeout); err != nil {
			select {
			case <-cl.conn.Done():
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
			cl.conn.Bye(websocket.CloseGoingAway, "agent stopping")
			return
		case <-cl.conn.Done():
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
