package devices_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"wedge/agent/api"
	"wedge/agent/config"
	"wedge/agent/devices"
	"wedge/agent/intake"
	"wedge/agent/journal"
	"wedge/agent/station"
	"wedge/drivers/discovery"
	"wedge/internal/clock"
	"wedge/internal/pty"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The rig the package's tests share: a real journal, a print station on it, an intake to add
// orders, and the devices under test reading into the station. No broker, uplink or API: what the
// agent adds on top of this is tested in package agent.

// eventually polls cond until it holds or the deadline passes. It asserts an outcome, not a timing:
// the deadline only bounds a hung test.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// recorder collects what the devices and the station report through their hooks.
type recorder struct {
	mu      sync.Mutex
	results []station.Result
	events  []devices.Event
	logs    bytes.Buffer
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.logs.Write(p)
}

func (r *recorder) result(res station.Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.results = append(r.results, res)
}

func (r *recorder) event(ev devices.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

func (r *recorder) Results() []station.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.results)
}

func (r *recorder) Events() []devices.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// rig is the devices under test with the station they read into.
type rig struct {
	dev *devices.Devices
	in  *intake.Intake
	rec *recorder
}

// startDevices starts the devices given (YAML list items) for a print station print-1 on clk (nil:
// the real clock); opts carries the seams. Everything is stopped in t's cleanup.
func startDevices(t testing.TB, clk clock.Clock, devs string, opts devices.Options) *rig {
	t.Helper()
	dir := t.TempDir()
	profiles, err := devices.LoadProfiles("")
	if err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf("site: sz01\nagent: pack01\ndata_dir: %s\nbroker: {url: \"tcp://127.0.0.1:1\"}\napi: {listen: \"off\"}\n"+
		"stations:\n  - {name: print-1, role: print}\ndevices:\n%s", filepath.Join(dir, "data"), devs)
	path := filepath.Join(dir, "wedge.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, &config.Options{
		ProfileKind:       func(id string) (string, bool) { p, ok := profiles[id]; return p.Kind, ok },
		ProfileTransports: func(id string) []string { return devices.ProfileTransports(profiles[id]) },
	})
	if err != nil {
		t.Fatal(err)
	}
	store, err := journal.Open(filepath.Join(dir, "wedge.db"), &journal.Options{Site: cfg.Site, Agent: cfg.Agent, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	log := slog.New(slog.NewTextHandler(rec, &slog.HandlerOptions{Level: slog.LevelDebug}))
	in, err := intake.New(context.Background(), store, intake.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	opts.Config, opts.Profiles, opts.Store, opts.Clock, opts.Logger = cfg, profiles, store, clk, log
	opts.OnEvent = append(opts.OnEvent, rec.event)
	if opts.SerialPorts == nil {
		opts.SerialPorts = func() ([]discovery.Port, error) { return nil, nil }
	}
	dev := devices.New(opts)
	s := cfg.Stations[0]
	st := station.New(station.Config{Name: s.Name, Role: s.Role, OperatorPattern: cfg.OperatorRE(), PairWindow: cfg.PairWindow.D()},
		store, station.Options{Clock: clk, OnResult: rec.result, Printing: dev.Printing(s.Name)})
	dev.Start([]devices.Station{st})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := dev.StopInputs(ctx); err != nil {
			t.Errorf("stop inputs: %v", err)
		}
		st.Close()
		if err := dev.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if err := store.Close(); err != nil {
			t.Errorf("journal: %v", err)
		}
		if t.Failed() {
			rec.mu.Lock()
			t.Log("log:\n" + rec.logs.String())
			rec.mu.Unlock()
		}
	})
	return &rig{dev: dev, in: in, rec: rec}
}

// addOrder puts an order for the print station in the journal, as the downlink would.
func (r *rig) addOrder(t *testing.T, id, channelNo string) {
	t.Helper()
	p := fmt.Sprintf(`{"type":"order","order_id":%q,"channel":"jd","channel_order_no":%q,"buyer_id":"b","ordered_at":"2026-11-11T00:00:00Z","skus":["S1"],"carrier":"zto"}`, id, channelNo)
	if err := r.in.Apply(context.Background(), []byte(p)); err != nil {
		t.Fatal(err)
	}
}

// only is the one configured device's line in the list (the status the agent serves).
func (r *rig) only(t *testing.T) api.Device {
	t.Helper()
	list := r.dev.List()
	if len(list) != 1 {
		t.Fatalf("list: %+v", list)
	}
	return list[0]
}

// openPTYs opens n pseudo-terminals, closed in t's cleanup. Without pty support the test is skipped.
func openPTYs(t testing.TB, n int) []*pty.Pair {
	t.Helper()
	ps := make([]*pty.Pair, n)
	for i := range ps {
		p, err := pty.Open()
		if err != nil {
			if i == 0 {
				t.Skipf("no pty: %v", err)
			}
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		ps[i] = p
	}
	return ps
}
