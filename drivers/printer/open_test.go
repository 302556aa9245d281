package printer_test

import (
	"context"
	"errors"
	"testing"

	"wedge/drivers/printer"
	"wedge/drivers/profile"
)

func TestOpenRejectsBadConfig(t *testing.T) {
	good := prof(printer.LangZPL, printer.QueryZPLHS)
	scanner := profile.Profile{ID: "s", Kind: profile.KindScanner}
	wrongQuery := prof(printer.LangTSPL, printer.QueryZPLHS)
	epl := prof("epl")
	onlyTCP := prof(printer.LangZPL)
	onlyTCP.Printer.Transports = []string{"tcp"}
	for name, cfg := range map[string]printer.Config{
		"no name":        {Transport: "tcp", Address: "x", Profile: good},
		"no address":     {Name: "p", Transport: "tcp", Profile: good},
		"scanner":        {Name: "p", Transport: "tcp", Address: "x", Profile: scanner},
		"language":       {Name: "p", Transport: "tcp", Address: "x", Profile: epl},
		"query/language": {Name: "p", Transport: "tcp", Address: "x", Profile: wrongQuery},
		"transport":      {Name: "p", Transport: "bluetooth", Address: "x", Profile: good},
		"not in profile": {Name: "p", Transport: "usblp", Address: "/dev/usb/lp0", Profile: onlyTCP},
	} {
		if _, err := printer.Open(cfg, nil); !errors.Is(err, printer.ErrConfig) {
			t.Errorf("%s: Open = %v, want ErrConfig", name, err)
		}
	}
}

func TestNoStatusQueryMeansScanBack(t *testing.T) {
	p, err := printer.Open(printer.Config{Name: "deli", Transport: "usblp", Address: "/nonexistent/lp0", Profile: prof(printer.LangTSPL)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.HasStatus() {
		t.Fatal("HasStatus with no queries")
	}
	if _, err := printer.Confirm(context.Background(), p, "j", nil); !errors.Is(err, printer.ErrNoStatus) {
		t.Fatalf("Confirm = %v, want ErrNoStatus", err)
	}
	if _, err := p.Print(context.Background(), []byte("x")); err == nil {
		t.Fatal("Print to a missing device succeeded")
	}
	if _, err := p.Print(context.Background(), nil); !errors.Is(err, printer.ErrEmptyJob) {
		t.Fatalf("empty job: %v", err)
	}
}
