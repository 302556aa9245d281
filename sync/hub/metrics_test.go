package hub_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"wedge/internal/testbroker"
	"wedge/sync/apitoken"
	"wedge/sync/hub"
	"wedge/sync/wire"
)

// scrape GETs /metrics with token and returns the samples by series ("name{labels}").
func scrape(t *testing.T, h *hub.Hub, token string) map[string]float64 {
	t.Helper()
	code, body := do(t, h, http.MethodGet, "/metrics", token, nil)
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", code, body)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// After a few batches a scrape shows what happened: entries ingested, duplicates, a chain break
// kept as unverified evidence, the acks published, the commits' latency, an idle queue, and per
// agent the acked seq against the last seq its status reported (the lag) and its unsynced count.
// GET /metrics needs a token with the read scope.
func TestMetricsAfterBatches(t *testing.T) {
	e := newEnv(t)
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	st, _ := json.Marshal(wire.Status{State: "online", Site: "sz01", Agent: "pack01", JournalID: "j1", LastSeq: 5, Unsynced: 5})
	a.publish(wire.TopicStatus("sz01", "pack01"), st)

	entries := chain("j1", spine("O-1")...) // seq 1..3
	a.send("j1", entries...)
	a.waitAck(1)
	a.send("j1", entries...) // all three again: duplicates
	a.waitAck(2)
	next := chain("j1", append(spine("O-1"), spine("O-2")[0])...)[3]
	next.Waybill = "edited after sealing"
	a.send("j1", next) // seq 4 breaks the chain: evidence, not acked
	if ack := a.waitAck(3); ack.AckedSeq != 3 {
		t.Fatalf("ack = %+v", ack)
	}

	if code, _ := do(t, e.hub, http.MethodGet, "/metrics", "", nil); code != http.StatusUnauthorized {
		t.Errorf("GET /metrics without a token: %d, want 401", code)
	}
	if code, _ := do(t, e.hub, http.MethodGet, "/metrics", newToken(t, e.hub, "writer", apitoken.OrdersWrite), nil); code != http.StatusForbidden {
		t.Errorf("GET /metrics without the read scope: %d, want 403", code)
	}
	reader := newToken(t, e.hub, "prometheus", apitoken.Read)
	agent := `{agent="pack01",site="sz01"}`
	var m map[string]float64
	waitFor(t, "the status in the metrics", func() bool {
		m = scrape(t, e.hub, reader)
		return m["wedge_hub_agent_reported_seq"+agent] == 5
	})
	want := map[string]float64{
		"wedge_hub_entries_ingested_total":            3,
		"wedge_hub_duplicates_total":                  3,
		"wedge_hub_conflicts_total":                   0,
		"wedge_hub_chain_breaks_total":                1,
		"wedge_hub_unverified_entries_total":          1,
		"wedge_hub_acks_published_total":              3,
		"wedge_hub_queue_depth":                       0,
		"wedge_hub_catchup_pages_total":               0,
		"wedge_hub_catchups_deferred_total":           0,
		`wedge_hub_dropped_total{reason="malformed"}`: 0,
		"wedge_hub_agent_acked_seq" + agent:           3,
		"wedge_hub_agent_lag_entries" + agent:         2,
		"wedge_hub_agent_unsynced_entries" + agent:    5,
		"wedge_hub_agent_online" + agent:              1,
		"wedge_hub_broker_connected":                  1,
	}
	for k, v := range want {
		if got, ok := m[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	commits := m["wedge_hub_commits_total"]
	if n := m["wedge_hub_store_commit_seconds_count"]; commits < 3 || n < commits {
		t.Errorf("store latency observed %v times for %v commits", n, commits)
	}

	// The agent catches up, and its next status says it has nothing unsynced.
	st, _ = json.Marshal(wire.Status{State: "online", Site: "sz01", Agent: "pack01", JournalID: "j1", LastSeq: 3})
	a.publish(wire.TopicStatus("sz01", "pack01"), st)
	waitFor(t, "lag 0", func() bool {
		m = scrape(t, e.hub, reader)
		return m["wedge_hub_agent_lag_entries"+agent] == 0 && m["wedge_hub_agent_unsynced_entries"+agent] == 0
	})

	// Catch-up: the first request is answered with a page, one right after it waits for the pace.
	req, _ := json.Marshal(wire.CatchupRequest{JournalID: "j1", Since: 0})
	a.publish(wire.TopicCatchup("sz01", "pack01"), req)
	waitFor(t, "a catch-up page", func() bool { a.mu.Lock(); defer a.mu.Unlock(); return len(a.direct) > 0 })
	a.publish(wire.TopicCatchup("sz01", "pack01"), req)
	waitFor(t, "pages and deferred in the metrics", func() bool {
		m = scrape(t, e.hub, reader)
		return m["wedge_hub_catchup_pages_total"] == 1 && m["wedge_hub_catchups_deferred_total"] == 1
	})
}

// With MetricsOpen, /metrics is served without a token, like /healthz; the rest of the API still
// needs one.
func TestMetricsOpen(t *testing.T) {
	b := testbroker.Start(t, nil)
	h := startHub(t, b.URL(), t.TempDir(), "wedge-hub-metrics-open", nil, nil, func(o *hub.Options) { o.MetricsOpen = true })
	if m := scrape(t, h, ""); m["wedge_hub_queue_depth"] != 0 {
		t.Errorf("open scrape: %v", m["wedge_hub_queue_depth"])
	}
	if code, _ := do(t, h, http.MethodGet, "/v1/stats", "", nil); code != http.StatusUnauthorized {
		t.Errorf("GET /v1/stats without a token: %d", code)
	}
}
