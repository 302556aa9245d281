// Package password hashes and checks the passwords of web console users. Hashes are
// "pbkdf2-sha256$<iterations>$<salt>$<key>" with salt (16 bytes) and key (32 bytes) in unpadded
// standard base64: PBKDF2-HMAC-SHA256 from the standard library (crypto/pbkdf2), so no dependency.
// Hash uses DefaultIterations (OWASP 2023 level); Check accepts any count ≥ MinIterations, so
// stronger hashes keep working. The package is pure (no I/O, no HTTP), so configuration loaders can
// validate hashes with it.
package password

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// Iteration counts.
const (
	DefaultIterations = 600_000
	MinIterations     = 10_000
	scheme            = "pbkdf2-sha256"
)

// Sentinel errors. Match them with errors.Is.
var (
	// ErrBadHash means a password hash is not in the documented format.
	ErrBadHash = errors.New("password: bad hash (want pbkdf2-sha256$iterations$salt$key)")
	// ErrEmpty means an empty password was to be hashed.
	ErrEmpty = errors.New("password: empty password")
)

// Hash returns the hash of password with DefaultIterations, to put in the configuration.
func Hash(password string) (string, error) { return HashIter(password, DefaultIterations) }

// HashIter is Hash with iter iterations (at least MinIterations); tests use it for cheap hashes.
func HashIter(password string, iter int) (string, error) {
	if password == "" {
		return "", ErrEmpty
	}
	if iter < MinIterations {
		return "", fmt.Errorf("%w: iterations %d (minimum %d)", ErrBadHash, iter, MinIterations)
	}
	salt := make([]byte, 16)
	rand.Read(salt)
	key, err := pbkdf2.Key(sha256.New, password, salt, iter, 32)
	if err != nil {
		return "", err
	}
	enc := base64.RawStdEncoding
	return fmt.Sprintf("%s$%d$%s$%s", scheme, iter, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

type parsed struct {
	iter      int
	salt, key []byte
}

func parse(h string) (parsed, error) {
	p := strings.Split(h, "$")
	if len(p) != 4 || p[0] != scheme {
		return parsed{}, ErrBadHash
	}
	iter, err := strconv.Atoi(p[1])
	if err != nil || iter < MinIterations {
		return parsed{}, fmt.Errorf("%w: iterations %q (minimum %d)", ErrBadHash, p[1], MinIterations)
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(p[2])
	key, err2 := enc.DecodeString(p[3])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 {
		return parsed{}, ErrBadHash
	}
	return parsed{iter, salt, key}, nil
}

// Validate returns nil when h is a hash in the form Hash makes, else an error wrapping ErrBadHash.
func Validate(h string) error {
	_, err := parse(h)
	return err
}

// Check reports whether password matches hash (constant time in the key comparison). A malformed
// hash matches nothing.
func Check(hash, password string) bool {
	ph, err := parse(hash)
	if err != nil {
		return false
	}
	key, err := pbkdf2.Key(sha256.New, password, ph.salt, ph.iter, len(ph.key))
	return err == nil && subtle.ConstantTimeCompare(key, ph.key) == 1
}

// CheckUser reports whether users (name → hash) has name with password. An unknown name costs the
// same work as a known one, so the time taken does not tell which names exist: it is checked
// against one of the configured hashes (same iterations as the real users', whatever cost they
// were made with) and refused whatever that check says; only with no users at all is a dummy
// hash of the default cost made for it.
func CheckUser(users map[string]string, name, password string) bool {
	hash, known := users[name]
	if !known {
		for _, h := range users {
			hash = h
			break
		}
		if hash == "" {
			hash = dummy()
		}
	}
	return Check(hash, password) && known
}

// dummy is the hash checked for unknown names; made on first use, not at program start.
var dummy = sync.OnceValue(func() string {
	h, _ := Hash("wedge-dummy")
	return h
})
