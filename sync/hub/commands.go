package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"wedge/internal/logging"
	"wedge/order"
	"wedge/sync/apitoken"
	"wedge/sync/wire"
)

// Commands to one agent (POST /v1/agents/{site}/{agent}/commands).
//
// The hub validates a command with the parser the agent applies it with (order.ParseCommand), so a
// command the hub accepts is one the agent can apply, and there is no second copy of the payload
// type and its ranges that could drift. The command is stored first (who, when, payload: the
// audit), then published QoS 1 on wire.TopicCommand. The agent journals what it did with it (a
// breaker entry whose code is the command id, or a note with reason command_refused), and that
// entry reaches the hub like every other.

// maxCommandBody bounds a command request.
const maxCommandBody = 16 << 10

// commandPublishWait bounds how long a POST waits for the broker's PUBACK before answering with
// published=false (paho keeps the message and sends it again after a reconnect).
const commandPublishWait = 5 * time.Second

// CommandRecord is a stored command, as GET /v1/agents/{site}/{agent}/commands lists it.
type CommandRecord struct {
	ID         string          `json:"id"`
	Site       string          `json:"site"`
	Agent      string          `json:"agent"`
	Type       string          `json:"type"`
	By         string          `json:"by"`              // as published: the token's name, see commandBy
	Token      string          `json:"token,omitempty"` // the name of the API token that sent it
	Reason     string          `json:"reason,omitempty"`
	ReceivedAt string          `json:"received_at"` // hub clock
	Payload    json.RawMessage `json:"payload"`     // exactly what was published
}

// cmdReq is a validated command for the owner to store.
type cmdReq struct {
	site, agent string
	token       string // name of the API token that sent it
	cmd         order.Command
	reply       chan cmdResult // buffered 1
	// auto: a pickup_policy command the hub sends itself (hub.yaml's policy, pickupFromConfig);
	// the owner publishes it after the commit, nobody waits for the reply.
	auto bool
}

type cmdResult struct {
	rec CommandRecord
	err error
}

func commandPrefix(site, agent string) []byte { return append(join(site, agent), 0) }

// command stores one command; the id is the client's or "hub-<n>" from the bucket's sequence.
func (g *group) command(c *cmdReq) error {
	n, err := g.tx.NextCommandSeq()
	if err != nil {
		return err
	}
	cmd := c.cmd // a copy: a rolled-back group is retried item by item, with fresh ids
	if cmd.ID == "" {
		cmd.ID = fmt.Sprintf("hub-%d", n)
	}
	payload, err := json.Marshal(cmd)
	if err != nil {
		return err
	}
	rec := CommandRecord{ID: cmd.ID, Site: c.site, Agent: c.agent, Type: cmd.Type, By: cmd.By, Token: c.token,
		Reason: cmd.Reason, ReceivedAt: g.at(), Payload: payload}
	if err := g.tx.PutCommand(c.site, c.agent, n, mustJSON(rec)); err != nil {
		return err
	}
	g.cmds = append(g.cmds, c)
	g.cmdRecs[c] = rec
	return nil
}

// commandBy is who a command is from, as stored and published: the name of the API token that sent
// it, so a client cannot name someone else. A "by" in the request that differs (a person using a
// shared service token) is kept after it: "token:person".
func commandBy(token, by string) string {
	by = strings.TrimSpace(by)
	if by == "" || by == token {
		return token
	}
	return token + ":" + by
}

func (h *Hub) agentKnown(site, agent string) (bool, error) {
	var ok bool
	err := h.db.View(context.Background(), func(tx Tx) error {
		a, err := tx.Agent(site, agent)
		ok = a != nil
		return err
	})
	return ok, err
}

// postCommand validates a command with order.ParseAnyCommand (breaker thresholds or pickup policy), has the owner store it, then publishes
// it and answers with the stored record and whether the broker acknowledged it.
func (h *Hub) postCommand(w http.ResponseWriter, r *http.Request) {
	site, agent := r.PathValue("site"), r.PathValue("agent")
	if !wire.ValidName(site) || !wire.ValidName(agent) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("仓库或终端名无效 / invalid site %q or agent %q (1–64 of A-Z a-z 0-9 _ -)", site, agent))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxCommandBody+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "请求读取失败 / cannot read the request: "+err.Error())
		return
	}
	if len(body) > maxCommandBody {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("请求过大 / command larger than %d bytes", maxCommandBody))
		return
	}
	cmd, err := order.ParseAnyCommand(bytes.TrimSpace(body))
	if err != nil {
		writeError(w, http.StatusBadRequest, "指令无效 / invalid command: "+err.Error())
		return
	}
	token := apitoken.NameFrom(r.Context())
	cmd.By = commandBy(token, cmd.By)
	if len(cmd.ID) > 128 || len(cmd.By) > 128 || len(cmd.Reason) > 1000 {
		writeError(w, http.StatusBadRequest, "id、by 或 reason 过长 / id or by longer than 128, or reason longer than 1000 bytes")
		return
	}
	known, err := h.agentKnown(site, agent)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "读取失败 / store read failed: "+err.Error())
		return
	}
	if !known {
		// An agent is known once it has published its status; a typo must not send a command nowhere.
		writeError(w, http.StatusNotFound, fmt.Sprintf("终端未知 / unknown agent %s/%s (never seen by this hub)", site, agent))
		return
	}
	c := &cmdReq{site: site, agent: agent, token: token, cmd: cmd, reply: make(chan cmdResult, 1)}
	select {
	case <-h.quit:
		writeError(w, http.StatusServiceUnavailable, "中心正在停止 / hub is stopping")
		return
	default:
	}
	if !h.enqueue(item{kind: kindCommand, topic: "POST commands " + site + "/" + agent, cmd: c}) {
		writeError(w, http.StatusServiceUnavailable, "中心繁忙，请稍后重试 / hub busy, retry later")
		return
	}
	var res cmdResult
	select {
	case res = <-c.reply:
	case <-h.done:
		writeError(w, http.StatusServiceUnavailable, "中心已停止 / hub stopped")
		return
	}
	if res.err != nil {
		writeError(w, http.StatusInternalServerError, "保存失败，未下发 / not stored, nothing sent: "+res.err.Error())
		return
	}
	published := h.publishWait(wire.TopicCommand(site, agent), res.rec.Payload, commandPublishWait)
	h.log.Info("command stored", logging.KeySite, site, logging.KeyAgent, agent, "command", res.rec.ID, "type", res.rec.Type,
		"by", res.rec.By, "token", res.rec.Token, "published", published)
	writeJSON(w, http.StatusAccepted, struct {
		CommandRecord
		Published bool `json:"published"`
	}{res.rec, published})
}

// publishWait publishes QoS 1 and waits up to d for the broker's PUBACK.
func (h *Hub) publishWait(topic string, payload []byte, d time.Duration) bool {
	if h.publishFn != nil {
		h.publishFn(topic, h.sign(topic, payload))
		return true
	}
	payload = h.sign(topic, payload)
	tok := h.cli.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(d) {
		return false
	}
	if err := tok.Error(); err != nil {
		h.log.Warn("publish failed", "topic", topic, logging.Err(err))
		return false
	}
	return true
}

// getCommands lists the commands stored for one agent, oldest first.
func (h *Hub) getCommands(w http.ResponseWriter, r *http.Request) {
	var out []CommandRecord
	err := h.db.View(r.Context(), func(tx Tx) error {
		var err error
		out, err = agentCommands(tx, r.PathValue("site"), r.PathValue("agent"))
		return err
	})
	if err != nil {
		writeError(w, http.StatusInternalServerError, "读取失败 / store read failed: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// agentCommands reads the commands stored for one agent, oldest first.
func agentCommands(tx Tx, site, agent string) ([]CommandRecord, error) {
	out := []CommandRecord{}
	err := tx.Commands(site, agent, func(v []byte) error {
		var rec CommandRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("%w: command of %s/%s: %v", ErrStore, site, agent, err)
		}
		out = append(out, rec)
		return nil
	})
	return out, err
}

// pickupBy is who the hub's own pickup_policy commands are from: the hub's configuration file.
const pickupBy = "hub.yaml"

// pickupFromConfig queues a pickup_policy command for an agent whose status reports a policy other
// than hub.yaml's for its site (a missing site is handover_scan). An agent that reports none
// predates the policy and gets nothing (it would refuse the command). The hub sends each policy
// to an agent once per hub process (pickupSent; pickupQueued within one commit); a refused or lost command is sent again after a
// hub restart, and the agent's settings note is the proof it arrived.
func (g *group) pickupFromConfig(site, agent, reported string) error {
	want := g.h.opts.Pickup[site]
	if want == "" {
		want = order.PickupHandoverScan
	}
	key := site + "/" + agent
	if reported == "" || reported == string(want) {
		return nil
	}
	if sent, ok := g.h.pickupSent.Load(key); (ok && sent == want) || g.pickupQueued[key] {
		return nil
	}
	if g.pickupQueued == nil {
		g.pickupQueued = map[string]bool{}
	}
	g.pickupQueued[key] = true
	cmd := order.Command{Type: order.CommandPickup, By: pickupBy, Reason: "hub.yaml sites." + site + ".pickup", Pickup: string(want)}
	return g.command(&cmdReq{site: site, agent: agent, token: pickupBy, cmd: cmd, reply: make(chan cmdResult, 1), auto: true})
}

// publishAuto publishes the hub's own commands of a committed group and remembers what it sent.
func (h *Hub) publishAuto(g *group) {
	for _, c := range g.cmds {
		if !c.auto {
			continue
		}
		rec := g.cmdRecs[c]
		h.publish(wire.TopicCommand(c.site, c.agent), rec.Payload)
		h.pickupSent.Store(c.site+"/"+c.agent, order.PickupPolicy(c.cmd.Pickup))
		h.log.Info("pickup policy command sent from hub.yaml", logging.KeySite, c.site, logging.KeyAgent, c.agent, "command", rec.ID, "pickup", c.cmd.Pickup)
	}
}
