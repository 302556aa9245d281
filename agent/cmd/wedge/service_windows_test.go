//go:build windows

package main

import (
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/windows/svc"
)

// The service handler reports StartPending, and a config that cannot start ends it with wedge's
// usage exit code as a service-specific code (which the recovery actions count as a failure).
// Written for Windows; not run on the Linux CI.
func TestServiceExecuteBadConfig(t *testing.T) {
	var log syncBuf
	s := &service{args: []string{"--config", filepath.Join(t.TempDir(), "missing.yaml")}, out: &log}
	r := make(chan svc.ChangeRequest)
	changes := make(chan svc.Status, 8)
	ssec, code := s.Execute(nil, r, changes)
	close(changes)
	var states []svc.State
	for st := range changes {
		states = append(states, st.State)
	}
	if len(states) != 1 || states[0] != svc.StartPending {
		t.Errorf("states %v, want only StartPending", states)
	}
	if !ssec || code != exitUsage || s.code != exitUsage {
		t.Errorf("Execute = (%v, %d), code %d; want (true, %d)", ssec, code, s.code, exitUsage)
	}
	if !strings.Contains(log.String(), "missing.yaml") {
		t.Errorf("log does not name the config: %q", log.String())
	}
}
