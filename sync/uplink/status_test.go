package uplink_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"wedge/internal/clock"
	"wedge/internal/testbroker"
	"wedge/sync/apitoken"
	"wedge/sync/hub"
	"wedge/sync/uplink"
	"wedge/sync/uplink/uplinktest"
	"wedge/sync/wire"
)

// statusLog collects the retained status publications an observer sees.
type statusLog struct {
	mu sync.Mutex
	s  []wire.Status
}

func (l *statusLog) all() []wire.Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]wire.Status(nil), l.s...)
}

func watchStatus(t *testing.T, url string) *statusLog {
	l := &statusLog{}
	obs := client(t, url, "test-status-observer", nil)
	subscribe(t, obs, wire.TopicStatus(site, agent), func(m mqtt.Message) {
		var s wire.Status
		if err := json.Unmarshal(m.Payload(), &s); err != nil {
			t.Errorf("status %q: %v", m.Payload(), err)
		}
		l.mu.Lock()
		l.s = append(l.s, s)
		l.mu.Unlock()
	})
	return l
}

// The status is published again every StatusInterval without a change, and soon after a change
// (unsynced moved), so the hub's view of the agent is never older than the interval. Time is a
// fake clock: nothing here waits for the interval.
func TestStatusRepublishedPeriodicallyAndOnChange(t *testing.T) {
	b := testbroker.Start(t, nil)
	log := watchStatus(t, b.URL())
	clk := clock.NewFake(time.Date(2026, 1, 22, 8, 0, 0, 0, time.UTC))
	src := uplinktest.NewMemSource(jid)
	src.Append(2)
	// No hub: nothing is acked, so unsynced only grows.
	u := start(t, src, uplink.Options{URL: b.URL(), Clock: clk, StatusInterval: time.Minute})
	eventually(t, 10*time.Second, "online status on connect", func() bool {
		s := log.all()
		return len(s) > 0 && s[len(s)-1].State == "online" && s[len(s)-1].Unsynced == 2
	})
	first := log.all()[len(log.all())-1]

	// Unchanged: published again once the interval has passed.
	n := len(log.all())
	eventually(t, 10*time.Second, "a periodic status", func() bool {
		clk.Advance(10 * time.Second)
		return len(log.all()) > n
	})
	again := log.all()[len(log.all())-1]
	if again.Unsynced != 2 || again.LastSeq != 2 || again.State != "online" || again.At == first.At {
		t.Fatalf("periodic status %+v after %+v: want the same content with a later time", again, first)
	}
	if at, _ := wire.ParseTime(again.At); at.Sub(mustTime(t, first.At)) < time.Minute {
		t.Fatalf("republished at %s, %s after the first: before the interval", again.At, at.Sub(mustTime(t, first.At)))
	}

	// Changed: published within the minimum gap, long before the interval.
	src.Append(3)
	changed := clk.Now()
	eventually(t, 10*time.Second, "the changed status", func() bool {
		clk.Advance(250 * time.Millisecond)
		s := log.all()
		return s[len(s)-1].Unsynced == 5 && s[len(s)-1].LastSeq == 5
	})
	if waited := clk.Now().Sub(changed); waited >= time.Minute {
		t.Fatalf("a change waited %s for its status", waited)
	}
	if !u.Connected() {
		t.Fatal("not connected")
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := wire.ParseTime(s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// At the reference hub: once the hub has acked everything, the agent's status says so within about
// a second (a change), not only at the next interval or reconnect.
func TestHubSeesUnsyncedDrop(t *testing.T) {
	b := testbroker.Start(t, nil)
	h, err := hub.New(context.Background(), hub.Options{BrokerURL: b.URL(), DataDir: t.TempDir(),
		Listen: "127.0.0.1:0", ClientID: "wedge-hub-status-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Stop(context.Background()) })
	<-h.Ready()
	token, _, err := apitoken.Create(context.Background(), h.Tokens(), "test", []apitoken.Scope{apitoken.Read}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	agents := func() []map[string]any {
		req, _ := http.NewRequest(http.MethodGet, "http://"+h.Addr()+"/v1/agents", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out []map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	src := uplinktest.NewMemSource(jid)
	src.Append(3000)
	start(t, src, uplink.Options{URL: b.URL(), StatusInterval: time.Hour})
	eventually(t, 30*time.Second, "the hub acks all 3000", func() bool { return src.AckedSeq() == 3000 })
	eventually(t, 15*time.Second, "the hub shows nothing unsynced", func() bool {
		a := agents()
		return len(a) == 1 && a[0]["acked_seq"] == 3000.0 && a[0]["unsynced"] == nil && a[0]["online"] == true
	})
}
