package order

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrThresholds means backlog breaker thresholds out of range, or a threshold command that cannot be
// read. Match it with errors.Is.
var ErrThresholds = errors.New("order: invalid breaker thresholds")

// Defaults of the backlog breaker's thresholds.
const (
	DefaultMaxBacklog = 200
	DefaultMaxAvgWait = 8 * time.Minute
	DefaultCloseRatio = 0.8
	DefaultCloseAfter = time.Minute
)

// Thresholds are the backlog breaker's limits: it opens when the 待分仓 backlog passes MaxBacklog or
// its average wait passes MaxAvgWait, and closes after both stayed below CloseRatio of their limits
// for CloseAfter. Hub and agent share this type, so a command the hub accepts is one the agent can
// apply.
type Thresholds struct {
	MaxBacklog int           `json:"max_backlog"`
	MaxAvgWait time.Duration `json:"max_avg_wait"`
	CloseRatio float64       `json:"close_ratio"`
	CloseAfter time.Duration `json:"close_after"`
}

// WithDefaults returns t with its zero fields set to the defaults.
func (t Thresholds) WithDefaults() Thresholds {
	if t.MaxBacklog == 0 {
		t.MaxBacklog = DefaultMaxBacklog
	}
	if t.MaxAvgWait == 0 {
		t.MaxAvgWait = DefaultMaxAvgWait
	}
	if t.CloseRatio == 0 {
		t.CloseRatio = DefaultCloseRatio
	}
	if t.CloseAfter == 0 {
		t.CloseAfter = DefaultCloseAfter
	}
	return t
}

// Validate checks the ranges (after defaults): limits positive, ratio in (0, 1], CloseAfter ≥ 0.
func (t Thresholds) Validate() error {
	switch {
	case t.MaxBacklog <= 0:
		return fmt.Errorf("%w: max_backlog %d must be positive", ErrThresholds, t.MaxBacklog)
	case t.MaxAvgWait <= 0:
		return fmt.Errorf("%w: max_avg_wait %s must be positive", ErrThresholds, t.MaxAvgWait)
	case !(t.CloseRatio > 0 && t.CloseRatio <= 1):
		return fmt.Errorf("%w: close_ratio %g must be in (0, 1]", ErrThresholds, t.CloseRatio)
	case t.CloseAfter < 0:
		return fmt.Errorf("%w: close_after %s must not be negative", ErrThresholds, t.CloseAfter)
	}
	return nil
}

func (t Thresholds) String() string {
	return fmt.Sprintf("max_backlog=%d max_avg_wait=%s close_ratio=%g close_after=%s", t.MaxBacklog, t.MaxAvgWait, t.CloseRatio, t.CloseAfter)
}

// CommandThresholds is the type of the hub command that changes the breaker's thresholds.
const CommandThresholds = "breaker_thresholds"

// Command is the payload of a threshold change on wire.TopicCommand:
//
//	{"type":"breaker_thresholds","id":"c-42","by":"ops-zhang","reason":"双十一加派人手",
//	 "max_backlog":300,"max_avg_wait":"10m","close_ratio":0.8,"close_after":"1m"}
//
// Durations are Go duration strings; omitted limits take the defaults (not the current values), so
// a command always states the whole policy. id is echoed in the journal entry (Code) for tracing.
type Command struct {
	Type       string  `json:"type"`
	ID         string  `json:"id,omitempty"`
	By         string  `json:"by,omitempty"`
	Reason     string  `json:"reason,omitempty"`
	MaxBacklog int     `json:"max_backlog,omitempty"`
	MaxAvgWait string  `json:"max_avg_wait,omitempty"`
	CloseRatio float64 `json:"close_ratio,omitempty"`
	CloseAfter string  `json:"close_after,omitempty"`
	// Pickup is the pickup_policy command's policy (CommandPickup); refused in a breaker command.
	Pickup string `json:"pickup,omitempty"`
}

// ParseCommand decodes and validates a threshold command strictly (unknown fields are refused) and
// returns it with the thresholds it states, defaults filled in. Errors wrap ErrThresholds.
func ParseCommand(payload []byte) (Command, Thresholds, error) {
	var c Command
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Command{}, Thresholds{}, fmt.Errorf("%w: command: %v", ErrThresholds, err)
	}
	if c.Type != CommandThresholds {
		return Command{}, Thresholds{}, fmt.Errorf("%w: command type %q (want %s)", ErrThresholds, c.Type, CommandThresholds)
	}
	if c.Pickup != "" {
		return Command{}, Thresholds{}, fmt.Errorf("%w: pickup in a %s command", ErrThresholds, CommandThresholds)
	}
	th := Thresholds{MaxBacklog: c.MaxBacklog, CloseRatio: c.CloseRatio}
	for _, f := range []struct {
		name string
		v    string
		dst  *time.Duration
	}{{"max_avg_wait", c.MaxAvgWait, &th.MaxAvgWait}, {"close_after", c.CloseAfter, &th.CloseAfter}} {
		if strings.TrimSpace(f.v) == "" {
			continue
		}
		d, err := time.ParseDuration(f.v)
		if err != nil || d <= 0 {
			return Command{}, Thresholds{}, fmt.Errorf("%w: %s %q (want a positive duration like 8m)", ErrThresholds, f.name, f.v)
		}
		*f.dst = d
	}
	th = th.WithDefaults()
	if err := th.Validate(); err != nil {
		return Command{}, Thresholds{}, err
	}
	return c, th, nil
}
