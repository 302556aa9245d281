package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"wedge/agent/breaker"
	"wedge/agent/console"
	"wedge/agent/console/consoletest"
	"wedge/internal/clock"
	"wedge/internal/testutil"
	"wedge/internal/webauth/password"
	"wedge/order"
	"wedge/order/kpi"
	"wedge/sync/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 11, 11, 2, 0, 0, 0, time.UTC)

func board() console.Snapshot {
	return console.Snapshot{Site: "sz01", Agent: "a1", At: t0,
		Counts:  map[order.State]int{order.PendingAllocation: 12, order.WaybillPrinted: 3},
		Backlog: breaker.Stats{Backlog: 12, AvgWait: 3 * time.Minute, OldestWait: 9 * time.Minute},
		Breaker: breaker.State{Thresholds: order.Thresholds{MaxBacklog: 200, MaxAvgWait: 8 * time.Minute, CloseRatio: 0.8, CloseAfter: time.Minute}},
		Devices: []console.Device{{Name: "zebra-1", Kind: "printer", Station: "print-1", Up: true, Health: "ok"}},
		Sync:    console.Sync{Unsynced: 4, LastAck: t0, Connected: true},
		KPI: console.KPI{Goal: 0.92, Warn: 0.85,
			Day:   kpi.Rate{Period: "2026-11-11", Counted: 420, Met: 371, Rate: 371.0 / 420, Level: kpi.LevelWarn},
			Shift: kpi.Rate{Period: "2026-11-11 day", Shift: "day", ShiftZH: "白班", Counted: 130, Met: 124, Rate: 124.0 / 130, Level: kpi.LevelOK}}}
}

type env struct {
	t   testing.TB
	src *consoletest.Source
	c   *console.Console
	srv *httptest.Server
	clk *clock.Fake
}

func newEnv(t testing.TB, mod func(*console.Options)) *env {
	t.Helper()
	h, err := password.HashIter("secret-1", password.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	src := consoletest.New(board())
	clk := clock.NewFake(t0)
	o := console.Options{Source: src, Users: map[string]string{"wang": h}, Clock: clk, Logger: testutil.Logger(t)}
	if mod != nil {
		mod(&o)
	}
	c, err := console.New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(c.Handler())
	srv.Listener = smallBuffers{srv.Listener}
	srv.Start()
	t.Cleanup(func() {
		c.Close()
		srv.Close()
	})
	return &env{t, src, c, srv, clk}
}

// smallBuffers shrinks the server's socket send buffers, so that a client that stops reading
// stalls the console's writes after a few kilobytes instead of megabytes.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(8 << 10)
	}
	return c, err
}

func (e *env) wsURL() string { return "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/ws" }

type msg struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

func (e *env) dial(hdr http.Header) *websocket.Conn {
	e.t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial(e.wsURL(), hdr)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	return conn
}

func read(t *testing.T, conn *websocket.Conn) msg {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var m msg
	if err := conn.ReadJSON(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestFanOutAndResyncOnReconnect(t *testing.T) {
	e := newEnv(t, nil)
	var conns []*websocket.Conn
	for range 3 {
		c := e.dial(nil)
		m := read(t, c)
		var full console.Full
		if m.Type != console.EventSnapshot || json.Unmarshal(m.Data, &full) != nil || full.Board.Site != "sz01" || full.Board.Counts[order.PendingAllocation] != 12 {
			t.Fatalf("first message = %s %s", m.Type, m.Data)
		}
		conns = append(conns, c)
	}
	e.c.Publish(console.ScanEvent(console.Scan{At: t0, Station: "print-1", Device: "scanner-a", Operator: "李四", Code: "O1",
		Result: "rejected", Reason: order.ReasonHeld, Message: order.ReasonHeld.Message(order.Held)}))
	for _, c := range conns {
		m := read(t, c)
		var s console.Scan
		if m.Type != console.EventScan || json.Unmarshal(m.Data, &s) != nil || s.Code != "O1" || s.Operator != "李四" || s.Message.ZH == "" {
			t.Fatalf("scan = %s %s", m.Type, m.Data)
		}
	}
	// A reconnecting browser gets the feed and the open alerts in its snapshot.
	e.c.Publish(console.AlertEvent(console.UnpluggedAlert(t0, "scanner", "scanner-b")))
	conns[0].Close()
	c := e.dial(nil)
	var full console.Full
	m := read(t, c)
	json.Unmarshal(m.Data, &full)
	if len(full.Feed) != 1 || full.Feed[0].Code != "O1" || len(full.Alerts) != 1 || full.Alerts[0].ID == "" || full.Alerts[0].Kind != console.AlertUnplugged {
		t.Fatalf("resync snapshot = %s", m.Data)
	}
	if s := e.c.Stats(); s.Published != 2 || s.Resyncs != 0 {
		t.Fatalf("stats = %+v", s)
	}
}

func TestSlowClientIsDroppedAndResynced(t *testing.T) {
	e := newEnv(t, func(o *console.Options) { o.QueueLen = 4; o.FeedLen = 1; o.WriteTimeout = time.Minute })
	// The slow client has a tiny socket buffer and does not read until everything is published.
	d := websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetReadBuffer(4096)
		}
		return c, err
	}}
	slow, _, err := d.Dial(e.wsURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fast := e.dial(nil)
	read(t, fast)

	fastDone := make(chan error, 1)
	go func() { fastDone <- readUntilCode(fast, "last", nil) }()

	pad := strings.Repeat("x", 4<<10)
	for i := range 300 { // ~1.2 MB: far more than the socket buffers between the console and the slow client
		e.c.Publish(console.ScanEvent(console.Scan{Code: fmt.Sprint(i), Result: "accepted", Message: order.Message{ZH: pad}}))
	}
	e.c.Publish(console.ScanEvent(console.Scan{Code: "last", Result: "accepted"}))
	// Publish returned for every event although the slow client read nothing: it never blocks.
	if s := e.c.Stats(); s.Resyncs == 0 {
		t.Fatalf("no resync although a client stalled: %+v", s)
	}
	var snapshots int
	if err := readUntilCode(slow, "last", &snapshots); err != nil {
		t.Fatal(err)
	}
	if snapshots < 2 {
		t.Fatalf("slow client saw %d snapshots, want the initial one and at least one resync", snapshots)
	}
	if err := <-fastDone; err != nil {
		t.Fatal(err)
	}
}

// readUntilCode reads until a scan with code arrives as an event or in a snapshot's feed.
func readUntilCode(conn *websocket.Conn, code string, snapshots *int) error {
	for {
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		var m msg
		if err := conn.ReadJSON(&m); err != nil {
			return err
		}
		switch m.Type {
		case console.EventScan:
			if !bytes.Contains(m.Data, []byte(`"code":"`+code+`"`)) {
				continue
			}
			var s console.Scan
			json.Unmarshal(m.Data, &s)
			if s.Code == code {
				return nil
			}
		case console.EventSnapshot:
			if snapshots != nil {
				*snapshots++
			}
			var f console.Full
			json.Unmarshal(m.Data, &f)
			if n := len(f.Feed); n > 0 && f.Feed[n-1].Code == code {
				return nil
			}
		}
	}
}

func TestBoardRefresh(t *testing.T) {
	e := newEnv(t, nil)
	ws := e.dial(nil)
	read(t, ws)
	// The writer registers the client before the snapshot is read, but be sure.
	testutil.Eventually(t, 10*time.Second, "the client is registered", func() bool { return e.c.Stats().Clients > 0 })
	b := board()
	b.Counts[order.PendingAllocation] = 99
	e.src.SetBoard(b)
	e.c.Refresh()
	var s console.Snapshot
	m := read(t, ws)
	if json.Unmarshal(m.Data, &s); m.Type != console.EventBoard || s.Counts[order.PendingAllocation] != 99 {
		t.Fatalf("after Refresh: %s %s", m.Type, m.Data)
	}
	// The periodic refresh pushes a changed board, and nothing when it did not change.
	e.c.Refresh() // unchanged: no event
	b = board()   // a new value: the console may still be encoding the old one
	b.Counts[order.PendingAllocation] = 100
	e.src.SetBoard(b)
	e.clk.Advance(2 * time.Second) // the board timer was armed by New
	m = read(t, ws)
	if json.Unmarshal(m.Data, &s); m.Type != console.EventBoard || s.Counts[order.PendingAllocation] != 100 {
		t.Fatalf("after the period: %s %s", m.Type, m.Data)
	}
}

func TestOriginCheck(t *testing.T) {
	e := newEnv(t, func(o *console.Options) { o.AllowedOrigins = []string{"https://ops.example"} })
	for _, tc := range []struct {
		origin string
		ok     bool
	}{{"http://evil.example", false}, {"null", false}, {e.srv.URL, true}, {"https://ops.example", true}, {"", true}} {
		hdr := http.Header{}
		if tc.origin != "" {
			hdr.Set("Origin", tc.origin)
		}
		conn, resp, err := websocket.DefaultDialer.Dial(e.wsURL(), hdr)
		if tc.ok {
			if err != nil {
				t.Errorf("origin %q refused: %v", tc.origin, err)
				continue
			}
			conn.Close()
			continue
		}
		if err == nil {
			conn.Close()
			t.Errorf("origin %q accepted", tc.origin)
			continue
		}
		if resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("origin %q: %v %v", tc.origin, resp, err)
		}
	}
}

// browser is an HTTP client with a cookie jar that keeps the session's CSRF token.
type browser struct {
	t    *testing.T
	base string
	hc   *http.Client
	csrf string
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	b := &browser{t: t, base: base, hc: &http.Client{Jar: jar}}
	var s struct{ Role, CSRF string }
	b.get("/api/session", &s, 200)
	if s.Role != console.RoleViewer || s.CSRF == "" {
		t.Fatalf("session = %+v", s)
	}
	b.csrf = s.CSRF
	return b
}

func (b *browser) get(path string, out any, want int) {
	b.t.Helper()
	resp, err := b.hc.Get(b.base + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		b.t.Fatalf("GET %s = %d, want %d", path, resp.StatusCode, want)
	}
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
}

func (b *browser) post(path string, body any, hdr map[string]string, out any) int {
	b.t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", b.base+path, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Wedge-CSRF", b.csrf)
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

func TestAuthCSRFAndActions(t *testing.T) {
	e := newEnv(t, nil)
	e.src.AddOrder(console.OrderView{Order: order.Order{ID: "O9", ChannelOrderNo: "TB123", State: order.PendingAllocation, AssignedWaybill: "SF1234567890123", Carrier: "SF"},
		History: []wire.Entry{{Seq: 3, Kind: wire.KindIntake, OrderID: "O9"}}})
	b := newBrowser(t, e.srv.URL)
	reset := map[string]string{"reason": "加派人手"}

	// Viewers are read-only.
	if code := b.post("/api/breaker/reset", reset, nil, nil); code != http.StatusForbidden {
		t.Fatalf("viewer reset = %d", code)
	}
	// Login needs the CSRF token, then the right password.
	if code := b.post("/api/login", map[string]string{"user": "wang", "password": "secret-1"}, map[string]string{"X-Wedge-CSRF": ""}, nil); code != http.StatusForbidden {
		t.Fatalf("login without CSRF = %d", code)
	}
	var ae struct{ Error order.Message }
	if code := b.post("/api/login", map[string]string{"user": "wang", "password": "wrong"}, nil, &ae); code != http.StatusUnauthorized || ae.Error.ZH == "" || ae.Error.EN == "" {
		t.Fatalf("bad password = %d %+v", code, ae)
	}
	if code := b.post("/api/login", map[string]string{"user": "nobody", "password": "secret-1"}, nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("unknown user = %d", code)
	}
	oldCSRF := b.csrf
	var s struct{ User, Role, CSRF string }
	if code := b.post("/api/login", map[string]string{"user": "wang", "password": "secret-1"}, nil, &s); code != 200 || s.Role != console.RoleSupervisor || s.CSRF == oldCSRF {
		t.Fatalf("login = %d %+v", code, s)
	}
	u, _ := url.Parse(e.srv.URL)
	if code := b.post("/api/breaker/reset", reset, nil, nil); code != http.StatusForbidden {
		t.Fatalf("reset with the pre-login CSRF token = %d", code)
	}
	b.csrf = s.CSRF
	for _, tc := range []struct {
		name string
		hdr  map[string]string
		body any
		want int
	}{
		{"foreign origin", map[string]string{"Origin": "http://evil.example"}, reset, http.StatusForbidden},
		{"cross-site fetch", map[string]string{"Sec-Fetch-Site": "cross-site"}, reset, http.StatusForbidden},
		{"same-site fetch", map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://sub.127.0.0.1"}, reset, http.StatusForbidden},
		{"form post", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, reset, http.StatusUnsupportedMediaType},
		{"no reason", nil, map[string]string{"reason": " "}, http.StatusBadRequest},
		{"unknown field", nil, map[string]string{"reason": "x", "by": "someone-else"}, http.StatusBadRequest},
	} {
		if code := b.post("/api/breaker/reset", tc.body, tc.hdr, nil); code != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, code, tc.want)
		}
	}
	if len(e.src.Resets()) != 0 {
		t.Fatal("a refused request reached the source")
	}
	if code := b.post("/api/breaker/reset", reset, nil, nil); code != 200 {
		t.Fatalf("reset = %d", code)
	}
	if r := e.src.Resets(); len(r) != 1 || r[0] != (consoletest.Reset{By: "wang", Reason: "加派人手"}) {
		t.Fatalf("resets = %+v", r)
	}
	e.src.ResetErr = breaker.ErrNotOpen
	if code := b.post("/api/breaker/reset", reset, nil, nil); code != http.StatusConflict {
		t.Fatalf("reset of a closed breaker = %d", code)
	}

	// Search and manual confirmation.
	var v console.OrderView
	b.get("/api/search?code=TB123", &v, 200)
	if v.Order.ID != "O9" || v.Next != order.ActPrint || len(v.History) != 1 {
		t.Fatalf("search = %+v", v)
	}
	b.get("/api/search?code=NOPE", nil, 404)
	b.get("/api/search?code=", nil, 400)
	if code := b.post("/api/confirm", console.ConfirmRequest{OrderID: "O9", Operator: "李四"}, nil, nil); code != http.StatusBadRequest {
		t.Fatalf("confirm without note = %d", code)
	}
	var res console.ConfirmResult
	if code := b.post("/api/confirm", console.ConfirmRequest{OrderID: "O9", Operator: "李四", Note: "扫描枪故障，人工核对面单"}, nil, &res); code != 200 || !res.OK || res.To != order.WaybillPrinted {
		t.Fatalf("confirm = %d %+v", code, res)
	}
	if c := e.src.Confirms(); len(c) != 1 || c[0].By != "wang" || c[0].Operator != "李四" {
		t.Fatalf("confirms = %+v", c)
	}

	// Acknowledging a popup removes it for every screen.
	ws := e.dial(nil)
	read(t, ws)
	e.c.Publish(console.AlertEvent(console.PrinterFaultAlert(t0, "zebra-1", "head open")))
	var a console.Alert
	json.Unmarshal(read(t, ws).Data, &a)
	if code := b.post("/api/alerts/ack", map[string]string{"id": a.ID}, nil, nil); code != 200 {
		t.Fatalf("ack = %d", code)
	}
	if m := read(t, ws); m.Type != console.EventAck {
		t.Fatalf("after ack: %s", m.Type)
	}
	if acks := e.src.Acks(); len(acks) != 1 || acks[0].AckedBy != "wang" || acks[0].ID != a.ID {
		t.Fatalf("acks = %+v", acks)
	}
	if code := b.post("/api/alerts/ack", map[string]string{"id": a.ID}, nil, nil); code != http.StatusNotFound {
		t.Fatalf("second ack = %d", code)
	}

	// A tampered cookie is no session; an expired one neither.
	tampered := newBrowser(t, e.srv.URL)
	for _, ck := range b.hc.Jar.Cookies(u) {
		v := []byte(ck.Value)
		v[5] ^= 1
		tampered.hc.Jar.SetCookies(u, []*http.Cookie{{Name: ck.Name, Value: string(v)}})
	}
	if code := tampered.post("/api/breaker/reset", reset, map[string]string{"X-Wedge-CSRF": s.CSRF}, nil); code != http.StatusForbidden {
		t.Fatalf("tampered cookie = %d", code)
	}
	e.clk.Advance(13 * time.Hour)
	if code := b.post("/api/breaker/reset", reset, nil, nil); code != http.StatusForbidden {
		t.Fatalf("expired session = %d", code)
	}
}

func TestLoginThrottle(t *testing.T) {
	e := newEnv(t, nil)
	b := newBrowser(t, e.srv.URL)
	bad := map[string]string{"user": "wang", "password": "guess"}
	for i := range 5 {
		if code := b.post("/api/login", bad, nil, nil); code != http.StatusUnauthorized {
			t.Fatalf("attempt %d = %d", i, code)
		}
	}
	good := map[string]string{"user": "wang", "password": "secret-1"}
	var ae struct{ Error order.Message }
	if code := b.post("/api/login", good, nil, &ae); code != http.StatusTooManyRequests || !strings.Contains(ae.Error.ZH, "分钟") {
		t.Fatalf("6th attempt = %d %+v (even the right password waits)", code, ae)
	}
	e.clk.Advance(10 * time.Minute)
	if code := b.post("/api/login", good, nil, nil); code != 200 {
		t.Fatalf("after the window = %d", code)
	}
}

func TestCookieAttributes(t *testing.T) {
	e := newEnv(t, nil)
	resp, err := http.Get(e.srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cs := resp.Cookies()
	if len(cs) != 1 || !cs[0].HttpOnly || cs[0].Secure || cs[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookies = %+v", cs)
	}
	// Behind TLS (or with SecureCookies) the cookie is Secure.
	tls := httptest.NewTLSServer(e.c.Handler())
	defer tls.Close()
	resp, err = tls.Client().Get(tls.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if cs := resp.Cookies(); len(cs) != 1 || !cs[0].Secure || !cs[0].HttpOnly {
		t.Fatalf("TLS cookies = %+v", cs)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Fatalf("CSP = %q", csp)
	}
	for _, p := range []string{"/app.js", "/app.css"} {
		r, err := http.Get(e.srv.URL + p)
		if err != nil || r.StatusCode != 200 {
			t.Fatalf("%s: %v %v", p, r, err)
		}
		r.Body.Close()
	}
}

func TestPasswords(t *testing.T) {
	h, err := password.Hash("密码-123")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "pbkdf2-sha256$600000$") || !password.Check(h, "密码-123") || password.Check(h, "密码-124") {
		t.Fatalf("hash %q", h)
	}
	h2, _ := password.Hash("密码-123")
	if h2 == h {
		t.Fatal("no salt")
	}
	for _, bad := range []string{"", "plain", "sha256$abc", "pbkdf2-sha256$10$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
		if password.Check(bad, "x") {
			t.Errorf("%q accepted", bad)
		}
		if _, err := console.New(console.Options{Source: consoletest.New(board()), Users: map[string]string{"u": bad}}); !errors.Is(err, console.ErrOptions) {
			t.Errorf("New with hash %q: %v", bad, err)
		}
	}
	if _, err := console.New(console.Options{}); !errors.Is(err, console.ErrOptions) {
		t.Fatal("no source accepted")
	}
}

func TestCloseDisconnectsClients(t *testing.T) {
	e := newEnv(t, nil)
	ws := e.dial(nil)
	read(t, ws)
	e.c.Close()
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := ws.ReadMessage(); err == nil {
		t.Fatal("client still connected after Close")
	}
	if _, resp, err := websocket.DefaultDialer.Dial(e.wsURL(), nil); err == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial after Close: %v", err)
	}
	e.c.Publish(console.ScanEvent(console.Scan{Code: "x"})) // no panic, no block
}
