package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"wedge/drivers/printer/emulator"
	"wedge/internal/pki"
	"wedge/sync/hub"
	"wedge/sync/wire"
)

// The customer's phone number, as the order system sends it, may live whole only in the hub's own
// store (the order record, its versions, the reminder's outbox row) and go out only to the SMS
// gateway. Orders carrying distinctive numbers in several formats go through every path: the
// downlink to two PCs, the 30-minute reminder (shortened to seconds), a gateway that first fails and
// echoes the number, a phone change, printing, a handover and a cancellation. Then every other
// place a person, a log shipper or a scraper can read is searched for the number, its digits and
// its unmasked middle: every process's log, the PCs' journal files and `wedge journal export`, the
// PC console's pages, API and WebSocket frames, the hub's API and central console (pages, API,
// WebSocket) as a signed-in user, both /metrics, the printed labels, the downlink as the broker
// carries it to a PC, and every other file in the test's directory. The hub's store directory must
// hold it (the reminder needs it), which also shows the search finds it in a bbolt file.
func TestCustomerPhoneNeverLeaks(t *testing.T) {
	needE2E(t)
	dir := t.TempDir()
	b := startBroker(t, dir)
	gw := newSMSGateway(t)

	const consoleUser, consolePW = "hq", "e2e-console-password"
	cfg := filepath.Join(dir, "hub.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`notify:
  lease: 5s
  backoff: 200ms
  max_backoff: 1s
  poll: 100ms
  channels:
    sms:
      type: sms
      url: %q
      body: '{"to":"{{phone}}","text":"{{text}}","out_id":"{{id}}"}'
      headers: {Content-Type: application/json}
      timeout: 10s
  sites:
    "*":
      reminder: {after: 2s, channel: sms}
console:
  users:
    - {name: %s, role: admin, password_hash: %q}
`, gw.srv.URL+"/sms?to={{phone}}", consoleUser, hashConsolePassword(t, consolePW))), 0o600); err != nil {
		t.Fatal(err)
	}
	h := startHubConfig(t, dir, b, freeAddr(t), cfg)

	packScan, dockScan := openPty(t), openPty(t)
	emu := emulator.NewZPL(&emulator.Options{PrintTime: 20 * time.Millisecond})
	t.Cleanup(func() { emu.Close() })
	paddr, err := emu.ListenTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pack := startAgentWith(t, dir, "pack01", b, fmt.Sprintf(`stations:
  - {name: print-1, role: print}
devices:
  - {name: scan-1, kind: scanner, station: print-1, transport: serial, port: %s, profile: generic-serial-cr}
  - {name: zd421-1, kind: printer, station: print-1, transport: tcp, address: %q, profile: zebra-zd421}
`, packScan.Name, paddr))
	dock := newAgent(t, dir, "dock01", b, stationSpec{"dock-1", "handover", dockScan})
	agents := []*agentProc{pack, dock}

	hubWeb := hubConsoleLogin(t, h, consoleUser, consolePW)
	var frames []*wsCapture
	for _, a := range agents {
		frames = append(frames, captureWS(t, a.name+" console WebSocket", "ws://"+a.addr+"/console/ws", "http://"+a.addr, nil))
	}
	frames = append(frames, captureWS(t, "hub console WebSocket", "ws://"+h.addr+"/console/ws", "http://"+h.addr, hubWeb.Jar))

	// The numbers, in the formats order systems send: plain, with the country code and separators,
	// E.164, a one-line recipient of an older order system, and a phone change.
	const (
		plain    = "13957218463"
		spaced   = "+86 139-5721-8464"
		oneLine  = "13957218465"
		before   = "13957218466"
		changed  = "13957218467"
		e164     = "+8613957218468"
		lineText = "王五 " + oneLine + " 广东省深圳市南山区科技园路1号"
	)
	orders := makeOrders("PHONE", 5)
	for i, p := range []string{plain, spaced, "", before, e164} {
		if p != "" {
			orders[i].RecipientName, orders[i].RecipientPhone, orders[i].RecipientAddress = "张三", p, "广东省深圳市南山区科技园路1号"
		}
	}
	orders[2].Recipient = lineText
	needles := phoneNeedles(plain, spaced, oneLine, before, changed, e164)

	h.dispatch(t, "sz01", orders)
	upd := orders[3]
	upd.Version, upd.RecipientPhone = 2, changed
	h.dispatch(t, "sz01", []wire.OrderMsg{upd})
	for _, a := range agents {
		waitFor(t, 60*time.Second, a.name+" receives the orders", func() bool {
			for _, o := range orders {
				if a.orderState(t, o.OrderID) != "pending_allocation" {
					return false
				}
			}
			return true
		})
	}
	// The reminders: the gateway gets each number whole (that is its job), after a first answer
	// that failed and echoed it. The one-line recipient has no recipient_phone to text (the
	// reminder fails for it); the changed order's reminder may have been queued before the change
	// reached the hub, so it goes to either number.
	want := map[string][]string{orders[0].OrderID: {plain}, orders[1].OrderID: {spaced}, orders[3].OrderID: {before, changed},
		orders[4].OrderID: {e164}}
	ids := sortedKeys(want)
	waitFor(t, 60*time.Second, "the SMS gateway gets every reminder", func() bool { return len(gw.delivered(ids)) == len(want) })
	for id, got := range gw.delivered(ids) {
		if ok := len(want[id]) > 0 && (got == want[id][0] || len(want[id]) > 1 && got == want[id][1]); !ok {
			t.Errorf("reminder of %s went to %q, want one of %q", id, got, want[id])
		}
	}
	if gw.failures() < len(want) {
		t.Errorf("the gateway failed %d requests, want one per reminder at least", gw.failures())
	}

	// Print three labels, hand one parcel over, cancel one order; one stays waiting.
	waitFor(t, 30*time.Second, "the scanners are open", func() bool {
		return pack.deviceConnected(t, "scan-1") && dock.devicesConnected(t)
	})
	scan(t, packScan, "OP-li4", orders[0].OrderID, orders[1].OrderID, orders[2].OrderID)
	waitFor(t, 60*time.Second, "dock01 learns the first order is 已打单", func() bool {
		return dock.orderState(t, orders[0].OrderID) == "waybill_printed"
	})
	scan(t, dockScan, "OP-wang5", orders[0].Waybill)
	h.dispatch(t, "sz01", []wire.OrderMsg{{Type: wire.TypeCancel, OrderID: orders[3].OrderID, Reason: "buyer cancelled"}})
	wantState := []string{"picked_up", "waybill_printed", "waybill_printed", "cancelled", "pending_allocation"}
	waitFor(t, 60*time.Second, "the hub has every order in its state", func() bool {
		for i, o := range orders {
			if ho, ok := h.order(o.OrderID); !ok || ho.State != wantState[i] {
				return false
			}
		}
		return true
	})
	for _, a := range agents {
		a.drained(t, h, 60*time.Second)
	}
	if n := len(emu.Jobs()); n != 3 {
		t.Errorf("the printer got %d labels, want 3", n)
	}
	// The labels print the phone, masked: from the separate field and from the one-line recipient.
	for _, masked := range []string{"139****8463", "+86****8464", "139****8465"} {
		if !bytes.Contains(emu.Received(), []byte(masked)) {
			t.Errorf("no label carries the masked phone %s", masked)
		}
	}

	// Read everything people and machines can read while it all runs.
	var seen []leakSource
	add := func(where string, b []byte) { seen = append(seen, leakSource{where, b}) }
	for _, a := range agents {
		base := "http://" + a.addr
		paths := []string{"/console/", "/console/app.js", "/console/api/session", "/console/api/snapshot", "/console/api/exceptions",
			"/api/v1/status", "/api/v1/kpi", "/metrics"}
		for _, o := range orders {
			paths = append(paths, "/api/v1/orders/"+o.OrderID, "/console/api/search?code="+url.QueryEscape(o.OrderID),
				"/console/api/search?code="+url.QueryEscape(o.Waybill))
		}
		for _, p := range paths {
			want := 200
			if strings.Contains(p, "/search?") {
				want = 0 // a waybill not printed yet is no search hit
			}
			add(a.name+" GET "+p, httpGet(t, http.DefaultClient, base+p, "", want))
		}
	}
	hubPaths := []string{"/v1/agents", "/v1/stats", "/v1/notifications", "/v1/lists/overdue", "/v1/lists/held", "/v1/lists/rejected",
		"/v1/kpi", "/v1/kpi/late", "/v1/anomalies", "/v1/consistency", "/v1/presale"}
	for _, o := range orders {
		hubPaths = append(hubPaths, "/v1/orders/"+o.OrderID, "/v1/trace?q="+url.QueryEscape(o.Waybill),
			"/v1/trace?q="+url.QueryEscape(o.ChannelOrderNo), "/v1/tracking/"+o.Waybill)
	}
	for name, ha := range h.agents() {
		hubPaths = append(hubPaths, "/v1/journals/sz01/"+name+"/"+ha.JournalID+"/entries")
	}
	for _, p := range hubPaths {
		add("hub API GET "+p, httpGet(t, http.DefaultClient, h.url(p), h.token, 0))
		add("hub console GET /console/api"+p, httpGet(t, hubWeb, h.url("/console/api"+p), "", 0))
	}
	for _, p := range []string{"/console/", "/console/app.js", "/console/pages.js", "/console/api/session"} {
		add("hub console GET "+p, httpGet(t, hubWeb, h.url(p), "", 200))
	}
	add("hub GET /metrics", httpGet(t, http.DefaultClient, h.url("/metrics"), h.token, 200))
	add("printer (every byte the agent sent)", emu.Received())
	for _, f := range frames {
		f.stop()
		add(f.what, f.bytes())
	}

	dockJournal := dock.status(t).JournalID
	for _, a := range agents {
		a.stop()
		out, code := wedgeCmd(t, "journal", "export", "--data", a.data)
		if code != 0 {
			t.Fatalf("wedge journal export --data %s: exit %d\n%s", a.data, code, out)
		}
		add(a.name+" wedge journal export", []byte(out))
	}
	// The downlink: the broker lets only the site's PCs read it and makes a certificate's name its
	// client id, so the test reads it as dock01 once dock01 is stopped: a catch-up from the start
	// replays every message the hub published to the site, as stored.
	for i, p := range replayDownlink(t, b, dock, dockJournal, orders) {
		add(fmt.Sprintf("downlink replay message %d", i+1), p)
	}
	h.stop()

	// Every file of the test: the logs, the PCs' journals and state, the configs; the hub's store
	// is the one place allowed to keep the number, and must.
	hubData := filepath.Join(dir, "hub-data")
	var inStore bool
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.HasPrefix(path, hubData+string(filepath.Separator)) {
			inStore = inStore || bytes.Contains(b, []byte(plain))
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		add("file "+rel, b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(hubData); err == nil && !inStore {
		t.Errorf("the hub's store files under %s do not hold %s: the search cannot find a number in a bbolt file", hubData, plain)
	}
	for _, what := range []string{"hub.log", "pack01/agent.log", "dock01/agent.log", "pack01/data/wedge.db", "dock01/data/wedge.db"} {
		if !slicesContainsWhere(seen, "file "+what) {
			t.Errorf("%s was not searched", what)
		}
	}
	for _, s := range seen {
		var found []string
		first := -1
		for _, n := range needles {
			if i := bytes.Index(s.data, []byte(n)); i >= 0 {
				found = append(found, n)
				if first < 0 {
					first = i
				}
			}
		}
		if found != nil {
			t.Errorf("%s holds the customer's phone %q: …%s…", s.where, found, excerpt(s.data, first, len(found[0])))
		}
	}
	t.Logf("searched %d sources (%d bytes) for %d forms of 6 numbers: %q", len(seen), total(seen), len(needles), needles)
}

// leakSource is one thing read for the search: where, and its bytes.
type leakSource struct {
	where string
	data  []byte
}

func total(s []leakSource) int {
	n := 0
	for _, x := range s {
		n += len(x.data)
	}
	return n
}

func slicesContainsWhere(s []leakSource, where string) bool {
	for _, x := range s {
		if x.where == where {
			return true
		}
	}
	return false
}

// excerpt is b around [i, i+n), printable, for a failure message.
func excerpt(b []byte, i, n int) string {
	from, to := max(0, i-60), min(len(b), i+n+60)
	return strings.ToValidUTF8(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '.'
		}
		return r
	}, string(b[from:to])), "?")
}

// phoneNeedles are the forms of each raw number to search for: as sent, its digits, its digits
// without the country code, its groups as written ("5721-8464", "139-5721"), and the digits a mask
// hides with the ones around them (the 8 after the 3-digit prefix, the 7 before the last 4), so a
// number masked the wrong way is found too.
func phoneNeedles(raws ...string) []string {
	var out []string
	seen := map[string]bool{}
	addN := func(s string) {
		if len(s) >= 7 && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, raw := range raws {
		addN(raw)
		var d strings.Builder
		for _, r := range raw {
			if r >= '0' && r <= '9' {
				d.WriteRune(r)
			}
		}
		digits := d.String()
		addN(digits)
		if strings.HasPrefix(digits, "86") && len(digits) == 13 {
			digits = digits[2:]
			addN(digits)
		}
		if len(digits) == 11 {
			addN(digits[3:])
			addN(digits[:7])
		}
		// Written in groups ("+86 139-5721-8464"): the middle group with either neighbour, with
		// either separator.
		if f := strings.FieldsFunc(raw, func(r rune) bool { return r == '-' || r == ' ' }); len(f) >= 3 {
			for _, sep := range []string{"-", " "} {
				addN(strings.Join(f[len(f)-2:], sep))
				addN(strings.Join(f[len(f)-3:len(f)-1], sep))
			}
		}
	}
	return out
}

// smsGateway is the SMS gateway: the first request for each notice fails with a 503 that echoes
// the number (as some gateways' error pages do), the next is taken.
type smsGateway struct {
	t   *testing.T
	srv *httptest.Server

	mu    sync.Mutex
	tries map[string]int    // by out_id
	sent  map[string]string // order id → the number the body carried
	fails int
}

func newSMSGateway(t *testing.T) *smsGateway {
	g := &smsGateway{t: t, tries: map[string]int{}, sent: map[string]string{}}
	g.srv = httptest.NewServer(g)
	t.Cleanup(g.srv.Close)
	return g
}

func (g *smsGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct {
		To    string `json:"to"`
		Text  string `json:"text"`
		OutID string `json:"out_id"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.To == "" || r.URL.Query().Get("to") != body.To {
		g.t.Errorf("SMS gateway: bad request %s %s: %v %+v", r.Method, r.URL, err, body)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.tries[body.OutID]++
	if g.tries[body.OutID] == 1 {
		g.fails++
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "gateway busy, message to %s not sent", body.To)
		return
	}
	g.sent[body.OutID] = body.To
	w.WriteHeader(http.StatusOK)
}

// delivered is the number each reminder reached, by order id (of site sz01; the notice's id is
// the hub's idempotency key of the order's reminder).
func (g *smsGateway) delivered(ids []string) map[string]string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string]string{}
	for _, id := range ids {
		if to, ok := g.sent[hub.IdempotencyKey(hub.OutboxKey{Site: "sz01", Order: id, Rule: hub.NoticeReminder})]; ok {
			out[id] = to
		}
	}
	return out
}

func (g *smsGateway) failures() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.fails
}

// hashConsolePassword is `wedge console hash-password` on pw.
func hashConsolePassword(t *testing.T, pw string) string {
	t.Helper()
	cmd := exec.Command(wedgeBin, "console", "hash-password")
	cmd.Stdin = strings.NewReader(pw + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("wedge console hash-password: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// hubConsoleLogin signs in to the hub's central console and returns a client with the session.
func hubConsoleLogin(t *testing.T, h *hubProc, user, pw string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	body, _ := json.Marshal(map[string]string{"user": user, "password": pw})
	req, _ := http.NewRequest(http.MethodPost, h.url("/console/api/login"), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "http://"+h.addr)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("hub console login: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("hub console login: %d %s", resp.StatusCode, b)
	}
	return c
}

// httpGet reads url (with a bearer token unless ""); want 0 takes any status but 5xx.
func httpGet(t *testing.T, c *http.Client, u, token string, want int) []byte {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if (want != 0 && resp.StatusCode != want) || resp.StatusCode >= 500 || resp.StatusCode == 401 || resp.StatusCode == 403 {
		t.Errorf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	return b
}

// replayDownlink asks the hub, as the stopped agent a (with its certificate), for a
// catch-up of its site's downlink from the start, and returns the payloads of the replay once they
// name every order and the cancellation.
func replayDownlink(t *testing.T, b *e2eBroker, a *agentProc, journalID string, orders []wire.OrderMsg) [][]byte {
	t.Helper()
	cn := pki.AgentCN("sz01", a.name)
	s := sniff(t, b, cn, wire.TopicDirect("sz01", a.name), nil)
	defer s.leave()
	req, _ := json.Marshal(wire.CatchupRequest{JournalID: journalID, Since: 0})
	topic := wire.TopicCatchup("sz01", a.name)
	if tok := s.cli.Publish(topic, 1, false, req); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish the catch-up request: %v", tok.Error())
	}
	var out [][]byte
	waitFor(t, 30*time.Second, "the downlink replay names every order and the cancellation", func() bool {
		out = out[:0]
		var all []byte
		for _, m := range s.all() {
			out = append(out, m.Payload())
			all = append(all, m.Payload()...)
		}
		for _, o := range orders {
			if !bytes.Contains(all, []byte(o.OrderID)) {
				return false
			}
		}
		return bytes.Contains(all, []byte(`"type":"cancel"`))
	})
	return out
}

// wsCapture keeps every frame a WebSocket client receives until stop.
type wsCapture struct {
	what string
	conn *websocket.Conn
	done chan struct{}

	mu  sync.Mutex
	buf bytes.Buffer
	n   int
}

// captureWS opens u (with origin, and jar's cookies for u) and records its frames.
func captureWS(t *testing.T, what, u, origin string, jar http.CookieJar) *wsCapture {
	t.Helper()
	hdr := http.Header{"Origin": {origin}}
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, Jar: jar}
	conn, resp, err := d.Dial(u, hdr)
	if err != nil {
		code := 0
		if resp != nil {
			code = resp.StatusCode
		}
		t.Fatalf("%s: dial %s: %v (%d)", what, u, err, code)
	}
	w := &wsCapture{what: what, conn: conn, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			_, msg, err := conn.ReadMessage()
			if err != nil {
				return
			}
			w.mu.Lock()
			w.buf.Write(msg)
			w.buf.WriteByte('\n')
			w.n++
			w.mu.Unlock()
		}
	}()
	t.Cleanup(w.stop)
	return w
}

func (w *wsCapture) stop() {
	w.conn.Close()
	<-w.done
}

func (w *wsCapture) bytes() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]byte(nil), w.buf.Bytes()...)
}
