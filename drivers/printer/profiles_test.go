package printer_test

import (
	"strings"
	"testing"

	"wedge/drivers/printer"
	"wedge/drivers/profile"
)

// Every embedded printer profile loads with the one loader and opens with printer.Open on each
// transport it lists: language, status query names and transports are ones this driver knows.
func TestEmbeddedPrinterProfilesOpen(t *testing.T) {
	set, err := profile.LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"zebra-zd421", "zebra-zd888", "zebra-gk888t", "zebra-zt411", "tsc-te244", "tsc-ttp-244-pro",
		"gprinter-gp-1324d", "hprt-n31", "xprinter-xp-460b", "deli-dl-888"}
	for _, id := range want {
		p, ok := set.Get(id)
		if !ok {
			t.Errorf("printer profile %s is not embedded", id)
			continue
		}
		if p.Kind != profile.KindPrinter || p.Printer == nil || len(p.Sources) == 0 {
			t.Errorf("%s: kind %q, printer %v, sources %v", id, p.Kind, p.Printer, p.Sources)
			continue
		}
		if len(p.Printer.Status) == 0 && len(p.Uncertain) == 0 {
			t.Errorf("%s: no status query and nothing marked uncertain", id)
		}
		for _, tr := range p.Printer.Transports {
			d, err := printer.Open(printer.Config{Name: id, Transport: tr, Address: "/dev/null", Profile: p}, nil)
			if err != nil {
				t.Errorf("%s over %s: %v", id, tr, err)
				continue
			}
			if d.HasStatus() != (len(p.Printer.Status) > 0) {
				t.Errorf("%s: HasStatus %v", id, d.HasStatus())
			}
			d.Close()
		}
		if !strings.HasPrefix(id, strings.ToLower(p.Vendor)) {
			t.Errorf("%s: file name does not start with the vendor %q", id, p.Vendor)
		}
	}
}
