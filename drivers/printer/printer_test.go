package printer_test

import (
	"testing"

	"go.uber.org/goleak"

	"wedge/drivers/printer"
	"wedge/drivers/printer/emulator"
	"wedge/drivers/printer/printertest"
	"wedge/drivers/printer/transport"
	"wedge/drivers/profile"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func prof(lang string, status ...string) profile.Profile {
	return profile.Profile{Schema: 1, ID: "test-" + lang, Kind: profile.KindPrinter, Vendor: "Test", Model: lang,
		Printer: &profile.Printer{Language: lang, DPI: 203, Status: status,
			Transports: []string{transport.TCP, transport.Serial, transport.USBLP}}}
}

func opener(kind string, pr profile.Profile) printertest.Opener {
	return func(t *testing.T, emu *emulator.Emulator, opts *printer.Options) printer.Printer {
		t.Helper()
		var addr string
		var err error
		if kind == transport.TCP {
			addr, err = emu.ListenTCP("127.0.0.1:0")
		} else {
			// serial: go.bug.st/serial on a pty; usblp: os.OpenFile on the same kind of character device.
			addr, err = emu.ServePTY()
		}
		if err != nil {
			t.Fatal(err)
		}
		p, err := printer.Open(printer.Config{Name: "p-" + kind, Transport: kind, Address: addr, Profile: pr}, opts)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
}

func TestConformance(t *testing.T) {
	profiles := map[string]profile.Profile{
		"zpl-hs+hqes": prof(printer.LangZPL, printer.QueryZPLHS, printer.QueryZPLHQES),
		"zpl-hs":      prof(printer.LangZPL, printer.QueryZPLHS),
		"tspl-q":      prof(printer.LangTSPL, printer.QueryTSPLESCQ),
		"tspl-q+s":    prof(printer.LangTSPL, printer.QueryTSPLESCQ, printer.QueryTSPLESCS),
	}
	for name, pr := range profiles {
		for _, kind := range []string{transport.TCP, transport.Serial, transport.USBLP} {
			if kind != transport.TCP && (name == "zpl-hs" || name == "tspl-q") {
				continue // one status variant per non-TCP transport keeps the run short
			}
			t.Run(name+"/"+kind, func(t *testing.T) {
				printertest.Run(t, pr.Printer.Language, opener(kind, pr))
			})
		}
	}
}
