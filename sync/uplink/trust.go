package uplink

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"

	"wedge/sync/wire"
)

// maxRefusedExcerpt bounds the bytes of a refused payload handed to Options.OnRefused.
const maxRefusedExcerpt = 200

// sigOverhead is room left in a batch for the signature frame (wire.Signer adds 127 bytes).
const sigOverhead = 160

// trust decides what to believe: it verifies the hub's signature on acks, commands and the downlink
// (payloads are bound to the topic they were signed for), and signs our own batches.
type trust struct {
	verifier       *wire.Verifier
	known          map[string]bool // key ids of the pinned hub keys
	acceptUnsigned bool
	signer         *wire.Signer // nil: batches go out unsigned
}

func newTrust(o Options) (trust, error) {
	if len(o.HubKeys) == 0 && !o.AcceptUnsigned {
		return trust{}, fmt.Errorf("%w: no hub public key (HubKeys) and AcceptUnsigned not set: "+
			"every ack, command and downlink message would be refused", ErrOptions)
	}
	t := trust{verifier: wire.NewVerifier(o.HubKeys...), known: map[string]bool{}, acceptUnsigned: o.AcceptUnsigned}
	for _, k := range o.HubKeys {
		if len(k) != ed25519.PublicKeySize {
			return trust{}, fmt.Errorf("%w: a hub key has %d bytes, want %d", ErrOptions, len(k), ed25519.PublicKeySize)
		}
		t.known[wire.KeyID(k)] = true
	}
	if o.SigningKey != nil {
		if len(o.SigningKey) != ed25519.PrivateKeySize {
			return trust{}, fmt.Errorf("%w: SigningKey has %d bytes, want %d", ErrOptions, len(o.SigningKey), ed25519.PrivateKeySize)
		}
		t.signer = wire.NewSigner(o.SigningKey)
	}
	return t, nil
}

// check verifies payload received on topic. It returns the body and whether the hub's signature
// was verified; err (wrapping wire.ErrUnsigned or wire.ErrBadSignature) means refused.
//
// With AcceptUnsigned, an unsigned payload is accepted as unauthenticated, and so is one signed by
// a key we do not pin (the hub was given a key before this agent was told about it): neither is
// worse than unsigned. A payload whose signature fails under a key we pin is always refused.
func (t trust) check(topic string, payload []byte) (body []byte, authenticated bool, err error) {
	body, kid, err := t.verifier.Verify(topic, payload)
	switch {
	case err == nil:
		return body, true, nil
	case !t.acceptUnsigned:
		return nil, false, err
	case errors.Is(err, wire.ErrUnsigned):
		return body, false, nil
	case errors.Is(err, wire.ErrBadSignature) && kid != "" && !t.known[kid]:
		if i := bytes.IndexByte(payload, '\n'); i >= 0 {
			return payload[i+1:], false, nil
		}
	}
	return nil, false, err
}

// sign frames a batch for the events topic (unchanged without a signing key).
func (t trust) sign(topic string, body []byte) []byte {
	if t.signer == nil {
		return body
	}
	return t.signer.Sign(topic, body)
}

// refuse counts and reports a payload refused for its signature.
func (u *Uplink) refuse(topic string, payload []byte, reason error) {
	u.refused.Add(1)
	ex := payload
	if len(ex) > maxRefusedExcerpt {
		ex = ex[:maxRefusedExcerpt]
	}
	ex = bytes.Clone(ex)
	if u.opts.OnRefused != nil {
		u.opts.OnRefused(topic, reason, ex)
		return
	}
	u.log.Error("消息未通过签名校验，已拒绝 / message refused: not signed by the hub", "topic", topic, "payload", excerpt(ex), "reason", reason.Error())
}
