package breaker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// CommandThresholds is the type of the hub command that changes the thresholds.
const CommandThresholds = "breaker_thresholds"

// Command is the payload of a threshold change on wire.TopicCommand (proposed for docs/PROTOCOL.md):
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
}

// ParseCommand decodes and validates a threshold command strictly (unknown fields are refused).
// The result is ready for SetThresholds("hub:"+By, Reason, th).
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
	th = th.withDefaults()
	if err := th.Validate(); err != nil {
		return Command{}, Thresholds{}, err
	}
	return c, th, nil
}
