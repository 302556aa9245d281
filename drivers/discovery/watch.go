package discovery

import (
	"slices"
	"strings"
	"sync"
	"time"

	"wedge/internal/logging"
)

// EventKind says what happened to a device.
type EventKind int

// Event kinds.
const (
	Added   EventKind = iota // first seen, or back after a removal
	Removed                  // absent for longer than the debounce
)

func (k EventKind) String() string {
	if k == Removed {
		return "removed"
	}
	return "added"
}

// Event is a debounced change.
type Event struct {
	Kind   EventKind
	Device Device
	At     time.Time
}

// State is one device's health as the watcher sees it.
type State struct {
	Device    Device    `json:"device"`
	Present   bool      `json:"present"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// Dropouts counts absences shorter than the debounce (not reported as removals).
	Dropouts uint64 `json:"dropouts"`
	// Reconnects counts returns after a reported removal.
	Reconnects uint64 `json:"reconnects"`
	LastError  string `json:"last_error,omitempty"`
}

type entry struct {
	st      State
	missing time.Time // zero while present
}

// Watcher re-scans every Interval on one owner goroutine and reports debounced plug/unplug
// events. Stop with Close.
type Watcher struct {
	o      Options
	events chan Event
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once

	mu      sync.Mutex
	devs    map[string]*entry
	scanErr string
}

// Watch starts a watcher. The first scan runs at once; devices present then are reported Added.
func Watch(opts *Options) *Watcher {
	w := &Watcher{o: opts.withDefaults(), events: make(chan Event, 64), stop: make(chan struct{}), done: make(chan struct{}), devs: map[string]*entry{}}
	go w.run()
	return w
}

// Events delivers debounced changes. The watcher waits for the reader when the buffer (64) is
// full, so no change is dropped; read it or Close the watcher.
func (w *Watcher) Events() <-chan Event { return w.events }

// Close stops the watcher and waits for it.
func (w *Watcher) Close() error {
	w.once.Do(func() { close(w.stop) })
	<-w.done
	return nil
}

// States returns every device seen (present or removed), sorted by key.
func (w *Watcher) States() []State {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]State, 0, len(w.devs))
	for _, e := range w.devs {
		out = append(out, e.st)
	}
	slices.SortFunc(out, func(a, b State) int { return strings.Compare(a.Device.Key, b.Device.Key) })
	return out
}

// Present returns the devices present now (debounced), sorted by key.
func (w *Watcher) Present() []Device {
	var out []Device
	for _, s := range w.States() {
		if s.Present {
			out = append(out, s.Device)
		}
	}
	return out
}

func (w *Watcher) run() {
	defer close(w.done)
	for {
		for _, ev := range w.scan() {
			select {
			case w.events <- ev:
			case <-w.stop:
				return
			}
		}
		t := w.o.Clock.NewTimer(w.o.Interval)
		select {
		case <-w.stop:
			t.Stop()
			return
		case <-t.C():
		}
	}
}

// scan enumerates once and returns the events it causes.
func (w *Watcher) scan() []Event {
	now := w.o.Clock.Now()
	devs, err := Scan(&w.o)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		if err.Error() != w.scanErr {
			w.o.Logger.Warn("device scan failed", logging.Err(err))
		}
		w.scanErr = err.Error()
	} else {
		w.scanErr = ""
	}
	var evs []Event
	seen := map[string]bool{}
	for _, d := range devs {
		seen[d.Key] = true
		e := w.devs[d.Key]
		switch {
		case e == nil:
			w.devs[d.Key] = &entry{st: State{Device: d, Present: true, FirstSeen: now, LastSeen: now}}
			evs = append(evs, Event{Kind: Added, Device: d, At: now})
		case !e.st.Present:
			e.st.Device, e.st.Present, e.st.LastSeen, e.missing = d, true, now, time.Time{}
			e.st.Reconnects++
			evs = append(evs, Event{Kind: Added, Device: d, At: now})
		default:
			if !e.missing.IsZero() {
				e.st.Dropouts++
				e.missing = time.Time{}
			}
			e.st.Device, e.st.LastSeen = d, now
		}
	}
	// a failed serial enumeration says nothing about serial ports: keep them as they were
	serialUnknown := err != nil
	for key, e := range w.devs {
		if seen[key] || !e.st.Present || (serialUnknown && e.st.Device.Transport == TransportSerial) {
			continue
		}
		if e.missing.IsZero() {
			e.missing = now
		}
		if now.Sub(e.missing) >= w.o.Debounce {
			e.st.Present = false
			e.missing = time.Time{}
			evs = append(evs, Event{Kind: Removed, Device: e.st.Device, At: now})
		}
	}
	slices.SortFunc(evs, func(a, b Event) int { return strings.Compare(a.Device.Key, b.Device.Key) })
	return evs
}
