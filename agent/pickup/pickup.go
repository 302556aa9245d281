// Package pickup keeps the site's pickup policy on the agent (order.PickupPolicy: whether 已揽收
// comes from the handover scan or from the courier's first scan). The hub sets it with a signed
// pickup_policy command (order.ParsePickupCommand); the agent stores it in the journal meta and
// journals the change (a settings note naming who sent it, when, why and the command id) in the
// same transaction, so the policy survives restarts and every change is attributable. Stations
// read it inside their own transaction (Policy), so a handover scan and a policy change never
// interleave. Without a record the policy is the default, handover_scan.
package pickup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"wedge/agent/journal"
	"wedge/order"
	"wedge/sync/wire"
)

// MetaKey is the journal meta key of the policy record (JSON of Record).
const MetaKey = "pickup"

// Field is the setting's name in settings notes.
const Field = "pickup"

// ErrCommand wraps a pickup command the agent refused (journaled as a command_refused note).
var ErrCommand = errors.New("pickup: hub command refused")

// Record is the stored policy and the hub command that set it.
type Record struct {
	Policy  order.PickupPolicy `json:"policy"`
	At      string             `json:"at"`
	By      string             `json:"by"`
	Command string             `json:"command,omitempty"`
	Reason  string             `json:"reason,omitempty"`
}

// Read returns the stored record; without one (or an unreadable one, reported as the error) the
// default policy.
func Read(tx *journal.Tx) (Record, error) {
	b := tx.Meta(MetaKey)
	if len(b) == 0 {
		return Record{Policy: order.PickupHandoverScan}, nil
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return Record{Policy: order.PickupHandoverScan}, fmt.Errorf("pickup record in the journal meta is unreadable: %w", err)
	}
	p, err := order.ParsePickupPolicy(string(r.Policy))
	if err != nil {
		return Record{Policy: order.PickupHandoverScan}, err
	}
	r.Policy = p
	return r, nil
}

// Policy is the policy in force in tx (the default when none or unreadable: the handover scan is
// then the pickup, as it was before the policy existed).
func Policy(tx *journal.Tx) order.PickupPolicy {
	r, _ := Read(tx)
	return r.Policy
}

// Current reads the policy in force (for the agent's status).
func Current(ctx context.Context, store *journal.Store) (order.PickupPolicy, error) {
	p := order.PickupHandoverScan
	err := store.Do(ctx, func(tx *journal.Tx) error {
		r, err := Read(tx)
		p = r.Policy
		return err
	})
	return p, err
}

// Command applies a pickup_policy hub command at now: the new record and a settings note
// (trigger hub, operator hub:{by}, code = the command id, detail OLD → NEW with who, when, why and the
// command id) in one transaction; a command for the policy already in force journals the note too
// (the hub's audit then finds its command handled). A command that cannot be read is journaled as
// a command_refused note and returned wrapping ErrCommand.
func Command(ctx context.Context, store *journal.Store, payload []byte, now time.Time) error {
	cmd, p, perr := order.ParsePickupCommand(payload)
	err := store.Do(ctx, func(tx *journal.Tx) error {
		if perr != nil {
			tx.Append(wire.Entry{Kind: wire.KindNote, Trigger: wire.TriggerHub, Code: order.Excerpt(cmd.ID, order.MaxExcerpt), At: wire.Time(now),
				Reason: "command_refused", Detail: order.Excerpt(fmt.Sprintf("hub command refused: %v; payload: %q", perr, payload), order.MaxExcerpt)})
			return nil
		}
		old, _ := Read(tx)
		rec := Record{Policy: p, At: wire.Time(now), By: cmd.By, Command: cmd.ID, Reason: cmd.Reason}
		b, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		tx.SetMeta(MetaKey, b)
		tx.Append(wire.Entry{Kind: wire.KindNote, Trigger: wire.TriggerHub, Operator: "hub:" + cmd.By, Reason: "settings",
			Code: order.Excerpt(cmd.ID, order.MaxExcerpt),
			At:   wire.Time(now), Detail: order.Excerpt(fmt.Sprintf("%s: %s → %s（中心指令 hub command %s by %s at %s: %s）",
				Field, old.Policy, p, cmd.ID, cmd.By, rec.At, cmd.Reason), order.MaxExcerpt)})
		return nil
	})
	if err != nil {
		return err
	}
	if perr != nil {
		return fmt.Errorf("%w: %w", ErrCommand, perr)
	}
	return nil
}

// Cache holds the policy in force for readers outside a journal transaction (the agent's status).
// The zero value reads handover_scan. Safe for concurrent use.
type Cache struct{ p atomic.Value }

// Load returns the cached policy.
func (c *Cache) Load() order.PickupPolicy {
	if p, ok := c.p.Load().(order.PickupPolicy); ok {
		return p
	}
	return order.PickupHandoverScan
}

// Refresh reads the policy in force from the journal into the cache.
func (c *Cache) Refresh(ctx context.Context, store *journal.Store) error {
	p, err := Current(ctx, store)
	c.p.Store(p)
	return err
}
