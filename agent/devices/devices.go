// Package devices binds an agent's configured devices to its stations: label printers with the
// printing side of their print stations (and print proxies), and barcode scanners opened over
// serial or HID, by fixed port or by USB match rule through the discovery watcher, each read going
// to its station and the station's outcome back to the scanner as a good or bad beep.
//
// The agent wires it in phases: New opens the printers (they connect on first use, so nothing is
// read or written yet) and Printing gives each station its printer; Start, once the stations run,
// opens the scanners, the discovery watcher and the print proxies; StopInputs ends everything that
// feeds the stations; Close, after the stations, closes the printers. List is the devices' health
// for the status and the console at any time. Plug/unplug and printer fault events go to the
// subscribers given in Options.
package devices

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"wedge/agent/api"
	"wedge/agent/config"
	"wedge/agent/journal"
	"wedge/agent/printing"
	"wedge/agent/station"
	"wedge/drivers/discovery"
	"wedge/drivers/profile"
	"wedge/drivers/scanner"
	"wedge/drivers/scanner/hidscan"
	"wedge/internal/clock"
	"wedge/internal/logging"
)

// Default timing of discovery and feedback.
const (
	// DefaultRescan is how often absent devices are looked for (Options.Rescan).
	DefaultRescan = 500 * time.Millisecond
	// DefaultDebounce is how long a device must stay away to count as unplugged (Options.Debounce).
	DefaultDebounce = time.Second
	// FeedbackQueue is how many outcomes may wait for a scanner's feedback goroutine; beyond that
	// the oldest waiting beep is not sent (logged), so feedback never holds up a read.
	FeedbackQueue = 8
	// FeedbackTimeout bounds one good/bad feedback to a scanner (sent on the reader's feedback
	// goroutine, so it never delays the next read).
	FeedbackTimeout = 300 * time.Millisecond
	// NoiseBeepGap spaces the bad beeps for noise (a frame the driver rejects as unreadable or
	// overlong): a burst of garbage, hundreds of rejected frames, gets one beep, not hundreds.
	NoiseBeepGap = time.Second
)

// Event is a configured device plugged in or unplugged (debounced: a brief drop-out is no event).
type Event struct {
	Device  string    `json:"device"` // the configured name
	Kind    string    `json:"kind"`   // scanner
	Station string    `json:"station"`
	Plugged bool      `json:"plugged"` // false: unplugged
	Path    string    `json:"path"`    // the HID path or serial port
	At      time.Time `json:"at"`
}

// Station is where a scanner's reads go. *station.Station fits.
type Station interface {
	Name() string
	Handle(ctx context.Context, r scanner.Read) station.Result
}

// Options configure the devices. Config and Store are required.
type Options struct {
	// Config holds the devices, and the reprint code and pair window of the print stations.
	Config *config.Config
	// Profiles are the firmware profiles by id (LoadProfiles).
	Profiles map[string]profile.Profile
	// Store is the journal the printing side records prints in.
	Store  *journal.Store
	Clock  clock.Clock  // nil: the real clock
	Logger *slog.Logger // nil: discard

	// OpenScanner opens a configured scanner. Nil: the serial or HID driver by transport.
	OpenScanner func(d config.Device, p profile.Profile, log *slog.Logger) (scanner.Scanner, error)
	// HIDEnumerate and HIDOpen are hidscan's seams, SerialPorts discovery's (nil: the system's).
	HIDEnumerate func(vid, pid uint16) []hidscan.DeviceInfo
	HIDOpen      func(hidscan.DeviceInfo) (hidscan.Device, error)
	SerialPorts  func() ([]discovery.Port, error)
	// Rescan is how often absent devices are looked for (default DefaultRescan); Debounce how long
	// a device must stay away to count as unplugged (default DefaultDebounce).
	Rescan   time.Duration
	Debounce time.Duration

	// OnEvent are the subscribers to debounced plug/unplug events of configured scanners (from the
	// discovery watcher, which runs when a HID or match-bound scanner is configured), called in
	// order; nil entries are skipped. None may block.
	OnEvent []func(Event)
	// OnPrinterEvent are the subscribers to printer faults and their clearing, called in order;
	// nil entries are skipped. None may block.
	OnPrinterEvent []func(printing.Event)
	// OnResult receives the results of jobs through the print proxies (after commit), which have no
	// caller to return them to. It must not block.
	OnResult func(station.Result)
}

// Devices are an agent's configured printers and scanners.
type Devices struct {
	opts Options
	log  *slog.Logger

	printers []printerDev  // fixed after New
	printSet *printing.Set // fixed after New

	stop      chan struct{} // closed by StopInputs: readers end
	readers   sync.WaitGroup
	watchDone chan struct{}

	mu       sync.Mutex // List may run at any time (the console polls it)
	scanners []openScanner
	bound    []*boundDev // serial scanners bound by match rules; fixed after Start
	watcher  *discovery.Watcher
}

// New opens the configured printers and the printing side of their stations. A printer that
// cannot be opened (bad profile, transport) is logged and its station stays in pairing mode; one
// printer per station: a second one is logged and skipped. Nothing is read or written yet.
func New(opts Options) *Devices {
	d := &Devices{opts: opts, log: logging.Or(opts.Logger), stop: make(chan struct{})}
	d.openPrinters()
	return d
}

// Start opens every configured scanner, its reads going to the station of its name in stations,
// starts the discovery watcher when a scanner needs it, then the print proxies. Call it once.
func (d *Devices) Start(stations []Station) {
	byName := make(map[string]Station, len(stations))
	for _, s := range stations {
		byName[s.Name()] = s
	}
	d.openScanners(byName)
	d.startProxies()
}

// StopInputs stops what feeds the stations: the discovery watcher, the scanners and their readers
// (waiting for them until ctx ends), then the print proxies, which forward and journal the jobs
// they accepted. The printers stay open for the stations until Close.
// Call it once.
func (d *Devices) StopInputs(ctx context.Context) error {
	close(d.stop)
	errs := d.stopScanners()
	if err := waitCtx(ctx, d.readers.Wait); err != nil {
		errs = append(errs, fmt.Errorf("scanner readers: %w", err))
	}
	return errors.Join(append(errs, d.stopProxies(ctx)...)...)
}

// Close closes the printers; call it after the stations that print on them have stopped.
func (d *Devices) Close() error { return errors.Join(d.closePrinters()...) }

// PrintSet is the printing side of every print station with a printer (status, labels, reprints).
func (d *Devices) PrintSet() *printing.Set { return d.printSet }

// List is every configured device with its health, in configuration order.
func (d *Devices) List() []api.Device {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]api.Device, 0, len(d.opts.Config.Devices))
	open := map[string]scanner.Scanner{}
	for _, s := range d.scanners {
		open[s.dev.Name] = s.sc
	}
	for _, c := range d.opts.Config.Devices {
		x := api.Device{Name: c.Name, Kind: c.Kind, Station: c.Station, Profile: c.Profile, Port: c.Port}
		if c.Kind == config.KindPrinter {
			out = append(out, d.printerDevice(c, x))
			continue
		}
		d.scannerDevice(c, open, &x)
		out = append(out, x)
	}
	return out
}

func (d *Devices) event(ev Event) {
	for _, f := range d.opts.OnEvent {
		if f != nil {
			f(ev)
		}
	}
}

func (d *Devices) printerEvent(ev printing.Event) {
	for _, f := range d.opts.OnPrinterEvent {
		if f != nil {
			f(ev)
		}
	}
}

func (d *Devices) now() time.Time { return clock.Or(d.opts.Clock).Now() }

// LoadProfiles returns the embedded firmware profiles merged with those in dir ("" = none).
func LoadProfiles(dir string) (map[string]profile.Profile, error) {
	set, err := profile.LoadEmbedded()
	if err != nil {
		return nil, err
	}
	if dir != "" {
		over, err := profile.LoadDir(dir)
		if err != nil {
			return nil, err
		}
		set = profile.Merge(set, over)
	}
	out := make(map[string]profile.Profile, len(set))
	for _, p := range set {
		out[p.ID] = p
	}
	return out, nil
}

// ProfileTransports lists the scanner transports a profile has settings for: "serial" for a serial
// block or a cdc_serial/usb_com USB identity or mode, "hid" for a hid block or a hid_pos/keyboard
// USB identity or mode.
func ProfileTransports(p profile.Profile) []string {
	serial, hid := p.Serial != nil, p.HID != nil
	modes := slices.Collect(maps.Keys(p.Modes))
	for _, u := range p.USB {
		modes = append(modes, u.Mode)
	}
	for _, m := range modes {
		switch m {
		case profile.ModeCDCSerial, profile.ModeUSBCOM:
			serial = true
		case profile.ModeHIDPOS, profile.ModeKeyboard:
			hid = true
		}
	}
	var out []string
	if serial {
		out = append(out, config.TransportSerial)
	}
	if hid {
		out = append(out, config.TransportHID)
	}
	return out
}

func waitCtx(ctx context.Context, f func()) error {
	done := make(chan struct{})
	go func() { f(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
