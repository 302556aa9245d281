package oversight

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"wedge/agent/breaker"
	"wedge/agent/config"
	"wedge/agent/journal"
	"wedge/order"
	"wedge/sync/wire"
)

// MetaSettings is the journal meta key of the settings record (JSON): the values the configuration
// file gave at the last start, and the hub commands that set the breaker thresholds since.
const MetaSettings = "settings"

// ReasonSettings is the reason of the note entry (wire.KindNote) journaled for each setting whose
// value changed at a start because the configuration file changed. Code is the field, Detail reads
// "FIELD: OLD → NEW …".
const ReasonSettings = "settings"

// none is how an absent value reads in a settings entry.
const none = "（无 none）"

// settingsRecord is the MetaSettings meta.
//
// The rule for the breaker thresholds, which both the file and hub commands set: at start, a file
// value that differs from the one remembered here (or that was never remembered, the first start of
// a journal written before this record existed) wins over the current value and is journaled as a
// settings entry; a file value that did not change leaves the current value, a hub command's, as it
// is. Every other reported setting comes from the file alone; its changes are journaled too.
type settingsRecord struct {
	V    int                  `json:"v"`
	File map[string]string    `json:"file"`          // field → the file's value at the last start
	Hub  map[string]hubSetter `json:"hub,omitempty"` // field → the hub command that set its current value
}

// hubSetter is the hub command behind a threshold's current value.
type hubSetter struct {
	Value   string `json:"value"`
	At      string `json:"at"`
	By      string `json:"by"`
	Command string `json:"command,omitempty"`
}

// thresholdField reads and writes one breaker threshold as the canonical text of config.Setting.
type thresholdField struct {
	get func(order.Thresholds) string
	set func(*order.Thresholds, string) error
}

var thresholdFields = map[string]thresholdField{
	"breaker.max_backlog": {
		get: func(t order.Thresholds) string { return strconv.Itoa(t.MaxBacklog) },
		set: func(t *order.Thresholds, s string) (err error) { t.MaxBacklog, err = strconv.Atoi(s); return err },
	},
	"breaker.max_avg_wait": {
		get: func(t order.Thresholds) string { return t.MaxAvgWait.String() },
		set: func(t *order.Thresholds, s string) (err error) { t.MaxAvgWait, err = time.ParseDuration(s); return err },
	},
	"breaker.close_ratio": {
		get: func(t order.Thresholds) string { return strconv.FormatFloat(t.CloseRatio, 'g', -1, 64) },
		set: func(t *order.Thresholds, s string) (err error) {
			t.CloseRatio, err = strconv.ParseFloat(s, 64)
			return err
		},
	},
	"breaker.close_after": {
		get: func(t order.Thresholds) string { return t.CloseAfter.String() },
		set: func(t *order.Thresholds, s string) (err error) { t.CloseAfter, err = time.ParseDuration(s); return err },
	},
}

// settingChange is one setting whose effective value changed at start.
type settingChange struct {
	field, old, new, where string
	hub                    *hubSetter // the hub command the file's value replaced, if any
}

func (c settingChange) entry(now time.Time) wire.Entry {
	d := fmt.Sprintf("%s: %s → %s（配置文件已修改，以文件为准 / the configuration file changed and wins: %s）", c.field, c.old, c.new, c.where)
	if c.hub != nil {
		d += fmt.Sprintf("; 取代中心指令 replaces hub command %s by %s at %s", c.hub.Command, c.hub.By, c.hub.At)
	}
	return wire.Entry{Kind: wire.KindNote, Trigger: wire.TriggerSystem, Reason: ReasonSettings, Code: c.field, Detail: d, At: wire.Time(now)}
}

// settle decides the settings at start: the file's settings (with the breaker thresholds' values
// those the breaker is configured with), the record of the last start (nil: none) and the persisted
// breaker state (nil: none). It returns the breaker thresholds to apply, the record to store and
// the changes to journal.
func settle(file []config.Setting, configFile string, prev *settingsRecord, st *breaker.State, fileTh order.Thresholds) (order.Thresholds, settingsRecord, []settingChange, error) {
	rec := settingsRecord{V: 1, File: map[string]string{}, Hub: map[string]hubSetter{}}
	if prev != nil {
		maps.Copy(rec.Hub, prev.Hub)
	}
	eff := fileTh
	if st != nil {
		eff = st.Thresholds.WithDefaults()
	}
	var changes []settingChange
	for _, s := range file {
		rec.File[s.Field] = s.Value
		var remembered string
		known := false
		if prev != nil {
			remembered, known = prev.File[s.Field]
		}
		where := s.Where(configFile)
		tf, isThreshold := thresholdFields[s.Field]
		if !isThreshold || st == nil {
			// The file's value applies; a change from the value it had at the last start is journaled.
			delete(rec.Hub, s.Field)
			switch {
			case known && remembered != s.Value:
				changes = append(changes, settingChange{field: s.Field, old: remembered, new: s.Value, where: where})
			case !known && prev != nil && !isThreshold:
				changes = append(changes, settingChange{field: s.Field, old: none, new: s.Value, where: where})
			}
			continue
		}
		cur := tf.get(eff)
		if known && remembered == s.Value {
			continue // the file did not change: the current value (a hub command's) stays
		}
		if cur != s.Value {
			c := settingChange{field: s.Field, old: cur, new: s.Value, where: where}
			if h, ok := rec.Hub[s.Field]; ok {
				c.hub = &h
			}
			changes = append(changes, c)
			if err := tf.set(&eff, s.Value); err != nil {
				return order.Thresholds{}, settingsRecord{}, nil, fmt.Errorf("%w: %s %q: %w", ErrConfig, s.Field, s.Value, err)
			}
		}
		delete(rec.Hub, s.Field)
	}
	if prev != nil {
		for _, f := range slices.Sorted(maps.Keys(prev.File)) {
			if _, ok := rec.File[f]; !ok {
				changes = append(changes, settingChange{field: f, old: prev.File[f], new: none, where: configFile})
				delete(rec.Hub, f)
			}
		}
	}
	return eff, rec, changes, nil
}

// settingsBook holds the file's reported settings, the settings record and the breaker thresholds
// as last committed, for the reports: the breaker's own state changes just before its commit, the
// book only after it, so a report never pairs a new value with its old source.
type settingsBook struct {
	file       []config.Setting
	configFile string

	mu  sync.Mutex
	rec settingsRecord
	th  order.Thresholds
}

// fileSettings are the reported settings of opts, with the breaker thresholds as the breaker is
// configured (added when opts.Settings lacks them).
func fileSettings(opts Options, th order.Thresholds) []config.Setting {
	out := slices.Clone(opts.Settings)
	seen := map[string]bool{}
	for i, s := range out {
		if tf, ok := thresholdFields[s.Field]; ok {
			out[i].Value = tf.get(th)
			seen[s.Field] = true
		}
	}
	for _, f := range slices.Sorted(maps.Keys(thresholdFields)) {
		if !seen[f] {
			out = append(out, config.Setting{Field: f, Value: thresholdFields[f].get(th), Shared: true})
		}
	}
	return out
}

func (b *settingsBook) record() settingsRecord {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rec
}

// withHub is the record after a hub command set the thresholds th (all of them: a command states
// the whole policy).
func (b *settingsBook) withHub(th order.Thresholds, at time.Time, by, id string) settingsRecord {
	rec := b.record()
	hub := maps.Clone(rec.Hub)
	if hub == nil {
		hub = map[string]hubSetter{}
	}
	for f, tf := range thresholdFields {
		hub[f] = hubSetter{Value: tf.get(th), At: wire.Time(at), By: by, Command: id}
	}
	rec.Hub = hub
	return rec
}

// set records a committed settings record and the breaker thresholds that go with it.
func (b *settingsBook) set(rec settingsRecord, th order.Thresholds) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rec, b.th = rec, th
}

// effective lists the reported settings with their source, as last committed.
func (b *settingsBook) effective() []config.Effective {
	b.mu.Lock()
	rec, th := b.rec, b.th
	b.mu.Unlock()
	out := make([]config.Effective, 0, len(b.file))
	for _, s := range b.file {
		e := config.EffectiveFromFile(b.configFile, s)
		if tf, ok := thresholdFields[s.Field]; ok {
			e.Value = tf.get(th)
			if h, ok := rec.Hub[s.Field]; ok {
				e.Source, e.FileValue, e.At, e.By, e.Command = config.SourceHub, s.Value, h.At, h.By, h.Command
				e.Line = 0
			}
		}
		out = append(out, e)
	}
	return out
}

// readSettings reads the settings record in tx (nil when there is none).
func readSettings(tx *journal.Tx) (*settingsRecord, error) {
	b := tx.Meta(MetaSettings)
	if len(b) == 0 {
		return nil, nil
	}
	var rec settingsRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("settings record in the journal meta is unreadable: %w", err)
	}
	return &rec, nil
}

// Settings are the reported settings (breaker thresholds, overdue limit, KPI, data contracts) with
// the value the agent applies and its source: the configuration file (with its line), the default,
// or a hub command (when, by whom, and what the file says).
func (o *Oversight) Settings() []config.Effective {
	return o.book.effective()
}

// SettingsOverrides are the settings whose applied value differs from the file's because a hub
// command set it: field → applied value (nil: none). The agent publishes them beside its settings
// hash, which covers the file alone.
func (o *Oversight) SettingsOverrides() map[string]string {
	var out map[string]string
	for _, e := range o.Settings() {
		if e.Source == config.SourceHub && e.Value != e.FileValue {
			if out == nil {
				out = map[string]string{}
			}
			out[e.Field] = e.Value
		}
	}
	return out
}
