package webconsole

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"wedge/internal/webauth"
)

// rig serves one WebSocket at "/ws" with an upgrader that checks the Origin like the consoles'.
// Each accepted Conn is handed to the test on conns; the server's reader runs until the browser
// leaves.
type rig struct {
	srv   *httptest.Server
	conns chan *Conn
	logs  *bytes.Buffer
}

func newRig(t *testing.T) *rig {
	t.Helper()
	origins, err := webauth.NewOrigins(nil)
	if err != nil {
		t.Fatal(err)
	}
	g := &rig{conns: make(chan *Conn, 1), logs: &bytes.Buffer{}}
	log := slog.New(slog.NewTextHandler(g.logs, nil))
	u := &websocket.Upgrader{CheckOrigin: origins.SameOrigin}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := Upgrade(w, r, u, log, "test console")
		if !ok {
			return
		}
		g.conns <- c
		c.Read()
	}))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *rig) dial(t *testing.T, origin string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	return websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(g.srv.URL, "http")+"/ws", h)
}

func TestUpgradeRefusesForeignOrigin(t *testing.T) {
	g := newRig(t)
	_, resp, err := g.dial(t, "http://evil.example")
	if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign origin: err %v resp %+v", err, resp)
	}
	if !strings.Contains(g.logs.String(), "test console websocket refused") || !strings.Contains(g.logs.String(), "evil.example") {
		t.Fatalf("no refusal logged: %q", g.logs.String())
	}
	select {
	case <-g.conns:
		t.Fatal("a foreign origin got a connection")
	default:
	}
}

func TestWriteByeAndDone(t *testing.T) {
	g := newRig(t)
	ws, _, err := g.dial(t, g.srv.URL) // the page's own origin
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	c := <-g.conns
	if err := c.Write(websocket.TextMessage, []byte(`{"type":"overview"}`), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	typ, b, err := ws.ReadMessage()
	if err != nil || typ != websocket.TextMessage || string(b) != `{"type":"overview"}` {
		t.Fatalf("got %d %q %v", typ, b, err)
	}
	c.Bye(websocket.CloseGoingAway, "hub stopping")
	_, _, err = ws.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway || ce.Text != "hub stopping" {
		t.Fatalf("after Bye: %v", err)
	}
	ws.Close() // the browser leaves: the server's reader returns
	<-c.Done()
	if err := c.Write(websocket.TextMessage, []byte("late"), time.Second); err == nil {
		t.Fatal("a write after the close succeeded")
	}
}

func TestReadLimitEndsTheConnection(t *testing.T) {
	g := newRig(t)
	ws, _, err := g.dial(t, g.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	c := <-g.conns
	if err := ws.WriteMessage(websocket.TextMessage, []byte("small")); err != nil {
		t.Fatal(err)
	}
	// The connection is still up: a write after the small message arrives.
	if err := c.Write(websocket.TextMessage, []byte("still here"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, b, err := ws.ReadMessage(); err != nil || string(b) != "still here" {
		t.Fatalf("after a small message: %q %v", b, err)
	}
	select {
	case <-c.Done():
		t.Fatal("a small message ended the connection")
	default:
	}
	if err := ws.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte("x"), ReadLimit+1)); err != nil {
		t.Fatal(err)
	}
	<-c.Done()
	c.Close()
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
