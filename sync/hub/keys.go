package hub

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"wedge/internal/logging"
	"wedge/sync/wire"
)

// Application-layer signatures. MQTT does not tell a subscriber who published, so the hub signs
// what only it may say (downlink, acks, commands, catch-up replays) with Options.SigningKey, and
// believes an agent's batch only when it is signed by the key registered for that agent in
// Options.AgentKeysDir.

// Agent key registry reload intervals: the whole directory is read again every keysReload, on
// ReloadAgentKeys (SIGHUP in `wedge hub`), and at most every keysMissReload when a batch comes
// signed by a key the registry does not hold for its agent, so a PC that IT has just registered is
// believed within seconds.
const (
	keysReload     = time.Minute
	keysMissReload = 5 * time.Second
)

// maxKeyFile bounds a key file of the registry.
const maxKeyFile = 64 << 10

// ErrAgentKeys means the agent key registry cannot be read.
var ErrAgentKeys = errors.New("hub: agent key registry")

// keyring is the agent key registry: {dir}/{site}/{agent}.pub, each file holding one or more public
// keys (several while a key rotates) in the one-line form (wire.FormatPublicKey, one per line) or
// as PEM blocks. It is read whole, so an agent nobody registered costs no file access.
type keyring struct {
	dir string

	mu       sync.Mutex
	keys     map[string]*wire.Verifier // site "/" agent
	loadedAt time.Time
	problems []string // files that could not be read at the last load
}

func newKeyring(dir string) (*keyring, error) {
	k := &keyring{dir: dir}
	if err := k.load(time.Now()); err != nil {
		return nil, err
	}
	return k, nil
}

// load reads the whole registry. A missing or unreadable directory is an error (the previous keys
// stay); a bad file is skipped and reported in problems, so one typo does not lock every agent out.
func (k *keyring) load(now time.Time) error {
	st, err := os.Stat(k.dir)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrAgentKeys, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%w: %s is not a directory", ErrAgentKeys, k.dir)
	}
	keys := map[string]*wire.Verifier{}
	var problems []string
	sites, err := os.ReadDir(k.dir)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrAgentKeys, err)
	}
	for _, s := range sites {
		if !s.IsDir() || !wire.ValidName(s.Name()) {
			continue
		}
		files, err := os.ReadDir(filepath.Join(k.dir, s.Name()))
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", s.Name(), err))
			continue
		}
		for _, f := range files {
			agent, ok := strings.CutSuffix(f.Name(), ".pub")
			if !ok || f.IsDir() || !wire.ValidName(agent) {
				continue
			}
			path := filepath.Join(k.dir, s.Name(), f.Name())
			pubs, err := readPublicKeys(path)
			if err != nil {
				problems = append(problems, err.Error())
				continue
			}
			keys[s.Name()+"/"+agent] = wire.NewVerifier(pubs...)
		}
	}
	k.mu.Lock()
	k.keys, k.loadedAt, k.problems = keys, now, problems
	k.mu.Unlock()
	return nil
}

// readPublicKeys reads one registry file (wire.ParsePublicKeys: one-line keys or PEM blocks).
func readPublicKeys(path string) ([]ed25519.PublicKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxKeyFile {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxKeyFile)
	}
	keys, err := wire.ParsePublicKeys(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return keys, nil
}

// verifier returns the registered keys of site/agent (nil when none).
func (k *keyring) verifier(site, agent string) *wire.Verifier {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.keys[site+"/"+agent]
}

// due reports whether a reload is due at now: always after keysReload, and after keysMissReload
// when miss is set (a batch came signed by a key the registry does not hold).
func (k *keyring) due(now time.Time, miss bool) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	age := now.Sub(k.loadedAt)
	return age >= keysReload || age < 0 || miss && age >= keysMissReload
}

// count is the number of agents with registered keys.
func (k *keyring) count() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.keys)
}

// ReloadAgentKeys reads the agent key registry again (`wedge hub` calls it on SIGHUP). It is a
// no-op without Options.AgentKeysDir.
func (h *Hub) ReloadAgentKeys() error {
	if h.agentKeys == nil {
		return nil
	}
	return h.reloadKeys()
}

func (h *Hub) reloadKeys() error {
	before := h.agentKeys.count()
	if err := h.agentKeys.load(time.Now()); err != nil {
		h.log.Error("代理公钥目录无法读取，沿用已加载的公钥 / cannot read the agent key registry; keeping the keys loaded before", "dir", h.opts.AgentKeysDir, logging.Err(err))
		return err
	}
	h.logKeyProblems()
	if n := h.agentKeys.count(); n != before {
		h.log.Info("agent key registry reloaded", "dir", h.opts.AgentKeysDir, "agents", n)
	}
	return nil
}

// logTrust says at start what the hub signs and what it believes.
func (h *Hub) logTrust() {
	if h.signer != nil {
		h.log.Info("hub signs what it publishes", "key_id", h.signer.KeyID(), "public_key", wire.FormatPublicKey(h.signer.Public()))
	} else {
		h.log.Warn("中心未配置签名私钥，下发、确认和指令均未签名 / no signing key: downlink, acks and commands go out unsigned, and agents that pin a hub key refuse them")
	}
	if h.agentKeys != nil {
		h.logKeyProblems()
		h.log.Info("agent batches must be signed by their registered key", "dir", h.opts.AgentKeysDir, "agents", h.agentKeys.count())
	} else {
		h.log.Warn("未配置代理公钥目录，接受未签名的上传 / no agent key registry: unsigned batches are accepted (the hash chain must still link), so anyone who can publish to the broker can write into an agent's journal")
	}
}

func (h *Hub) logKeyProblems() {
	h.agentKeys.mu.Lock()
	problems := h.agentKeys.problems
	h.agentKeys.mu.Unlock()
	for _, p := range problems {
		h.log.Error("代理公钥文件无效，已跳过 / agent key file skipped", "problem", p)
	}
}

// sign frames payload for topic with the hub's key (unchanged without one).
func (h *Hub) sign(topic string, payload []byte) []byte {
	if h.signer == nil {
		return payload
	}
	return h.signer.Sign(topic, payload)
}
