package config

import (
	"encoding/base64"
	"strconv"
	"strings"
)

// Console password hashes are "pbkdf2-sha256$<iterations>$<salt>$<key>", salt and key in unpadded
// standard base64, as `wedge console hash-password` writes them. The console checks passwords
// against them; the config only checks their form, so that a plain password written under
// console.users is refused at load time. A test of `wedge console hash-password` makes sure the
// two agree.
const (
	passwordHashScheme   = "pbkdf2-sha256"
	passwordHashMinIter  = 10_000 // fewer iterations are refused by the console too
	passwordHashMinSalt  = 8      // bytes
	passwordHashMinKey   = 16     // bytes
	passwordHashSections = 4
)

// validPasswordHash reports whether h has the form of a console password hash.
func validPasswordHash(h string) bool {
	p := strings.Split(h, "$")
	if len(p) != passwordHashSections || p[0] != passwordHashScheme {
		return false
	}
	if iter, err := strconv.Atoi(p[1]); err != nil || iter < passwordHashMinIter {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(p[2])
	key, err2 := enc.DecodeString(p[3])
	return err1 == nil && err2 == nil && len(salt) >= passwordHashMinSalt && len(key) >= passwordHashMinKey
}
