package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"wedge/agent/config"
	"wedge/sync/wire"
)

// Hub keys come from broker.hub_keys and broker.hub_keys_file (paths beside the config file); a
// key that cannot be read is reported at its line; without any key the agent must not start unless
// broker.accept_unsigned is set; the agent's own key defaults to data_dir/agent.key.
func TestSigningConfig(t *testing.T) {
	dir := t.TempDir()
	a, _, _ := wire.GenerateKey()
	b, _, _ := wire.GenerateKey()
	if err := os.WriteFile(filepath.Join(dir, "hub.pub"), []byte("# rotated\n"+wire.FormatPublicKey(b)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	write := func(yaml string) string {
		p := filepath.Join(dir, "wedge.yaml")
		if err := os.WriteFile(p, []byte("site: s\nagent: a\n"+yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	c, err := config.Load(write("broker:\n  hub_keys: [\""+wire.FormatPublicKey(a)+"\"]\n  hub_keys_file: hub.pub\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := c.HubPublicKeys()
	if err != nil || len(keys) != 2 || !keys[0].Equal(a) || !keys[1].Equal(b) {
		t.Fatalf("hub keys %v %v", keys, err)
	}
	if c.SigningKeyFile() != filepath.Join(dir, "data", "agent.key") || c.PublicKeyFile() != filepath.Join(dir, "data", "agent.pub") || c.Broker.AcceptUnsigned {
		t.Fatalf("signing key %q pub %q accept %v", c.SigningKeyFile(), c.PublicKeyFile(), c.Broker.AcceptUnsigned)
	}

	c, err = config.Load(write("signing_key: keys/pc.key\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.HubPublicKeys(); !errors.Is(err, config.ErrNoHubKey) || !strings.Contains(err.Error(), "未配置中心公钥") {
		t.Fatalf("no hub key: %v", err)
	}
	if c.SigningKeyFile() != filepath.Join(dir, "keys", "pc.key") || c.PublicKeyFile() != filepath.Join(dir, "keys", "pc.pub") {
		t.Fatalf("signing key %q", c.SigningKeyFile())
	}
	c, err = config.Load(write("broker: {accept_unsigned: true}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if keys, err := c.HubPublicKeys(); err != nil || len(keys) != 0 {
		t.Fatalf("accept_unsigned: %v %v", keys, err)
	}

	_, err = config.Parse("t.yaml", []byte("site: s\nagent: a\nbroker:\n  hub_keys:\n    - ed25519:AAAA\n"), nil)
	if err == nil || !strings.Contains(err.Error(), `t.yaml:5: broker.hub_keys[0]: "ed25519:AAAA" is not a hub public key`) {
		t.Fatalf("bad key: %v", err)
	}
	c, err = config.Load(write("broker: {hub_keys_file: missing.pub}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.HubPublicKeys(); err == nil || !strings.Contains(err.Error(), "hub_keys_file") {
		t.Fatalf("missing file: %v", err)
	}
}
