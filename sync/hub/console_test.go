package hub_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"testing"
	"time"

	"wedge/internal/clock"
	"wedge/internal/testbroker"
	"wedge/internal/webauth/password"
	"wedge/sync/hub"
	"wedge/sync/hub/hubconsole"
	"wedge/sync/wire"
)

// consoleUsers are the console users of the console tests: one per role, password "<name>-pw".
func consoleUsers(t *testing.T) []hubconsole.User {
	t.Helper()
	var out []hubconsole.User
	for _, u := range []struct{ name, role string }{{"vera", hubconsole.RoleViewer}, {"alice", hubconsole.RoleSupervisor}, {"root", hubconsole.RoleAdmin}} {
		h, err := password.HashIter(u.name+"-pw", password.MinIterations)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, hubconsole.User{Name: u.name, Role: u.role, PasswordHash: h})
	}
	return out
}

// newConsoleEnv is newEnv with the central console.
func newConsoleEnv(t *testing.T) *env {
	e := &env{t: t, broker: testbroker.Start(t, nil), dir: t.TempDir(), clk: clock.NewFake(t0), logs: &logSink{}}
	users := consoleUsers(t)
	e.extra = func(o *hub.Options) {
		o.Console = &hubconsole.Options{Users: users, PushEvery: 200 * time.Millisecond}
	}
	e.startHub("wedge-hub-console")
	return e
}

// publishStatus makes the hub know site/agent (a retained online status, cleared at the end).
func publishStatus(t *testing.T, a *agent, st wire.Status) {
	t.Helper()
	st.State, st.Site, st.Agent = "online", a.site, a.name
	b, _ := json.Marshal(st)
	a.cli.Publish(wire.TopicStatus(a.site, a.name), 1, true, b).Wait()
	t.Cleanup(func() { a.cli.Publish(wire.TopicStatus(a.site, a.name), 1, true, nil).Wait() })
}

// consoleClient is a browser session on the hub's console.
type consoleClient struct {
	t    *testing.T
	base string
	hc   *http.Client
	csrf string
}

func signIn(t *testing.T, h *hub.Hub, user string) *consoleClient {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &consoleClient{t: t, base: h.URL() + "/console", hc: &http.Client{Jar: jar, Timeout: 15 * time.Second}}
	var s struct{ CSRF string }
	if code := c.do("POST", "/api/login", map[string]string{"user": user, "password": user + "-pw"}, &s); code != http.StatusOK {
		t.Fatalf("login %s: %d", user, code)
	}
	c.csrf = s.CSRF
	return c
}

func (c *consoleClient) do(method, path string, body, out any) int {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Wedge-CSRF", c.csrf)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// A breaker command sent through the console takes the API's command path: a viewer is refused
// (403, nothing stored), a supervisor's command is stored and audited as "console:alice" and
// published; the console reads the agents through the same handler as GET /v1/agents.
func TestConsoleCommandAuditedLikeTheAPI(t *testing.T) {
	e := newConsoleEnv(t)
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	publishStatus(t, a, wire.Status{JournalID: "j1", Version: "v1.2.3"})
	var agents []map[string]any
	waitFor(t, "agent known", func() bool {
		getJSON(t, e.hub, "/v1/agents", http.StatusOK, &agents)
		return len(agents) == 1
	})
	viewer := signIn(t, e.hub, "vera")
	var seen []map[string]any
	if code := viewer.do("GET", "/api/v1/agents", nil, &seen); code != http.StatusOK || len(seen) != 1 || seen[0]["version"] != "v1.2.3" {
		t.Fatalf("viewer GET agents: %d %v", code, seen)
	}
	cmd := map[string]any{"type": "breaker_thresholds", "reason": "双十一加派人手", "max_backlog": 300, "max_avg_wait": "10m"}
	path := "/api/v1/agents/sz01/pack01/commands"
	if code := viewer.do("POST", path, cmd, nil); code != http.StatusForbidden {
		t.Fatalf("viewer command: %d, want 403", code)
	}
	sup := signIn(t, e.hub, "alice")
	var rec commandView
	if code := sup.do("POST", path, cmd, &rec); code != http.StatusAccepted || rec.By != "console:alice" || rec.Token != "console:alice" || !rec.Published {
		t.Fatalf("supervisor command: %d %+v", code, rec)
	}
	var stored []commandView
	getJSON(t, e.hub, "/v1/agents/sz01/pack01/commands", http.StatusOK, &stored)
	if len(stored) != 1 || stored[0].By != "console:alice" || stored[0].Reason != "双十一加派人手" {
		t.Fatalf("audit %+v", stored)
	}
}
