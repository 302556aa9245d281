package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"wedge/internal/pki"
	"wedge/sync/hub"
	"wedge/sync/wire"
)

// webhookSink is the supervisors' webhook receiver: it checks every signature and counts the
// requests per idempotency key. The request numbered blockAt is held until release is closed.
type webhookSink struct {
	t       *testing.T
	secret  []byte
	blockAt int
	blocked chan string // the held request's key
	release chan struct{}

	mu   sync.Mutex
	n    int
	seen map[string]int
}

func (s *webhookSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := hub.VerifyWebhook(s.secret, r.Header.Get(hub.HeaderSignature), body, time.Now(), time.Minute); err != nil {
		s.t.Errorf("webhook signature: %v", err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	key := strings.Trim(r.Header.Get(hub.HeaderIdempotencyKey), `"`)
	s.mu.Lock()
	s.n++
	n := s.n
	s.seen[key]++
	s.mu.Unlock()
	if n == s.blockAt {
		s.blocked <- key
		<-s.release
	}
	w.WriteHeader(http.StatusOK)
}

func (s *webhookSink) counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]int{}
	for k, v := range s.seen {
		m[k] = v
	}
	return m
}

// The real hub process is SIGKILLed while a notice's request is in flight: after the restart no
// notice whose 2xx the hub had recorded is sent again, the one in flight is sent again with the
// same idempotency key once its lease ran out, and none is lost.
func TestNotificationsSurviveHubSIGKILL(t *testing.T) {
	needE2E(t)
	dir := t.TempDir()
	b := startBroker(t, dir)
	sink := &webhookSink{t: t, secret: []byte("e2e-webhook-secret"), blockAt: 3, blocked: make(chan string, 1),
		release: make(chan struct{}), seen: map[string]int{}}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	defer func() {
		select {
		case <-sink.release:
		default:
			close(sink.release)
		}
	}()
	os.WriteFile(filepath.Join(dir, "hook.secret"), sink.secret, 0o600)
	cfg := filepath.Join(dir, "hub.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`notify:
  lease: 2s
  backoff: 500ms
  max_backoff: 2s
  poll: 200ms
  channels:
    sup: {type: webhook, url: %q, secret_file: hook.secret, timeout: 60s}
  sites:
    "*": {breaker: {channel: sup}}
`, srv.URL+"/hook")), 0o600)
	data := filepath.Join(dir, "hub-data")
	out, err := exec.Command(wedgeBin, "hub", "token", "create", "--data", data, "--name", "e2e", "--scope", "admin").Output()
	if err != nil {
		t.Fatalf("wedge hub token create: %v", err)
	}
	token := strings.TrimSpace(string(out))
	addr := freeAddr(t)
	logPath := filepath.Join(dir, "hub.log")
	run := func() *proc {
		before := 0
		if b, err := os.ReadFile(logPath); err == nil {
			before = len(b)
		}
		args := append([]string{"hub", "--config", cfg}, b.hubArgs(t)...)
		p := start(t, "hub", logPath, append(args, "--data", data, "--listen", addr, "--client-id", "wedge-hub-e2e")...)
		waitFor(t, 60*time.Second, "the hub subscribed", func() bool {
			p.alive()
			l := p.log()
			return len(l) > before && strings.Contains(l[before:], "hub connected and subscribed")
		})
		return p
	}
	list := func(state string) []hub.NotificationView {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/v1/notifications?state="+state, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		var v struct {
			Notifications []hub.NotificationView `json:"notifications"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&v)
		return v.Notifications
	}
	h := run()

	// Six breaker flips of the site's two PCs, each a notice for the supervisors.
	t0 := time.Now().UTC()
	for j, name := range []string{"pack01", "dock01"} {
		var ps []string
		for i, open := range []bool{true, false, true} {
			p, _ := json.Marshal(wire.Status{State: "online", Site: "sz01", Agent: name, BreakerOpen: open,
				At: wire.Time(t0.Add(time.Duration(i*2+j) * time.Second))})
			ps = append(ps, string(p))
		}
		publish(t, b, pki.AgentCN("sz01", name), wire.TopicStatus("sz01", name), ps...)
	}
	var inFlight string
	select {
	case inFlight = <-sink.blocked:
	case <-time.After(60 * time.Second):
		t.Fatalf("the third notice never reached the webhook\n%s", h.tail())
	}
	// Statuses are not acked after a commit as batches are: wait until all six are queued (a status
	// the hub had received but not committed when it died would be lost, see PROTOCOL.md).
	waitFor(t, 30*time.Second, "six notices queued", func() bool { return len(list("")) == 6 })
	var before []hub.NotificationView
	waitFor(t, 30*time.Second, "two notices recorded as sent", func() bool { before = list("sent"); return len(before) == 2 })
	h.kill() // the third notice's 2xx is never read, let alone recorded
	close(sink.release)

	h = run()
	waitFor(t, 90*time.Second, "all six notices sent", func() bool { h.alive(); return len(list("sent")) == 6 })
	got := sink.counts()
	if len(got) != 6 {
		t.Fatalf("the webhook saw %d distinct notices, want 6: %v", len(got), got)
	}
	for _, n := range before {
		if got[n.ID] != 1 {
			t.Errorf("notice %s was recorded as sent before the kill and reached the webhook %d times", n.ID, got[n.ID])
		}
	}
	for k, n := range got {
		if k != inFlight && n != 1 {
			t.Errorf("notice %s reached the webhook %d times", k, n)
		}
	}
	if got[inFlight] != 2 {
		t.Errorf("the notice in flight at the kill reached the webhook %d times; want twice with the same key (its 2xx was never recorded)", got[inFlight])
	}
}
