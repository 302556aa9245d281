package agent

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"

	"wedge/agent/config"
	"wedge/agent/journal"
	"wedge/internal/clock"
	"wedge/internal/logging"
	"wedge/sync/wire"
)

// Trust on the agent's side (docs/SECURITY.md): the agent's own signing key, the hub messages the
// uplink refused for their signature (journaled within a budget, so a flood cannot fill the disk),
// and replayed hub commands (a valid signature, but a command this agent already applied).

// Journal reasons of the notes written here.
const (
	ReasonMessageRefused  = "message_refused"  // a hub message with no or a bad signature
	ReasonCommandReplayed = "command_replayed" // a hub command applied before, sent again
)

// Refusal budget: at most RefusedBurst notes per RefusedWindow; beyond it refusals are counted and
// summed up in one note when the next window starts (as intake does with unreadable downlink).
const (
	RefusedBurst  = 20
	RefusedWindow = time.Minute
)

// metaCommand prefixes the journal meta keys of applied hub commands: id "/" digest of the body.
const metaCommand = "hubcmd/"

// journalTimeout bounds one journal write made from the uplink's goroutines.
const journalTimeout = 10 * time.Second

// hubTrust journals refusals and remembers applied commands.
type hubTrust struct {
	store *journal.Store
	clk   clock.Clock
	log   *slog.Logger
	next  func(topic string, reason error) // Deps.OnRefused

	mu     sync.Mutex
	budget refusalBudget
}

func newHubTrust(store *journal.Store, clk clock.Clock, log *slog.Logger, next func(string, error)) *hubTrust {
	return &hubTrust{store: store, clk: clock.Or(clk), log: log, next: next}
}

// onRefused is uplink.Options.OnRefused: the message was not acted on; say so in the journal (the
// hub sees the note) and the log.
func (t *hubTrust) onRefused(topic string, reason error, excerpt []byte) {
	if t.next != nil {
		t.next(topic, reason)
	}
	t.refuse(ReasonMessageRefused, "", fmt.Sprintf("hub message refused on %s: %v; payload: %q", topic, reason, excerpt),
		"拒绝未经中心签名的消息 / hub message refused: not signed by the hub", "topic", topic, "reason", reason.Error())
}

// refuse journals one refusal within the budget and logs it at Error; past the budget it is only
// counted.
func (t *hubTrust) refuse(reason, code, detail, msg string, args ...any) {
	now := t.clk.Now()
	t.mu.Lock()
	summary := t.budget.roll(now)
	ok := t.budget.take()
	t.mu.Unlock()
	if !ok {
		return
	}
	t.log.Error(msg, args...)
	ctx, cancel := context.WithTimeout(context.Background(), journalTimeout)
	defer cancel()
	err := t.store.Do(ctx, func(tx *journal.Tx) error {
		if summary.Kind != "" {
			tx.Append(summary)
		}
		tx.Append(wire.Entry{Kind: wire.KindNote, Trigger: wire.TriggerHub, Reason: reason, Code: code, At: wire.Time(now), Detail: detail})
		return nil
	})
	if err != nil {
		t.log.Error("cannot journal a refused hub message", logging.Err(err))
	}
}

// commandKey is where the journal remembers a command: its id and a digest of its exact bytes, so a
// replay (byte for byte the same, as it must be to carry the hub's signature) is recognised while a
// new command that reuses an id (a hub rebuilt from scratch counts from hub-1 again) is not.
func commandKey(payload []byte) (key, id string) {
	var c struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(payload, &c) // an unreadable command is refused by the breaker, and journaled
	sum := sha256.Sum256(payload)
	return metaCommand + c.ID + "/" + hex.EncodeToString(sum[:12]), c.ID
}

// admitCommand reports whether a hub command may be applied: one this agent applied before is a
// replay, refused and journaled (within the refusal budget). It returns the key to mark once the
// command was handled. A journal that cannot be read refuses the command (the hub's audit keeps it).
func (t *hubTrust) admitCommand(ctx context.Context, payload []byte) (key string, ok bool) {
	key, id := commandKey(payload)
	var seen []byte
	if err := t.store.Do(ctx, func(tx *journal.Tx) error { seen = tx.Meta(key); return nil }); err != nil {
		t.log.Error("hub command not applied: the journal cannot be read", "command", id, logging.Err(err))
		return key, false
	}
	if seen == nil {
		return key, true
	}
	t.refuse(ReasonCommandReplayed, id, fmt.Sprintf("hub command %q was applied at %s; this copy is a replay", id, seen),
		"拒绝重放的中心指令 / replayed hub command refused", "command", id, "first_applied", string(seen))
	return key, false
}

// commandHandled remembers a command that was applied or refused by the breaker, so a replay of it
// is refused from now on.
func (t *hubTrust) commandHandled(ctx context.Context, key string) {
	now := wire.Time(t.clk.Now())
	if err := t.store.Do(ctx, func(tx *journal.Tx) error { tx.SetMeta(key, []byte(now)); return nil }); err != nil {
		t.log.Error("cannot record a handled hub command (a replay of it would be applied again)", "key", key, logging.Err(err))
	}
}

// refusalBudget is the journaling budget of refusals per window.
type refusalBudget struct {
	start      time.Time
	used       int
	suppressed int
}

// roll starts a new window when the current one is over; the returned note, when its Kind is set,
// says how many refusals the window that ended did not journal (journal it first).
func (b *refusalBudget) roll(now time.Time) (summary wire.Entry) {
	if now.Sub(b.start) < RefusedWindow && !now.Before(b.start) {
		return summary
	}
	if b.suppressed > 0 {
		summary = wire.Entry{Kind: wire.KindNote, Trigger: wire.TriggerHub, Reason: ReasonMessageRefused, At: wire.Time(now),
			Detail: fmt.Sprintf("%d refused hub messages were not journaled one by one (more than %d per %s)", b.suppressed, RefusedBurst, RefusedWindow)}
	}
	*b = refusalBudget{start: now}
	return summary
}

func (b *refusalBudget) take() bool {
	if b.used < RefusedBurst {
		b.used++
		return true
	}
	b.suppressed++
	return false
}

// agentKey loads the agent's signing key, creating it (mode 0600, public key beside it) on first
// start; the public key is logged so IT can register it at the hub as {site}/{agent}.pub.
func agentKey(cfg *config.Config, log *slog.Logger) (ed25519.PrivateKey, error) {
	path := cfg.SigningKeyFile()
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		pub, err := wire.CreateKeyFile(path, cfg.PublicKeyFile())
		if err != nil {
			return nil, fmt.Errorf("signing key: %w", err)
		}
		log.Warn("已生成本机签名密钥，请在中心登记公钥 / new agent signing key: register its public key at the hub",
			"file", path, "public_key_file", cfg.PublicKeyFile(), "register_as", cfg.Site+"/"+cfg.Agent+".pub",
			"public_key", wire.FormatPublicKey(pub))
	}
	key, err := wire.LoadPrivateKey(path)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	pub := key.Public().(ed25519.PublicKey)
	log.Info("agent signs its uplink", "file", path, "key_id", wire.KeyID(pub), "public_key", wire.FormatPublicKey(pub))
	return key, nil
}
