package hub

import "testing"

// The agents of a site whose published settings hashes differ are flagged, every one of them; a
// site whose agents agree, and agents that published no hash, are not.
func TestMarkSettingsDiffer(t *testing.T) {
	agents := []agentRec{
		{Site: "sz01", Agent: "pack01", SettingsHash: "v1:aa"},
		{Site: "sz01", Agent: "dock01", SettingsHash: "v1:bb"},
		{Site: "sz01", Agent: "old01"},
		{Site: "gz02", Agent: "pack01", SettingsHash: "v1:cc"},
		{Site: "gz02", Agent: "dock01", SettingsHash: "v1:cc"},
	}
	markSettingsDiffer(agents)
	want := []bool{true, true, false, false, false}
	for i, a := range agents {
		if a.SettingsDiffer != want[i] {
			t.Errorf("%s/%s: settings_differ %v, want %v", a.Site, a.Agent, a.SettingsDiffer, want[i])
		}
	}
}
