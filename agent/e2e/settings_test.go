package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"wedge/agent/config"
	"wedge/sync/wire"
)

// startAgentYAML starts agent name (site sz01, registered signing key) with body after the
// sections every agent needs.
func startAgentYAML(t *testing.T, dir, name string, b *e2eBroker, body string) *agentProc {
	t.Helper()
	return writeAgent(t, dir, name, b, true, body)
}

// settingsStatus is the settings part of the agent's GET /api/v1/status.
type settingsStatus struct {
	SettingsHash string             `json:"settings_hash"`
	Settings     []config.Effective `json:"settings"`
}

func (a *agentProc) setting(t *testing.T, field string) config.Effective {
	t.Helper()
	a.alive()
	var s settingsStatus
	if code, err := getJSON("http://"+a.addr+"/api/v1/status", &s); err != nil || code != 200 {
		t.Fatalf("%s GET /api/v1/status: %d %v", a.name, code, err)
	}
	for _, e := range s.Settings {
		if e.Field == field {
			return e
		}
	}
	t.Fatalf("%s status has no setting %s: %+v", a.name, field, s.Settings)
	return config.Effective{}
}

// TestDefaultContractRefusesShortOrderNo: an agent with no channels: configured refuses an order
// whose channel_order_no is "x1" (the default data contract: at least 12 letters or digits). The
// refusal is journaled, reaches the hub as a reject with reason contract_violation and shows in the
// console's scan feed, and the order never enters 待分仓; a good order dispatched with it does.
func TestDefaultContractRefusesShortOrderNo(t *testing.T) {
	needE2E(t)
	dir := t.TempDir()
	b := startBroker(t, dir)
	h := startHub(t, dir, b, freeAddr(t))
	a := startAgentYAML(t, dir, "pack01", b, "stations:\n  - {name: print-1, role: print}\n")

	good := makeOrders("DC", 1)[0]
	bad := good
	bad.OrderID, bad.ChannelOrderNo, bad.BuyerID, bad.Waybill = "DC-X1", "x1", "buyer-x", ""
	h.dispatch(t, "sz01", []wire.OrderMsg{good, bad})
	waitFor(t, 60*time.Second, "the good order enters 待分仓", func() bool {
		return a.orderState(t, good.OrderID) == "pending_allocation"
	})
	var reject hubEntry
	waitFor(t, 60*time.Second, "the hub holds the agent's contract_violation reject of DC-X1", func() bool {
		a.alive()
		o, ok := h.order(bad.OrderID)
		for _, e := range o.History {
			if ok && e.Kind == wire.KindReject && e.Agent == "pack01" {
				reject = e
				return true
			}
		}
		return false
	})
	if reject.Reason != "contract_violation" || !strings.Contains(reject.Detail, `"x1"`) || !strings.Contains(reject.Detail, "default_order_no_pattern") {
		t.Errorf("reject entry at the hub: %+v", reject.Entry)
	}
	if st := a.orderState(t, bad.OrderID); st != "" {
		t.Errorf("the refused order is %q at the agent, want unknown", st)
	}
	// The supervisor console shows the refusal in its scan feed.
	waitFor(t, 30*time.Second, "the console's feed shows the refusal", func() bool {
		var full struct {
			Feed []struct {
				Code    string `json:"code"`
				OrderID string `json:"order_id"`
				Result  string `json:"result"`
				Reason  string `json:"reason"`
			} `json:"feed"`
		}
		if code, err := getJSON("http://"+a.addr+"/console/api/snapshot", &full); err != nil || code != 200 {
			return false
		}
		for _, s := range full.Feed {
			if s.OrderID == bad.OrderID && s.Code == "x1" && s.Result == "rejected" && s.Reason == "contract_violation" {
				return true
			}
		}
		return false
	})
	if e := a.setting(t, "contract.default_order_no_pattern"); e.Value != config.DefaultOrderNoPattern || e.Source != config.SourceDefault {
		t.Errorf("reported contract %+v", e)
	}
	a.stop()
	var journaled bool
	for _, e := range a.entries(t) {
		journaled = journaled || e.Kind == wire.KindReject && e.OrderID == bad.OrderID && e.Reason == "contract_violation"
	}
	if !journaled {
		t.Error("the refusal is not in the agent's journal")
	}
}

// TestSettingsFileWinsOverHubCommand: the hub sets breaker.max_backlog to 3; the agent reports it
// with the command, who and when, keeps it across a restart with the file unchanged, and publishes
// it beside its settings hash (the hash of `wedge config hash`). The file is then edited from 200
// to 500 and the agent restarted: 500 applies, its source is the file's line, and the change is
// journaled (and reaches the hub) as a settings note naming the command it replaced.
func TestSettingsFileWinsOverHubCommand(t *testing.T) {
	needE2E(t)
	dir := t.TempDir()
	b := startBroker(t, dir)
	h := startHub(t, dir, b, freeAddr(t))
	a := startAgentYAML(t, dir, "pack01", b, "stations:\n  - {name: print-1, role: print}\nbreaker:\n  max_backlog: 200\n")
	const line = 9 // breaker.max_backlog in the file above

	out, err := exec.Command(wedgeBin, "config", "hash", a.cfgPath).Output()
	if err != nil {
		t.Fatalf("wedge config hash: %v", err)
	}
	fileHash := strings.Fields(string(out))[0]
	var ha hubAgent
	waitFor(t, 60*time.Second, "the hub sees the agent with its settings hash", func() bool {
		ha = h.agents()["pack01"]
		return ha.Online && ha.SettingsHash != ""
	})
	if ha.SettingsHash != fileHash || ha.SettingsOverrides != "" {
		t.Errorf("hub: settings hash %q overrides %q, want %q and none", ha.SettingsHash, ha.SettingsOverrides, fileHash)
	}

	h.command(t, "sz01", "pack01", `{"type":"breaker_thresholds","id":"c-e2e-1","by":"ops-zhang","reason":"大促加派人手","max_backlog":3}`)
	checkHub := func(when string) {
		t.Helper()
		waitFor(t, 30*time.Second, when+": the agent applies the hub's max_backlog 3", func() bool {
			return a.setting(t, "breaker.max_backlog").Value == "3"
		})
		e := a.setting(t, "breaker.max_backlog")
		if e.Source != config.SourceHub || e.Command != "c-e2e-1" || e.By != "e2e:ops-zhang" || e.At == "" || e.FileValue != "200" {
			t.Fatalf("%s: reported %+v", when, e)
		}
		waitFor(t, 30*time.Second, when+": the hub sees the override beside the hash", func() bool {
			ha := h.agents()["pack01"]
			return ha.Online && ha.SettingsOverrides == "breaker.max_backlog=3" && ha.SettingsHash == fileHash
		})
	}
	checkHub("after the command")
	a.stop()
	a.run(t)
	checkHub("after a restart with the file unchanged")

	a.stop()
	yaml, err := os.ReadFile(a.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(yaml), "max_backlog: 200", "max_backlog: 500", 1)
	if edited == string(yaml) {
		t.Fatal("the config file has no max_backlog: 200 to edit")
	}
	if err := os.WriteFile(a.cfgPath, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	logBefore := len(a.log())
	a.run(t)
	e := a.setting(t, "breaker.max_backlog")
	if e.Value != "500" || e.Source != config.SourceFile || e.Line != line || e.File != a.cfgPath {
		t.Fatalf("after the edit: reported %+v", e)
	}
	startLog := a.log()[logBefore:]
	if !strings.Contains(startLog, "msg=settings ") || !strings.Contains(startLog, fmt.Sprintf(`breaker.max_backlog="500 (%s:%d)"`, a.cfgPath, line)) {
		t.Errorf("no start log line with the settings and their source:\n%s", startLog)
	}
	if !strings.Contains(startLog, "setting changed in the configuration file") {
		t.Errorf("no warning about the changed setting:\n%s", startLog)
	}
	waitFor(t, 30*time.Second, "the hub sees no override any more", func() bool {
		ha := h.agents()["pack01"]
		return ha.Online && ha.SettingsOverrides == "" && ha.SettingsHash != fileHash && ha.SettingsHash != ""
	})

	// The change is journaled and synced: the hub's copy of the journal holds the settings note.
	a.drained(t, h, 60*time.Second)
	var note *wire.Entry
	for _, x := range h.journal(t, "sz01", "pack01", a.status(t).JournalID) {
		if x.Kind == wire.KindNote && x.Reason == "settings" && x.Code == "breaker.max_backlog" {
			note = &x
		}
	}
	if note == nil || !strings.HasPrefix(note.Detail, "breaker.max_backlog: 3 → 500") || !strings.Contains(note.Detail, "c-e2e-1") {
		t.Fatalf("settings note at the hub: %+v", note)
	}
	a.stop()
	a.verify(t)
}

// command posts a hub command for one agent and fails unless the hub stored and published it.
func (h *hubProc) command(t *testing.T, site, agent, body string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.url("/v1/agents/"+site+"/"+agent+"/commands"), bytes.NewReader([]byte(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+h.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST command: %v", err)
	}
	defer resp.Body.Close()
	var out struct {
		Published bool `json:"published"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusAccepted || !out.Published {
		t.Fatalf("POST command: %d %v %+v", resp.StatusCode, err, out)
	}
}

// journal returns the hub's copy of an agent's journal.
func (h *hubProc) journal(t *testing.T, site, agent, jid string) []wire.Entry {
	t.Helper()
	var all []wire.Entry
	var after uint64
	for {
		var page struct {
			Entries []wire.Entry `json:"entries"`
			More    bool         `json:"more"`
		}
		url := fmt.Sprintf("%s?after=%d", h.url("/v1/journals/"+site+"/"+agent+"/"+jid+"/entries"), after)
		if code, err := getJSONAuth(url, h.token, &page); err != nil || code != 200 {
			t.Fatalf("GET hub journal: %d %v", code, err)
		}
		all = append(all, page.Entries...)
		if !page.More || len(page.Entries) == 0 {
			return all
		}
		after = page.Entries[len(page.Entries)-1].Seq
	}
}
