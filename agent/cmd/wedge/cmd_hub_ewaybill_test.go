package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// --check reads the ewaybill section's key files: present, the check passes; missing, it is a
// usage error naming the field.
func TestHubConfigCheckEWaybill(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"k", "s", "zto.key"} {
		os.WriteFile(filepath.Join(dir, f), []byte("value\n"), 0o600)
	}
	good := filepath.Join(dir, "hub.yaml")
	os.WriteFile(good, []byte("ewaybill:\n  provider: kuaidi100\n  key_file: k\n  secret_file: s\n  carriers:\n    zto: {partner_id: p, partner_key_file: zto.key}\n"), 0o644)
	if code, out, errs := wedge(t, "hub", "--config", good, "--check"); code != exitOK || !strings.Contains(out, "configuration ok") {
		t.Errorf("good file: exit %d %q %q", code, out, errs)
	}
	os.Remove(filepath.Join(dir, "zto.key"))
	if code, _, errs := wedge(t, "hub", "--config", good, "--check"); code != exitUsage || !strings.Contains(errs, "carriers.zto.partner_key_file") {
		t.Errorf("missing key file: exit %d %q", code, errs)
	}
}
