package api_test

import (
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"wedge/agent/api"
	"wedge/agent/config"
	"wedge/agent/journal"
)

// The status says which settings the agent applies and where each comes from, and the hash of the
// file's shared settings; without them it still answers with an empty list.
func TestStatusSettings(t *testing.T) {
	store, err := journal.Open(filepath.Join(t.TempDir(), "wedge.db"), &journal.Options{Site: "sz01", Agent: "pack02"})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	settings := []config.Effective{
		{Field: "breaker.max_backlog", Value: "3", Source: config.SourceHub, File: "/etc/wedge/wedge.yaml", FileValue: "500", At: "2026-11-11T01:00:00.000Z", By: "ops-zhang", Command: "c-1"},
		{Field: "overdue_after", Value: "30m0s", Source: config.SourceFile, File: "/etc/wedge/wedge.yaml", Line: 12},
	}
	for _, c := range []struct {
		opts      api.Options
		hash      string
		nSettings int
	}{
		{api.Options{Store: store, SettingsHash: "v1:0123", Settings: func() []config.Effective { return settings }}, "v1:0123", 2},
		{api.Options{Store: store}, "", 0},
	} {
		srv := httptest.NewServer(api.New(c.opts))
		resp, err := srv.Client().Get(srv.URL + "/api/v1/status")
		if err != nil {
			t.Fatal(err)
		}
		var st struct {
			SettingsHash *string            `json:"settings_hash"`
			Settings     []config.Effective `json:"settings"`
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		srv.Close()
		if err != nil || st.SettingsHash == nil || *st.SettingsHash != c.hash || st.Settings == nil || len(st.Settings) != c.nSettings {
			t.Fatalf("status settings: %v %+v", err, st)
		}
		if c.nSettings > 0 && (st.Settings[0] != settings[0] || st.Settings[1] != settings[1]) {
			t.Errorf("settings %+v", st.Settings)
		}
	}
}
