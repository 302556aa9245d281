package wire

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSignVerify(t *testing.T) {
	pub, priv, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	s := NewSigner(priv)
	body := []byte(`{"type":"state","order_id":"A1","state":"picked_up"}`)
	topic := TopicOrders("sz01")
	msg := s.Sign(topic, body)
	v := NewVerifier(pub)
	got, kid, err := v.Verify(topic, msg)
	if err != nil || !bytes.Equal(got, body) || kid != s.KeyID() {
		t.Fatalf("verify: %q %q %v", got, kid, err)
	}
	// Another topic, a flipped body byte, an unknown key, a bare body, a cut header: refused.
	if _, _, err := v.Verify(TopicOrders("sz02"), msg); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("other topic: %v", err)
	}
	bad := bytes.Clone(msg)
	bad[len(bad)-3] ^= 1
	if _, _, err := v.Verify(topic, bad); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("flipped body: %v", err)
	}
	_, other, _ := GenerateKey()
	if _, _, err := v.Verify(topic, NewSigner(other).Sign(topic, body)); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("unknown key: %v", err)
	}
	if b, _, err := v.Verify(topic, body); !errors.Is(err, ErrUnsigned) || !bytes.Equal(b, body) {
		t.Fatalf("unsigned: %v", err)
	}
	for _, p := range []string{"wedge-sig-v1 ", "wedge-sig-v1 kid=zz sig=!!\n{}", "wedge-sig-v1 kid=" + s.KeyID() + " sig=AAAA\n{}"} {
		if _, _, err := v.Verify(topic, []byte(p)); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("%q: %v", p, err)
		}
	}
	var zero *Verifier
	if _, _, err := zero.Verify(topic, msg); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("nil verifier: %v", err)
	}
	// Rotation: a verifier with both keys accepts both.
	if _, _, err := NewVerifier(other.Public().(ed25519.PublicKey), pub).Verify(topic, msg); err != nil {
		t.Fatalf("two keys: %v", err)
	}
}

func TestKeyFiles(t *testing.T) {
	pub, priv, _ := GenerateKey()
	dir := t.TempDir()
	pemPriv, err := MarshalPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "hub.key")
	if err := os.WriteFile(path, pemPriv, 0o600); err != nil {
		t.Fatal(err)
	}
	back, err := LoadPrivateKey(path)
	if err != nil || !back.Equal(priv) {
		t.Fatalf("load private: %v", err)
	}
	pemPub, _ := MarshalPublicKey(pub)
	for _, text := range [][]byte{pemPub, []byte(FormatPublicKey(pub))} {
		k, err := ParsePublicKey(text)
		if err != nil || !k.Equal(pub) {
			t.Fatalf("parse %q: %v", text, err)
		}
	}
	for _, text := range []string{"", "ed25519:AAAA", "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----"} {
		if _, err := ParsePublicKey([]byte(text)); !errors.Is(err, ErrKey) {
			t.Fatalf("%q: %v", text, err)
		}
	}
	if _, err := LoadPrivateKey(filepath.Join(dir, "missing")); !errors.Is(err, ErrKey) {
		t.Fatalf("missing: %v", err)
	}
}

func FuzzVerify(f *testing.F) {
	pub, priv, _ := GenerateKey()
	f.Add(NewSigner(priv).Sign("t", []byte("{}")))
	f.Add([]byte("wedge-sig-v1 kid= sig=\n"))
	v := NewVerifier(pub)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _ = v.Verify("t", b) // never panics
	})
}
