package devices

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
	"wedge/internal/logging"
)

// printerDev is one configured printer with its print station's printing side.
type printerDev struct {
	dev config.Device
	p   *printer.Device
	ps  *printing.Station
}

// openPrinters opens the configured printers (they connect on first use, so an agent starts while a
// printer is still off) and the printing side of their stations.
func (d *Devices) openPrinters() {
	cfg := d.opts.Config
	var set []*printing.Station
	for _, c := range cfg.Devices {
		if c.Kind != config.KindPrinter {
			continue
		}
		log := d.log.With(logging.KeyDevice, c.Name)
		if d.Printing(c.Station) != nil {
			log.Error("station already has a printer; printer skipped", logging.KeyStation, c.Station)
			continue
		}
		prof, ok := d.opts.Profiles[c.Profile]
		if !ok || prof.Printer == nil {
			log.Error("not a known printer profile; printer skipped", "profile", c.Profile)
			continue
		}
		addr := c.Address
		if c.Transport != config.TransportTCP {
			addr = c.Port
		}
		p, err := printer.Open(printer.Config{Name: c.Name, Transport: c.Transport, Address: addr, Profile: prof},
			&printer.Options{Clock: d.opts.Clock, Logger: log})
		if err != nil {
			log.Error("cannot open printer", logging.Err(err))
			continue
		}
		size := label.Size76x130
		if c.LabelSize == "100x180" {
			size = label.Size100x180
		}
		ps, err := printing.New(printing.Config{Station: c.Station, Printer: p, Size: size, DPI: prof.Printer.DPI,
			ReprintCode: cfg.ReprintCode, PairWindow: cfg.PairWindow.D()}, d.opts.Store,
			&printing.Options{Clock: d.opts.Clock, Logger: log, OnEvent: d.printerEvent, OnResult: d.opts.OnResult})
		if err != nil {
			p.Close()
			log.Error("cannot set up printing", logging.Err(err))
			continue
		}
		d.printers = append(d.printers, printerDev{dev: c, p: p, ps: ps})
		set = append(set, ps)
		log.Info("printer ready", logging.KeyStation, c.Station, "profile", prof.ID, "transport", c.Transport, "address", addr)
	}
	d.printSet = printing.NewSet(d.opts.Store, set...)
}

// Printing is the printing side of a station, or nil (pairing mode).
func (d *Devices) Printing(stationName string) station.Printing {
	for _, dp := range d.printers {
		if dp.dev.Station == stationName {
			return dp.ps
		}
	}
	return nil
}

// startProxies starts the print proxies declared with proxy_listen. A proxy that cannot listen is
// logged; the printer still works for its station.
func (d *Devices) startProxies() {
	for _, dp := range d.printers {
		if dp.dev.ProxyListen == "" {
			continue
		}
		var filter *regexp.Regexp
		if dp.dev.ProxyFilter != "" {
			filter = regexp.MustCompile(dp.dev.ProxyFilter) // validated by config
		}
		addr, err := dp.ps.StartProxy(dp.dev.ProxyListen, filter)
		if err != nil {
			d.log.Error("print proxy cannot start", logging.KeyDevice, dp.dev.Name, logging.Err(err))
			continue
		}
		d.log.Info("print proxy listening", logging.KeyDevice, dp.dev.Name, "address", addr)
	}
}

// stopProxies stops the proxies, forwarding and journaling the jobs they accepted.
func (d *Devices) stopProxies(ctx context.Context) []error {
	var errs []error
	for i := len(d.printers) - 1; i >= 0; i-- {
		if err := d.printers[i].ps.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("device %s: print proxy: %w", d.printers[i].dev.Name, err))
		}
	}
	return errs
}

// closePrinters closes the printers, after the stations that print on them.
func (d *Devices) closePrinters() []error {
	var errs []error
	for i := len(d.printers) - 1; i >= 0; i-- {
		if err := d.printers[i].p.Close(); err != nil && !errors.Is(err, printer.ErrClosed) {
			errs = append(errs, fmt.Errorf("device %s: %w", d.printers[i].dev.Name, err))
		}
	}
	return errs
}

// printerDevice fills a printer's line in the list: opened, and its last seen fault.
func (d *Devices) printerDevice(c config.Device, x api.Device) api.Device {
	if c.Transport == config.TransportTCP {
		x.Port = c.Address
	}
	for _, dp := range d.printers {
		if dp.dev.Name != c.Name {
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
