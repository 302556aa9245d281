package config

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"wedge/sync/wire"
)

// Application-layer signatures (docs/SECURITY.md): the hub's public keys the agent pins
// (broker.hub_keys, broker.hub_keys_file), whether it also takes unsigned hub messages
// (broker.accept_unsigned, default false), and the agent's own signing key (signing_key, default
// {data_dir}/agent.key, created on first start).

// DefaultSigningKeyFile is the agent key's file name in data_dir when signing_key is not set.
const DefaultSigningKeyFile = "agent.key"

// ErrNoHubKey means no hub key is configured while unsigned hub messages are not accepted.
var ErrNoHubKey = errors.New("未配置中心公钥 (broker.hub_keys 或 broker.hub_keys_file)，拒绝启动 / " +
	"no hub public key (broker.hub_keys or broker.hub_keys_file): refusing to start, because anyone who can publish " +
	"to the broker could then ack, command and send orders to this agent; set broker.accept_unsigned: true only where that is acceptable")

// Signing is the part of Broker about signatures.
type Signing struct {
	// HubKeys are the hub's public keys, "ed25519:BASE64" (wedge hub --new-signing-key prints it);
	// several while the hub's key rotates.
	HubKeys []string `yaml:"hub_keys"`
	// HubKeysFile holds more hub keys, one per line or as PEM blocks.
	HubKeysFile string `yaml:"hub_keys_file"`
	// AcceptUnsigned also takes unsigned acks, commands and orders (default false: refused).
	AcceptUnsigned bool `yaml:"accept_unsigned"`
}

// validateSigning checks that every hub key in the file can be read (hub_keys_file is read when the
// agent starts).
func (c *Config) validateSigning(v *validator) {
	for i, k := range c.Broker.HubKeys {
		if _, err := wire.ParsePublicKey([]byte(k)); err != nil {
			v.failf([]any{"broker", "hub_keys", i}, "%q is not a hub public key: want \"ed25519:BASE64\" as `wedge hub --new-signing-key` prints it", k)
		}
	}
}

// HubPublicKeys returns the pinned hub keys: broker.hub_keys and those in broker.hub_keys_file.
// It fails with ErrNoHubKey when there is none and broker.accept_unsigned is false.
func (c *Config) HubPublicKeys() ([]ed25519.PublicKey, error) {
	var out []ed25519.PublicKey
	for _, k := range c.Broker.HubKeys {
		pub, err := wire.ParsePublicKey([]byte(k))
		if err != nil {
			return nil, fmt.Errorf("broker.hub_keys: %w", err)
		}
		out = append(out, pub)
	}
	if c.Broker.HubKeysFile != "" {
		b, err := os.ReadFile(c.Broker.HubKeysFile)
		if err != nil {
			return nil, fmt.Errorf("broker.hub_keys_file: %w", err)
		}
		ks, err := wire.ParsePublicKeys(b)
		if err != nil {
			return nil, fmt.Errorf("broker.hub_keys_file %s: %w", c.Broker.HubKeysFile, err)
		}
		out = append(out, ks...)
	}
	if len(out) == 0 && !c.Broker.AcceptUnsigned {
		return nil, ErrNoHubKey
	}
	return out, nil
}

// SigningKeyFile is the agent's private key file: signing_key, or agent.key in data_dir.
func (c *Config) SigningKeyFile() string {
	if c.SigningKey != "" {
		return c.SigningKey
	}
	return filepath.Join(c.DataDir, DefaultSigningKeyFile)
}

// PublicKeyFile is where the agent writes its public key for IT to register at the hub: the
// signing key's path with .pub instead of .key (data_dir/agent.pub by default).
func (c *Config) PublicKeyFile() string {
	return strings.TrimSuffix(c.SigningKeyFile(), ".key") + ".pub"
}
