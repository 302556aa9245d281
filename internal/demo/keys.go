package demo

import (
	"crypto/ed25519"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"wedge/sync/wire"
)

// demoKeys are the demo's application-layer signature keys, in DIR/keys, made on the first run
// and kept with a kept data directory: the hub's key pair (hub.key, hub.key.pub) and each agent's
// key (NAME.key), whose public key is registered for the hub in agents/{site}/{name}.pub, as IT
// would do it (docs/SECURITY.md).
type demoKeys struct {
	dir      string
	hub      ed25519.PrivateKey
	hubPub   string // the one-line form the agents pin in broker.hub_keys
	registry string
	agents   map[string]string // agent name → its key file
}

// makeKeys loads or creates the hub's key and the keys of agents of site.
func makeKeys(dataDir, site string, agents ...string) (*demoKeys, error) {
	k := &demoKeys{dir: filepath.Join(dataDir, "keys"), agents: map[string]string{}}
	k.registry = filepath.Join(k.dir, "agents")
	if err := os.MkdirAll(filepath.Join(k.registry, site), 0o750); err != nil {
		return nil, err
	}
	hubFile := filepath.Join(k.dir, "hub.key")
	if err := ensureKey(hubFile, hubFile+".pub"); err != nil {
		return nil, err
	}
	var err error
	if k.hub, err = wire.LoadPrivateKey(hubFile); err != nil {
		return nil, err
	}
	k.hubPub = wire.FormatPublicKey(k.hub.Public().(ed25519.PublicKey))
	for _, name := range agents {
		file := filepath.Join(k.dir, name+".key")
		if err := ensureKey(file, filepath.Join(k.registry, site, name+".pub")); err != nil {
			return nil, err
		}
		k.agents[name] = file
	}
	return k, nil
}

// ensureKey creates a key pair unless privPath exists.
func ensureKey(privPath, pubPath string) error {
	if _, err := os.Stat(privPath); !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	_, err := wire.CreateKeyFile(privPath, pubPath)
	return err
}
