package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// warn hides info but never an error; an unknown level or format is refused.
func TestLevels(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(&buf, "warn", "")
	if err != nil {
		t.Fatal(err)
	}
	l.Info("hidden")
	l.Error("打印机故障 printer fault", Err(errors.New("paper out")), KeyStation, "pack01")
	out := buf.String()
	if strings.Contains(out, "hidden") || !strings.Contains(out, "printer fault") || !strings.Contains(out, "station=pack01") {
		t.Fatalf("warn level output %q", out)
	}
	if _, err := New(&buf, "loud", ""); err == nil {
		t.Fatal("level loud accepted")
	}
	if _, err := New(&buf, "info", "xml"); err == nil {
		t.Fatal("format xml accepted")
	}
}

func TestJSON(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(&buf, "error", "json")
	if err != nil {
		t.Fatal(err)
	}
	l.Warn("hidden")
	l.Error("commit failed", KeySeq, 42)
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("%v: %q", err, buf.String())
	}
	if rec["msg"] != "commit failed" || rec["seq"] != float64(42) || rec["level"] != "ERROR" {
		t.Fatalf("record %v", rec)
	}
	Or(nil).Error("discarded") // must not panic
}
