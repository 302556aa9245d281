package wire

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Signed payloads. MQTT 3.1.1 does not tell a subscriber who published, so whatever only the hub may
// say (downlink, acks, commands, catch-up replays) and each agent's uplink batches carry an Ed25519
// signature over the exact bytes sent:
//
//	wedge-sig-v1 kid=<key id> sig=<base64 signature>\n<body>
//
// The signature covers "wedge-sig-v1" 0x00 topic 0x00 body, so a message signed for one topic (one
// agent's acks, one site's downlink) is refused on another. The key id is the first 8 bytes of
// SHA-256 of the public key, in hex. An unsigned payload is the bare body (JSON starts with '{' or
// '['), so a receiver can tell the two apart and refuse unsigned ones unless configured to accept them.
const sigMagic = "wedge-sig-v1"

// Errors of signed payloads. Match them with errors.Is.
var (
	// ErrUnsigned means a payload carries no signature where one is required.
	ErrUnsigned = errors.New("wire: unsigned message")
	// ErrBadSignature means a signature is malformed, by an unknown key, or does not match.
	ErrBadSignature = errors.New("wire: bad signature")
	// ErrKey means a key file or key text cannot be read.
	ErrKey = errors.New("wire: bad key")
)

// KeyID names a public key: hex of the first 8 bytes of its SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// Signer signs payloads with one private key.
type Signer struct {
	key ed25519.PrivateKey
	id  string
}

// NewSigner returns a signer for key.
func NewSigner(key ed25519.PrivateKey) *Signer {
	return &Signer{key: key, id: KeyID(key.Public().(ed25519.PublicKey))}
}

// KeyID is the id of the signer's public key.
func (s *Signer) KeyID() string { return s.id }

// Public is the signer's public key.
func (s *Signer) Public() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// Sign returns body framed with its signature for topic.
func (s *Signer) Sign(topic string, body []byte) []byte {
	sig := ed25519.Sign(s.key, signedBytes(topic, body))
	var b bytes.Buffer
	b.Grow(len(sigMagic) + 100 + len(body))
	b.WriteString(sigMagic)
	b.WriteString(" kid=")
	b.WriteString(s.id)
	b.WriteString(" sig=")
	b.WriteString(base64.StdEncoding.EncodeToString(sig))
	b.WriteByte('\n')
	b.Write(body)
	return b.Bytes()
}

func signedBytes(topic string, body []byte) []byte {
	m := make([]byte, 0, len(sigMagic)+2+len(topic)+len(body))
	m = append(m, sigMagic...)
	m = append(m, 0)
	m = append(m, topic...)
	m = append(m, 0)
	return append(m, body...)
}

// Verifier checks signed payloads against a set of pinned public keys (a list, so keys can rotate).
// The zero Verifier knows no key and refuses every signed payload.
type Verifier struct {
	keys map[string]ed25519.PublicKey
}

// NewVerifier returns a verifier that trusts keys.
func NewVerifier(keys ...ed25519.PublicKey) *Verifier {
	v := &Verifier{keys: map[string]ed25519.PublicKey{}}
	for _, k := range keys {
		v.keys[KeyID(k)] = k
	}
	return v
}

// Len is the number of trusted keys.
func (v *Verifier) Len() int {
	if v == nil {
		return 0
	}
	return len(v.keys)
}

// IsSigned reports whether payload carries a signature header.
func IsSigned(payload []byte) bool { return bytes.HasPrefix(payload, []byte(sigMagic+" ")) }

// Verify checks payload received on topic and returns its body and the signing key's id. An
// unsigned payload fails with ErrUnsigned (its body is returned too, for a receiver that accepts
// unsigned messages); anything else wrong fails with ErrBadSignature.
func (v *Verifier) Verify(topic string, payload []byte) (body []byte, kid string, err error) {
	if !IsSigned(payload) {
		return payload, "", ErrUnsigned
	}
	nl := bytes.IndexByte(payload, '\n')
	if nl < 0 || nl > 256 {
		return nil, "", fmt.Errorf("%w: no header line", ErrBadSignature)
	}
	header, body := string(payload[:nl]), payload[nl+1:]
	var sig []byte
	for _, f := range strings.Fields(header)[1:] {
		k, val, _ := strings.Cut(f, "=")
		switch k {
		case "kid":
			kid = val
		case "sig":
			sig, err = base64.StdEncoding.DecodeString(val)
			if err != nil {
				return nil, "", fmt.Errorf("%w: signature encoding: %v", ErrBadSignature, err)
			}
		}
	}
	if v == nil || v.keys[kid] == nil {
		return nil, kid, fmt.Errorf("%w: unknown key id %q", ErrBadSignature, kid)
	}
	if len(sig) != ed25519.SignatureSize || !ed25519.Verify(v.keys[kid], signedBytes(topic, body), sig) {
		return nil, kid, fmt.Errorf("%w: signature does not match (key %s, topic %s)", ErrBadSignature, kid, topic)
	}
	return body, kid, nil
}

// GenerateKey returns a new Ed25519 key pair.
func GenerateKey() (ed25519.PublicKey, ed25519.PrivateKey, error) {
	return ed25519.GenerateKey(rand.Reader)
}

// MarshalPrivateKey encodes key as PKCS #8 PEM ("PRIVATE KEY").
func MarshalPrivateKey(key ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// MarshalPublicKey encodes key as PKIX PEM ("PUBLIC KEY").
func MarshalPublicKey(key ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// FormatPublicKey is the one-line form of a public key used in config files: "ed25519:" + base64.
func FormatPublicKey(key ed25519.PublicKey) string {
	return "ed25519:" + base64.StdEncoding.EncodeToString(key)
}

// ParsePublicKey reads a public key in the one-line form (FormatPublicKey) or as PEM.
func ParsePublicKey(text []byte) (ed25519.PublicKey, error) {
	s := strings.TrimSpace(string(text))
	if rest, ok := strings.CutPrefix(s, "ed25519:"); ok {
		b, err := base64.StdEncoding.DecodeString(rest)
		if err != nil || len(b) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: ed25519 public key: want %d base64 bytes", ErrKey, ed25519.PublicKeySize)
		}
		return ed25519.PublicKey(b), nil
	}
	blk, _ := pem.Decode([]byte(s))
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("%w: want \"ed25519:BASE64\" or a PEM PUBLIC KEY", ErrKey)
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: not an Ed25519 key", ErrKey)
	}
	return pub, nil
}

// LoadPrivateKey reads a PKCS #8 PEM Ed25519 private key file.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%w: %s: want a PEM PRIVATE KEY", ErrKey, path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrKey, path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: %s: not an Ed25519 key", ErrKey, path)
	}
	return priv, nil
}
