package hub_test

import (
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"wedge/order"
	"wedge/sync/apitoken"
	"wedge/sync/wire"
)

type commandView struct {
	ID         string          `json:"id"`
	Site       string          `json:"site"`
	Agent      string          `json:"agent"`
	Type       string          `json:"type"`
	By         string          `json:"by"`
	Token      string          `json:"token"`
	Reason     string          `json:"reason"`
	ReceivedAt string          `json:"received_at"`
	Payload    json.RawMessage `json:"payload"`
	Published  bool            `json:"published"`
}

// A command POSTed to the hub is validated with the agent's parser, stored with who (the API token's
// name) and when, and published QoS 1 on the agent's command topic, where the agent's parser reads it
// back; refused commands are neither stored nor published; the audit survives a hub restart.
func TestCommandStoredAndPublished(t *testing.T) {
	e := newEnv(t)
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	var mu sync.Mutex
	var got [][]byte
	tok := a.cli.Subscribe(wire.TopicCommand("sz01", "pack01"), 1, func(_ mqtt.Client, m mqtt.Message) {
		mu.Lock()
		got = append(got, append([]byte(nil), m.Payload()...))
		mu.Unlock()
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	received := func() [][]byte {
		mu.Lock()
		defer mu.Unlock()
		return append([][]byte(nil), got...)
	}
	path := "/v1/agents/sz01/pack01/commands"
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	var ev map[string]string
	zhang := newToken(t, e.hub, "ops-zhang", apitoken.CommandsWrite)
	li := newToken(t, e.hub, "ops-li", apitoken.CommandsWrite, apitoken.Read)

	// Unknown agent: the hub has never seen pack01, so nothing is sent.
	postJSONAs(t, e.hub, zhang, path, raw(`{"type":"breaker_thresholds","by":"ops","max_backlog":300}`), http.StatusNotFound, &ev)
	st, _ := json.Marshal(wire.Status{State: "online", Site: "sz01", Agent: "pack01", JournalID: "j1"})
	a.cli.Publish(wire.TopicStatus("sz01", "pack01"), 1, true, st).Wait()
	defer a.cli.Publish(wire.TopicStatus("sz01", "pack01"), 1, true, nil).Wait()
	waitFor(t, "agent known", func() bool {
		var agents []map[string]any
		getJSON(t, e.hub, "/v1/agents", http.StatusOK, &agents)
		return len(agents) == 1
	})

	var first commandView
	postJSONAs(t, e.hub, zhang, path, raw(`{"type":"breaker_thresholds","by":" ops-zhang ","reason":"双十一加派人手","max_backlog":300,"max_avg_wait":"10m"}`), http.StatusAccepted, &first)
	if first.ID != "hub-1" || first.By != "ops-zhang" || first.Token != "ops-zhang" || first.ReceivedAt != wire.Time(t0) || !first.Published || first.Type != order.CommandThresholds {
		t.Fatalf("answer %+v", first)
	}

	for _, bad := range []string{
		`{"type":"breaker_thresholds","by":"ops","max_backlog":300,"colour":"red"}`, // unknown field
		`{"type":"reboot","by":"ops"}`,                                              // unknown type
		`{"type":"breaker_thresholds","by":"ops","max_avg_wait":"-1m"}`,             // bad duration
		`{"type":"breaker_thresholds","by":"ops","close_ratio":2}`,                  // out of range
		`{"type":"breaker_thresholds","by":"ops"`,                                   // not JSON
	} {
		var er map[string]string
		postJSONAs(t, e.hub, zhang, path, raw(bad), http.StatusBadRequest, &er)
		if er["error"] == "" {
			t.Fatalf("%s: no error text", bad)
		}
	}
	postJSONAs(t, e.hub, zhang, "/v1/agents/sz%2F01/pack01/commands", raw(`{"type":"breaker_thresholds","by":"ops"}`), http.StatusBadRequest, &ev)

	var second commandView
	// Without "by" the command is by the token's name.
	postJSONAs(t, e.hub, li, path, raw(`{"type":"breaker_thresholds","id":"c-42","close_ratio":0.5}`), http.StatusAccepted, &second)
	if second.ID != "c-42" || second.By != "ops-li" {
		t.Fatalf("answer %+v", second)
	}

	// Exactly the two accepted commands arrive, in order, and the agent's parser reads them.
	waitFor(t, "two commands published", func() bool { return len(received()) >= 2 })
	msgs := received()
	if len(msgs) != 2 {
		t.Fatalf("published %d commands: %q", len(msgs), msgs)
	}
	c1, th1, err := order.ParseCommand(msgs[0])
	if err != nil || c1.ID != "hub-1" || c1.By != "ops-zhang" || c1.Reason != "双十一加派人手" || th1.MaxBacklog != 300 || th1.MaxAvgWait != 10*time.Minute {
		t.Fatalf("first command %s: %+v %+v %v", msgs[0], c1, th1, err)
	}
	c2, th2, err := order.ParseCommand(msgs[1])
	if err != nil || c2.ID != "c-42" || c2.By != "ops-li" || th2.CloseRatio != 0.5 || th2.MaxBacklog != order.DefaultMaxBacklog {
		t.Fatalf("second command %s: %+v %+v %v", msgs[1], c2, th2, err)
	}

	check := func() {
		t.Helper()
		var list []commandView
		getJSON(t, e.hub, path, http.StatusOK, &list)
		if len(list) != 2 || list[0].ID != "hub-1" || list[1].ID != "c-42" || list[1].By != "ops-li" || list[1].Token != "ops-li" ||
			string(list[0].Payload) != string(msgs[0]) || string(list[1].Payload) != string(msgs[1]) {
			t.Fatalf("stored commands %+v", list)
		}
		var other []commandView
		getJSON(t, e.hub, "/v1/agents/sz01/pack02/commands", http.StatusOK, &other)
		if len(other) != 0 {
			t.Fatalf("pack02 has commands %+v", other)
		}
	}
	check()
	e.stopHub()
	e.startHub("wedge-hub-test")
	check()
}
