package wire

import (
	"bytes"
	"crypto/ed25519"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// CreateKeyFile generates a new Ed25519 key pair, writes the private key to privPath (PKCS #8 PEM,
// mode 0600, created exclusively: an existing file is never overwritten) and, when pubPath is not
// empty, the public key in the one-line form (FormatPublicKey) to pubPath (mode 0644), so it can
// be handed to whoever must pin or register it. It returns the public key.
func CreateKeyFile(privPath, pubPath string) (ed25519.PublicKey, error) {
	pub, priv, err := GenerateKey()
	if err != nil {
		return nil, err
	}
	pem, err := MarshalPrivateKey(priv)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(privPath), 0o750); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	f, err := os.OpenFile(privPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("%w: %s already exists (not overwritten)", ErrKey, privPath)
		}
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	if _, err := f.Write(pem); err != nil {
		f.Close()
		os.Remove(privPath)
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(privPath)
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(privPath)
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	if pubPath != "" {
		if err := os.WriteFile(pubPath, []byte(FormatPublicKey(pub)+"\n"), 0o644); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrKey, err)
		}
	}
	return pub, nil
}

// ParsePublicKeys reads a list of public keys (several while a key rotates): one-line keys
// (FormatPublicKey), one per line, with blank lines and # comments allowed, or PEM PUBLIC KEY
// blocks. It fails on a key it cannot read and when there is none.
func ParsePublicKeys(text []byte) ([]ed25519.PublicKey, error) {
	var out []ed25519.PublicKey
	if bytes.Contains(text, []byte("-----BEGIN")) {
		for rest := text; ; {
			var blk *pem.Block
			blk, rest = pem.Decode(rest)
			if blk == nil {
				break
			}
			k, err := ParsePublicKey(pem.EncodeToMemory(blk))
			if err != nil {
				return nil, err
			}
			out = append(out, k)
		}
	} else {
		for i, line := range strings.Split(string(text), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			k, err := ParsePublicKey([]byte(line))
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", i+1, err)
			}
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no public key", ErrKey)
	}
	return out, nil
}
