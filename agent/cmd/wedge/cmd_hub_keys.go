package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"wedge/sync/hub"
	"wedge/sync/wire"
)

// hubKeyFlags are `wedge hub`'s application-layer signature flags (docs/SECURITY.md).
type hubKeyFlags struct {
	signingKey, agentKeys, newKey string
}

func (k *hubKeyFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&k.signingKey, "signing-key", "", "中心签名私钥 the hub's Ed25519 private key (PEM), shared by every replica; without it the hub publishes unsigned")
	fs.StringVar(&k.agentKeys, "agent-keys", "", "代理公钥目录 agent key registry DIR/{site}/{agent}.pub; without it unsigned batches are accepted (re-read on SIGHUP and every minute)")
	fs.StringVar(&k.newKey, "new-signing-key", "", "生成新的中心签名私钥后退出 write a new hub key pair to FILE and FILE.pub, print the public key, and exit")
}

// apply loads the signing key into o. With --new-signing-key it writes a new key pair instead and
// reports done.
func (k *hubKeyFlags) apply(o *hub.Options, stdout io.Writer) (done bool, err error) {
	if k.newKey != "" {
		pub, err := wire.CreateKeyFile(k.newKey, k.newKey+".pub")
		if err != nil {
			return true, err
		}
		fmt.Fprintf(stdout, "中心签名私钥已写入 hub signing key written to %s (keep it secret; copy it to every hub replica)\n"+
			"公钥（写入各代理 broker.hub_keys）public key for every agent's broker.hub_keys, also in %s.pub:\n%s\n",
			k.newKey, k.newKey, wire.FormatPublicKey(pub))
		return true, nil
	}
	if k.signingKey != "" {
		if o.SigningKey, err = wire.LoadPrivateKey(k.signingKey); err != nil {
			return false, fmt.Errorf("中心签名私钥无法读取 cannot read the signing key (create one with --new-signing-key FILE): %w", err)
		}
	}
	o.AgentKeysDir = k.agentKeys
	return false, nil
}

// reloadOnHUP reads the agent key registry again on every SIGHUP until ctx ends.
func reloadOnHUP(ctx context.Context, h *hub.Hub) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-hup:
				_ = h.ReloadAgentKeys() // a failure is logged by the hub, which keeps the keys it had
			case <-ctx.Done():
				return
			}
		}
	}()
}
