package demo

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"wedge/agent/config"
	"wedge/internal/webauth/password"
	"wedge/order/waybill"
	"wedge/sync/wire"
)

func contract(t *testing.T, channel string) *regexp.Regexp {
	t.Helper()
	for _, c := range channelContracts {
		if c.Name == channel {
			return regexp.MustCompile(c.Pattern)
		}
	}
	t.Fatalf("channel %q has no contract", channel)
	return nil
}

func TestGeneratedOrdersFitTheContracts(t *testing.T) {
	g := newGen(1)
	now := time.Date(2026, 11, 11, 0, 5, 0, 0, time.UTC)
	seenCh, seenCarrier, waybills := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for i := 0; i < 2000; i++ {
		m := g.order(now, i%5 == 0, false)
		if err := m.Validate(); err != nil {
			t.Fatalf("order %d: %v: %+v", i, err, m)
		}
		if !contract(t, m.Channel).MatchString(m.ChannelOrderNo) {
			t.Fatalf("order %d: %s order no %q breaks the contract", i, m.Channel, m.ChannelOrderNo)
		}
		if err := waybill.Validate(m.Carrier, m.Waybill); err != nil {
			t.Fatalf("order %d: waybill: %v", i, err)
		}
		if c, ok := waybill.Detect(m.Waybill); !ok || c.Code != m.Carrier {
			t.Fatalf("order %d: %s detected as %q, want %s", i, m.Waybill, c.Code, m.Carrier)
		}
		if waybills[m.Waybill] {
			t.Fatalf("order %d: waybill %s repeated", i, m.Waybill)
		}
		waybills[m.Waybill] = true
		if err := waybill.Validate(m.Carrier, g.badWaybill(m.Waybill)); err == nil {
			t.Fatalf("damaged label %q passes for %s", g.badWaybill(m.Waybill), m.Carrier)
		}
		if !strings.Contains(m.Recipient, "**") || !strings.Contains(m.Recipient, "****") {
			t.Fatalf("recipient %q is not masked", m.Recipient)
		}
		if want := map[bool]string{true: "deposit", false: "full"}[i%5 == 0]; m.Payment != want {
			t.Fatalf("payment %q, want %q", m.Payment, want)
		}
		if len(m.SKUs) == 0 || m.BuyerID == "" {
			t.Fatalf("order %d without SKUs or buyer: %+v", i, m)
		}
		seenCh[m.Channel], seenCarrier[m.Carrier] = true, true
	}
	if len(seenCh) != len(channelContracts) || len(seenCarrier) != len(demoCarriers) {
		t.Fatalf("channels %v, carriers %v: not all used", seenCh, seenCarrier)
	}
}

func TestBadInputIsBad(t *testing.T) {
	g := newGen(2)
	now := time.Now()
	for i := 0; i < 500; i++ {
		m := g.order(now, false, true)
		if contract(t, m.Channel).MatchString(m.ChannelOrderNo) {
			t.Fatalf("contract-breaking order %q passes the %s contract", m.ChannelOrderNo, m.Channel)
		}
		if err := m.Validate(); err != nil { // only the contract is broken, not the wire format
			t.Fatalf("contract-breaking order is invalid on the wire: %v", err)
		}
		code := g.productBarcode()
		if _, ok := waybill.Detect(code); ok {
			t.Fatalf("product barcode %s looks like a waybill", code)
		}
		if regexp.MustCompile(`^OP-`).MatchString(code) || len(code) != 13 {
			t.Fatalf("product barcode %q", code)
		}
	}
	kinds := map[string]bool{}
	for i := 0; i < 60; i++ {
		body, what := g.malformedBody("sz01")
		kinds[what] = true
		if !refused(body) {
			t.Fatalf("malformed body (%s) would pass: %s", what, body)
		}
	}
	if len(kinds) != 3 {
		t.Fatalf("malformed kinds %v", kinds)
	}
	for i := 0; i < 30; i++ {
		p := g.malformedDownlink()
		msgs, bad, err := wire.ParseDownlink(p)
		if err == nil && (len(bad) == 0 || len(msgs) > 0) {
			t.Fatalf("malformed downlink %q parses: %v", p, msgs)
		}
	}
}

// refused reports whether the hub's rules refuse every message of body: the envelope is not JSON,
// or no element decodes into a valid message.
func refused(body string) bool {
	var env struct {
		Orders []json.RawMessage `json:"orders"`
	}
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		return true
	}
	for _, raw := range env.Orders {
		var m wire.OrderMsg
		if json.Unmarshal(raw, &m) == nil && m.Validate() == nil {
			return false
		}
	}
	return true
}

func TestAgentConfigsLoad(t *testing.T) {
	hash, err := password.Hash(ConsolePassword)
	if err != nil || !password.Check(hash, ConsolePassword) {
		t.Fatal(err)
	}
	pub, _, err := wire.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	hubPub := wire.FormatPublicKey(pub)
	for role, printerAddr := range map[string]string{"print": "127.0.0.1:9100", "handover": ""} {
		y := agentYAML("sz01", "pack01", role, "print-1", "scan-p1", "/dev/pts/9", printerAddr, "tcp://127.0.0.1:1883", "127.0.0.1:0", hash,
			hubPub, "/var/lib/demo/keys/pack01.key")
		c, err := config.Parse("pack01.yaml", []byte(y), nil)
		if err != nil {
			t.Fatalf("%s config does not load: %v\n%s", role, err, y)
		}
		if h := c.Console.Users[ConsoleUser]; h != hash { // the hash of the demo password (checked above)
			t.Fatalf("console user %s: hash %q, want %q", ConsoleUser, h, hash)
		}
		if keys, err := c.HubPublicKeys(); err != nil || len(keys) != 1 || wire.FormatPublicKey(keys[0]) != hubPub || c.SigningKeyFile() != "/var/lib/demo/keys/pack01.key" {
			t.Fatalf("signing: hub keys %v %v, signing key %q", keys, err, c.SigningKeyFile())
		}
		if c.Breaker.MaxBacklog != 200 {
			t.Fatalf("breaker %+v", c.Breaker)
		}
		if len(c.Stations) != 1 || c.Stations[0].Role != role || len(c.Devices) == 0 || c.Devices[0].Profile != Profile {
			t.Fatalf("config %+v", c)
		}
		switch {
		case printerAddr == "" && len(c.Devices) != 1:
			t.Fatalf("%s station without a printer has devices %+v", role, c.Devices)
		case printerAddr != "" && (len(c.Devices) != 2 || c.Devices[1].Kind != config.KindPrinter || c.Devices[1].Address != printerAddr ||
			c.Devices[1].Profile != PrinterProfile || c.Devices[1].Station != "print-1" || c.Devices[1].Transport != config.TransportTCP):
			t.Fatalf("%s station's printer: %+v", role, c.Devices)
		}
		for _, ch := range channelContracts {
			if err := c.CheckOrderNo(ch.Name, newGen(3).channelOrderNo(ch.Name, time.Now())); err != nil {
				t.Fatalf("the config's %s contract refuses a generated number: %v", ch.Name, err)
			}
			if err := c.CheckOrderNo(ch.Name, "2026XXXXX"); err == nil {
				t.Fatalf("the config's %s contract accepts a masked number", ch.Name)
			}
		}
	}
}
