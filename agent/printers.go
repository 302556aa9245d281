package agent

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"wedge/agent/api"
	"wedge/agent/config"
	"wedge/agent/printing"
	"wedge/agent/station"
	"wedge/drivers/printer"
	"wedge/drivers/printer/label"
	"wedge/drivers/profile"
	"wedge/internal/logging"
)

// devPrinter is one configured printer with its print station's printing side.
type devPrinter struct {
	dev config.Device
	p   *printer.Device
	ps  *printing.Station
}

// openPrinters opens the configured printers (they connect on first use, so an agent starts while a
// printer is still off) and the printing side of their stations. A printer that cannot be opened
// (bad profile, transport) is logged and its station stays in pairing mode. One printer per
// station: a second one is logged and skipped.
func (a *Agent) openPrinters(profiles map[string]profile.Profile) {
	var set []*printing.Station
	for _, d := range a.cfg.Devices {
		if d.Kind != config.KindPrinter {
			continue
		}
		if a.printingFor(d.Station) != nil {
			a.logf("device %s: station %s already has a printer; skipped", d.Name, d.Station)
			continue
		}
		prof, ok := profiles[d.Profile]
		if !ok || prof.Printer == nil {
			a.logf("device %s: %q is not a known printer profile; skipped", d.Name, d.Profile)
			continue
		}
		addr := d.Address
		if d.Transport != config.TransportTCP {
			addr = d.Port
		}
		logf := prefixed(a.logf, "device "+d.Name+": ")
		p, err := printer.Open(printer.Config{Name: d.Name, Transport: d.Transport, Address: addr, Profile: prof},
			&printer.Options{Clock: a.deps.Clock, Logger: logging.FromLogf(logf)})
		if err != nil {
			a.logf("device %s: cannot open: %v", d.Name, err)
			continue
		}
		size := label.Size76x130
		if d.LabelSize == "100x180" {
			size = label.Size100x180
		}
		ps, err := printing.New(printing.Config{Station: d.Station, Printer: p, Size: size, DPI: prof.Printer.DPI,
			ReprintCode: a.cfg.ReprintCode, PairWindow: a.cfg.PairWindow.D()}, a.store,
			&printing.Options{Clock: a.deps.Clock, Logf: logf, OnEvent: a.onPrinterEvent, OnResult: a.onResult})
		if err != nil {
			p.Close()
			a.logf("device %s: %v", d.Name, err)
			continue
		}
		a.printers = append(a.printers, devPrinter{dev: d, p: p, ps: ps})
		set = append(set, ps)
		a.logf("device %s: printer for station %s (%s, %s %s)", d.Name, d.Station, prof.ID, d.Transport, addr)
	}
	a.printSet = printing.NewSet(a.store, set...)
}

// printingFor is the printing side of a station, or nil (pairing mode).
func (a *Agent) printingFor(stationName string) station.Printing {
	for _, dp := range a.printers {
		if dp.dev.Station == stationName {
			return dp.ps
		}
	}
	return nil
}

// startProxies starts the print proxies declared with proxy_listen. A proxy that cannot listen is
// logged; the printer still works for its station.
func (a *Agent) startProxies() {
	for _, dp := range a.printers {
		if dp.dev.ProxyListen == "" {
			continue
		}
		var filter *regexp.Regexp
		if dp.dev.ProxyFilter != "" {
			filter = regexp.MustCompile(dp.dev.ProxyFilter) // validated by config
		}
		addr, err := dp.ps.StartProxy(dp.dev.ProxyListen, filter)
		if err != nil {
			a.logf("device %s: print proxy: %v", dp.dev.Name, err)
			continue
		}
		a.logf("device %s: print proxy listening on %s", dp.dev.Name, addr)
	}
}

// stopProxies stops the proxies, forwarding and journaling the jobs they accepted.
func (a *Agent) stopProxies(ctx context.Context) []error {
	var errs []error
	for i := len(a.printers) - 1; i >= 0; i-- {
		if err := a.printers[i].ps.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("device %s: print proxy: %w", a.printers[i].dev.Name, err))
		}
	}
	return errs
}

// closePrinters closes the printers, after the stations that print on them.
func (a *Agent) closePrinters() []error {
	var errs []error
	for i := len(a.printers) - 1; i >= 0; i-- {
		if err := a.printers[i].p.Close(); err != nil && !errors.Is(err, printer.ErrClosed) {
			errs = append(errs, fmt.Errorf("device %s: %w", a.printers[i].dev.Name, err))
		}
	}
	return errs
}

// onPrinterEvent passes a printer fault to the consoles (popup) and to Deps.OnPrinterEvent.
func (a *Agent) onPrinterEvent(ev printing.Event) {
	if a.sup != nil && !ev.Cleared {
		a.sup.PrinterFault(ev.Printer, ev.Message.String())
	}
	if a.deps.OnPrinterEvent != nil {
		a.deps.OnPrinterEvent(ev)
	}
}

// printerDevice fills a printer's line in the status: opened, and its last seen fault.
func (a *Agent) printerDevice(d config.Device, x api.Device) api.Device {
	if d.Transport == config.TransportTCP {
		x.Port = d.Address
	}
	for _, dp := range a.printers {
		if dp.dev.Name != d.Name {
			continue
		}
		st := dp.ps.Status()
		x.Health.Connected = true
		if st.Message != nil {
			x.Health.LastError = st.Message.String()
			if t, err := time.Parse(time.RFC3339Nano, st.FaultSince); err == nil {
				x.Health.LastErrAt = t
			}
		}
		return x
	}
	x.Health.LastError = "not opened (see the agent log)"
	return x
}

// Printing is the agent's printers (status, labels, reprints).
func (a *Agent) Printing() *printing.Set { return a.printSet }
