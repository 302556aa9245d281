package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"wedge/agent/journal"
	"wedge/internal/pty"
	"wedge/sync/wire"
)

// wedgeBin is the wedge binary built once by TestMain (empty with -short).
var wedgeBin string

func TestMain(m *testing.M) {
	flag.Parse()
	var dir string
	if bin := os.Getenv("WEDGE_E2E_BIN"); bin != "" && !testing.Short() {
		// A prebuilt binary (e.g. built from a clean checkout while the tree is being edited).
		wedgeBin = bin
	} else if !testing.Short() && runtime.GOOS == "linux" {
		var err error
		dir, err = os.MkdirTemp("", "wedge-e2e-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			os.Exit(1)
		}
		wedgeBin = filepath.Join(dir, "wedge")
		root, err := moduleRoot()
		if err == nil {
			cmd := exec.Command("go", "build", "-race", "-o", wedgeBin, "./agent/cmd/wedge")
			cmd.Dir = root
			var out []byte
			out, err = cmd.CombinedOutput()
			if err != nil {
				err = fmt.Errorf("go build -race ./agent/cmd/wedge: %v\n%s", err, out)
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) {
		if dir != "" {
			os.RemoveAll(dir)
		}
	}))
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the wedge module")
	}
	return filepath.Dir(mod), nil
}

// needE2E skips in -short mode and where the tests cannot run.
func needE2E(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test with real processes; skipped with -short")
	}
	if runtime.GOOS != "linux" || wedgeBin == "" {
		t.Skip("end-to-end tests need Linux ptys")
	}
}

// waitFor polls cond until it holds; the deadline only bounds a hung test, it asserts no timing.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened within %s: %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// proc is one child process (hub or agent) whose stdout and stderr go to one log file.
type proc struct {
	t       *testing.T
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	state   *os.ProcessState
}

// start runs wedge with args; its output goes to logPath (appended: a restarted process keeps one log).
func start(t *testing.T, name, logPath string, args ...string) *proc {
	t.Helper()
	return startBin(t, wedgeBin, name, logPath, args...)
}

// startBin is start with another build of wedge (bin).
func startBin(t *testing.T, bin, name, logPath string, args ...string) *proc {
	t.Helper()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "=== e2e: start %s %s\n", name, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f // an *os.File: the child writes it directly, no copying goroutine
	cmd.Env = append(os.Environ(), "GORACE=halt_on_error=1 exitcode=66")
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	f.Close()
	p := &proc{t: t, name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		cmd.Wait() //nolint:errcheck // the exit state is read from ProcessState
		p.state = cmd.ProcessState
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if strings.Contains(p.log(), "WARNING: DATA RACE") {
			t.Errorf("%s (built with -race) reported a data race", name)
		}
		if t.Failed() {
			t.Logf("%s log (%s), last part:\n%s", name, logPath, p.tail())
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	if !p.exited() {
		p.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-p.done
}

// stop asks the process to stop (SIGTERM) and fails the test unless it exits 0 in time.
func (p *proc) stop() {
	p.t.Helper()
	if p.exited() {
		p.t.Fatalf("%s had already exited: %v\n%s", p.name, p.state, p.tail())
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(40 * time.Second):
		p.kill()
		p.t.Fatalf("%s did not stop within 40 s of SIGTERM\n%s", p.name, p.tail())
	}
	if !p.state.Success() {
		p.t.Fatalf("%s exited with %v\n%s", p.name, p.state, p.tail())
	}
}

func (p *proc) log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// tail is the end of the log, for failure messages.
func (p *proc) tail() string {
	s := p.log()
	if len(s) > 6000 {
		s = "…" + s[len(s)-6000:]
	}
	return s
}

// alive fails the test if the process exited (a crash, a race report, a fatal error).
func (p *proc) alive() {
	p.t.Helper()
	if p.exited() {
		p.t.Fatalf("%s exited unexpectedly: %v\n%s", p.name, p.state, p.tail())
	}
}

// addrFromLog waits for the last line that announces the HTTP address (re matches it in group 1)
// after the log had `after` bytes.
func (p *proc) addrFromLog(re *regexp.Regexp, after int) string {
	p.t.Helper()
	var addr string
	waitFor(p.t, 60*time.Second, p.name+" announces its HTTP address", func() bool {
		p.alive()
		s := p.log()
		if len(s) < after {
			return false
		}
		if m := re.FindAllStringSubmatch(s[after:], -1); m != nil {
			addr = m[len(m)-1][1]
			return true
		}
		return false
	})
	return addr
}

var (
	hubAddrRE   = regexp.MustCompile(`wedge hub: listening on http://(\S+),`)
	agentAddrRE = regexp.MustCompile(`running; API http://(\S+)`)
)

// ---- signing keys ----

// e2eKeys are the signature keys of one test directory: the hub's key pair, made by
// `wedge hub --new-signing-key`, and the agent key registry the hub reads (--agent-keys).
type e2eKeys struct {
	hubKey   string // the hub's private key file
	hubPub   string // its public key, one-line form, for the agents' broker.hub_keys
	registry string // DIR/{site}/{agent}.pub
}

// keysFor returns dir's keys, making them on first use.
func keysFor(t *testing.T, dir string) e2eKeys {
	t.Helper()
	k := e2eKeys{hubKey: filepath.Join(dir, "hub.key"), registry: filepath.Join(dir, "agent-keys")}
	if _, err := os.Stat(k.hubKey); err != nil {
		out, err := exec.Command(wedgeBin, "hub", "--new-signing-key", k.hubKey).CombinedOutput()
		if err != nil {
			t.Fatalf("wedge hub --new-signing-key: %v\n%s", err, out)
		}
		if err := os.MkdirAll(filepath.Join(k.registry, "sz01"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(k.hubKey + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	k.hubPub = strings.TrimSpace(string(b))
	return k
}

// hubSigner signs as the hub does (for tests that publish what only the hub may say).
func (k e2eKeys) hubSigner(t *testing.T) *wire.Signer {
	t.Helper()
	key, err := wire.LoadPrivateKey(k.hubKey)
	if err != nil {
		t.Fatal(err)
	}
	return wire.NewSigner(key)
}

// ---- the hub ----

type hubProc struct {
	*proc
	addr       string
	store      []string // --data DIR, or --store postgres://… (WEDGE_E2E_STORE=postgres)
	brokerArgs []string // --broker and, on the secure broker, its certificate
	token      string   // an admin token of the hub's API
	keys       e2eKeys
	config     string // hub.yaml passed with --config ("": none)
}

// startHub runs `wedge hub` on addr (fixed across restarts) with its store (hubStore) for dir,
// connecting to b as hub1 (with its certificate on the secure broker), signing with dir's hub key
// and believing agents' batches only with their keys in dir's registry. Its API token is made
// first, as an operator does before the first start: `wedge hub token create --data DIR` (or
// --store postgres://…).
func startHub(t *testing.T, dir string, b *e2eBroker, addr string) *hubProc {
	return startHubConfig(t, dir, b, addr, "")
}

// startHubConfig is startHub with a hub.yaml (config, "" for none) beside the flags.
func startHubConfig(t *testing.T, dir string, b *e2eBroker, addr, config string) *hubProc {
	h := &hubProc{addr: addr, brokerArgs: b.hubArgs(t), store: hubStore(t, dir), keys: keysFor(t, dir), config: config}
	var stderr bytes.Buffer
	cmd := exec.Command(wedgeBin, append([]string{"hub", "token", "create"}, append(h.store, "--name", "e2e", "--scope", "admin")...)...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("wedge hub token create: %v\n%s", err, stderr.Bytes())
	}
	h.token = strings.TrimSpace(string(out))
	h.run(t, filepath.Join(dir, "hub.log"))
	t.Cleanup(func() {
		if t.Failed() && !h.exited() {
			t.Logf("hub state at the failure: %s", h.describe())
		}
	})
	hubsMu.Lock()
	hubs[dir] = h
	hubsMu.Unlock()
	t.Cleanup(func() {
		hubsMu.Lock()
		delete(hubs, dir)
		hubsMu.Unlock()
	})
	return h
}

// hubs are the running hubs by test directory, so that registering an agent's key can tell the
// hub to read its registry again.
var (
	hubsMu sync.Mutex
	hubs   = map[string]*hubProc{}
)

// registerAgent writes name's public key into dir's registry and, when a hub runs for dir, has it
// read the registry again (SIGHUP, as IT would) and waits until it did.
func registerAgent(t *testing.T, dir, name string, pub []byte) {
	t.Helper()
	k := keysFor(t, dir)
	hubsMu.Lock()
	h := hubs[dir]
	hubsMu.Unlock()
	before := 0
	if h != nil {
		before = strings.Count(h.log(), reloadedLine)
	}
	if err := os.WriteFile(filepath.Join(k.registry, "sz01", name+".pub"), pub, 0o644); err != nil {
		t.Fatal(err)
	}
	if h == nil {
		return
	}
	h.alive()
	h.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, 30*time.Second, "the hub reads its agent key registry again", func() bool {
		h.alive()
		return strings.Count(h.log(), reloadedLine) > before
	})
}

// reloadedLine is what the hub logs when the agent key registry changed.
const reloadedLine = "agent key registry reloaded"

func (h *hubProc) run(t *testing.T, logPath string) {
	before := 0
	if b, err := os.ReadFile(logPath); err == nil {
		before = len(b)
	}
	args := []string{"hub"}
	if h.config != "" {
		args = append(args, "--config", h.config)
	}
	args = append(args, h.brokerArgs...)
	args = append(append(args, h.store...), "--listen", h.addr, "--client-id", "wedge-hub-e2e",
		"--signing-key", h.keys.hubKey, "--agent-keys", h.keys.registry)
	h.proc = start(t, "hub", logPath, args...)
	h.addrFromLog(hubAddrRE, before)
}

// restart kills the hub (SIGKILL: it must not depend on a clean stop) and starts it again.
func (h *hubProc) restart(t *testing.T) {
	h.kill()
	h.run(t, h.logPath)
}

func (h *hubProc) url(path string) string { return "http://" + h.addr + path }

// describe is the hub's counters and agents as its API reports them, for a failure message.
func (h *hubProc) describe() string {
	var stats, agents json.RawMessage
	_, err1 := getJSONAuth(h.url("/v1/stats"), h.token, &stats)
	_, err2 := getJSONAuth(h.url("/v1/agents"), h.token, &agents)
	return fmt.Sprintf("stats %s (%v)\nagents %s (%v)", stats, err1, agents, err2)
}

func (h *hubProc) dispatch(t *testing.T, site string, orders []wire.OrderMsg) {
	t.Helper()
	body, _ := json.Marshal(wire.OrdersRequest{Site: site, Orders: orders})
	req, _ := http.NewRequest(http.MethodPost, h.url("/v1/orders"), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+h.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /v1/orders: %v", err)
	}
	defer resp.Body.Close()
	var out struct {
		Accepted int               `json:"accepted"`
		Errors   []json.RawMessage `json:"errors"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 || out.Accepted != len(orders) {
		t.Fatalf("POST /v1/orders: %d %v accepted %d of %d, errors %s", resp.StatusCode, err, out.Accepted, len(orders), out.Errors)
	}
}

// hubEntry is one entry of an order's history at the hub.
type hubEntry struct {
	wire.Entry
	Site  string `json:"site"`
	Agent string `json:"agent"`
}

type hubOrder struct {
	OrderID string     `json:"order_id"`
	State   string     `json:"state"`
	Waybill string     `json:"waybill"`
	Carrier string     `json:"carrier"`
	History []hubEntry `json:"history"`
}

// order returns the hub's view of an order (ok false on 404 or when the hub is unreachable).
func (h *hubProc) order(id string) (hubOrder, bool) {
	var o hubOrder
	code, err := getJSONAuth(h.url("/v1/orders/"+id), h.token, &o)
	return o, err == nil && code == 200
}

type hubAgent struct {
	Site      string `json:"site"`
	Agent     string `json:"agent"`
	JournalID string `json:"journal_id"`
	AckedSeq  uint64 `json:"acked_seq"`
	Online    bool   `json:"online"`
	// The shared-settings hash the agent reports, the hub overrides beside it, and whether PCs of
	// the site disagree.
	SettingsHash      string `json:"settings_hash"`
	SettingsOverrides string `json:"settings_overrides"`
	SettingsDiffer    bool   `json:"settings_differ"`
}

// agents returns /v1/agents by agent name.
func (h *hubProc) agents() map[string]hubAgent {
	var list []hubAgent
	if code, err := getJSONAuth(h.url("/v1/agents"), h.token, &list); err != nil || code != 200 {
		return nil
	}
	m := map[string]hubAgent{}
	for _, a := range list {
		m[a.Agent] = a
	}
	return m
}

type hubStats struct {
	EventsIngested    uint64         `json:"events_ingested"`
	DuplicatesDropped uint64         `json:"duplicates_dropped"`
	Conflicts         uint64         `json:"conflicts"`
	ChainBreaks       uint64         `json:"chain_breaks"`
	Unverified        uint64         `json:"unverified"`
	SignatureRefused  uint64         `json:"signature_refused"`
	OrdersPerState    map[string]int `json:"orders_per_state"`
}

func (h *hubProc) stats(t *testing.T) hubStats {
	t.Helper()
	var s hubStats
	if code, err := getJSONAuth(h.url("/v1/stats"), h.token, &s); err != nil || code != 200 {
		t.Fatalf("GET /v1/stats: %d %v", code, err)
	}
	return s
}

// checkStats fails unless the hub stored exactly entries distinct entries, with no conflicting
// duplicate, no broken chain link and nothing unverified (every batch signed by its agent).
func (h *hubProc) checkStats(t *testing.T, entries uint64) {
	t.Helper()
	s := h.stats(t)
	if s.EventsIngested != entries || s.Conflicts != 0 || s.ChainBreaks != 0 || s.Unverified != 0 {
		t.Errorf("hub stats %+v, want %d entries ingested, no conflicts, no chain breaks, nothing unverified", s, entries)
	}
	t.Logf("hub: %d entries ingested, %d duplicates dropped", s.EventsIngested, s.DuplicatesDropped)
}

func getJSON(url string, v any) (int, error) { return getJSONAuth(url, "", v) }

// getJSONAuth is getJSON with a bearer token ("" for none).
func getJSONAuth(url, token string, v any) (int, error) {
	c := http.Client{Timeout: 10 * time.Second}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	return resp.StatusCode, json.NewDecoder(resp.Body).Decode(v)
}

// ---- agents ----

type stationSpec struct {
	name, role string
	pty        *pty.Pair // its scanner's device side
}

type agentProc struct {
	*proc
	name, dir, cfgPath, data, addr string
}

// newAgent writes the agent's config (site sz01, one serial scanner per station, profile
// generic-serial-cr, pinning dir's hub key, with its own certificate on the secure broker) into
// dir/<name>/, makes its signing key (data/agent.key) and registers it for the hub, and starts it.
func newAgent(t *testing.T, dir, name string, b *e2eBroker, stations ...stationSpec) *agentProc {
	t.Helper()
	return newAgentWith(t, dir, name, b, true, stations...)
}

// newAgentWith is newAgent; without register the agent makes its own key on first start and
// nobody registers it at the hub.
func newAgentWith(t *testing.T, dir, name string, b *e2eBroker, register bool, stations ...stationSpec) *agentProc {
	t.Helper()
	var st, dev strings.Builder
	for i, s := range stations {
		fmt.Fprintf(&st, "  - {name: %s, role: %s}\n", s.name, s.role)
		fmt.Fprintf(&dev, "  - {name: scan-%d, kind: scanner, station: %s, transport: serial, port: %s, profile: generic-serial-cr}\n", i+1, s.name, s.pty.Name)
	}
	return writeAgent(t, dir, name, b, register, busyAgent+"stations:\n"+st.String()+"devices:\n"+dev.String())
}

// busyAgent is the config most e2e agents share: a tmall contract, and the backlog breaker out of
// the way (these tests dispatch hundreds of orders at once).
const busyAgent = `channels:
  tmall: {order_no_pattern: "^\\d{12,20}$"}
breaker: {max_backlog: 100000, max_avg_wait: 24h}
`

// writeAgent writes dir/<name>/wedge.yaml: site sz01, the data dir, the broker section pinning
// dir's hub key, the API, then body; with register it makes the agent's signing key and registers
// it at the hub (without, the agent makes its own on first start and nobody registers it). It
// starts `wedge run` on it.
func writeAgent(t *testing.T, dir, name string, b *e2eBroker, register bool, body string) *agentProc {
	t.Helper()
	keys := keysFor(t, dir)
	a := &agentProc{name: name, dir: filepath.Join(dir, name)}
	a.data = filepath.Join(a.dir, "data")
	a.cfgPath = filepath.Join(a.dir, "wedge.yaml")
	if err := os.MkdirAll(a.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if register {
		pub, err := wire.CreateKeyFile(filepath.Join(a.data, "agent.key"), filepath.Join(a.data, "agent.pub"))
		if err != nil {
			t.Fatal(err)
		}
		registerAgent(t, dir, name, []byte(wire.FormatPublicKey(pub)+"\n"))
	}
	cfg := fmt.Sprintf("site: sz01\nagent: %s\ndata_dir: %s\nbroker: %s\napi: {listen: \"127.0.0.1:0\", token: \"e2e-token\"}\n%s",
		name, a.data, b.agentBroker(t, name, keys.hubPub), body)
	if err := os.WriteFile(a.cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	a.run(t)
	return a
}

// run starts (or restarts) the agent process and waits until its API answers.
func (a *agentProc) run(t *testing.T) {
	t.Helper()
	logPath := filepath.Join(a.dir, "agent.log")
	before := 0
	if b, err := os.ReadFile(logPath); err == nil {
		before = len(b)
	}
	a.proc = start(t, a.name, logPath, "run", "--config", a.cfgPath)
	a.addr = a.addrFromLog(agentAddrRE, before)
}

type agentStatus struct {
	JournalID       string `json:"journal_id"`
	LastSeq         uint64 `json:"last_seq"`
	AckedSeq        uint64 `json:"acked_seq"`
	Unsynced        uint64 `json:"unsynced"`
	BrokerConnected bool   `json:"broker_connected"`
	Pickup          string `json:"pickup"`
	Devices         []struct {
		Name   string `json:"name"`
		Health struct {
			Connected bool `json:"connected"`
		} `json:"health"`
	} `json:"devices"`
}

func (a *agentProc) status(t *testing.T) agentStatus {
	t.Helper()
	a.alive()
	var s agentStatus
	if code, err := getJSON("http://"+a.addr+"/api/v1/status", &s); err != nil || code != 200 {
		t.Fatalf("%s GET /api/v1/status: %d %v", a.name, code, err)
	}
	return s
}

// devicesConnected reports whether every scanner has its port open.
func (a *agentProc) devicesConnected(t *testing.T) bool {
	s := a.status(t)
	for _, d := range s.Devices {
		if !d.Health.Connected {
			return false
		}
	}
	return len(s.Devices) > 0
}

type agentOrder struct {
	Order struct {
		ID      string `json:"order_id"`
		State   string `json:"state"`
		Waybill string `json:"waybill"`
	} `json:"order"`
	History []wire.Entry `json:"history"`
}

// orderState returns the order's state as the agent's API shows it ("" when unknown).
func (a *agentProc) orderState(t *testing.T, id string) string {
	t.Helper()
	a.alive()
	var o agentOrder
	if code, err := getJSON("http://"+a.addr+"/api/v1/orders/"+id, &o); err != nil || code != 200 {
		return ""
	}
	return o.Order.State
}

// drained waits until the agent's journal is fully acked, as the agent and the hub both see it.
func (a *agentProc) drained(t *testing.T, h *hubProc, timeout time.Duration) uint64 {
	t.Helper()
	var last uint64
	waitFor(t, timeout, a.name+" drained (acked == last seq at the agent and the hub)", func() bool {
		s := a.status(t)
		last = s.LastSeq
		ha, ok := h.agents()[a.name]
		return s.AckedSeq == s.LastSeq && ok && ha.AckedSeq == s.LastSeq && ha.JournalID == s.JournalID
	})
	return last
}

// verify runs `wedge journal verify --data` on the stopped agent's data directory.
func (a *agentProc) verify(t *testing.T) {
	t.Helper()
	out, err := exec.Command(wedgeBin, "journal", "verify", "--data", a.data).CombinedOutput()
	if err != nil {
		t.Fatalf("wedge journal verify --data %s: %v\n%s", a.data, err, out)
	}
}

// entries reads the stopped agent's journal file.
func (a *agentProc) entries(t *testing.T) []wire.Entry {
	t.Helper()
	st, err := journal.Open(filepath.Join(a.data, "wedge.db"), &journal.Options{Site: "sz01", Agent: a.name})
	if err != nil {
		t.Fatalf("open %s journal: %v", a.name, err)
	}
	defer st.Close()
	var all []wire.Entry
	var after uint64
	for {
		es, err := st.Entries(after, 1000, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 0 {
			return all
		}
		all = append(all, es...)
		after = es[len(es)-1].Seq
	}
}

// outcome is one "outcome" record the agent logs after a station result committed.
type outcome struct {
	station, code, result, kind, order, reason string
	seq                                        uint64
}

// outcomes parses every outcome record in the agent's log (all its runs).
func (a *agentProc) outcomes(t *testing.T) []outcome {
	t.Helper()
	var out []outcome
	sc := bufio.NewScanner(strings.NewReader(a.log()))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if !strings.Contains(sc.Text(), " msg=outcome ") {
			continue
		}
		kv, err := logRecord(sc.Text())
		if err != nil || kv["msg"] != "outcome" {
			t.Fatalf("bad outcome line %q: %v", sc.Text(), err)
		}
		seq, err := strconv.ParseUint(kv["seq"], 10, 64)
		if err != nil {
			t.Fatalf("bad outcome line %q: %v", sc.Text(), err)
		}
		out = append(out, outcome{station: kv["station"], code: kv["code"], result: kv["result"], kind: kv["kind"],
			order: kv["order"], reason: kv["reason"], seq: seq})
	}
	return out
}

// logRecord splits a log/slog text record (key=value pairs separated by spaces, a value either
// bare or a Go-quoted string) into its attributes.
func logRecord(line string) (map[string]string, error) {
	kv := map[string]string{}
	for rest := strings.TrimSpace(line); rest != ""; rest = strings.TrimLeft(rest, " ") {
		k, v, ok := strings.Cut(rest, "=")
		if !ok || k == "" || strings.Contains(k, " ") {
			return nil, fmt.Errorf("no key=value at %q", rest)
		}
		if strings.HasPrefix(v, `"`) {
			q, err := strconv.QuotedPrefix(v)
			if err != nil {
				return nil, fmt.Errorf("key %s: %w", k, err)
			}
			if kv[k], err = strconv.Unquote(q); err != nil {
				return nil, fmt.Errorf("key %s: %w", k, err)
			}
			rest = v[len(q):]
			continue
		}
		val, tail, _ := strings.Cut(v, " ")
		kv[k], rest = val, tail
	}
	return kv, nil
}

// ---- orders and scans ----

// makeOrders returns n tmall orders PREFIX-0001… with SF waybills assigned by the hub.
func makeOrders(prefix string, n int) []wire.OrderMsg {
	out := make([]wire.OrderMsg, n)
	for i := range out {
		out[i] = wire.OrderMsg{Type: wire.TypeOrder, OrderID: orderID(prefix, i), Channel: "tmall",
			ChannelOrderNo: fmt.Sprintf("4%014d", hashish(prefix)*10000+i), BuyerID: fmt.Sprintf("buyer-%d", i),
			OrderedAt: "2026-11-25T07:00:00Z", PaidAt: "2026-11-25T07:01:00Z", SKUs: []string{"SKU-1", fmt.Sprintf("SKU-%d", i%7)},
			Payment: "full", Carrier: "sf", Waybill: waybillFor(prefix, i)}
	}
	return out
}

func orderID(prefix string, i int) string { return fmt.Sprintf("%s-%04d", prefix, i+1) }

func waybillFor(prefix string, i int) string {
	return fmt.Sprintf("SF1%06d%06d", hashish(prefix), i+1)
}

// hashish turns a prefix into a small stable number, so different tests use different numbers.
func hashish(s string) int {
	n := 0
	for _, c := range s {
		n = (n*31 + int(c)) % 999983
	}
	return n
}

// scan writes barcodes to a scanner's device side, each with the CR terminator.
func scan(t *testing.T, p *pty.Pair, codes ...string) {
	t.Helper()
	for _, c := range codes {
		if _, err := p.Write([]byte(c + "\r")); err != nil {
			t.Fatalf("write to %s: %v", p.Name, err)
		}
	}
}

func openPty(t *testing.T) *pty.Pair {
	t.Helper()
	p, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// steps lists the hub history's step entries as "from→to@agent".
func steps(o hubOrder) []string {
	var s []string
	for _, e := range o.History {
		if e.Kind == wire.KindStep {
			s = append(s, e.From+"→"+e.To+"@"+e.Agent)
		}
	}
	return s
}

// checkPerAgentOrder fails if, in a hub history, one agent's seqs are not strictly increasing.
func checkPerAgentOrder(t *testing.T, o hubOrder) {
	t.Helper()
	last := map[string]uint64{}
	for _, e := range o.History {
		k := e.Agent + "/" + e.JournalID
		if e.Seq <= last[k] {
			t.Errorf("order %s: hub history has %s seq %d after seq %d", o.OrderID, e.Agent, e.Seq, last[k])
		}
		last[k] = e.Seq
	}
}

func sortedKeys[V any](m map[string]V) []string {
	k := make([]string, 0, len(m))
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}
