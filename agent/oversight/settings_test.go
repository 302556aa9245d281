package oversight_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"wedge/agent/breaker"
	"wedge/agent/config"
	"wedge/agent/journal"
	"wedge/agent/oversight"
	"wedge/order"
	"wedge/sync/wire"
)

// optsFrom are the oversight options an agent builds from the configuration file src.
func optsFrom(t *testing.T, src string) oversight.Options {
	t.Helper()
	c, err := config.Parse("wedge.yaml", []byte("site: sz01\nagent: pack02\n"+src), nil)
	if err != nil {
		t.Fatal(err)
	}
	return oversight.Options{
		Breaker: breaker.Options{MaxBacklog: c.Breaker.MaxBacklog, MaxAvgWait: c.Breaker.MaxAvgWait.D(),
			CloseRatio: c.Breaker.CloseRatio, CloseAfter: c.Breaker.CloseAfter.D()},
		OverdueAfter: c.OverdueAfter.D(),
		Settings:     c.ReportedSettings(),
		ConfigFile:   "wedge.yaml",
	}
}

func setting(t *testing.T, ov *oversight.Oversight, field string) config.Effective {
	t.Helper()
	for _, e := range ov.Settings() {
		if e.Field == field {
			return e
		}
	}
	t.Fatalf("no setting %s in %+v", field, ov.Settings())
	return config.Effective{}
}

// settingNotes are the journaled settings entries as "FIELD: OLD → NEW".
func (r *rig) settingNotes() []string {
	var out []string
	for _, e := range r.entries(wire.KindNote) {
		if e.Reason == oversight.ReasonSettings {
			d, _, _ := strings.Cut(e.Detail, "（配置文件")
			out = append(out, d)
			if e.Code == "" || !strings.HasPrefix(e.Detail, e.Code+": ") || e.Trigger != wire.TriggerSystem {
				r.t.Errorf("settings entry %+v", e)
			}
		}
	}
	return out
}

// A hub command sets max_backlog 3; it survives restarts while the file keeps its value, and is
// reported with who, when and what the file says. Once the file's value is edited (200 → 500), the
// file wins at the next start and the change is journaled, naming the command it replaced.
func TestSettingsFileChangeWinsOverHubCommand(t *testing.T) {
	r := newRig(t, optsFrom(t, "breaker: {max_backlog: 200}\n"))
	if notes := r.settingNotes(); len(notes) != 0 {
		t.Fatalf("first start journaled %v", notes)
	}
	if e := setting(t, r.ov, "breaker.max_backlog"); e.Value != "200" || e.Source != config.SourceFile || e.Line != 3 {
		t.Fatalf("before the command: %+v", e)
	}
	if e := setting(t, r.ov, "overdue_after"); e.Value != "30m0s" || e.Source != config.SourceDefault {
		t.Fatalf("overdue_after: %+v", e)
	}
	if ov := r.ov.SettingsOverrides(); ov != nil {
		t.Fatalf("overrides before any command: %v", ov)
	}
	err := r.ov.Breaker().Command(context.Background(), []byte(`{"type":"breaker_thresholds","id":"c-1","by":"ops-zhang","reason":"大促","max_backlog":3}`))
	if err != nil {
		t.Fatal(err)
	}
	hub := func(when string) {
		t.Helper()
		e := setting(t, r.ov, "breaker.max_backlog")
		if e.Value != "3" || e.Source != config.SourceHub || e.By != "ops-zhang" || e.Command != "c-1" || e.At != wire.Time(t0) || e.FileValue != "200" {
			t.Fatalf("%s: %+v", when, e)
		}
		if !strings.Contains(e.Origin(), "hub command c-1 by ops-zhang") {
			t.Errorf("origin %q", e.Origin())
		}
		if ov := r.ov.SettingsOverrides(); len(ov) != 1 || ov["breaker.max_backlog"] != "3" {
			t.Fatalf("%s: overrides %v", when, ov)
		}
	}
	hub("after the command")
	var shown bool
	for _, e := range oversight.SourceOf(r.ov).Snapshot().Settings {
		shown = shown || e.Field == "breaker.max_backlog" && e.Source == config.SourceHub && e.By == "ops-zhang"
	}
	if !shown {
		t.Errorf("the console's board does not show the hub's setting: %+v", oversight.SourceOf(r.ov).Snapshot().Settings)
	}
	r.restart()
	hub("after a restart with the file unchanged")
	if th := r.ov.Breaker().State().Thresholds; th.MaxBacklog != 3 {
		t.Fatalf("thresholds %+v", th)
	}
	if notes := r.settingNotes(); len(notes) != 0 {
		t.Fatalf("an unchanged file journaled %v", notes)
	}

	r.opts = optsFrom(t, "breaker: {max_backlog: 500}\noverdue_after: 20m\n")
	r.restart()
	if th := r.ov.Breaker().State().Thresholds; th.MaxBacklog != 500 {
		t.Fatalf("the edited file did not win: %+v", th)
	}
	if e := setting(t, r.ov, "breaker.max_backlog"); e.Value != "500" || e.Source != config.SourceFile || e.Line != 3 || e.By != "" {
		t.Fatalf("after the edit: %+v", e)
	}
	if ov := r.ov.SettingsOverrides(); ov != nil {
		t.Fatalf("overrides after the edit: %v", ov)
	}
	notes := r.settingNotes()
	if strings.Join(notes, "|") != "breaker.max_backlog: 3 → 500|overdue_after: 30m0s → 20m0s" {
		t.Fatalf("settings entries %q", notes)
	}
	var replaced bool
	for _, e := range r.entries(wire.KindNote) {
		replaced = replaced || e.Code == "breaker.max_backlog" && strings.Contains(e.Detail, "hub command c-1 by ops-zhang") && strings.Contains(e.Detail, "wedge.yaml:3")
	}
	if !replaced {
		t.Errorf("the entry names neither the replaced command nor the file line: %+v", r.entries(wire.KindNote))
	}
	// The other thresholds were the command's too; the file did not change them, so they stay.
	if e := setting(t, r.ov, "breaker.max_avg_wait"); e.Source != config.SourceHub || e.Value != "8m0s" {
		t.Errorf("max_avg_wait %+v", e)
	}
	r.restart()
	if n := len(r.settingNotes()); n != 2 {
		t.Fatalf("a restart without edits journaled again: %d entries", n)
	}
	if th := r.ov.Breaker().State().Thresholds; th.MaxBacklog != 500 {
		t.Fatalf("thresholds after another restart %+v", th)
	}
}

// The reported problem: with max_backlog 3 in the file the breaker opened once (its state, with the
// thresholds, went to the journal meta); the file is edited to 500 and the agent restarted. The
// file's 500 applies (it stayed 3 before), journaled, and the next observation closes nothing by
// surprise: the breaker stays open until its own hysteresis closes it under the new limit.
func TestSettingsFileEditAfterBreakerTrip(t *testing.T) {
	r := newRig(t, optsFrom(t, "breaker: {max_backlog: 3}\n"))
	for _, id := range ids("P", 4) {
		r.order(id)
	}
	r.ov.Check(context.Background())
	if !r.ov.Breaker().Open() {
		t.Fatal("the breaker did not open")
	}
	r.opts = optsFrom(t, "breaker: {max_backlog: 500}\n")
	r.restart()
	st := r.ov.Breaker().State()
	if st.Thresholds.MaxBacklog != 500 || !st.Open {
		t.Fatalf("state after the edit %+v", st)
	}
	if notes := r.settingNotes(); strings.Join(notes, "|") != "breaker.max_backlog: 3 → 500" {
		t.Fatalf("settings entries %q", notes)
	}
	if e := setting(t, r.ov, "breaker.max_backlog"); e.Source != config.SourceFile {
		t.Fatalf("source %+v", e)
	}
}

// A journal written before the settings record existed: the breaker state holds thresholds (3) the
// file no longer says (500). Nothing was remembered, so the file wins, journaled.
func TestSettingsFirstStartWithOldBreakerState(t *testing.T) {
	r := newRig(t, optsFrom(t, ""))
	r.close()
	store, err := journal.Open(r.path, &journal.Options{Site: "sz01", Agent: "pack02", Clock: r.clk})
	if err != nil {
		t.Fatal(err)
	}
	old, _ := json.Marshal(breaker.State{Thresholds: order.Thresholds{MaxBacklog: 3}.WithDefaults(), Since: t0})
	err = store.Do(context.Background(), func(tx *journal.Tx) error {
		tx.SetMeta(oversight.MetaBreaker, old)
		tx.SetMeta(oversight.MetaSettings, nil)
		return nil
	})
	store.Close()
	if err != nil {
		t.Fatal(err)
	}
	r.opts = optsFrom(t, "breaker: {max_backlog: 500}\n")
	r.open()
	if th := r.ov.Breaker().State().Thresholds; th.MaxBacklog != 500 {
		t.Fatalf("thresholds %+v", th)
	}
	if notes := r.settingNotes(); strings.Join(notes, "|") != "breaker.max_backlog: 3 → 500" {
		t.Fatalf("settings entries %q", notes)
	}
}

// Data contracts come from the file alone; a channel added, changed or removed between two starts is
// journaled, and the reported values follow the file.
func TestSettingsContractsJournaled(t *testing.T) {
	r := newRig(t, optsFrom(t, "channels:\n  tmall: {order_no_pattern: \"^[0-9]{12,20}$\"}\n  jd: {order_no_pattern: \"^[0-9]{12}$\"}\n"))
	if e := setting(t, r.ov, "contract.default_order_no_pattern"); e.Value != config.DefaultOrderNoPattern || e.Source != config.SourceDefault {
		t.Fatalf("default contract %+v", e)
	}
	r.opts = optsFrom(t, "contract: {default_order_no_pattern: \"^[A-Za-z0-9]{14,64}$\"}\nchannels:\n  tmall: {order_no_pattern: \"^[0-9]{12,20}$\"}\n  douyin: {order_no_pattern: \"^[0-9]{19}$\"}\n")
	r.restart()
	want := "contract.default_order_no_pattern: ^[A-Za-z0-9]{12,64}$ → ^[A-Za-z0-9]{14,64}$|" +
		"channels.douyin.order_no_pattern: （无 none） → ^[0-9]{19}$|channels.jd.order_no_pattern: ^[0-9]{12}$ → （无 none）"
	if got := strings.Join(r.settingNotes(), "|"); got != want {
		t.Fatalf("settings entries\n got %s\nwant %s", got, want)
	}
	if e := setting(t, r.ov, "contract.default_order_no_pattern"); e.Value != "^[A-Za-z0-9]{14,64}$" || e.Source != config.SourceFile || e.Line != 3 {
		t.Fatalf("default contract %+v", e)
	}
}
