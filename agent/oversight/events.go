package oversight

import (
	"sync"

	"wedge/agent/console"
	"wedge/agent/metrics"
	"wedge/agent/printing"
	"wedge/agent/station"
	"wedge/internal/clock"
	"wedge/order"
	"wedge/sync/wire"
)

// Events takes what happens on the floor to the console and the metrics: committed station results
// (the live scan feed and the scan and step counters), printer faults and device plug/unplug
// (popups). None of its methods blocks; they are safe for concurrent use.
type Events struct {
	con  *console.Console
	m    *metrics.Metrics
	clk  clock.Clock
	kick func() // asks for an observation of the backlog

	mu    sync.Mutex
	devUp map[string]bool // last known health by device name
}

// OnResult takes every committed station result (agent station OnResult hook): the live scan
// feed, the scan and step metrics, and a Kick.
func (e *Events) OnResult(r station.Result) {
	if r.Err != nil {
		return
	}
	res := "accepted"
	switch r.Outcome.Result {
	case order.AlreadyDone:
		res = "already_done"
	case order.Recorded:
		res = "recorded" // a handover under carrier_first_scan: the message says it waits for the courier
	case order.Rejected:
		res = "rejected"
	}
	at := r.At
	if at.IsZero() {
		at = e.clk.Now()
	}
	e.con.Publish(console.ScanEvent(console.Scan{At: at, Station: r.Station, Device: r.Device, Operator: r.Operator,
		Code: r.Code, OrderID: r.Entry.OrderID, Result: res, Reason: r.Outcome.Reason, Message: r.Message}))
	if r.Entry.Trigger == wire.TriggerManual {
		if r.Outcome.Result == order.Rejected {
			e.m.Reject(r.Outcome.Reason) // a manual confirmation is not a scan
		}
	} else {
		e.m.Scan(r.Station, r.Outcome.Result, r.Outcome.Reason)
	}
	if r.Entry.Kind == wire.KindStep {
		e.m.Step(order.State(r.Entry.From), order.State(r.Entry.To), r.Entry.Trigger)
	}
	e.kick()
}

// PrinterFault shows a printer fault popup on every console (the printers' event hook).
func (e *Events) PrinterFault(printer, detail string) {
	e.con.Publish(console.AlertEvent(console.PrinterFaultAlert(e.clk.Now(), printer, detail)))
}

// PrinterEvent takes agent/printing's events (printing.Options.OnEvent): a fault raises a printer
// fault popup on every console; a cleared fault only refreshes the board.
func (e *Events) PrinterEvent(ev printing.Event) {
	if ev.Cleared {
		e.con.Refresh()
		return
	}
	name := ev.Printer
	if ev.Station != "" {
		name += " @ " + ev.Station
	}
	detail := ev.Message.ZH + " / " + ev.Message.EN
	if ev.OrderID != "" {
		detail += " (order " + ev.OrderID + ")"
	}
	a := console.PrinterFaultAlert(ev.At, name, detail)
	if a.At.IsZero() {
		a.At = e.clk.Now()
	}
	e.con.Publish(console.AlertEvent(a))
}

// DeviceEvent takes a debounced plug/unplug event (agent.Deps.OnDeviceEvent): an unplug raises one
// unplugged popup (the periodic device poll will not raise a second for the same change), and the
// board is refreshed.
func (e *Events) DeviceEvent(kind, name string, plugged bool) {
	e.mu.Lock()
	was, seen := e.devUp[name]
	e.devUp[name] = plugged
	e.mu.Unlock()
	if !plugged && (was || !seen) {
		e.unplugged(kind, name)
	}
	e.m.SetDevice(name, kind, plugged)
	e.con.Refresh()
}

// devices takes a poll of the devices' health: a device seen up before and down now raises an
// unplugged popup; every device's health goes to the metrics.
func (e *Events) devices(devs []console.Device) {
	var gone []console.Device
	e.mu.Lock()
	for _, d := range devs {
		if was, ok := e.devUp[d.Name]; ok && was && !d.Up {
			gone = append(gone, d)
		}
		e.devUp[d.Name] = d.Up
	}
	e.mu.Unlock()
	for _, d := range gone {
		e.unplugged(d.Kind, d.Name)
	}
	for _, d := range devs {
		e.m.SetDevice(d.Name, d.Kind, d.Up)
	}
}

// unplugged shows an unplugged-device popup on every console.
func (e *Events) unplugged(kind, name string) {
	e.con.Publish(console.AlertEvent(console.UnpluggedAlert(e.clk.Now(), kind, name)))
}
