package wire

import (
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// A created key file is private, its public key file reads back as the same key, and an existing
// key is never overwritten.
func TestCreateKeyFile(t *testing.T) {
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "sub", "agent.key"), filepath.Join(dir, "sub", "agent.pub")
	k, err := CreateKeyFile(priv, pub)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(priv)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm() != 0o600 {
		t.Fatalf("private key mode %v", st.Mode().Perm())
	}
	loaded, err := LoadPrivateKey(priv)
	if err != nil || !loaded.Public().(ed25519.PublicKey).Equal(k) {
		t.Fatalf("load: %v", err)
	}
	b, _ := os.ReadFile(pub)
	if p, err := ParsePublicKey(b); err != nil || !p.Equal(k) {
		t.Fatalf("public key file %q: %v", b, err)
	}
	before, _ := os.ReadFile(priv)
	if _, err := CreateKeyFile(priv, pub); !errors.Is(err, ErrKey) {
		t.Fatalf("second create: %v", err)
	}
	if after, _ := os.ReadFile(priv); string(after) != string(before) {
		t.Fatal("existing key overwritten")
	}
}

// Key lists: one-line keys with comments, or PEM blocks; a bad key or an empty list fails.
func TestParsePublicKeys(t *testing.T) {
	a, _, _ := GenerateKey()
	b, _, _ := GenerateKey()
	pa, _ := MarshalPublicKey(a)
	pb, _ := MarshalPublicKey(b)
	for _, text := range []string{
		"# hub keys, old one first\n" + FormatPublicKey(a) + "\n\n  " + FormatPublicKey(b) + "  \n",
		string(pa) + string(pb),
	} {
		ks, err := ParsePublicKeys([]byte(text))
		if err != nil || len(ks) != 2 || !ks[0].Equal(a) || !ks[1].Equal(b) {
			t.Fatalf("%q: %v %v", text, ks, err)
		}
	}
	for _, text := range []string{"", "# none\n", FormatPublicKey(a) + "\ned25519:AAAA\n", "-----BEGIN PUBLIC KEY-----\nxx\n-----END PUBLIC KEY-----\n"} {
		if _, err := ParsePublicKeys([]byte(text)); !errors.Is(err, ErrKey) {
			t.Errorf("%q: %v", text, err)
		}
	}
}
